"""Writing an export's files whole or not at all, with the runtime's one atomic-write helper
(runtime/video.py: a unique temp name .NAME.PID.XXXXXXXX.EXT beside the target, the user's umask, stale
temps of killed runs swept, fsync, rename, OSErrors as one-line UserErrors): bytes go through its
write_atomic; converters that write a path themselves (torch.onnx, coremltools, the quantizers) write the
temp path `output` yields.
A failed export leaves no temp file behind (docs/export.md)."""
import shutil
from contextlib import contextmanager
from pathlib import Path

from ..runtime.video import atomic_output, finish_output


def _remove(tmp: Path):
    """The temp path and whatever a converter derived from its name (a quantizer's NAME.tmp.onnx, external
    data NAME.onnx.data): the random part of the name makes every such sibling ours."""
    for p in [tmp, *(p for p in tmp.parent.iterdir() if p.name.startswith(f"{tmp.stem}."))]:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


@contextmanager
def scratch(path, folder=False):
    """A fresh temp path beside `path` with its suffix (a folder's path, not made, with `folder`: a converter
    makes it), removed after the block whatever happens: an intermediate file, such as the fp32 graph a
    quantizer reads."""
    path = Path(path)
    tmp = atomic_output(path, path.suffix)
    if folder:
        tmp.unlink()        # the name stays unique: mkstemp chose it, and the random part is ours
    try:
        yield tmp
    finally:
        _remove(tmp)


@contextmanager
def output(path, folder=False):
    """A temp path (see `scratch`) for the block to write `path` into; when the block succeeds it becomes
    `path` (a folder such as an .mlpackage replaces the old one), when it fails it is removed."""
    path = Path(path)
    with scratch(path, folder) as tmp:
        yield tmp
        if folder and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)     # a rename does not replace a folder that has files
        finish_output(tmp, path)
