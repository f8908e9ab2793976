"""Writes TokenreelCoreTests/Resources/edit-golden.json: window tiling, visit order and seeds of the Python
edits (tokenreel/runtime/edit.py), run with a fake transformer whose logits are a fixed function of its
input, so the Swift port can be compared token for token without a model.

    .venv/bin/python ios_demo/TokenreelKit/Tests/make_edit_golden.py      # from the repository root
"""
import json
from pathlib import Path

import numpy as np

from tokenreel.runtime.edit import extend, outpaint_canvas, reframe_crop, reframe_outpaint, tile_starts


class FakeTransformer:
    """logits[j][n][v] = ((7v + 3n + 5j + 11·sub[j][(n+1) mod N]) mod 17) / 2: exact in float32, and it
    depends on the input so that what is known steers what is picked. EditGoldenTests.swift has the same."""
    window = (3, 6, 6)
    bits, splits, sub_bits, mask_id = 6, 2, 3, 8

    def logits(self, sub):
        S, N = sub.shape
        j = np.arange(S)[:, None, None]
        n = np.arange(N)[None, :, None]
        v = np.arange(1 << self.sub_bits)[None, None, :]
        nxt = np.roll(sub, -1, axis=1)[:, :, None]
        return (((v * 7 + n * 3 + j * 5 + nxt * 11) % 17) * 0.5).astype(np.float32)


def main():
    rng = np.random.default_rng(2026)
    tf = FakeTransformer()
    cases = {"tile_starts": [], "crop": [], "outpaint": [], "reframe": [], "extend": []}
    for length, size, overlap in [(5, 16, 4), (16, 16, 4), (17, 16, 4), (28, 16, 4), (50, 16, 4), (40, 16, 4),
                                  (9, 5, 1), (14, 6, 4), (255, 16, 4), (7, 3, 1), (11, 6, 2)]:
        cases["tile_starts"].append({"length": length, "size": size, "min_overlap": overlap,
                                     "starts": [int(s) for s in tile_starts(length, size, overlap)]})
    grid = rng.integers(0, 64, (2, 7, 12)).astype(np.int32)
    for aspect in ["9:16", "1:1", "16:9", "4:3", "3:5"]:
        cases["crop"].append({"tokens": grid.tolist(), "aspect": aspect, "out": reframe_crop(grid, aspect).tolist()})
        canvas, known = outpaint_canvas(grid, aspect)
        cases["outpaint"].append({"tokens": grid.tolist(), "aspect": aspect, "canvas": canvas.tolist(),
                                  "known": known.astype(int).tolist()})
    for shape, aspect, steps, seed in [((4, 5, 8), "9:16", 4, 5), ((2, 4, 4), "1:1", 3, 0), ((3, 6, 7), "16:9", 5, 123456789)]:
        tokens = rng.integers(0, 64, shape).astype(np.int32)
        out, calls = reframe_outpaint(tf, tokens, aspect, steps=steps, seed=seed)
        cases["reframe"].append({"tokens": tokens.tolist(), "aspect": aspect, "steps": steps, "seed": seed,
                                 "out": out.tolist(), "calls": calls})
    for shape, frames, steps, seed in [((3, 6, 6), 10, 4, 7), ((2, 6, 8), 5, 3, 0), ((4, 7, 6), 13, 2, 99)]:
        tokens = rng.integers(0, 64, shape).astype(np.int32)
        out, calls = extend(tf, tokens, frames, steps=steps, seed=seed)
        cases["extend"].append({"tokens": tokens.tolist(), "frames": frames, "steps": steps, "seed": seed,
                                "out": out.tolist(), "calls": calls})
    path = Path(__file__).parent / "TokenreelCoreTests" / "Resources" / "edit-golden.json"
    path.write_text(json.dumps(cases) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
