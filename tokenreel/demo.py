"""The main job, `tokenreel demo`: a real clip -> .trl -> reframed to 9:16 and extended by two seconds, on the
runtime a phone would use (ONNX Runtime, int8, by default), decoded, with one side-by-side picture.

The exported models are made once (`tokenreel export` of the shipped weights) and cached (cache.py), so a
fresh machine needs no other download."""
import time
from dataclasses import dataclass, field
from pathlib import Path

from .cache import cached_models
from .errors import UserError
from .precisions import PHONE

@dataclass
class Stage:
    name: str
    seconds: float
    what: str


@dataclass
class DemoResult:
    stages: list = field(default_factory=list)
    files: list = field(default_factory=list)


def run(clip, out: Path, backend="onnx", precision=PHONE, models=None, frames=17, extend_seconds=2.0,
        aspect="9:16", steps=None, seed=0, quiet=False, tokenizer_weights=None, transformer_weights=None,
        sampler="revise", keep_source=True):
    """-> DemoResult. Writes into `out`: STEM.trl, STEM.reframed-9x16.mp4, STEM.extended.mp4,
    STEM.side-by-side.png. `keep_source`: the videos show the source's own pixels where it is kept."""
    from .api import Editor
    from .runtime.preview import side_by_side
    from .runtime.video import open_frames, write_video
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
    editor = Editor(backend, models, precision, tokenizer_weights=tokenizer_weights,
                    transformer_weights=transformer_weights, quiet=quiet)
    editor.transformer      # loads the tokenizer too
    stage("load", t, f"{backend} {precision} models from {models}" if models else "torch server models")

    stem = Path(clip).stem
    t = time.perf_counter()
    source = editor.encode(clip, frames=frames)
    trl_path = out / f"{stem}.trl"
    nbytes = source.save(trl_path)
    width, height = source.size
    stage("encode", t, f"{source.frame_count} frames {width}x{height} -> tokens "
                       f"{'x'.join(map(str, source.grid))}, {nbytes} bytes .trl")
    result.files.append(trl_path)

    def decode_to(path, edited, label):
        t = time.perf_counter()
        decoded = list(edited.frames(keep_source))
        write_video(path, decoded, source.fps)
        stage(label, t, f"{len(decoded)} frames {decoded[0].shape[1]}x{decoded[0].shape[0]} -> {path.name}")
        result.files.append(path)
        return decoded

    t = time.perf_counter()
    reframed = source.reframe(aspect, seed=seed, steps=steps, sampler=sampler)
    stage("reframe", t, f"{aspect}: tokens {source.grid[1]}x{source.grid[2]} -> "
                        f"{reframed.grid[1]}x{reframed.grid[2]}, {reframed.calls} transformer calls ({sampler})")
    reframed_frames = decode_to(out / f"{stem}.reframed-{aspect.replace(':', 'x')}.mp4", reframed,
                                "decode reframed")

    new_frames = max(1, round(extend_seconds * source.fps))
    t = time.perf_counter()
    extended = source.extend(frames=new_frames, seed=seed, steps=steps, sampler=sampler)
    stage("extend", t, f"+{new_frames} frames ({extend_seconds:g} s): {source.grid[0]} -> {extended.grid[0]} "
                       f"latent frames, {extended.calls} transformer calls ({sampler})")
    extended_frames = decode_to(out / f"{stem}.extended.mp4", extended, "decode extended")

    pic = out / f"{stem}.side-by-side.png"
    source_frames = list(source.source_frames())
    side_by_side([("source", source_frames), (f"reframed {aspect}", reframed_frames),
                  (f"extended +{extend_seconds:g} s", extended_frames[len(source_frames) - 1:])], pic)
    result.files.append(pic)
    return result


def report(result, clip):
    lines = [f"clip        {clip}"]
    for s in result.stages:
        lines.append(f"{s.name:16} {s.seconds:7.2f} s  {s.what}")
    lines.append("wrote       " + "\n            ".join(str(f) for f in result.files))
    return "\n".join(lines)
