"""`tokenreel verify DIR`: every exported artifact against the PyTorch server model, on real clips.

Per artifact (format x precision x role):
- encoder: share of equal tokens and of equal token bits, SQNR of the pre-quantization latent;
- decoder: PSNR of its frames against the server decoder's, from the same (server) tokens;
- transformer: SQNR of the logits and top-1 agreement on the unknown tokens of realistic masked windows
  (MAGVIT task masks over the clip's real tokens);
- end to end, on the whole backend (its encoder, transformer and decoder): reframe (the clip's centre
  square outpainted back to the full frame) and extend (the first 17 frames continued by 8), fixed seed:
  share of tokens equal to the server's, PSNR of the decoded result against the server's, and of each
  against the real frames (the truth is known in both edits).
Thresholds per precision live in `thresholds.py`. When an artifact fails, `localise.py` names the first
layer whose output diverges from the server model's.
"""
import math
from pathlib import Path

import numpy as np

from ..backends import tokenizer_backend, transformer_backend
from ..errors import UserError
from ..runtime import manifest as manifest_io
from ..runtime.tokenizing import decode_tokens, encode_frames, hold_still
from ..runtime.edit import check_sampler, extend, reframe_outpaint
from ..runtime.tokens import sub_tokens_of
from ..runtime.video import read_video_cropped
from .thresholds import judge

CAP_DB = 200.0          # identical outputs: a finite figure for JSON and tables
RUNNABLE_HERE = {"onnx", "executorch"}   # Core ML predicts on macOS only
TASKS = ("frames", "vertical", "central", "random")
EXTEND_FRAMES = 8
SEED = 1234


def sqnr_db(reference, x):
    reference, x = np.asarray(reference, np.float64), np.asarray(x, np.float64)
    noise = np.sum((reference - x) ** 2)
    return CAP_DB if noise == 0 else float(min(CAP_DB, 10 * math.log10(np.sum(reference ** 2) / noise)))


def psnr_db(a, b):
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return CAP_DB if mse == 0 else float(min(CAP_DB, 10 * math.log10(255 ** 2 / mse)))


class _Recorder:
    """A tokenizer backend that keeps the pre-quantization latents it returns."""

    def __init__(self, backend):
        self.backend, self.latents = backend, []

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def encode_step(self, frames, state):
        latent, state = self.backend.encode_step(frames, state)
        self.latents.append(latent)
        return latent, state


def encode(tokenizer, frames):
    rec = _Recorder(tokenizer)
    tokens = encode_frames(rec, iter(frames)).tokens
    return tokens, np.concatenate(rec.latents)


def decode(tokenizer, tokens, frames, hold=True):
    return np.stack(list(decode_tokens(tokenizer, tokens, frames, hold)))


