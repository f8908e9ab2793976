"""File-level operations on any backend: video file -> .trl, .trl -> frames."""
from pathlib import Path

from tqdm import tqdm

from ..errors import UserError
from . import trl
from .codec import encode_frames
from .video import open_frames, open_frames_cropped, target_size

DEFAULT_SIZE = 128
MIN_SIZE, MAX_SIZE = 16, 1024


def check_size(size, spatial=8):
    if size < MIN_SIZE or size > MAX_SIZE:
        raise UserError(f"--size {size}: choose a short side between {MIN_SIZE} and {MAX_SIZE} pixels")
    return max(spatial, round(size / spatial) * spatial)


def encode_video(backend, path, size=DEFAULT_SIZE, max_frames=None, quiet=False):
    """-> (tokens (T', H', W'), header dict for the .trl).

    The short side is scaled to `size`. A backend exported for one frame size (`frame_size`) that this does
    not give gets the clip scaled to cover that size and centre-cropped to it instead."""
    size = check_size(size, backend.spatial)
    fixed = getattr(backend, "frame_size", None)
    source = open_frames(path, info_only=True)[0] if fixed else None
    if fixed and target_size(source.width, source.height, size, backend.spatial) != tuple(fixed):
        info, frames = open_frames_cropped(path, fixed, source)
        resize = "scaled to cover, centre-cropped to the export's frame size"
    else:
        info, frames = open_frames(path, short_side=size, multiple=backend.spatial)
        resize = "short side scaled, sides rounded to 8"

    def limited():
        for i, f in enumerate(frames):
            if max_frames and i >= max_frames:
                return
            yield f
    try:
        with tqdm(desc=f"encode {Path(path).name}", unit="frame", disable=quiet, leave=False) as bar:
            enc = encode_frames(backend, limited(), progress=bar.update)
    finally:
        frames.close()      # stopping early (max_frames) must still close the container now, not at GC
    if enc is None:
        raise UserError(f"{path}: contains no decodable video frames")
    T, H, W = enc.tokens.shape
    header = {"tokenizer": backend.tokenizer_id, "tokenizer_sha256": backend.tokenizer_sha256,
              "bits": backend.bits, "fps": info.fps, "frames": enc.frames,
              "size": [W * backend.spatial, H * backend.spatial],
              "source_size": [info.width, info.height], "resize": resize}
    return enc.tokens, header


def check_tokenizer(header, backend, where):
    if header["tokenizer_sha256"] != backend.tokenizer_sha256 or int(header["bits"]) != backend.bits:
        raise UserError(f"{where}: made by tokenizer {header['tokenizer']} ({header['tokenizer_sha256'][:12]}), "
                        f"not the loaded {backend.tokenizer_id} ({backend.tokenizer_sha256[:12]}); "
                        f"decode it with the weights that made it or re-encode the source video")


def read_tokens(backend, path):
    tokens, header = trl.read(path)
    check_tokenizer(header, backend, path)
    return tokens, header
