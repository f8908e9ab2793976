"""The main job, `tokenreel demo`: a real clip -> .trl -> reframed to 9:16 and extended by two seconds, on the
runtime a phone would use (ONNX Runtime, int8, by default), decoded, with one side-by-side picture.

The exported models are made once (`tokenreel export` of the shipped weights) and cached (cache.py), so a
fresh machine needs no other download."""
import time
from dataclasses import dataclass, field
from pathlib import Path

from .cache import EXPORT_SIZE, cached_models
from .errors import UserError

@dataclass
class Stage:
    name: str
    seconds: float
    what: str


@dataclass
class DemoResult:
    stages: list = field(default_factory=list)
    files: list = field(default_factory=list)


def run(clip, out: Path, backend="onnx", precision="int8", models=None, frames=17, extend_seconds=2.0,
        aspect="9:16", steps=None, seed=0, quiet=False, tokenizer_weights=None, transformer_weights=None,
        sampler="revise", keep_source=True):
    """-> DemoResult. Writes into `out`: STEM.trl, STEM.reframed-9x16.mp4, STEM.extended.mp4,
    STEM.side-by-side.png. `keep_source`: the videos show the source's own pixels where it is kept."""
    from tqdm import tqdm
    from .backends import tokenizer_backend, transformer_backend
    from .runtime import trl
    from .runtime.codec import encode_frames
    from .runtime.edit import extend, extend_draft, reframe_outpaint
    from .runtime.pipeline import extended_video, make_header, reframed_video
    from .runtime.preview import side_by_side
    from .runtime.video import open_frames, read_video_cropped, write_video
    result = DemoResult()

    def stage(name, t0, what):
        result.stages.append(Stage(name, time.perf_counter() - t0, what))

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{out}: cannot create the output folder ({e.strerror})")
    open_frames(clip, info_only=True)       # a bad clip fails here, before any export
    if backend != "torch" and models is None:
        models, seconds = cached_models(backend, precision, quiet)
        if seconds:
            result.stages.append(Stage("export", seconds, f"shipped weights -> {backend} {precision}, cached"))
    t = time.perf_counter()
    tok = tokenizer_backend(backend, tokenizer_weights, models, precision)
    tf = transformer_backend(backend, transformer_weights, tok, models, precision)
    stage("load", t, f"{backend} {precision} models from {models}" if models else "torch server models")

    frame_size = getattr(tok, "frame_size", (EXPORT_SIZE[1], EXPORT_SIZE[0]))
    video = read_video_cropped(clip, frame_size, frames)
    source, fps = video.frames, video.info.fps
    stem = Path(clip).stem
    t = time.perf_counter()
    tokens = encode_frames(tok, iter(source)).tokens
    header = make_header(tok, fps, len(source), tokens.shape, (video.info.width, video.info.height),
                         "scaled to cover, centre-cropped to the export's frame size")
    trl_path = out / f"{stem}.trl"
    nbytes = trl.write(trl_path, tokens, header)
    stage("encode", t, f"{len(source)} frames {frame_size[0]}x{frame_size[1]} -> tokens "
                       f"{'x'.join(map(str, tokens.shape))}, {nbytes} bytes .trl")
    result.files.append(trl_path)
    kept = list(source) if keep_source else None

    def decode_to(path, frames_iter, label):
        t = time.perf_counter()
        decoded = list(frames_iter)
        write_video(path, decoded, fps)
        stage(label, t, f"{len(decoded)} frames {decoded[0].shape[1]}x{decoded[0].shape[0]} -> {path.name}")
        result.files.append(path)
        return decoded

    with tqdm(desc="reframe", unit="call", disable=quiet, leave=False) as bar:
        t = time.perf_counter()
        reframed, calls = reframe_outpaint(tf, tokens, aspect, steps, seed, bar.update, sampler)
    stage("reframe", t, f"{aspect}: tokens {tokens.shape[1]}x{tokens.shape[2]} -> "
                        f"{reframed.shape[1]}x{reframed.shape[2]}, {calls} transformer calls ({sampler})")
    reframed_frames = decode_to(out / f"{stem}.reframed-{aspect.replace(':', 'x')}.mp4",
                                reframed_video(tok, reframed, tokens.shape, len(source), kept), "decode reframed")

    new_frames = max(1, round(extend_seconds * fps))
    with tqdm(desc="extend", unit="call", disable=quiet, leave=False) as bar:
        t = time.perf_counter()
        extended, calls = extend(tf, tokens, new_frames, steps, seed, group=tok.group, progress=bar.update,
                                 sampler=sampler)
    stage("extend", t, f"+{new_frames} frames ({extend_seconds:g} s): {len(tokens)} -> {len(extended)} latent "
                       f"frames, {calls} transformer calls ({sampler})")
    padded = 1 + tok.group * (len(tokens) - 1)      # the source's frames, with its last group filled
    extended_frames = decode_to(out / f"{stem}.extended.mp4",
                                extended_video(tok, extended, len(source), padded, padded + new_frames, kept,
                                               extend_draft(tokens, new_frames, tok.group)),
                                "decode extended")

    pic = out / f"{stem}.side-by-side.png"
    side_by_side([("source", list(source)), (f"reframed {aspect}", reframed_frames),
                  (f"extended +{extend_seconds:g} s", extended_frames[len(source) - 1:])], pic)
    result.files.append(pic)
    return result


def report(result, clip):
    lines = [f"clip        {clip}"]
    for s in result.stages:
        lines.append(f"{s.name:16} {s.seconds:7.2f} s  {s.what}")
    lines.append("wrote       " + "\n            ".join(str(f) for f in result.files))
    return "\n".join(lines)
