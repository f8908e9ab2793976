"""Spec cases: fixed inputs and the outputs the spec gives for them (no model), pinning the sampler, the .trl
coders and the pixel compositing for the Kotlin and Swift ports (and for regressions here). They live in
tests/golden; `tokenreel verify --write-golden` writes them again beside its model cases (verify/model_cases.py).

    python -m tokenreel.runtime.spec_cases tests/golden      # rewrite them (only when the spec version changes)
"""
import json
import sys
from pathlib import Path

import numpy as np

from . import trl
from .composite import extended_frames, feather_weights, reframed_frames
from .sampler import SPEC_VERSION, Generator, draft_scores, maskgit_decode, revise_decode

TRL_META = {"tokenizer": "golden", "tokenizer_sha256": "0" * 64, "bits": 18, "fps": 25.0, "size": [64, 48],
            "frames": 9, "source_size": [64, 48], "resize": "none"}


def sampler_case():
    key = 20261125
    gen = Generator(key)
    rng = np.random.default_rng(7)           # only to make the fixed inputs; not part of the spec
    splits, sub_bits, n = 2, 3, 24
    logits = (rng.standard_normal((splits, n, 1 << sub_bits)) * 2).round(3).astype(np.float32)
    known = np.zeros(n, dtype=bool)
    known[[0, 5, 6, 11, 17]] = True
    tokens = np.where(known, rng.integers(0, 1 << (splits * sub_bits), n), 0)
    picks = maskgit_decode(lambda sub: logits, tokens, known, splits, sub_bits, 1 << sub_bits, steps=4,
                           seed=99, temperature=4.5)
    # revise: a draft that the fixed logits rate well in places (their argmax) and badly elsewhere
    draft = np.where(np.arange(n) % 3 == 0, logits.argmax(-1)[0] | (logits.argmax(-1)[1] << sub_bits),
                     rng.integers(0, 1 << (splits * sub_bits), n))
    scores = draft_scores(logits, np.where(known, tokens, draft), np.flatnonzero(~known), splits, sub_bits)
    revised = revise_decode(lambda sub: logits, tokens, known, draft, splits, sub_bits, 1 << sub_bits, steps=3,
                            seed=99, threshold=2.0, temperature=4.5)
    corrected = revise_decode(lambda sub: logits, tokens, known, draft, splits, sub_bits, 1 << sub_bits, steps=0,
                              seed=99, threshold=2.0, temperature=4.5)
    return {
        "spec": SPEC_VERSION,
        "revise": {"steps": 3, "seed": 99, "threshold": 2.0, "draft": draft.astype(int).tolist(),
                   "scores": [float(v).hex() for v in scores], "tokens_out": revised.astype(int).tolist(),
                   "tokens_out_steps_0": corrected.astype(int).tolist()},
        "generator": {"key": str(key), "uint64": [str(v) for v in gen.uint64(0, 8)],
                      "derive_7_uint64": [str(v) for v in gen.derive(7).uint64(0, 4)],
                      "uniform": [float(v).hex() for v in gen.uniform(0, 4)]},
        "decode": {"splits": splits, "sub_bits": sub_bits, "steps": 4, "seed": 99, "temperature": 4.5,
                   "known": known.astype(int).tolist(), "tokens_in": tokens.astype(int).tolist(),
                   "logits": logits.tolist(), "tokens_out": picks.astype(int).tolist()},
    }


def composite_case():
    """Small uint8 frames through both compositions (reframe's feather, extend's change on the last frame)."""
    rng = np.random.default_rng(13)
    canvas = rng.integers(0, 256, (2, 24, 12, 3), dtype=np.uint8)
    source = rng.integers(0, 256, (2, 8, 12, 3), dtype=np.uint8)
    box = [8, 0, 16, 12]
    reframed = np.stack(list(reframed_frames(list(canvas), list(source), tuple(box), feather=4)))
    gen = rng.integers(0, 256, (3, 3, 2, 3), dtype=np.uint8)
    draft = rng.integers(0, 256, (3, 3, 2, 3), dtype=np.uint8)
    src = rng.integers(0, 256, (2, 3, 2, 3), dtype=np.uint8)
    extended = np.stack(list(extended_frames(iter(src), iter(gen), iter(draft))))

    def grid(a):
        return {"shape": list(a.shape), "data": a.reshape(-1).astype(int).tolist()}
    return {"feather": 4, "box": box, "canvas": grid(canvas), "source": grid(source),
            "weights": grid(feather_weights(24, 12, tuple(box), 4)), "reframed": grid(reframed),
            "extend_source": grid(src), "generated": grid(gen), "draft": grid(draft), "extended": grid(extended)}


def trl_tokens():
    """A 3 x 6 x 8 grid with the structure of real tokens: flat areas, a moving edge, noise."""
    rng = np.random.default_rng(11)
    base = rng.integers(0, 1 << 18, (6, 8))
    base[:3, :4] = base[0, 0]
    grid = np.stack([np.roll(base, t, axis=1) for t in range(3)])
    grid[2, 4:] ^= rng.integers(0, 1 << 18, (2, 8))
    return grid


def trl_cases():
    """name -> bytes of a .trl file for each payload coder (deterministic: the header JSON is sorted)."""
    return {f"tokens-{coder}.trl": trl.pack(trl_tokens(), TRL_META, coder) for coder in trl.CODERS}


def write(folder):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sampler-v1.json").write_text(json.dumps(sampler_case(), indent=1) + "\n")
    (folder / "tokens.json").write_text(json.dumps(trl_tokens().tolist()) + "\n")
    (folder / "composite.json").write_text(json.dumps(composite_case()) + "\n")
    for name, data in trl_cases().items():
        (folder / name).write_bytes(data)


if __name__ == "__main__":
    write(sys.argv[1] if len(sys.argv) > 1 else "tests/golden")
