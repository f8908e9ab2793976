"""`tokenreel eval edits`: outpainting and extension on real clips where the truth is known.

Everything happens on one window of the transformer's size cut from the clip's tokens, and every result
— the model's and the baselines' — is decoded by the same tokenizer decoder, so only the way the missing
tokens were made differs:
- outpainting: the central vertical band of columns is known, the side margins are generated;
  baselines: edge-token replication and mirroring; ceiling: the tokenizer's own reconstruction;
- extension: the first `context` latent frames are known, the rest generated; baseline: repeat the last
  known latent frame; ceiling: the tokenizer's reconstruction.
Scores on the generated region only: PSNR, SSIM, sharpness ratio (gradient energy of output / truth, so
blur cannot win) and, for outpainting, the seam ratio (pixel jump across the known/generated border,
output / truth; 1 is seamless, large is a visible seam).
"""
import time
from pathlib import Path

import numpy as np
import torch

from ..metrics import psnr, ssim
from ..runtime.codec import decode_tokens, encode_frames
from ..runtime.edit import fill
from ..runtime.pipeline import check_size
from ..runtime.video import read_video


def _t(u8):
    return torch.from_numpy(np.ascontiguousarray(u8)).permute(0, 3, 1, 2).float() / 127.5 - 1


def sharpness(u8):
    f = u8.astype(np.float64).mean(-1)
    return float((np.diff(f, axis=1) ** 2).mean() + (np.diff(f, axis=2) ** 2).mean())


def region_scores(out, truth, cols=None, frames=None):
    """Scores of out vs truth (uint8 (F, H, W, 3)) on a column mask or a frame range."""
    if cols is not None:
        parts = [(out[:, :, c], truth[:, :, c]) for c in cols]
    else:
        parts = [(out[frames], truth[frames])]
    o = np.concatenate([p[0] for p in parts], axis=2)
    t = np.concatenate([p[1] for p in parts], axis=2)
    return {"psnr": psnr(_t(o), _t(t)), "ssim": float(ssim(_t(o), _t(t))),
            "sharpness": sharpness(o) / max(sharpness(t), 1e-9)}


def seam(frames, xs):
    """Mean absolute pixel jump across the vertical borders at columns xs."""
    f = frames.astype(np.float64)
    return float(np.mean([np.abs(f[:, :, x] - f[:, :, x - 1]).mean() for x in xs]))


def outpaint_baselines(window, known_cols):
    """Edge replication and mirroring of the known band, in token space."""
    T, H, W = window.shape
    a, b = known_cols.start, known_cols.stop
    rep, mir = window.copy(), window.copy()
    for x in range(W):
        if x < a:
            rep[:, :, x] = window[:, :, a]
            mir[:, :, x] = window[:, :, min(b - 1, 2 * a - 1 - x)]
        elif x >= b:
            rep[:, :, x] = window[:, :, b - 1]
            mir[:, :, x] = window[:, :, max(a, 2 * b - 1 - x)]
    return {"replicate": rep, "mirror": mir}


def _mean_rows(rows):
    """Scores averaged over several samples of the same edit (dicts with the same keys)."""
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def evaluate_clip(tokenizer, transformer, path, size=128, steps=12, seed=0, context=2, band=0.5, seeds=1):
    """Scores of one clip; the model's rows are the mean over `seeds` samples (seed, seed+1, ...): one
    sample's score swings by a few dB."""
    WT, WH, WW = transformer.window
    frames = 1 + tokenizer.group * (WT - 1)
    video = read_video(path, short_side=check_size(size, tokenizer.spatial), multiple=tokenizer.spatial,
                       max_frames=frames).frames
    if len(video) < frames:
        return None
    tokens = encode_frames(tokenizer, iter(video)).tokens
    T, H, W = tokens.shape
    if H < WH or W < WW:
        return None
    y0, x0 = (H - WH) // 2, (W - WW) // 2
    window = tokens[:, y0:y0 + WH, x0:x0 + WW]
    s = tokenizer.spatial
    truth = video[:, y0 * s:(y0 + WH) * s, x0 * s:(x0 + WW) * s]

    def decode(grid):
        return np.stack(list(decode_tokens(tokenizer, grid, frames)))
    rows = {}

    def model_row(known, score):
        """The model's scores, the mean over `seeds` samples, with its calls and seconds per edit."""
        samples = []
        for k in range(seeds):
            t0 = time.perf_counter()
            generated = fill(transformer, window, known, steps, seed + k)
            seconds = time.perf_counter() - t0
            samples.append(dict(score(generated), calls=steps, seconds=seconds))
        return _mean_rows(samples)
    # ---- outpainting: keep the central band of columns
    kw = max(1, round(WW * band))
    cols = slice((WW - kw) // 2, (WW - kw) // 2 + kw)
    known = np.zeros(window.shape, bool)
    known[:, :, cols] = True
    px = [slice(0, cols.start * s), slice(cols.stop * s, WW * s)]
    borders = [cols.start * s, cols.stop * s]
    truth_seam = seam(truth, borders)

    def outpaint_scores(grid):
        out = decode(grid)
        return dict(region_scores(out, truth, cols=px), seam=seam(out, borders) / max(truth_seam, 1e-9))
    rows["outpaint/model"] = model_row(known, outpaint_scores)
    for name, grid in {**outpaint_baselines(window, cols), "ceiling": window}.items():
        rows[f"outpaint/{name}"] = outpaint_scores(grid)
    # ---- extension: keep the first `context` latent frames
    known = np.zeros(window.shape, bool)
    known[:context] = True
    first_new = 1 + tokenizer.group * (context - 1)

    def extend_scores(grid):
        return region_scores(decode(grid), truth, frames=slice(first_new, frames))
    rows["extend/model"] = model_row(known, extend_scores)
    repeat = window.copy()
    repeat[context:] = window[context - 1]
    for name, grid in {"repeat-last": repeat, "ceiling": window}.items():
        rows[f"extend/{name}"] = extend_scores(grid)
    return rows


def evaluate(tokenizer, transformer, clips, size=128, steps=12, seed=0, progress=None, seeds=1):
    per_clip = {}
    for c in (progress(clips, desc="eval edits") if progress else clips):
        r = evaluate_clip(tokenizer, transformer, c, size, steps, seed, seeds=seeds)
        if r is not None:
            per_clip[Path(c).name] = r
    names = sorted({k for r in per_clip.values() for k in r})
    mean = {n: {m: float(np.mean([r[n][m] for r in per_clip.values() if m in r[n]]))
                for m in per_clip[next(iter(per_clip))][n]} for n in names} if per_clip else {}
    return per_clip, mean


def table(mean, clips):
    lines = [f"Mean over {clips} clips (generated region only)", "",
             "| edit / method | PSNR | SSIM | sharpness | seam | calls | s |", "|---|---|---|---|---|---|---|"]
    for name, r in mean.items():
        cell = [f"{r['psnr']:.2f}", f"{r['ssim']:.3f}", f"{r['sharpness']:.2f}",
                f"{r['seam']:.2f}" if "seam" in r else "", f"{r['calls']:.0f}" if "calls" in r else "",
                f"{r['seconds']:.2f}" if "seconds" in r else ""]
        lines.append(f"| {name} | " + " | ".join(cell) + " |")
    return "\n".join(lines)
