"""`tokenreel bench`: speed, memory and compute of the runtime on every backend, on a real clip.

Every time is the median of several warm runs. Each backend is measured in its own process, so its peak
memory (the process's max RSS: interpreter, engine, models, buffers) is its own. `benchmarks/benchmarks.py`
writes BENCHMARKS.md from the same figures (`python -m tokenreel.bench worker ...` is the per-process part).
"""
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .cache import EXPORT_SIZE, cached_models
from .precisions import FP32, INT8, PHONE

CONFIGS = [("torch", FP32), ("onnx", FP32), ("onnx", INT8), ("executorch", FP32), ("executorch", INT8)]
EDIT_CONFIG = ("onnx", PHONE)         # the phone-like runtime the edit targets are stated for
FRAMES = 33                           # tokenizer runs: the first call plus 8 groups of 4 frames
LONG_SECONDS = 5                      # the clip length of the seconds-per-second figures


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    versions = {}
    for name in ("numpy", "onnxruntime", "executorch", "torch"):
        try:
            versions[name] = __import__(name).__version__
        except (ImportError, AttributeError):
            pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1), "python": platform.python_version(),
            "versions": versions}


def _median(xs):
    return float(np.median(xs))


def _timed(fn, runs, warm=True):
    """(median seconds of `runs` calls of fn, the last call's result), after one untimed call if `warm`."""
    result = fn() if warm else None
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return _median(times), result


def _peak_rss_mb():
    """This process's peak resident memory. VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over
    fork + exec, so a worker would report its parent's peak."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 2 ** 20)


class _Timed:
    """A tokenizer backend whose step calls are timed."""

    def __init__(self, backend):
        self.backend, self.encode_s, self.decode_s = backend, [], []

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def encode_step(self, frames, state):
        t = time.perf_counter()
        out = self.backend.encode_step(frames, state)
        self.encode_s.append((time.perf_counter() - t, len(frames)))
        return out

    def decode_step(self, latents, state):
        t = time.perf_counter()
        out = self.backend.decode_step(latents, state)
        self.decode_s.append((time.perf_counter() - t, len(out[0])))
        return out


def _steady_fps(calls):
    """Frames per second of the calls after each stream's first (the first call is a one-frame start-up)."""
    return _median([n / s for s, n in calls if n > 1])


def _backends(backend, precision, models, with_transformer=False):
    from .backends import tokenizer_backend, transformer_backend
    tok = tokenizer_backend(backend, None, models, precision)
    return tok, (transformer_backend(backend, None, tok, models, precision) if with_transformer else None)


def _frames(clip, tok, count):
    from .runtime.video import read_video_cropped
    return read_video_cropped(clip, tok_size(tok), count).frames


