"""Writing an export's files whole or not at all, with the runtime's one atomic-write helper
(runtime/video.py: a unique temp name .NAME.PID.XXXXXXXX.EXT beside the target, the user's umask, stale
temps of killed runs swept, fsync, rename, OSErrors as one-line UserErrors): bytes go through its
write_atomic; converters that write a path themselves (torch.onnx, coremltools, the quantizers) write the
temp path `output` yields (video.output_path), intermediates go to a `scratch` path (video.scratch_path).
A failed export leaves no temp file behind (docs/export.md)."""
from ..runtime.video import output_path as output, scratch_path as scratch

__all__ = ["output", "scratch"]
