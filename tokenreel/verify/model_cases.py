"""Model cases, `tokenreel verify --write-golden DIR`: small files the Kotlin and Swift ports test against.

Beside the spec cases (no model: generator stream, a MaskGIT decode from fixed logits, `.trl` files of
each coder: `runtime/spec_cases.py`), it writes model cases from a real clip, computed by the server model:
- `encoder-frames.u8` (F, H, W, 3) uint8 frames at the export's size and `encoder-tokens.json`: the
  tokens the encoder step must give (checked with the bit-equality threshold of its precision);
- `transformer-sub-tokens.json` (a realistic masked window), `transformer-logits.f32` (splits, N, V)
  little-endian float32: the logits the transformer call must give; `transformer-picks.json`: the tokens
  `maskgit_decode` picks from those logits (the same logits at every step) with the given seed and steps.
`golden.json` lists every file with its shape and dtype.
"""
import json
from pathlib import Path

import numpy as np

from ..runtime import spec_cases
from ..runtime.sampler import SPEC_VERSION, maskgit_decode

SEED, STEPS = 20261125, 12


def write(folder, run, transformer=None):
    """Write the spec cases and the model cases of the server run `run` (verify.ServerRun) into folder."""
    folder = Path(folder)
    spec_cases.write(folder)
    files = {}
    frames = run.frames[:5]      # two latent frames: the first call (1 frame) and one group of 4
    (folder / "encoder-frames.u8").write_bytes(np.ascontiguousarray(frames).tobytes())
    files["encoder-frames.u8"] = {"shape": list(frames.shape), "dtype": "uint8"}
    (folder / "encoder-tokens.json").write_text(json.dumps(run.tokens[:2].tolist()) + "\n")
    files["encoder-tokens.json"] = {"shape": list(run.tokens[:2].shape), "dtype": "int32"}
    if transformer is not None and run.windows:
        tokens, known, sub = run.windows[0]
        logits = run.logits[0].astype("<f4")
        (folder / "transformer-sub-tokens.json").write_text(json.dumps(sub.tolist()) + "\n")
        (folder / "transformer-logits.f32").write_bytes(logits.tobytes())
        picks = maskgit_decode(lambda _: logits, tokens, known, transformer.splits, transformer.sub_bits,
                               transformer.mask_id, steps=STEPS, seed=SEED)
        (folder / "transformer-picks.json").write_text(json.dumps({
            "seed": SEED, "steps": STEPS, "known": known.astype(int).tolist(),
            "tokens_in": np.where(known, tokens, 0).tolist(), "tokens_out": picks.tolist()}) + "\n")
        files["transformer-sub-tokens.json"] = {"shape": list(sub.shape), "dtype": "int64"}
        files["transformer-logits.f32"] = {"shape": list(logits.shape), "dtype": "float32"}
        files["transformer-picks.json"] = {"shape": [len(picks)], "dtype": "int64"}
    (folder / "golden.json").write_text(json.dumps({"sampler": SPEC_VERSION, "files": files}, indent=1) + "\n")
    return files
