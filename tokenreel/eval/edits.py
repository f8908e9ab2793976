"""`tokenreel eval edits`: outpainting and extension on real clips where the truth is known.

Everything happens on one window of the transformer's size cut from the clip's tokens. Every method is
scored on the generated region only, against the truth, and every method that makes tokens is decoded by
the same tokenizer decoder:
- outpainting: the central vertical band of columns is the user's video: its pixels are encoded on their
  own (as a reframe's source is, so its tokens know nothing of the margins), and the model reframes it to
  the window's aspect with `edit.reframe_outpaint`, the product's path (draft: the band's edge pixels
  replicated and encoded). Baselines: edge replication and mirroring of the band — in tokens, in pixels
  (no tokenizer), and in pixels then through the tokenizer (encode, decode) — and, in pixels and through
  the tokenizer, the replicated margins fading to the band's mean colour (the flat fill PSNR rewards);
  "draft" is the revise sampler's own start as the product builds it (the canvas encoded in tiles of
  the band's size, the band's inner tokens its own); ceiling: the tokenizer's reconstruction of the
  whole window.
- extension: a window after WARMUP latent frames of the clip (extend runs at a clip's end, where the
  causal state has settled), its first `context` latent frames known, the rest generated. Baselines: the last known
  latent frame's tokens copied forward (copy-last-latent), the last known frame held still in pixels, and
  the same encoded and decoded (repeat-last through the tokenizer); ceiling: the tokenizer's
  reconstruction. The "+source" rows score what `extend` writes by default: the source's last frame plus
  the model's decoded change against its draft (runtime/composite.py).
The model runs with each sampler (revise: from the copy-last / edge-replicated draft; maskgit: from all-[MASK]),
its scores the mean over `seeds` samples.

Measures (blur and freezing cannot win): PSNR, SSIM; sharpness = the region's gradient energy over the
ceiling's in the same region; for extension, motion = mean absolute frame-to-frame change of the generated
frames over the truth's (a frozen extension scores ~0); for outpainting, seam = pixel jump across the
known/generated border over the truth's (1 is seamless), measured on what a user gets (the source's
pixels kept, the margins feathered in: runtime/composite.py), and kept = PSNR of the kept band away from
the seam after the H.264 writer, next to the source through the same writer alone.
"""
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ..metrics import gradient_energy, motion, psnr, ssim
from ..progress import counted
from ..runtime.tokenizing import decode_tokens, encode_frames
from ..runtime.composite import FEATHER, extended_frames, reframed_frames
from ..runtime.edit import (DEFAULT_STEPS, REVISE_THRESHOLD, SAMPLERS, fill, outpaint_canvas,
                            outpaint_pixel_draft, reframe_outpaint, source_edges_regenerated)
from ..runtime.file_ops import check_size
from ..runtime.preview import side_by_side
from ..runtime.video import read_video, write_video

PAD_MODES = {"replicate": "edge", "mirror": "symmetric"}
WARMUP = 4   # latent frames encoded before the extension window: extend runs at the end of a clip, where the
             # causal state has settled (v1's tokens change from frame to frame for ~3 latent frames)


def _t(u8):
    return torch.from_numpy(np.ascontiguousarray(u8)).permute(0, 3, 1, 2).float() / 127.5 - 1


def _region(frames, cols=None, span=None):
    if cols is not None:
        return np.concatenate([frames[:, :, c] for c in cols], axis=2)
    return frames[span]


def region_scores(out, truth, ceiling, cols=None, span=None):
    """Scores of out vs truth (uint8 (F, H, W, 3)) on a list of column slices or a frame range."""
    o, t, c = (_region(x, cols, span) for x in (out, truth, ceiling))
    row = {"psnr": psnr(_t(o), _t(t)), "ssim": float(ssim(_t(o), _t(t))),
           "sharpness": gradient_energy(o) / max(gradient_energy(c), 1e-9)}
    if span is not None:
        row["motion"] = motion(o) / max(motion(t), 1e-9)
    return row


def seam(frames, xs):
    """Mean absolute pixel jump across the vertical borders at columns xs."""
    f = frames.astype(np.float64)
    return float(np.mean([np.abs(f[:, :, x] - f[:, :, x - 1]).mean() for x in xs]))


def outpaint_baselines(band, known_cols, width):
    """Edge replication and mirroring of the band's tokens (T, H, band width) into a window `width` wide."""
    pads = ((0, 0), (0, 0), (known_cols.start, width - known_cols.stop))
    return {name: np.pad(band, pads, mode=mode) for name, mode in PAD_MODES.items()}


