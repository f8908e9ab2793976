"""The Android app's plain Kotlin module (android_demo/core) against the golden vectors: the sampler, the
.trl coder, the verify golden folder, the manifest of a real export and the edits' windows and seeds
(the Python runtime's reframe/extend on a fake transformer, written here). Needs kotlinc and junit4
(setup.sh installs them); compiling with kotlinc 1.3 takes about a minute."""
import json
import os
import shutil
import subprocess

import numpy as np

from tokenreel.runtime import edit

from conftest import ROOT


class FakeTransformer:
    """Logits that depend on position and on the sub-tokens (integers / 8: exact in float32 in both ports)."""
    window, bits, splits, sub_bits = (3, 6, 6), 6, 2, 3
    mask_id = 1 << sub_bits

    def logits(self, sub):
        sub = np.asarray(sub, np.int64)
        n = sub.shape[1]
        k = np.arange(n)[None, :, None]
        v = np.arange(1 << self.sub_bits)[None, None, :]
        j = np.arange(self.splits)[:, None, None]
        z = k * 131 + v * 71 + j * 37 + sub[:, :, None] * 13 + np.roll(sub, -1, axis=1)[:, :, None] * 7
        return (z % 97 / 8.0 - 6.0).astype(np.float32)


def grid(a):
    return {"shape": list(a.shape), "data": np.asarray(a).reshape(-1).astype(int).tolist()}


def edit_cases():
    rng = np.random.default_rng(3)
    b = FakeTransformer()
    cases = {"backend": {"window": list(b.window), "bits": b.bits, "splits": b.splits, "sub_bits": b.sub_bits},
             "tile_starts": [], "crop": [], "reframe": [], "extend": []}
    for length, size, overlap in [(5, 8, 4), (14, 6, 4), (8, 6, 4), (37, 16, 4), (29, 16, 4), (9, 5, 1), (100, 9, 3)]:
        cases["tile_starts"].append({"length": length, "size": size, "min_overlap": overlap,
                                     "starts": edit.tile_starts(length, size, overlap)})
    for shape, aspect in [((2, 6, 8), "9:16"), ((2, 6, 8), "16:9"), ((1, 5, 7), "1:1"), ((1, 9, 4), "4:3")]:
        tokens = rng.integers(0, 1 << b.bits, shape)
        canvas, known = edit.outpaint_canvas(tokens, aspect)
        cases["crop"].append({"in": grid(tokens), "aspect": aspect, "out": grid(edit.reframe_crop(tokens, aspect)),
                              "canvas": grid(canvas), "canvas_known": known.reshape(-1).astype(int).tolist()})
    # a tall canvas tiled in space and time; a wide one; one smaller than the window (padded in space and time)
    for shape, aspect, steps, seed in [((4, 6, 8), "9:16", 3, 5), ((3, 6, 6), "16:9", 2, 2 ** 50 + 3),
                                       ((2, 4, 5), "1:1", 4, 0)]:
        tokens = rng.integers(0, 1 << b.bits, shape)
        out, calls = edit.reframe_outpaint(b, tokens, aspect, steps=steps, seed=seed)
        cases["reframe"].append({"in": grid(tokens), "aspect": aspect, "steps": steps, "seed": seed,
                                 "out": grid(out), "calls": calls})
    for shape, frames, steps, seed in [((3, 6, 8), 9, 3, 11), ((2, 6, 6), 1, 2, -4), ((4, 7, 6), 20, 2, 0)]:
        tokens = rng.integers(0, 1 << b.bits, shape)
        out, calls = edit.extend(b, tokens, frames, steps=steps, seed=seed)
        cases["extend"].append({"in": grid(tokens), "frames": frames, "steps": steps, "seed": seed,
                                "out": grid(out), "calls": calls})
    return cases


def test_android_core(exported, verify_golden, tmp_path):
    assert shutil.which("kotlinc") and shutil.which("java"), \
        "kotlinc not found: run setup.sh (apt-get install kotlin junit4) to test android_demo/core"
    folder, _ = exported
    g = verify_golden
    cases = tmp_path / "edit-cases.json"
    cases.write_text(json.dumps(edit_cases()))
    env = dict(os.environ, TOKENREEL_EDIT_CASES=str(cases), TOKENREEL_EXPORT_DIR=str(folder))
    r = subprocess.run(["bash", str(ROOT / "android_demo/core/test.sh"), str(ROOT / "tests/golden"), str(g)],
                       capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    assert "OK (" in r.stdout, r.stdout[-3000:]
