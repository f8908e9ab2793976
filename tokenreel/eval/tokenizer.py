"""`tokenreel eval tokenizer`: reconstruction quality, rate and codebook use on real clips, next to x264/x265
at the same bits per pixel; and each clip's first frame held still for as many frames, where tokens that hold
still repeat from the first latent frame on, decode without flicker and cost a fraction of moving footage."""
import time
from pathlib import Path

import numpy as np
import torch

from ..metrics import gradient_energy, psnr, ssim
from ..progress import counted
from ..runtime import trl
from ..runtime.tokenizing import decode_tokens, encode_frames
from ..runtime.file_ops import check_size, make_header
from ..runtime.video import read_video
from . import codecs


def _t(frames_u8):
    return torch.from_numpy(frames_u8).permute(0, 3, 1, 2).float() / 127.5 - 1


def quality(ref_u8, test_u8):
    a, b = _t(ref_u8), _t(test_u8)
    return psnr(a, b), float(ssim(a, b))


def code_usage(tokens, bits):
    """Share of distinct tokens, perplexity of the token histogram, mean per-bit entropy (1 = all bits even)."""
    flat = tokens.reshape(-1)
    _, counts = np.unique(flat, return_counts=True)
    p = counts / counts.sum()
    p1 = ((flat[:, None] >> np.arange(bits)) & 1).mean(0).clip(1e-9, 1 - 1e-9)
    bit_entropy = float((-(p1 * np.log2(p1) + (1 - p1) * np.log2(1 - p1))).mean())
    return len(counts) / len(flat), float(np.exp(-(p * np.log(p)).sum())), bit_entropy


def coded_bpp(backend, tokens, fps, frames_u8):
    """Bits per pixel of the tokens' coded .trl payload (the default coder)."""
    T, H, W, _ = frames_u8.shape
    data = trl.pack(tokens, make_header(backend, fps, T, tokens.shape, (W, H), "short side scaled, sides rounded to 8"))
    return 8 * trl.payload_length(data) / (T * H * W), 8 * len(data) / (T * H * W)


def boundary_pulse(frames_u8, group):
    """Mean frame-to-frame change (grey levels) at the steps that cross a latent group (frame 4k -> 4k+1)
    minus the mean at the steps inside groups: a decoder that pulses at every group shows it, and the
    source's own figure is what no pulse looks like."""
    change = np.abs(np.diff(frames_u8.astype(np.float64), axis=0)).mean((1, 2, 3))
    crossing = np.arange(len(change)) % group == 0
    return float(change[crossing].mean() - change[~crossing].mean())


def held_still(backend, frame_u8, frames, fps, hold=True):
    """The frame repeated `frames` times: tokens repeated between consecutive latent frames (the worst pair
    and the first), the decoded frame-to-frame change (grey levels: the worst frame step and the mean) and bpp."""
    still = np.repeat(frame_u8[None], frames, axis=0)
    enc = encode_frames(backend, iter(still))
    rec = np.stack(list(decode_tokens(backend, enc.tokens, enc.frames, hold))).astype(np.float64)
    t = enc.tokens.reshape(len(enc.tokens), -1)
    repeat = (t[1:] == t[:-1]).mean(1)
    change = np.abs(np.diff(rec, axis=0)).mean((1, 2, 3))
    return {"still_repeat_min": float(repeat.min()), "still_repeat_first": float(repeat[0]),
            "still_change_max": float(change.max()), "still_change_mean": float(change.mean()),
            "still_bpp": coded_bpp(backend, enc.tokens, fps, still)[0]}


def evaluate_clip(backend, path, size, frames, with_codecs=True, hold=True):
    video = read_video(path, short_side=check_size(size, backend.spatial), multiple=backend.spatial,
                       max_frames=frames)
    src = video.frames
    t0 = time.perf_counter()
    enc = encode_frames(backend, iter(src))
    t1 = time.perf_counter()
    rec = np.stack(list(decode_tokens(backend, enc.tokens, enc.frames, hold)))
    t2 = time.perf_counter()
    T, H, W, _ = src.shape
    bpp, file_bpp = coded_bpp(backend, enc.tokens, video.info.fps, src)
    p, s = quality(src, rec)
    distinct, perplexity, bit_entropy = code_usage(enc.tokens, backend.bits)
    row = {"clip": Path(path).name, "frames": T, "size": f"{W}x{H}", "psnr": p, "ssim": s, "bpp": bpp,
           "file_bpp": file_bpp, "sharpness": gradient_energy(rec) / max(gradient_energy(src), 1e-9),
           "distinct": distinct, "perplexity": perplexity,
           "bit_entropy": bit_entropy, "encode_fps": T / (t1 - t0), "decode_fps": T / (t2 - t1),
           "pulse": boundary_pulse(rec, backend.group) - boundary_pulse(src, backend.group), "tokens": enc.tokens}
    row.update(held_still(backend, src[0], T, video.info.fps, hold))
    row["still_bpp_share"] = row["still_bpp"] / bpp
    if with_codecs:
        for name in codecs.CODECS:
            points = codecs.sweep(src, video.info.fps, name, lambda d: quality(src, d))
            at = codecs.at_bpp(points, bpp)
            row[f"{name}_psnr"], row[f"{name}_ssim"] = at if at else (None, None)
            row[f"{name}_min_bpp"] = points[0][0]
            row[f"{name}_points"] = [[float(v) for v in pt] for pt in points]     # (bpp, PSNR, SSIM) per CRF
    return row


