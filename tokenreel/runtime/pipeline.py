"""File-level operations on any backend: video file -> .trl, .trl -> frames, edited grids -> video frames."""
from pathlib import Path

from tqdm import tqdm

from ..errors import UserError
from . import trl
from .codec import decode_tokens, encode_frames, without_padding
from .composite import extended_frames, reframed_frames
from .video import open_frames, open_frames_cropped, target_size

DEFAULT_SIZE = 128
MIN_SIZE, MAX_SIZE = 16, 1024


def check_size(size, spatial=8):
    if size < MIN_SIZE or size > MAX_SIZE:
        raise UserError(f"--size {size}: choose a short side between {MIN_SIZE} and {MAX_SIZE} pixels")
    return max(spatial, round(size / spatial) * spatial)


def open_source(backend, path, size=DEFAULT_SIZE):
    """-> (VideoInfo, frames iterator, resize text): the clip's frames as the encoder takes them.

    The short side is scaled to `size`. A backend exported for one frame size (`frame_size`) that this does
    not give gets the clip scaled to cover that size and centre-cropped to it instead."""
    size = check_size(size, backend.spatial)
    fixed = getattr(backend, "frame_size", None)
    source = open_frames(path, info_only=True)[0] if fixed else None
    if fixed and target_size(source.width, source.height, size, backend.spatial) != tuple(fixed):
        info, frames = open_frames_cropped(path, fixed, source)
        return info, frames, "scaled to cover, centre-cropped to the export's frame size"
    info, frames = open_frames(path, short_side=size, multiple=backend.spatial)
    return info, frames, "short side scaled, sides rounded to 8"


def source_frames(backend, path, size=DEFAULT_SIZE, max_frames=None):
    """Yield the frames `encode_video` encoded (same scaling and cropping), reading the file again."""
    _, frames, _ = open_source(backend, path, size)
    try:
        for i, f in enumerate(frames):
            if max_frames and i >= max_frames:
                return
            yield f
    finally:
        frames.close()


def encode_video(backend, path, size=DEFAULT_SIZE, max_frames=None, quiet=False):
    """-> (tokens (T', H', W'), header dict for the .trl); frames as `open_source` gives them."""
    info, frames, resize = open_source(backend, path, size)

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
    return enc.tokens, make_header(backend, info.fps, enc.frames, enc.tokens.shape, (info.width, info.height),
                                   resize)


def make_header(backend, fps, frames, grid_shape, source_size, resize):
    """The .trl header of a token grid made by `backend` (the one place it is built)."""
    T, H, W = grid_shape
    return {"tokenizer": backend.tokenizer_id, "tokenizer_sha256": backend.tokenizer_sha256,
            "bits": backend.bits, "fps": fps, "frames": frames, "size": [W * backend.spatial, H * backend.spatial],
            "source_size": list(source_size), "resize": resize}


def reframed_video(backend, canvas, source_shape, frames, source=None):
    """Yield the frames of a reframed canvas (T', H', W' tokens): decoded, and with `source` (the frames that
    were encoded) pasted in where the source sits and feathered into the generated margins."""
    decoded = decode_tokens(backend, canvas, frames)
    if source is None:
        yield from decoded
        return
    s = backend.spatial
    y0, x0 = ((canvas.shape[1] - source_shape[1]) // 2) * s, ((canvas.shape[2] - source_shape[2]) // 2) * s
    yield from reframed_frames(decoded, source, (y0, x0, y0 + source_shape[1] * s, x0 + source_shape[2] * s))


def extended_video(backend, grid, real, padded, total, source=None, draft=None):
    """Yield the frames of an extended grid: the source's `real` frames, then the generated ones (decoded
    positions [padded, total)). With `source` (the frames that were encoded) and `draft` (the grid the
    revise sampler started from), the source's own frames and then its last frame plus the model's
    change against the draft (composite.extended_frames); otherwise everything decoded."""
    decoded = decode_tokens(backend, grid, total)
    if source is None or draft is None:
        yield from without_padding(decoded, real, padded)
        return

    def generated(frames):
        return (f for i, f in enumerate(frames) if i >= padded)
    yield from extended_frames(source, generated(decoded), generated(decode_tokens(backend, draft, total)))

def check_tokenizer(header, backend, where):
    if header["tokenizer_sha256"] != backend.tokenizer_sha256 or int(header["bits"]) != backend.bits:
        raise UserError(f"{where}: made by tokenizer {header['tokenizer']} ({header['tokenizer_sha256'][:12]}), "
                        f"not the loaded {backend.tokenizer_id} ({backend.tokenizer_sha256[:12]}); "
                        f"decode it with the weights that made it or re-encode the source video")


def read_tokens(backend, path):
    tokens, header = trl.read(path)
    check_tokenizer(header, backend, path)
    return tokens, header