def _outpaint_window(tf, tokens):
    """A realistic masked window: the clip's first window, its central columns known (a 9:16 reframe's view)."""
    from .runtime.tokens import sub_tokens_of
    WT, WH, WW = tf.window
    win = tokens[:WT, :WH, :WW]
    known = np.zeros(win.shape, bool)
    known[:, :, WW // 4:WW - WW // 4] = True
    return win.reshape(-1), known.reshape(-1), sub_tokens_of(win.reshape(-1), known.reshape(-1), tf.splits,
                                                             tf.sub_bits, tf.mask_id)


def work_tokenizer(backend, precision, models, clip, runs):
    from .runtime.tokenizing import decode_tokens, encode_frames
    tok, _ = _backends(backend, precision, models)
    timed = _Timed(tok)
    frames = _frames(clip, tok, FRAMES)
    tokens = encode_frames(timed, iter(frames)).tokens          # warm-up
    list(decode_tokens(timed, tokens))
    timed.encode_s, timed.decode_s = [], []
    for _ in range(runs):
        encode_frames(timed, iter(frames))
        list(decode_tokens(timed, tokens))
    return {"encode_fps": _steady_fps(timed.encode_s), "decode_fps": _steady_fps(timed.decode_s),
            "encode_call_ms": 1000 * _median([s for s, n in timed.encode_s if n > 1]),
            "decode_call_ms": 1000 * _median([s for s, n in timed.decode_s if n > 1]),
            "frames_per_call": int(_median([n for _, n in timed.encode_s if n > 1])),
            "peak_rss_mb": _peak_rss_mb()}


def work_stream(backend, precision, models, clip, frames):
    """Encode then decode `frames` frames, streaming from the file to nowhere: memory must not grow."""
    from .runtime.tokenizing import decode_tokens, encode_frames
    from .runtime.video import open_frames
    tok, _ = _backends(backend, precision, models)
    w, h = tok_size(tok)
    _, source = open_frames(clip, short_side=h, multiple=8)

    def cropped():
        for i, f in enumerate(source):
            if i >= frames:
                return
            y0, x0 = (f.shape[0] - h) // 2, (f.shape[1] - w) // 2
            yield f[y0:y0 + h, x0:x0 + w]
    enc = encode_frames(tok, cropped())
    n = sum(1 for _ in decode_tokens(tok, enc.tokens, enc.frames))
    return {"frames": n, "peak_rss_mb": _peak_rss_mb()}


def work_transformer(backend, precision, models, clip, runs):
    from .runtime.tokenizing import encode_frames
    tok, tf = _backends(backend, precision, models, with_transformer=True)
    tokens = encode_frames(tok, iter(_frames(clip, tok, 17))).tokens
    _, _, sub = _outpaint_window(tf, tokens)
    seconds, _ = _timed(lambda: tf.logits(sub), runs)
    return {"call_ms": 1000 * seconds, "peak_rss_mb": _peak_rss_mb()}


def work_edits(backend, precision, models, clip, runs):
    """Seconds per 17-frame reframe 16:9 -> 9:16 and per two-second extension; parallel vs one token per call.
    The edits go through the API (tokenreel/api.py), as a user's would."""
    from . import api
    from .runtime.edit import DEFAULT_STEPS, SAMPLERS, fill
    tok, tf = _backends(backend, precision, models, with_transformer=True)
    editor = api.Editor(tokenizer=tok, transformer=tf)
    source = editor.encode(clip, frames=17)
    tokens, fps = source.tokens, source.fps
    out = {}

    def timed(fn):
        return _timed(fn, runs, warm=False)
    new = round(2 * fps)
    out["extend_frames"], out["samplers"] = new, {}
    for sampler in SAMPLERS:
        r = out["samplers"][sampler] = {"steps": DEFAULT_STEPS[sampler]}
        r["reframe_s"], reframed = timed(lambda: source.reframe("9:16", sampler=sampler))
        r["extend_s"], extended = timed(lambda: source.extend(frames=new, sampler=sampler))
        r["reframe_calls"], r["extend_calls"] = reframed.calls, extended.calls
    # seconds per second of video, on LONG_SECONDS of the clip (reframe) and LONG_SECONDS more (extend)
    long_source = editor.encode(clip, frames=round(LONG_SECONDS * fps))
    t = time.perf_counter()
    calls = long_source.reframe("9:16").calls
    out["long"] = {"seconds_of_video": long_source.seconds, "reframe_calls": calls,
                   "reframe_s_per_s": (time.perf_counter() - t) / long_source.seconds}
    t = time.perf_counter()
    calls = source.extend(frames=round(LONG_SECONDS * fps)).calls
    out["long"].update(extend_calls=calls, extend_s_per_s=(time.perf_counter() - t) / LONG_SECONDS)
    # parallel decoding of one window vs one token per call (the same call, so estimated from its time)
    win, known, sub = _outpaint_window(tf, tokens)
    shape = tf.window
    out["window_unknown"], out["window"] = int((~known).sum()), list(shape)
    out["parallel"] = {}
    for steps in (8, 12, 16):
        out["parallel"][steps], _ = timed(lambda: fill(tf, win.reshape(shape), known.reshape(shape), steps, 0)[0])
    # token space vs pixel space: the same crop and trim (3 latent frames, 9:16) from a .trl vs from the H.264
    folder = Path(os.environ.get("TMPDIR", "/tmp"))
    trl_path = folder / f"tokenreel-bench-{os.getpid()}.trl"
    zstd_path, out_path = trl_path.with_suffix(".zstd.trl"), trl_path.with_suffix(".out.trl")
    ctx_path = trl_path.with_suffix(".ans-ctx.trl")
    source.save(trl_path)
    try:
        def crop_and_trim(clip, coder=None):
            clip.trim(end=9 / fps).reframe("9:16", fit="crop").save(out_path, coder)

        out["crop_token_s"], _ = timed(lambda: crop_and_trim(api.load(trl_path)))
        source.save(zstd_path, "zstd")
        out["crop_token_zstd_s"], _ = timed(lambda: crop_and_trim(api.load(zstd_path), "zstd"))
        source.save(ctx_path, "ans-ctx")          # the default coder before ans-wave, for comparison
        out["crop_token_ans_ctx_s"], _ = timed(lambda: crop_and_trim(api.load(ctx_path), "ans-ctx"))
        out["crop_pixel_s"], _ = timed(lambda: crop_and_trim(editor.encode(clip, frames=17)))   # decodes the H.264
    finally:
        for p in (trl_path, zstd_path, ctx_path, out_path):
            p.unlink(missing_ok=True)
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def tok_size(tok):
    """(W, H) frames the tokenizer backend takes: an export's fixed size, or the default export size."""
    return getattr(tok, "frame_size", (EXPORT_SIZE[1], EXPORT_SIZE[0]))


WORKERS = {"tokenizer": work_tokenizer, "stream": work_stream, "transformer": work_transformer, "edits": work_edits}


def _in_process(kind, backend, precision, models, clip, arg):
    """Run one worker in a fresh Python process; -> its result dict."""
    cmd = [sys.executable, "-m", "tokenreel.bench", "worker", json.dumps([kind, backend, precision,
                                                                          str(models) if models else None,
                                                                          str(clip), arg])]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"bench worker {kind} {backend} {precision} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _one_op_rate(node, in_type, in_shape, out_type, out_shape, inits, macs, rng, runs):
    """Operations per second (2 x MACs) of a single-node ONNX Runtime model, the median of `runs` warm runs."""
    import onnxruntime as ort
    from onnx import helper
    graph = helper.make_graph([node], "peak", [helper.make_tensor_value_info("a", in_type, in_shape)],
                              [helper.make_tensor_value_info("y", out_type, out_shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    a = {"a": (rng.integers(0, 256, in_shape, dtype=np.uint8) if in_type == 2
               else rng.standard_normal(in_shape, dtype=np.float32))}
    return 2 * macs / _timed(lambda: session.run(None, a), runs)[0]


def matmul_peak_gflops(sizes=(1024, 2048), runs=7):
    """The machine's measured fp32 matmul peak, the utilisation reference of float runs: the best of numpy's
    BLAS and ONNX Runtime's MatMul and an equal 1x1 Conv (MLAS) at two sizes, all cores. One library is not a
    peak: on an AMD EPYC numpy's BLAS ran at 209 GFLOP/s where the exported models' own convolutions reached
    360."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    best = 0.0
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        best = max(best, 2 * n ** 3 / _timed(lambda: a @ a, runs)[0])
        side = int(round(n ** 0.5))      # the same n x n x n MACs as a 1x1 Conv over side x side pixels
        b = numpy_helper.from_array(rng.standard_normal((n, n), dtype=np.float32), "b")
        w = numpy_helper.from_array(rng.standard_normal((n, n, 1, 1), dtype=np.float32), "b")
        f = TensorProto.FLOAT
        best = max(best, _one_op_rate(helper.make_node("MatMul", ["a", "b"], ["y"]), f, [n, n], f, [n, n], [b],
                                      n ** 3, rng, runs),
                   _one_op_rate(helper.make_node("Conv", ["a", "b"], ["y"]), f, [1, n, side, side], f,
                                [1, n, side, side], [w], n * n * side * side, rng, runs))
    return best / 1e9


def int8_peak_gops(sizes=(1024, 2048), runs=7):
    """The machine's measured int8 matmul peak: the best of ONNX Runtime's MatMulInteger, QLinearMatMul and a
    1x1 QLinearConv of the same MACs (uint8 activations x int8 weights, their fast path; int8 x int8 is a slow
    one) at two sizes, all cores. One op at one size is not a peak: MatMulInteger at 1024 ran below what the
    models' own QLinearConv layers reach."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    best = 0.0
    for n in sizes:
        b = numpy_helper.from_array(rng.integers(-127, 128, (n, n), dtype=np.int8), "b")
        scalars = [numpy_helper.from_array(np.array(v, dtype=d), name) for name, v, d in
                   (("sa", 0.02, np.float32), ("za", 128, np.uint8), ("sb", 0.01, np.float32), ("zb", 0, np.int8),
                    ("sy", 0.5, np.float32), ("zy", 128, np.uint8))]
        side = int(round(n ** 0.5))
        w = numpy_helper.from_array(rng.integers(-127, 128, (n, n, 1, 1), dtype=np.int8), "b")
        u8 = TensorProto.UINT8
        ops = [(helper.make_node("MatMulInteger", ["a", "b"], ["y"]), TensorProto.INT32, [b], [n, n], [n, n], n),
               (helper.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"]),
                u8, [b] + scalars, [n, n], [n, n], n),
               (helper.make_node("QLinearConv", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"]),
                u8, [w] + scalars, [1, n, side, side], [1, n, side, side], side * side)]
        for node, out_type, inits, in_shape, out_shape, rows in ops:
            best = max(best, _one_op_rate(node, u8, in_shape, out_type, out_shape, inits, n * n * rows, rng, runs))
    return best / 1e9


def model_gflops(frame_size=EXPORT_SIZE):
    """FLOPs per call of each exported role of the shipped weights at frame_size (H, W), counted on the server
    model (torch's FLOP counter)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from .export.spec import tokenizer_specs, transformer_spec
    from .models.weights import load_tokenizer, load_transformer
    tokenizer, _ = load_tokenizer()
    transformer, _ = load_transformer()
    out = {}
    for a in tokenizer_specs(tokenizer, *frame_size) + [transformer_spec(transformer)]:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            a.module(*a.inputs)
        out[a.role] = counter.get_total_flops() / 1e9
    return out


def run(models=None, clip=None, runs=5, configs=CONFIGS, rate_distortion=True, quiet=True):
    """All figures -> a dict (also what --json writes). models: an export folder holding every config;
    default: the shipped weights exported once per format and precision (cache.py)."""
    from tqdm import tqdm
    from .places import default_clip, sample_clips
    rd_clips = [clip] if clip else sample_clips()
    clip = clip or default_clip()
    folders = {}
    for backend, precision in configs:
        if backend != "torch":
            folders[backend, precision] = models or cached_models(backend, precision)[0]
    edit_config = EDIT_CONFIG if EDIT_CONFIG in configs else configs[-1]
    steps = [("tokenizer", c, runs) for c in configs] + [("transformer", c, runs) for c in configs] + \
        [("stream", edit_config, 17), ("stream", edit_config, 170), ("edits", edit_config, max(1, runs // 2))]
    frame_size, shipped = EXPORT_SIZE, True
    if models:
        from .models.weights import DEFAULT_TOKENIZER, DEFAULT_TRANSFORMER
        from .runtime import manifest as manifest_io
        m = manifest_io.read(models)
        frame_size = tuple(reversed(m["geometry"]["frame_size"]))
        shipped = {m["weights"][k]["sha256"] for k in ("tokenizer", "transformer") if k in m["weights"]} == \
            {manifest_io.file_sha256(p) for p in (DEFAULT_TOKENIZER, DEFAULT_TRANSFORMER)}
    results = {"machine": machine(), "clip": Path(clip).name, "runs": runs, "frame_size": list(frame_size),
               "tokenizer": {}, "transformer": {}, "stream": {}}
    for kind, (backend, precision), arg in tqdm(steps, desc="bench", disable=quiet):
        r = _in_process(kind, backend, precision, folders.get((backend, precision)), clip, arg)
        key = f"{backend} {precision}"
        if kind == "stream":
            results["stream"][str(arg)] = dict(r, config=key)
        elif kind == "edits":
            results["edits"] = dict(r, config=key)
        else:
            results[kind][key] = r
    results["peak_gflops"] = matmul_peak_gflops()
    results["int8_peak_gops"] = int8_peak_gops()
    # FLOPs are counted on the shipped weights; an export of other weights gets no utilisation figures
    results["model_gflops"] = model_gflops(frame_size) if shipped else None
    if rate_distortion:
        from .backends import tokenizer_backend
        from .eval.tokenizer import evaluate
        rows, summary = evaluate(tokenizer_backend("torch"), rd_clips, EXPORT_SIZE[0], 17, True)
        results["rate_distortion"] = {"clips": rows, "mean": summary}
    return results


def _table(head, rows):
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] +
                     ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def _precision(config):
    """The precision of a results key, "onnx int8" -> "int8"."""
    return config.rsplit(" ", 1)[-1]


def _utilisation(r, gf, peak, int8_peak):
    out = [f"Model GFLOPs per call (torch's FLOP counter on the server model) over the measured time per call, "
            f"against this machine's measured peaks: fp32 matmul {peak:.0f} GFLOP/s (the best of numpy's BLAS and "
            "ONNX Runtime's MatMul and an equal 1x1 Conv, at 1024 and 2048, all cores) "
            f"for float runs, int8 matmul {int8_peak:.0f} GOP/s (the best of ONNX Runtime's MatMulInteger, "
            "QLinearMatMul and an equal 1x1 QLinearConv, uint8 x int8, at 1024 and 2048, all cores) for int8 runs.", ""]
    rows = []
    for k in r["tokenizer"]:
        c, t = r["tokenizer"][k], r["transformer"][k]
        scale = c["frames_per_call"] / 4        # FLOPs are counted for one 4-frame step call
        for role, ms, flops in (("encoder step", c["encode_call_ms"], gf["encoder_step"] * scale),
                                ("decoder step", c["decode_call_ms"], gf["decoder_step"] * scale),
                                ("transformer", t["call_ms"], gf["transformer"])):
            ref = int8_peak if _precision(k) == INT8 else peak
            rows.append([k, role, f"{flops:.2f}", f"{ms:.1f}", f"{flops / ms * 1000:.0f}",
                         f"{100 * flops / ms * 1000 / ref:.0f}%"])
    return out + [_table(["backend", "call", "GFLOP", "ms", "GFLOP/s", "of peak"], rows)]


def markdown(r):
    """Every table of BENCHMARKS.md from run()'s figures."""
    m = r["machine"]
    h, w = r["frame_size"]
    gf, peak = r["model_gflops"], r["peak_gflops"]
    out = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python {m['python']}, " +
           ", ".join(f"{k} {v}" for k, v in m["versions"].items()) +
           f". Clip: {r['clip']}, frames {w}x{h}. Each time is the median of {r['runs']} warm runs.", ""]
    out += ["## Encoder and decoder", "",
            "Frames per second of the steady-state step calls (4 frames per call on the exported step models; "
            "the torch server model takes 16 per call); peak memory is the whole process (interpreter, engine, "
            "models) after the runs.", ""]
    out.append(_table(["backend", "encoder fps", "decoder fps", "encoder ms/call", "decoder ms/call", "peak MB"],
                      [[k, f"{v['encode_fps']:.1f}", f"{v['decode_fps']:.1f}", f"{v['encode_call_ms']:.1f}",
                        f"{v['decode_call_ms']:.1f}", f"{v['peak_rss_mb']:.0f}"] for k, v in r["tokenizer"].items()]))
    s17, s170 = r["stream"]["17"], r["stream"]["170"]
    out += ["", f"Streaming ({s17['config']}, encode then decode, frames read from the file "
            "and dropped after use):", "",
            _table(["frames", "peak MB"], [[s17["frames"], f"{s17['peak_rss_mb']:.0f}"],
                                           [s170["frames"], f"{s170['peak_rss_mb']:.0f}"]]),
            "", f"170 frames use {100 * (s170['peak_rss_mb'] / s17['peak_rss_mb'] - 1):+.1f}% of the memory of 17."]
    e = r["edits"]
    out += ["", "## Transformer", "", f"One call: a {'x'.join(map(str, e['window']))} token window.", "",
            _table(["backend", "ms per call", "peak MB"],
                   [[k, f"{v['call_ms']:.1f}", f"{v['peak_rss_mb']:.0f}"] for k, v in r["transformer"].items()]),
            "", f"Edits on {e['config']}, per sampler (revise, the default: one call scores the draft, then "
            "MaskGIT steps on what the model re-masks; maskgit: from all-[MASK]):", "",
            _table(["edit", "sampler", "steps per window", "transformer calls", "seconds"],
                   [row for name, r in e["samplers"].items() for row in (
                       ["reframe 16:9 -> 9:16, 17 frames", name, r["steps"], r["reframe_calls"], f"{r['reframe_s']:.2f}"],
                       [f"extend by 2 s ({e['extend_frames']} frames)", name, r["steps"], r["extend_calls"],
                        f"{r['extend_s']:.2f}"])]),
            "", f"Seconds per second of video (revise sampler), {e['long']['seconds_of_video']:.1f} s of the clip "
            "reframed to 9:16, and the 17-frame clip extended by 5 s:", "",
            _table(["edit", "transformer calls", "seconds per second of video"],
                   [["reframe 16:9 -> 9:16", e["long"]["reframe_calls"], f"{e['long']['reframe_s_per_s']:.2f}"],
                    ["extend", e["long"]["extend_calls"], f"{e['long']['extend_s_per_s']:.2f}"]])]
    call_ms = r["transformer"][e["config"]]["call_ms"]
    out += ["", "## Parallel vs autoregressive decoding", "",
            f"Filling one window with {e['window_unknown']} unknown tokens (a reframe's margins). One token per "
            "call is estimated from the measured time per call (running it would take minutes).", "",
            _table(["decoding", "transformer calls", "seconds"],
                   [[f"MaskGIT, {n} steps", n, f"{sec:.2f}"] for n, sec in e["parallel"].items()] +
                   [["one token per call (estimated)", e["window_unknown"],
                     f"{e['window_unknown'] * call_ms / 1000:.1f}"]])]
    out += ["", "## Token space vs pixel space", "",
            "A 9:16 centre crop of the first 3 latent frames (a crop and a trim), written as a .trl: from a .trl "
            "(read, crop, write; no decode) vs from the H.264 file (decode, encode, crop, write).", "",
            _table(["route", "seconds", "pixel route / this"],
                   [["token space (.trl, default coder: ans-wave, or zstd if smaller)", f"{e['crop_token_s']:.4f}",
                     f"{e['crop_pixel_s'] / e['crop_token_s']:.1f}x"]] +
                   [[f"token space (.trl, {name} coder)", f"{e[key]:.4f}", f"{e['crop_pixel_s'] / e[key]:.1f}x"]
                    for name, key in (("ans-ctx", "crop_token_ans_ctx_s"), ("zstd", "crop_token_zstd_s"))
                    if key in e] +
                   [["pixel space (H.264)", f"{e['crop_pixel_s']:.3f}", "1x"]]),
            "", "ans-wave decodes a wave of tokens (x + y + 2t constant) per vectorised coder call; ans-ctx, the "
            "default before it, one token per call (docs/trl-format.md); zstd is faster still but 30-40% larger."]
    out += ["", "## Compute utilisation", ""]
    if gf is None:
        out.append("Not computed: the export holds weights other than the shipped ones.")
    else:
        out += _utilisation(r, gf, peak, r["int8_peak_gops"])
    if "rate_distortion" in r:
        from .eval.tokenizer import table
        rd = r["rate_distortion"]
        out += ["", "## Rate-distortion", "", "The tokenizer's .trl bits per pixel and PSNR next to x264 and x265 "
                "at the same bits per pixel (interpolated over a CRF sweep; `tokenreel eval tokenizer`), 17 "
                "frames per clip at 128 px on the short side.", ""]
        if r.get("rate_distortion_plot"):
            out += [f"![rate-distortion: x264 and x265 CRF sweeps, tokenreel points]({r['rate_distortion_plot']})", ""]
        out.append(table(rd["clips"], rd["mean"]))
    out += ["", "## Targets", ""]
    int8 = [k for k in r["tokenizer"] if _precision(k) == INT8]
    checks = [(f"encoder and decoder >= 30 fps at int8 ({k})",
               min(r["tokenizer"][k]["encode_fps"], r["tokenizer"][k]["decode_fps"]) >= 30,
               f"{r['tokenizer'][k]['encode_fps']:.1f} / {r['tokenizer'][k]['decode_fps']:.1f} fps") for k in int8]
    rv, long = e["samplers"]["revise"], e["long"]
    tf_int8 = r["transformer"].get(e["config"])
    checks += [("17-frame reframe to 9:16 <= 2 s", rv["reframe_s"] <= 2, f"{rv['reframe_s']:.2f} s"),
               ("two-second extension <= 2 s", rv["extend_s"] <= 2, f"{rv['extend_s']:.2f} s"),
               ("reframe <= 3 s per second of video", long["reframe_s_per_s"] <= 3, f"{long['reframe_s_per_s']:.2f}"),
               ("extend <= 3 s per second of video", long["extend_s_per_s"] <= 3, f"{long['extend_s_per_s']:.2f}")]
    if gf is not None and tf_int8 and _precision(e["config"]) == INT8:
        use = gf["transformer"] / tf_int8["call_ms"] * 1000 / r["int8_peak_gops"]
        checks.append((f"int8 transformer >= 30% of the int8 matmul peak ({e['config']})", use >= 0.3,
                       f"{100 * use:.0f}%"))
    checks += [("token-space crop >= 10x faster (default .trl coder)", e["crop_pixel_s"] >= 10 * e["crop_token_s"],
                f"{e['crop_pixel_s'] / e['crop_token_s']:.1f}x"),
               ("streaming peak at 170 frames within 10% of 17", s170["peak_rss_mb"] <= 1.1 * s17["peak_rss_mb"],
                f"{s170['peak_rss_mb']:.0f} vs {s17['peak_rss_mb']:.0f} MB")]
    out.append(_table(["target", "met", "measured"], [[c, "yes" if ok else "**no**", v] for c, ok, v in checks]))
    return "\n".join(out) + "\n"


def _worker_main(spec):
    kind, backend, precision, models, clip, arg = json.loads(spec)
    from .logs import quiet_libraries
    quiet_libraries()
    print(json.dumps(WORKERS[kind](backend, precision, models, clip, arg)))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "worker":
        _worker_main(sys.argv[2])
    else:
        sys.exit("usage: python -m tokenreel.bench worker SPEC  (use `tokenreel bench` instead)")
