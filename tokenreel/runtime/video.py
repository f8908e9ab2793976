"""Video in and out with PyAV (numpy only, no torch). Frames are uint8 (T, H, W, 3) RGB."""
import math
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import UserError, os_error

MAX_SIDE = 8192          # larger frames are refused before decoding (documented in README)
FRAME_EXTS = (".png", ".jpg", ".jpeg", ".bmp")
VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")


@dataclass
class VideoInfo:
    width: int        # source size
    height: int
    fps: float


@dataclass
class Video:
    frames: np.ndarray
    info: VideoInfo


def list_clips(folder: Path):
    """Video files and folders of frames (a folder of videos counts as one clip per video)."""
    out = []
    for p in sorted(Path(folder).iterdir()):
        if p.is_dir():
            if any(f.suffix.lower() in FRAME_EXTS for f in p.iterdir()):
                out.append(p)
            else:
                out.extend(f for f in sorted(p.iterdir()) if f.suffix.lower() in VIDEO_EXTS)
        elif p.suffix.lower() in VIDEO_EXTS:
            out.append(p)
    return out


def target_size(width, height, short_side, multiple=1):
    """Size with the short side = short_side and the long side scaled to match, both rounded to `multiple`."""
    if short_side is None:
        return (width // multiple * multiple, height // multiple * multiple)
    scale = short_side / min(width, height)
    w = max(multiple, round(width * scale / multiple) * multiple)
    h = max(multiple, round(height * scale / multiple) * multiple)
    return w, h


def _check_size(path, width, height):
    if width <= 0 or height <= 0:
        raise UserError(f"{path}: the video has no picture size; is it a video file?")
    if max(width, height) > MAX_SIDE:
        raise UserError(f"{path}: frames are {width}x{height}, larger than the {MAX_SIDE}px limit; "
                        f"downscale it first (e.g. ffmpeg -vf scale=-2:1080)")


STDIN = "-"                 # the input `-`: a video container piped on stdin
# FORMAT:SPEC, an FFmpeg input format and what it opens: a capture device (v4l2:/dev/video0,
# avfoundation:0, x11grab::0.0) or a generated source (lavfi:testsrc=size=224x128:rate=25). Two letters or
# more, so that a drive letter (C:) is not a format; not SPEC starting with // (a URL).
DEVICE = re.compile(r"([A-Za-z0-9_]{2,}):(?!//)(.+)", re.S)
# FFmpeg's video capture formats, named when a FORMAT is unknown (any input format of this FFmpeg is taken)
CAPTURE_FORMATS = ("v4l2", "video4linux2", "avfoundation", "dshow", "gdigrab", "x11grab", "kmsgrab", "fbdev",
                   "android_camera", "decklink", "lavfi")
DEFAULT_FPS = 30.0          # a source whose stream gives no frame rate (and a folder of frames)


def device_of(path):
    """(FORMAT, SPEC) when `path` spells a capture device and no file or folder has that name, else None."""
    m = DEVICE.fullmatch(str(path))
    return m.groups() if m and not Path(str(path)).exists() else None


def is_live(path):
    """Whether `path` is read once and never again: `-` (stdin) or a capture device. A clip encoded from one
    has no source frames to read back (keep-source renders decode every pixel)."""
    return str(path) == STDIN or device_of(path) is not None


def source_name(path):
    """How messages name an input: stdin for `-`, the spelling of a device, a file's path."""
    return "stdin" if str(path) == STDIN else str(path)


def short_name(path):
    """How a progress bar names an input: a file's name, else as source_name."""
    return source_name(path) if is_live(path) else Path(path).name


class Source:
    """An opened video, read once from its start: `info` is known (from the header) before any frame is
    decoded, so a caller chooses the scaling from it and then reads. Nothing opens an input twice, since a
    pipe or a camera cannot be read again. `read(size_of)` yields uint8 (H, W, 3) frames of the size
    size_of(width, height) gives for the first frame, and closes the source when it ends. `name`: how
    messages name it (source_name)."""

    def __init__(self, name, info, read, close=lambda: None):
        self.name, self.info, self._read, self.close = name, info, read, close

    def frames(self, short_side=None, multiple=1):
        """Frames resized so the short side is `short_side` (sides rounded to `multiple`)."""
        return self._read(lambda w, h: target_size(w, h, short_side, multiple))

    def cropped(self, frame_size):
        """Frames scaled to cover frame_size (W, H) and centre-cropped to it exactly: the input of fixed-size
        exported models. The scale is chosen from the header's size."""
        w, h = frame_size
        info = self.info
        short = math.ceil(min(info.width, info.height) * max(w / info.width, h / info.height))
        frames = self.frames(short_side=short)

        def cropped():
            try:
                for f in frames:
                    if f.shape[0] < h or f.shape[1] < w:
                        raise UserError(f"{self.name}: a frame of {f.shape[1]}x{f.shape[0]} does not cover {w}x{h}; "
                                        f"the stream changes size: re-encode it at one size")
                    y0, x0 = (f.shape[0] - h) // 2, (f.shape[1] - w) // 2
                    yield f[y0:y0 + h, x0:x0 + w]
            finally:
                frames.close()
        return cropped()


def _open_folder(path: Path):
    from PIL import Image  # noqa: only folders of frames need Pillow
    files = sorted(f for f in path.iterdir() if f.suffix.lower() in FRAME_EXTS)
    if not files:
        raise UserError(f"{path}: folder holds no frames ({', '.join(FRAME_EXTS)})")
    with Image.open(files[0]) as im:
        width, height = im.size
    _check_size(path, width, height)

    def read(size_of):
        size = size_of(width, height)
        for f in files:
            with Image.open(f) as im:
                im = im.convert("RGB")
                if im.size != (width, height):
                    raise UserError(f"{f}: frame size {im.size} differs from the first frame's {(width, height)}")
                if im.size != size:
                    im = im.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
                yield np.asarray(im)
    return Source(str(path), VideoInfo(width, height, DEFAULT_FPS), read)


PIPE_HINT = ("pipe a stream container: MKV, MPEG-TS, NUT, or an MP4 written with its index first "
             "(ffmpeg -movflags +faststart)")


def _open_container(path):
    """The PyAV container of a file, of stdin (`-`) or of a capture device (FORMAT:SPEC), or a one-line
    UserError."""
    name, device = source_name(path), device_of(path)
    if str(path) == STDIN:
        stdin = getattr(sys.stdin, "buffer", None)         # the bytes under sys.stdin (None: no stdin)
        if stdin is None or stdin.isatty():
            raise UserError(f"stdin is a terminal, not a pipe: {PIPE_HINT}, e.g. "
                            f"cat clip.mkv | tokenreel encode - -o clip.trl")
        try:        # a pipe is not seekable: PyAV reads it forward only, and nothing reads it again
            if hasattr(stdin, "peek") and not stdin.peek(1):    # peek: looks without taking bytes from the pipe
                raise UserError(f"stdin: empty, nothing was piped in; {PIPE_HINT}")
            return av.open(stdin)
        except (av.error.FFmpegError, OSError) as e:
            raise UserError(f"stdin: not a readable video ({e.__class__.__name__}); {PIPE_HINT}")
    if device:
        fmt, spec = device
        try:
            known = av.ContainerFormat(fmt).is_input
        except ValueError:
            known = False
        if not known:
            have = ", ".join(f for f in CAPTURE_FORMATS if f in av.formats_available) or "none"
            raise UserError(f"{name}: no file of that name, and {fmt!r} is not an input format of this PyAV's "
                            f"FFmpeg (its capture formats: {have}); spell a device FORMAT:SPEC, "
                            f"e.g. v4l2:/dev/video0 or lavfi:testsrc=size=224x128:rate=25")
        try:
            return av.open(spec, format=fmt)
        except (av.error.FFmpegError, OSError) as e:
            why = getattr(e, "strerror", None) or e.__class__.__name__
            raise UserError(f"{name}: cannot open the {fmt} device {spec!r} ({why})")
    if not Path(path).exists():
        raise UserError(f"{path}: no such file or folder")
    try:        # file: so that FFmpeg never reads a name with a colon (lavfi:clip.mkv) as a protocol
        return av.open(f"file:{path}")
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not a readable video ({e.__class__.__name__}); give an MP4/MOV/MKV/WebM/AVI file")


def open_video(path) -> Source:
    """Open a video file, a folder of frames, `-` (a container piped on stdin) or a capture device
    FORMAT:SPEC (a file of that name wins) as a Source. fps: the stream's average rate, else its guessed
    rate, else DEFAULT_FPS. Nothing is sized from the header's frame count or duration: a live source has
    none."""
    if str(path) != STDIN and Path(path).is_dir():
        return _open_folder(Path(path))
    name = source_name(path)
    container = _open_container(path)
    if not container.streams.video:
        container.close()
        raise UserError(f"{name}: holds no video stream")
    stream = container.streams.video[0]
    try:
        _check_size(name, stream.codec_context.width, stream.codec_context.height)
    except UserError:
        container.close()
        raise
    fps = float(stream.average_rate or stream.guessed_rate or DEFAULT_FPS)
    stream.thread_type = "AUTO"

    def read(size_of):
        size, n = None, 0  # size fixed by the first frame: a stream that changes resolution keeps one output size
        try:
            for frame in container.decode(stream):
                _check_size(name, frame.width, frame.height)
                size = size or size_of(frame.width, frame.height)
                yield frame.reformat(width=size[0], height=size[1], format="rgb24",
                                     interpolation="AREA").to_ndarray()
                n += 1
        except av.error.FFmpegError as e:
            if str(path) == STDIN and n == 0 and "mp4" in container.format.name:
                # the mp4 demuxer found the index at the end and cannot seek back to the frames in a pipe
                raise UserError(f"stdin: an MP4 with its index at the end cannot be read from a pipe; {PIPE_HINT}")
            raise UserError(f"{name}: the video is corrupt or truncated ({e.__class__.__name__}); "
                            f"re-export or re-download it")
        finally:
            container.close()
    return Source(name, VideoInfo(stream.codec_context.width, stream.codec_context.height, fps), read,
                  container.close)


def open_frames(path, short_side=None, multiple=1, info_only=False):
    """(info, iterator of uint8 (H, W, 3) frames), resized so the short side is `short_side`.

    Streams: memory does not grow with the clip length. info_only: check the input, read its header and
    close it (the iterator is empty; a pipe or a device is then used up)."""
    source = open_video(path)
    if info_only:
        source.close()
        return source.info, iter(())
    return source.info, source.frames(short_side, multiple)


def _collect(path, info, frames, max_frames):
    """A Video of the first max_frames of a frame iterator, closing it (and its container) right away."""
    out = []
    try:
        for f in frames:
            out.append(f)
            if max_frames and len(out) >= max_frames:
                break
    finally:
        frames.close()      # stopping at max_frames closes the container now, not at GC
    if not out:
        raise UserError(f"{path}: contains no decodable video frames")
    return Video(np.stack(out), info)


def read_video(path, short_side=None, multiple=1, max_frames=None):
    return _collect(path, *open_frames(path, short_side, multiple), max_frames)


def open_frames_cropped(path, frame_size):
    """(info, iterator of frames scaled to cover frame_size (W, H) and centre-cropped to it exactly): the
    input of fixed-size exported models (Source.cropped). Streams, as open_frames."""
    source = open_video(path)
    return source.info, source.cropped(frame_size)


def read_video_cropped(path, frame_size, max_frames):
    """The first frames of a clip, scaled to cover frame_size (W, H) and centre-cropped (open_frames_cropped)."""
    return _collect(path, *open_frames_cropped(path, frame_size), max_frames)


STALE_SECONDS = 60         # a dead writer's temp file untouched this long is removed (legacy names: an hour)


def _umask():
    try:        # Linux: read it without changing it (os.umask can only be read by setting it)
        with open("/proc/self/status") as f:
            return next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        mask = os.umask(0o022)
        os.umask(mask)
        return mask


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0          # another user's process (or a pid that cannot be one): leave its file alone
    return True


def _sweep_stale(folder, name):
    """Remove the temp files an earlier write of `name` left behind when it was killed (kill -9, a power
    cut): .NAME.PID.XXXXXXXX.EXT (a file, or a folder such as an .mlpackage or an export folder) of a
    process that is gone and untouched for STALE_SECONDS, or the pid-less .NAME.XXXXXXXX.EXT file of older
    tokenreels after an hour. Never fails the write."""
    ours = re.compile(r"\." + re.escape(name) + r"\.(?:(\d+)\.)?[a-z0-9_]{8}(?:\.[A-Za-z0-9]{1,16})?")
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(f".{name}.")]
    except OSError:
        return
    now = time.time()
    for e in entries:
        m = ours.fullmatch(e.name)
        if not m:
            continue
        try:
            st = e.stat(follow_symlinks=False)
            pid = m.group(1)
            if stat.S_ISDIR(st.st_mode) and pid:
                if now - st.st_mtime > STALE_SECONDS and not _pid_alive(int(pid)):
                    shutil.rmtree(e.path, ignore_errors=True)
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            stale = now - st.st_mtime > STALE_SECONDS and not _pid_alive(int(pid)) if pid else \
                now - st.st_mtime > 3600
            if stale:
                os.unlink(e.path)
        except OSError:
            continue