def pixel_baselines(truth, px_cols):
    """Edge replication and mirroring of the known band of columns, in pixels, and edge replication
    fading to the band's mean colour."""
    band = truth[:, :, px_cols]
    pads = ((0, 0), (0, 0), (px_cols.start, truth.shape[2] - px_cols.stop), (0, 0))
    out = {name: np.pad(band, pads, mode=mode) for name, mode in PAD_MODES.items()}
    out["fade-to-mean"] = fade_to_mean(out["replicate"], px_cols)
    return out


def fade_to_mean(replicated, px_cols):
    """Replicated margins fading linearly to the band's mean colour (each frame's) at the window's edges:
    the flat fill a PSNR score rewards, the baseline that shows it (its sharpness shows what it costs)."""
    band = replicated[:, :, px_cols].astype(np.float64)
    mean = band.mean(axis=(1, 2), keepdims=True)
    x = np.arange(replicated.shape[2])
    left, right = px_cols.start, replicated.shape[2] - px_cols.stop
    w = np.maximum((left - x) / max(left, 1), (x - px_cols.stop + 1) / max(right, 1)).clip(0, 1)[:, None]
    return np.round(replicated * (1 - w) + mean * w).astype(np.uint8)


def through_writer(frames, fps=25.0):
    """The frames after the H.264 writer every video output goes through (write, read back)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "w.mp4"
        write_video(path, frames, fps)
        return read_video(path).frames


def _mean_rows(rows):
    """Scores averaged over several samples of the same edit (dicts with the same keys)."""
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def evaluate_clip(tokenizer, transformer, path, size=128, steps=None, seed=0, context=2, band=0.5, seeds=1,
                  samplers=SAMPLERS, preview=None):
    """Scores of one clip; the model's rows are the mean over `seeds` samples (seed, seed+1, ...): one
    sample's score swings by a few dB. `steps`: None for each sampler's default. `preview`: a folder to
    write CLIP.outpaint.png and CLIP.extend.png into (rows: source | draft | result | truth; the first seed)."""
    WT, WH, WW = transformer.window
    g = tokenizer.group
    frames = 1 + g * (WT - 1)
    video = read_video(path, short_side=check_size(size, tokenizer.spatial), multiple=tokenizer.spatial,
                       max_frames=1 + g * (WARMUP + WT - 1)).frames
    if len(video) < 1 + g * (WARMUP + WT - 1):
        return None
    all_tokens = encode_frames(tokenizer, iter(video)).tokens
    tokens = all_tokens[:WT]          # the encoder is causal: the same as encoding the first `frames` alone
    T, H, W = tokens.shape
    if H < WH or W < WW:
        return None
    y0, x0 = (H - WH) // 2, (W - WW) // 2
    window = tokens[:, y0:y0 + WH, x0:x0 + WW]
    s = tokenizer.spatial
    truth = video[:frames, y0 * s:(y0 + WH) * s, x0 * s:(x0 + WW) * s]

    def decode(grid):
        return np.stack(list(decode_tokens(tokenizer, grid, frames)))

    def encode(pixels):
        return encode_frames(tokenizer, iter(pixels)).tokens
    ceiling = decode(window)
    rows, first = {}, {}

    def model_rows(edit, run, score, composed=None):
        """The model's scores per sampler, the mean over `seeds` samples, with its calls and seconds
        (run(sampler, steps, seed) -> (grid, calls)); with `composed`, also the scores of the video a user
        gets (the source's pixels kept) as "+source"."""
        for sampler in samplers:
            n = DEFAULT_STEPS[sampler] if steps is None else steps
            samples, kept = [], []
            for k in range(seeds):
                t0 = time.perf_counter()
                grid, calls = run(sampler, n, seed + k)
                seconds = time.perf_counter() - t0
                samples.append(dict(score(grid), calls=calls, seconds=seconds))
                if composed:
                    kept.append(composed(grid))
                first.setdefault((edit, sampler), grid)
            rows[f"{edit}/model-{sampler}"] = _mean_rows(samples)
            if composed:
                rows[f"{edit}/model-{sampler}+source"] = _mean_rows(kept)

    # ---- outpainting: keep the central band of columns
    kw = max(1, round(WW * band))
    cols = slice((WW - kw) // 2, (WW - kw) // 2 + kw)
    px_band = slice(cols.start * s, cols.stop * s)
    px = [slice(0, px_band.start), slice(px_band.stop, WW * s)]
    borders = [px_band.start, px_band.stop]
    truth_seam = seam(truth, borders)
    box = (0, px_band.start, WH * s, px_band.stop)
    kept_cols = slice(px_band.start + FEATHER, px_band.stop - FEATHER)
    writer_alone = through_writer(truth)
    writer_psnr = psnr(_t(writer_alone[:, :, kept_cols]), _t(truth[:, :, kept_cols]))

    def outpaint_scores(grid, decoded=None):
        out = decode(grid) if decoded is None else decoded
        row = region_scores(out, truth, ceiling, cols=px)
        kept = np.stack(list(reframed_frames(out, truth[:, :, px_band], box)))
        row["seam"] = seam(kept, borders) / max(truth_seam, 1e-9)
        return row

    def outpaint_model_scores(grid):
        out = decode(grid)
        row = outpaint_scores(grid, out)
        written = through_writer(list(reframed_frames(out, truth[:, :, px_band], box)))
        row["kept"] = psnr(_t(written[:, :, kept_cols]), _t(truth[:, :, kept_cols]))
        row["kept_writer_alone"] = writer_psnr
        return row
    band_pixels = truth[:, :, px_band]
    band_tokens = encode(band_pixels)           # the user's video: encoded without the margins
    aspect = f"{WW}:{WH}"
    draft = outpaint_pixel_draft(tokenizer, iter(band_pixels), band_tokens.shape, aspect)

    def outpaint_run(sampler, n, sample_seed):
        return reframe_outpaint(transformer, band_tokens, aspect, n, sample_seed, sampler=sampler,
                                draft=draft if sampler == "revise" else None)
    model_rows("outpaint", outpaint_run, outpaint_model_scores)
    canvas, known = outpaint_canvas(band_tokens, aspect)       # what revise gives where it redoes nothing
    rows["outpaint/draft"] = outpaint_scores(np.where(source_edges_regenerated(known), canvas, draft))
    for name, grid in outpaint_baselines(band_tokens, cols, WW).items():
        rows[f"outpaint/{name} tokens"] = outpaint_scores(grid)
    for name, pixels in pixel_baselines(truth, px_band).items():
        rows[f"outpaint/{name} pixels"] = outpaint_scores(None, pixels)
        rows[f"outpaint/{name} pixels+tokenizer"] = outpaint_scores(encode(pixels))
    rows["outpaint/ceiling"] = outpaint_scores(window, ceiling)

    # ---- extension: after WARMUP latent frames, keep the window's first `context` latent frames
    skip = 1 + g * (WARMUP - 1)                  # frames before the window's first latent frame
    ext_window = all_tokens[WARMUP:WARMUP + WT, y0:y0 + WH, x0:x0 + WW]
    prefix = all_tokens[:WARMUP, y0:y0 + WH, x0:x0 + WW]
    ext_truth = video[skip:skip + g * WT, y0 * s:(y0 + WH) * s, x0 * s:(x0 + WW) * s]

    def decode_ext(grid, hold=True):
        """The window's frames decoded after the prefix (the decoder's state settled as in a real clip)."""
        return np.stack(list(decode_tokens(tokenizer, np.concatenate([prefix, grid]), skip + g * WT, hold)))[skip:]
    ext_ceiling = decode_ext(ext_window)
    known = np.zeros(ext_window.shape, bool)
    known[:context] = True
    first_new = g * context
    span = slice(first_new, g * WT)

    def extend_scores(grid, decoded=None):
        return region_scores(decode_ext(grid) if decoded is None else decoded, ext_truth, ext_ceiling, span=span)
    copy_last = ext_window.copy()
    copy_last[context:] = ext_window[context - 1]
    draft_decoded = decode_ext(copy_last)
    draft_free = decode_ext(copy_last, hold=False)      # the composite takes the decoder's own frames (file_ops)

    def extend_composed(grid):
        """What `extend` writes: the source's frames, then its last frame plus the model's change."""
        out = extended_frames(ext_truth[:first_new], decode_ext(grid, False)[first_new:], draft_free[first_new:])
        return extend_scores(None, np.stack(list(out)))
    def extend_run(sampler, n, sample_seed):
        return fill(transformer, ext_window, known, n, sample_seed, draft=copy_last if sampler == "revise" else None,
                    threshold=REVISE_THRESHOLD["extend"])
    model_rows("extend", extend_run, extend_scores, extend_composed)
    last = skip + first_new - 1                  # the last known frame, in the whole clip
    held_clip = np.concatenate([video[:last + 1], np.repeat(video[last:last + 1], g * WT - first_new, 0)])
    held = held_clip[skip:, y0 * s:(y0 + WH) * s, x0 * s:(x0 + WW) * s]
    rows["extend/copy-last-latent"] = extend_scores(copy_last)
    rows["extend/repeat-last+tokenizer"] = extend_scores(encode(held_clip)[WARMUP:, y0:y0 + WH, x0:x0 + WW])
    rows["extend/repeat-last pixels"] = extend_scores(None, held)
    rows["extend/ceiling"] = extend_scores(ext_window, ext_ceiling)
    if preview is not None:
        stem = Path(path).name
        known_band = np.zeros_like(truth)
        known_band[:, :, px_band] = truth[:, :, px_band]
        outpaint = [("source", known_band), ("draft (replicated)", decode(draft))]
        for sampler in samplers:
            out = reframed_frames(decode(first[("outpaint", sampler)]), truth[:, :, px_band], box)
            outpaint.append((f"model, {sampler}", np.stack(list(out))))
        side_by_side(outpaint + [("truth", truth)], Path(preview) / f"{stem}.outpaint.png")
        extend = [("source (last frame)", held[span]), ("draft (copy last)", draft_decoded[span])]
        for sampler in samplers:
            out = extended_frames(ext_truth[:first_new], decode_ext(first[("extend", sampler)], False)[first_new:],
                                  draft_free[first_new:])
            extend.append((f"model, {sampler}", np.stack(list(out))[span]))
        side_by_side(extend + [("truth", ext_truth[span])], Path(preview) / f"{stem}.extend.png")
    return rows


def evaluate(tokenizer, transformer, clips, size=128, steps=None, seed=0, progress=None, seeds=3, preview=None):
    per_clip = {}
    for c in counted(clips, progress):
        r = evaluate_clip(tokenizer, transformer, c, size, steps, seed, seeds=seeds, preview=preview)
        if r is not None:
            per_clip[Path(c).name] = r
    names = list(next(iter(per_clip.values()))) if per_clip else []
    mean = {n: {m: float(np.mean([r[n][m] for r in per_clip.values()])) for m in per_clip[next(iter(per_clip))][n]}
            for n in names}
    return per_clip, mean


# the trivial methods each model row must beat (the edits issue's sets, and the revise sampler's own
# draft: what revise gives where it redoes nothing), and, for extension, the simplest
# of all, which no method decoded by this tokenizer can reach when its ceiling is below it
BASELINES = {"outpaint": ("draft", "replicate tokens", "mirror tokens", "replicate pixels", "mirror pixels",
                          "replicate pixels+tokenizer", "mirror pixels+tokenizer", "fade-to-mean pixels",
                          "fade-to-mean pixels+tokenizer"),
             "extend": ("copy-last-latent", "repeat-last+tokenizer")}
ALSO = {"extend": ("repeat-last pixels",)}


def verdicts(mean):
    """Each model row against the best trivial baseline of its edit, and the ALSO ones (PSNR margin, dB)."""
    out = []
    for edit, names in BASELINES.items():
        best = max(names, key=lambda n: mean[f"{edit}/{n}"]["psnr"])
        for key, r in mean.items():
            if key.startswith(f"{edit}/model"):
                for other in (best,) + ALSO.get(edit, ()):
                    out.append((key, other, r["psnr"] - mean[f"{edit}/{other}"]["psnr"]))
    return out


def table(mean, clips, seeds=None):
    lines = [f"Mean over {clips} clips (generated region only{f'; model rows: mean of {seeds} seeds' if seeds else ''})",
             "", "| edit / method | PSNR | SSIM | sharpness | motion | seam | kept (writer alone) | calls | s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in mean.items():
        def f(key, fmt):
            return format(r[key], fmt) if key in r else ""
        kept = f"{r['kept']:.2f} ({r['kept_writer_alone']:.2f})" if "kept" in r else ""
        cell = [f("psnr", ".2f"), f("ssim", ".3f"), f("sharpness", ".2f"), f("motion", ".2f"), f("seam", ".2f"),
                kept, f("calls", ".0f"), f("seconds", ".2f")]
        lines.append(f"| {name} | " + " | ".join(cell) + " |")
    lines.append("")
    for key, other, margin in verdicts(mean):
        lines.append(f"{key}: {margin:+.2f} dB PSNR against {other}")
    return "\n".join(lines)