def evaluate(backend, clips, size=128, frames=17, with_codecs=True, progress=None, hold=True):
    rows = []
    for c in counted(clips, progress):
        rows.append(evaluate_clip(backend, c, size, frames, with_codecs, hold))
    pooled = np.concatenate([r.pop("tokens").reshape(-1) for r in rows])
    summary = {k: float(np.mean([r[k] for r in rows])) for k in
               ("psnr", "ssim", "bpp", "file_bpp", "sharpness", "pulse", "encode_fps", "decode_fps", "bit_entropy",
                "distinct", "still_bpp", "still_bpp_share", "still_change_mean")}
    # the still-frame targets hold at every step of every clip: the worst case, not the mean
    summary.update(still_repeat_min=min(r["still_repeat_min"] for r in rows),
                   still_repeat_first=min(r["still_repeat_first"] for r in rows),
                   still_change_max=max(r["still_change_max"] for r in rows))
    for name in codecs.CODECS:
        vals = [r[f"{name}_psnr"] for r in rows if r.get(f"{name}_psnr") is not None]
        summary[f"{name}_psnr"] = float(np.mean(vals)) if vals else None
        summary[f"{name}_clips"] = len(vals)
        # tokenizer PSNR on the same clips the codec average covers, for a like-for-like gap
        summary[f"{name}_gap"] = (float(np.mean([r["psnr"] - r[f"{name}_psnr"] for r in rows
                                                 if r.get(f"{name}_psnr") is not None])) if vals else None)
    summary["distinct_pooled"], summary["perplexity_pooled"], _ = code_usage(pooled, backend.bits)
    return rows, summary


def fmt(v, nd=2):
    return "-" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def table(rows, summary):
    head = ["clip", "frames", "size", "PSNR", "SSIM", "sharpness", "pulse", "bpp", "distinct", "bit H", "enc fps",
            "dec fps", "x264 PSNR", "x264 SSIM", "x265 PSNR", "x265 SSIM"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([r["clip"], str(r["frames"]), r["size"], fmt(r["psnr"]), fmt(r["ssim"], 3),
                                        fmt(r["sharpness"]), fmt(r["pulse"]), fmt(r["bpp"], 4),
                                        fmt(r["distinct"], 3),
                                        fmt(r["bit_entropy"], 3), fmt(r["encode_fps"], 1), fmt(r["decode_fps"], 1),
                                        fmt(r.get("x264_psnr")), fmt(r.get("x264_ssim"), 3),
                                        fmt(r.get("x265_psnr")), fmt(r.get("x265_ssim"), 3)]) + " |")
    s = summary
    lines.append("| **mean** | | | " + " | ".join([fmt(s["psnr"]), fmt(s["ssim"], 3), fmt(s["sharpness"]),
                                                    fmt(s["pulse"]), fmt(s["bpp"], 4),
                                                    f"{fmt(s['distinct'], 3)} ({fmt(s['distinct_pooled'], 3)} pooled)",
                                                    fmt(s["bit_entropy"], 3), fmt(s["encode_fps"], 1),
                                                    fmt(s["decode_fps"], 1), fmt(s["x264_psnr"]), "",
                                                    fmt(s["x265_psnr"]), ""]) + " |")
    lines += ["", "pulse: the decoded frame-to-frame change (grey levels) at steps across latent groups minus "
              "inside them, over the source's own (0: no pulse).",
              "", "Each clip's first frame held still for as many frames (sharpness: gradient energy of the "
              "reconstruction over the source's):", "",
              "| clip | tokens repeated, worst pair | first pair | change, worst step (grey) | mean | bpp | "
              "of moving |", "|---|---|---|---|---|---|---|"]
    for r in rows + [dict(s, clip="**all** (worst; bpp: mean)")]:
        lines.append(f"| {r['clip']} | {r['still_repeat_min']:.1%} | {r['still_repeat_first']:.1%} | "
                     f"{r['still_change_max']:.2f} | {r['still_change_mean']:.2f} | {r['still_bpp']:.4f} | "
                     f"{r['still_bpp_share']:.0%} |")
    for name in codecs.CODECS:
        if s[f"{name}_gap"] is not None:
            lines.append(f"\ntokenizer minus {name} PSNR at equal bpp: {s[f'{name}_gap']:+.2f} dB "
                         f"(over {s[f'{name}_clips']} clips where the CRF sweep reaches that bpp)")
    lines.append("Codec PSNR '-' means the codec's lowest rate (CRF 51) is above the tokenizer's bpp.")
    return "\n".join(lines)