def atomic_output(path, suffix):
    """A new empty temp file beside `path` (same folder, so the final rename is atomic), named
    .NAME.PID.XXXXXXXX.SUFFIX and with the mode a new file gets under the user's umask. Checks the folder
    is writable and removes temp files of NAME that killed writers left behind."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"{path}: folder {folder} does not exist; create it or choose another output path")
    if not os.access(folder, os.W_OK):
        raise UserError(f"{path}: cannot write into {folder}; choose a writable output path")
    _sweep_stale(folder, path.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=suffix, dir=folder)
        try:
            os.fchmod(fd, 0o666 & ~_umask())
        finally:
            os.close(fd)
    except OSError as e:
        raise os_error(e, path)
    return Path(tmp)


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def finish_output(tmp, path):
    """Make the written temp file `tmp` the output `path`: on disk first, then renamed over it (a crash
    leaves the old file or the new one, never a half-written one)."""
    try:
        _fsync(tmp)
        os.replace(tmp, path)
    except OSError as e:
        raise os_error(e, path)


def write_atomic(path, data: bytes, suffix):
    """Write `data` to `path` whole or not at all (temp file, fsync, rename); OSErrors (disk full, file
    too large) become one-line UserErrors and leave nothing behind."""
    path = Path(path)
    tmp = atomic_output(path, suffix)
    try:
        try:
            with open(tmp, "wb") as f:
                f.write(data)
        except OSError as e:
            raise os_error(e, path)
        finish_output(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _remove(tmp: Path, suffix):
    """The temp path and whatever a library derived from its name without `suffix` (external data
    NAME.onnx.data, ...): the random part of the name makes every such sibling ours."""
    base = tmp.name[:len(tmp.name) - len(suffix)]
    for p in [tmp, *(p for p in tmp.parent.iterdir() if p.name.startswith(f"{base}."))]:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


@contextmanager
def scratch_path(path, folder=False):
    """A fresh temp path beside `path` with its suffix, named as atomic_output names it (a folder's path,
    not made, with `folder`: the library makes it), removed after the block whatever happens: an
    intermediate file, such as the fp32 graph a quantizer reads."""
    path = Path(path)
    tmp = atomic_output(path, path.suffix)
    if folder:
        tmp.unlink()        # the name stays unique: mkstemp chose it, and the random part is ours
    try:
        yield tmp
    finally:
        _remove(tmp, path.suffix)


@contextmanager
def output_path(path, folder=False):
    """write_atomic for a library that writes a path itself (torch.onnx, onnx.save, safetensors,
    np.save, a whole export folder): the block writes the temp path (see `scratch_path`); when it succeeds
    the temp becomes `path` (fsync, rename; a folder replaces the old one), when it fails it is removed
    and `path` is left as it was."""
    path = Path(path)
    with scratch_path(path, folder) as tmp:
        yield tmp
        if folder and path.is_dir() and not path.is_symlink():
            _replace_folder(tmp, path)
        else:
            finish_output(tmp, path)


def _replace_folder(tmp, path):
    """finish_output over an old folder (a rename does not replace a folder that has files): the old one is
    moved aside to a temp name, removed once the new one has taken its place, moved back if it cannot."""
    with scratch_path(path, folder=True) as old:
        try:
            os.replace(path, old)
        except OSError as e:
            raise os_error(e, path)
        try:
            finish_output(tmp, path)
        except BaseException:
            os.replace(old, path)
            raise


# what each kind of output may be named (write_video writes MP4)
OUTPUT_KINDS = {"video": (".mp4", ".m4v"), "tokens": (".trl",), "picture": (".png",), "json": (".json",)}


def ensure_writable(path, inputs=(), kinds=None):
    """Fail early, before any work, if `path` cannot or must not be written: its folder is missing or not
    writable, it exists and is not a regular file (a folder, a device), it is one of the `inputs` (writing
    would destroy it), or its extension is not one of `kinds` (keys of OUTPUT_KINDS) when given."""
    path = Path(path)
    if kinds is not None:
        allowed = [e for k in kinds for e in OUTPUT_KINDS[k]]
        if path.suffix.lower() not in allowed:
            raise UserError(f"{path}: this command writes {' or '.join(kinds)} files; end the name with "
                            f"{' or '.join(allowed)}")
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise UserError(f"{path}: exists and is not a regular file; choose another output path")
        for src in inputs:
            if Path(src).exists() and os.path.samefile(path, src):
                raise UserError(f"{path}: is the input {src}; writing it would destroy the input, choose "
                                f"another output path")
    atomic_output(path, ".check").unlink()


@contextmanager
def _writing(path):
    """Errors of the video writer (disk full, file too large, ...) as one-line UserErrors about `path`."""
    try:
        yield
    except (av.error.FFmpegError, OSError) as e:
        if isinstance(e, OSError) and e.errno:
            raise os_error(e, path)
        raise UserError(f"{path}: cannot write the video ({e.__class__.__name__}: {e})")


def write_video(path, frames, fps: float, crf=18):
    """Write uint8 (H, W, 3) frames (any iterable) as H.264 yuv420p MP4: a temp file, then rename."""
    path = Path(path)
    tmp = atomic_output(path, path.suffix or ".mp4")
    n = 0
    try:
        with _writing(path):
            out = av.open(str(tmp), mode="w", format="mp4")
        try:
            stream = None
            for f in frames:
                with _writing(path):
                    if stream is None:
                        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                        stream.width, stream.height = f.shape[1] // 2 * 2, f.shape[0] // 2 * 2
                        stream.pix_fmt = "yuv420p"
                        stream.options = {"crf": str(crf)}
                    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[:stream.height, :stream.width]),
                                                       format="rgb24")
                    out.mux(stream.encode(frame))
                n += 1
            with _writing(path):
                if stream is not None:
                    out.mux(stream.encode())
        except BaseException:
            with suppress(av.error.FFmpegError, OSError):
                out.close()
            raise
        with _writing(path):
            out.close()             # writes the trailer: the disk can fill here too
        if n == 0:
            raise UserError(f"{path}: nothing to write (no frames)")
        finish_output(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return n
