"""File-level operations on any backend: video (a file, a pipe, a device) -> .trl, .trl -> frames, edited
grids -> video frames."""
from contextlib import contextmanager
from itertools import islice, takewhile

from ..errors import UserError
from . import trl
from .tokenizing import decode_tokens, encode_calls, encode_frames, without_padding
from .composite import extended_frames, reframed_frames
from .video import open_video, source_name, target_size

DEFAULT_SIZE = 128
MIN_SIZE, MAX_SIZE = 16, 1024


def check_size(size, spatial=8):
    if size < MIN_SIZE or size > MAX_SIZE:
        raise UserError(f"--size {size}: choose a short side between {MIN_SIZE} and {MAX_SIZE} pixels")
    return max(spatial, round(size / spatial) * spatial)


def open_source(backend, path, size=DEFAULT_SIZE):
    """-> (VideoInfo, frames iterator, resize text): the clip's frames as the encoder takes them. `path`: a
    video file, a folder of frames, `-` (stdin) or a capture device FORMAT:SPEC (video.open_video).

    The short side is scaled to `size`. A backend exported for one frame size (`frame_size`) that this does
    not give gets the clip scaled to cover that size and centre-cropped to it instead. The input is opened
    once, and the choice made from its header: a pipe or a device cannot be opened again."""
    size = check_size(size, backend.spatial)
    source = open_video(path)
    fixed = getattr(backend, "frame_size", None)
    if fixed and target_size(source.info.width, source.info.height, size, backend.spatial) != tuple(fixed):
        return source.info, source.cropped(fixed), "scaled to cover, centre-cropped to the export's frame size"
    return source.info, source.frames(size, backend.spatial), "short side scaled, sides rounded to 8"


def source_frames(backend, path, size=DEFAULT_SIZE, max_frames=None):
    """Yield the frames `encode_video` encoded (same scaling and cropping), reading the file again (not
    for a pipe or a device, which cannot be read again: video.is_live)."""
    with _reading(backend, path, size, max_frames=max_frames) as (_, _, frames):
        yield from frames


@contextmanager
def _reading(backend, path, size, max_frames=None, stop=None):
    """(info, resize text, frames) of open_source's input, the frames cut after `max_frames`
    or once stop() is true (checked as each frame comes); the input is closed on the way out, also when
    the caller stops early."""
    info, frames, resize = open_source(backend, path, size)
    try:
        taken = islice(frames, max_frames)
        if stop is not None:
            taken = takewhile(lambda _: not stop(), taken)
        yield info, resize, taken
    finally:
        frames.close()      # stopping early must still close the container now, not at GC


def encode_video(backend, path, size=DEFAULT_SIZE, max_frames=None, progress=None):
    """-> (tokens (T', H', W'), header dict for the .trl); frames as `open_source` gives them; progress(n):
    the frames each encoder call took."""
    with _reading(backend, path, size, max_frames) as (info, resize, frames):
        enc = encode_frames(backend, frames, progress)
    if enc is None:
        raise UserError(f"{source_name(path)}: contains no decodable video frames")
    return enc.tokens, make_header(backend, info.fps, enc.frames, enc.tokens.shape, (info.width, info.height),
                                   resize)


def encode_to_trl(backend, path, output, size=DEFAULT_SIZE, max_frames=None, stop=None, progress=None):
    """Encode open_source's input into the .trl `output` while reading it -> (header, bytes written).

    Each chunk of latent frames is written as soon as it is encoded (trl.TrlWriter), so memory does not
    grow with the video, which may be a pipe or a camera of unknown length. The file being written is
    .OUTPUT.PID.XXXXXXXX.trl beside the output (readable meanwhile: `info`, `decode --partial`), renamed
    over it at the end: killed, the output keeps its old file; a failure leaves nothing. stop(): checked
    as each frame comes; once true, the file is finished with the frames read so far (a recording ended).
    progress(n): the frames each encoder call took."""
    writer = None
    try:
        with _reading(backend, path, size, max_frames, stop) as (info, resize, frames):
            for tokens, n in encode_calls(backend, frames, progress):
                if writer is None:      # the first call fixes the grid's size (the writer counts the frames)
                    header = make_header(backend, info.fps, 1, tokens.shape, (info.width, info.height), resize)
                    writer = trl.TrlWriter(output, header, stream=False)
                writer.append(tokens, n)
        if writer is None:
            stopped = stop is not None and stop()
            raise UserError("interrupted" if stopped else f"{source_name(path)}: contains no decodable video frames")
        n = writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return writer.header(), n


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
    change against the draft (composite.extended_frames); otherwise everything decoded. The change is
    taken between the decoder's own frames (no hold): their errors cancel there only when neither is held."""
    if source is None or draft is None:
        yield from without_padding(decode_tokens(backend, grid, total), real, padded)
        return

    def generated(frames):
        return (f for i, f in enumerate(frames) if i >= padded)
    yield from extended_frames(source, generated(decode_tokens(backend, grid, total, hold=False)),
                               generated(decode_tokens(backend, draft, total, hold=False)))


def check_tokenizer(header, backend, where):
    if header["tokenizer_sha256"] != backend.tokenizer_sha256 or int(header["bits"]) != backend.bits:
        raise UserError(f"{where}: made by tokenizer {header['tokenizer']} ({header['tokenizer_sha256'][:12]}), "
                        f"not the loaded {backend.tokenizer_id} ({backend.tokenizer_sha256[:12]}); "
                        f"decode it with the weights that made it or re-encode the source video")


def read_tokens(backend, path):
    tokens, header = trl.read(path)
    check_tokenizer(header, backend, path)
    return tokens, header