def masked_windows(tokens, window, bits, splits, mask_id):
    """Realistic transformer inputs: the clip's centre window under each task mask."""
    from ..training.masks import task_mask
    T, H, W = window
    y0, x0 = (tokens.shape[1] - H) // 2, (tokens.shape[2] - W) // 2
    win = tokens[:T, y0:y0 + H, x0:x0 + W].reshape(-1)
    rng = np.random.default_rng(SEED)
    for task in TASKS:
        known = task_mask(window, task, rng).reshape(-1)
        if task == "random":
            known = rng.random(known.shape) < 0.5
        yield win, known, sub_tokens_of(win, known, splits, bits // splits, mask_id)


class ServerRun:
    """What the server model gives on one clip: the reference every artifact is compared with."""

    def __init__(self, frames, tokenizer, transformer, steps):
        self.frames, self.steps = frames, steps
        self.tokenizer, self.transformer = tokenizer, transformer
        self.tokens, self.latents = encode(tokenizer, frames[:17])
        self.decoded_free = decode(tokenizer, self.tokens, 17, hold=False)   # the decoder's own, unheld frames
        self.decoded = np.stack(list(hold_still(self.decoded_free, self.tokens, tokenizer.group, tokenizer.spatial)))
        self.windows = list(masked_windows(self.tokens, transformer.window, tokenizer.bits, transformer.splits,
                                           transformer.mask_id)) if transformer else []
        self.logits = [transformer.logits(sub) for _, _, sub in self.windows] if transformer else []
        self.edits = edits(tokenizer, transformer, frames, steps) if transformer else {}


def edits(tokenizer, transformer, frames, steps, tokens=None):
    """Reframe and extend on one backend; -> {edit: (tokens, decoded frames, truth frames)}. From the
    backend's own tokens of the clip (end to end), or from the given source `tokens`."""
    if tokens is None:
        tokens, _ = encode(tokenizer, frames[:17])
    T, H, W = tokens.shape
    side = min(H, W)
    x0 = (W - side) // 2
    out = {}
    reframed, _ = reframe_outpaint(transformer, tokens[:, :, x0:x0 + side], f"{W}:{H}", steps=steps, seed=SEED)
    if reframed.shape == tokens.shape:
        out["reframe"] = (reframed, decode(tokenizer, reframed, 17), frames[:17])
    if len(frames) >= 17 + EXTEND_FRAMES:
        extended, _ = extend(transformer, tokens, EXTEND_FRAMES, steps=steps, seed=SEED, group=tokenizer.group)
        decoded = decode(tokenizer, extended, 17 + EXTEND_FRAMES)
        out["extend"] = (extended, decoded[17:], frames[17:17 + EXTEND_FRAMES])
    return out


def bits_equal(a, b, bits):
    diff = np.bitwise_xor(a.astype(np.int64), b.astype(np.int64))
    flips = sum(int(np.count_nonzero((diff >> i) & 1)) for i in range(bits))
    return 1 - flips / (diff.size * bits)


def measure(server, tok, tf):
    """Figures of one exported backend (tokenizer `tok`, transformer `tf` or None) on one clip."""
    f = {}
    if tok is not None:
        tokens, latents = encode(tok, server.frames[:17])
        f["encoder.tokens_equal"] = float((tokens == server.tokens).mean())
        f["encoder.bits_equal"] = bits_equal(tokens, server.tokens, server.tokenizer.bits)
        f["encoder.latent_sqnr_db"] = sqnr_db(server.latents, latents)
        f["decoder.psnr_db"] = psnr_db(server.decoded_free, decode(tok, server.tokens, 17, hold=False))
        # what users see of the tokenizer: its own encode + decode against the real frames
        f["tokenizer.truth_psnr_db"] = psnr_db(server.frames[:17], decode(tok, tokens, 17))
        f["tokenizer.server_truth_psnr_db"] = psnr_db(server.frames[:17], server.decoded)
        f["tokenizer.truth_drop_db"] = f["tokenizer.server_truth_psnr_db"] - f["tokenizer.truth_psnr_db"]
    if tf is not None:
        logits = [tf.logits(sub) for _, _, sub in server.windows]
        f["transformer.logits_sqnr_db"] = sqnr_db(np.stack(server.logits), np.stack(logits))
        agree = [(a.argmax(-1) == b.argmax(-1))[:, ~known].mean() for a, b, (_, known, _) in
                 zip(server.logits, logits, server.windows)]
        f["transformer.top1_agree"] = float(np.mean(agree))
    if tok is not None and tf is not None:
        # the edit itself, from the server's source tokens: sampling is chaotic in its inputs (one source
        # token that differs changes every later pick), so equality is asked of equal inputs
        for name, (tokens, decoded, _) in edits(tok, tf, server.frames, server.steps, server.tokens).items():
            ref_tokens, ref_decoded, _ = server.edits[name]
            f[f"{name}.tokens_equal"] = float((tokens == ref_tokens).mean())
            f[f"{name}.psnr_vs_server_db"] = psnr_db(ref_decoded, decoded)
        # end to end on the backend (its own encoder too): judged by what users see, the real frames
        for name, (tokens, decoded, truth) in edits(tok, tf, server.frames, server.steps).items():
            _, ref_decoded, _ = server.edits[name]
            f[f"{name}.truth_psnr_db"] = psnr_db(truth, decoded)
            f[f"{name}.server_truth_psnr_db"] = psnr_db(truth, ref_decoded)
            f[f"{name}.truth_drop_db"] = f[f"{name}.server_truth_psnr_db"] - f[f"{name}.truth_psnr_db"]
    return f


def verify(folder, clips, formats=None, precisions=None, steps=None, weights=None, transformer_weights=None,
           localise_failures=True, quiet=True, cases_dir=None):
    """-> report dict: {"rows": [one per (format, precision)], "pass": bool, ...}. With `cases_dir`, the app
    ports' model cases (from the first clip's server run) and spec cases are written there
    (verify/model_cases.py)."""
    from tqdm import tqdm
    from .localise import localise
    steps = check_sampler("revise", steps)
    manifest = manifest_io.read(folder)
    kinds = sorted({(a["format"], a["precision"]) for a in manifest["artifacts"].values()})
    kinds = [(f, p) for f, p in kinds if (formats is None or f in formats) and (precisions is None or p in precisions)]
    if not kinds:
        raise UserError(f"{folder}: no artifacts of the asked formats/precisions to verify")
    has_tf = "window" in manifest["geometry"]
    server_tok = tokenizer_backend("torch", weights)
    if server_tok.tokenizer_sha256 != manifest["weights"]["tokenizer"]["sha256"]:
        raise UserError(f"{folder} was exported from tokenizer weights {manifest['weights']['tokenizer']['id']}, "
                        f"not the server's {server_tok.tokenizer_id}; pass --weights with the exported ones")
    server_tf = transformer_backend("torch", transformer_weights) if has_tf else None
    if has_tf and _sha(transformer_weights) != manifest["weights"]["transformer"]["sha256"]:
        raise UserError(f"{folder} was exported from transformer weights {manifest['weights']['transformer']['id']}, "
                        f"not the server's; pass --transformer with the exported ones")
    frame_size = tuple(manifest["geometry"]["frame_size"])
    runs = []
    for clip in clips:
        frames = read_video_cropped(clip, frame_size, 17 + EXTEND_FRAMES).frames
        if len(frames) < 17:
            raise UserError(f"{clip}: {len(frames)} frames; verify needs at least 17")
        runs.append((Path(clip).name, ServerRun(frames, server_tok, server_tf, steps)))
    if cases_dir:
        from . import model_cases
        model_cases.write(cases_dir, runs[0][1], server_tf)
    rows = []
    jobs = [(fmt, precision) for fmt, precision in kinds]
    for fmt, precision in tqdm(jobs, desc="verify", disable=quiet):
        row = {"format": fmt, "precision": precision, "clips": [n for n, _ in runs]}
        if fmt not in RUNNABLE_HERE and not _can_run(fmt):
            row.update(status="skipped", reason="Core ML predictions need macOS")
            rows.append(row)
            continue
        tok = tokenizer_backend(fmt, models=folder, precision=precision)
        tf = transformer_backend(fmt, models=folder, precision=precision) if has_tf else None
        per_clip = [measure(run, tok, tf) for _, run in runs]
        figures = {k: float(np.mean([c[k] for c in per_clip])) for k in per_clip[0]}
        failures = judge(precision, figures)
        row.update(figures=figures, failures=failures, status="fail" if failures else "pass")
        if failures and localise_failures:
            row["localisation"] = localise(folder, manifest, fmt, precision, failures, runs[0][1],
                                           server_tok, server_tf)
        rows.append(row)
    return {"folder": str(folder), "server": {"tokenizer": server_tok.tokenizer_id,
                                              "transformer": manifest["weights"].get("transformer", {}).get("id")},
            "steps": steps, "seed": SEED, "rows": rows,
            "pass": all(r["status"] != "fail" for r in rows)}


def _sha(transformer_weights):
    from ..models.weights import DEFAULT_TRANSFORMER
    return manifest_io.file_sha256(transformer_weights or DEFAULT_TRANSFORMER)


def _can_run(fmt):
    import platform
    return fmt == "coreml" and platform.system() == "Darwin"
