"""The sampler's generator and MaskGIT decoding: specified, deterministic, pinned by spec cases (tests/golden)."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from tokenreel.runtime.spec_cases import composite_case, sampler_case
from tokenreel.runtime.sampler import (Generator, cosine_remaining, draft_scores, maskgit_decode, revise_decode,
                                      sample_categorical)

GOLDEN = Path(__file__).parent / "golden" / "sampler-v1.json"


def test_generator_is_splitmix64():
    # SplitMix64 from seed 1234567: the published reference outputs (e.g. Rosetta Code)
    assert Generator(1234567).uint64(0, 5).tolist() == [6457827717110365317, 3203168211198807973,
                                                         9817491932198370423, 4593380528125082431,
                                                         16408922859458223821]


def test_generator_is_counter_based():
    g = Generator(5)
    assert g.uint64(10, 3).tolist() == g.uint64(0, 13)[10:].tolist()
    u = g.uniform(0, 10000)
    assert 0 < u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
    assert g.derive(1).uint64(0, 1) != g.derive(2).uint64(0, 1)


def test_golden_vectors():
    """The committed files are what the Kotlin and Swift ports test against; Python must still match them."""
    assert sampler_case() == json.loads(GOLDEN.read_text())
    assert composite_case() == json.loads((GOLDEN.parent / "composite.json").read_text())


def test_golden_revise_case_redoes_some_drafts_and_keeps_others():
    case = sampler_case()
    scores = [float.fromhex(v) for v in case["revise"]["scores"]]
    assert min(scores) < -2 and max(scores) == 0
    known = case["decode"]["known"]
    kept = [d == o for d, o, k in zip(case["revise"]["draft"], case["revise"]["tokens_out"], known) if not k]
    assert any(kept) and not all(kept)


def test_revise_steps_0_redoes_from_the_scoring_call():
    """steps 0: one call; the drafts rated above the threshold stay, the others are sampled from that call's
    logits exactly as one MaskGIT step would sample them given those logits."""
    rng = np.random.default_rng(3)
    splits, sub_bits, n = 2, 3, 30
    logits = (rng.standard_normal((splits, n, 1 << sub_bits)) * 3).astype(np.float32)
    known = np.zeros(n, bool)
    known[:6] = True
    tokens = rng.integers(0, 1 << 6, n)
    draft = rng.integers(0, 1 << 6, n)
    calls = []
    out = revise_decode(lambda sub: calls.append(1) or logits, tokens, known, draft, splits, sub_bits, 8, steps=0,
                        seed=5, threshold=2.0)
    assert len(calls) == 1
    shown = np.where(known, tokens, draft)
    unknown = np.flatnonzero(~known)
    keep = draft_scores(logits, shown, unknown, splits, sub_bits) >= -2.0
    assert (out[known] == tokens[known]).all() and (out[unknown[keep]] == draft[unknown[keep]]).all()
    fixed = known.copy()
    fixed[unknown[keep]] = True
    once = maskgit_decode(lambda sub: logits, shown, fixed, splits, sub_bits, 8, steps=1, seed=5)
    assert (out == once).all() and (out[unknown[~keep]] != draft[unknown[~keep]]).any()


def test_cosine_schedule_reveals_everything():
    remaining = [cosine_remaining(100, s, 12) for s in range(12)]
    assert remaining == sorted(remaining, reverse=True) and remaining[-1] == 0
    assert remaining[0] == math.floor(100 * math.cos(math.pi / 24))


def test_sample_categorical_inverse_cdf():
    logits = np.log(np.array([[0.25, 0.25, 0.5]]))
    assert sample_categorical(logits, np.array([0.2]))[0][0] == 0
    assert sample_categorical(logits, np.array([0.3]))[0][0] == 1
    assert sample_categorical(logits, np.array([0.9]))[0][0] == 2
    assert np.isclose(sample_categorical(logits, np.array([0.9]))[1][0], np.log(0.5))


def test_known_tokens_never_change_and_seed_fixes_the_result():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 40, 16)).astype(np.float32)
    calls = []

    def fn(sub):
        calls.append(sub.copy())
        return logits
    known = rng.random(40) < 0.3
    tokens = rng.integers(0, 256, 40)
    a = maskgit_decode(fn, tokens, known, 2, 4, 16, steps=8, seed=1)
    assert (a[known] == tokens[known]).all() and len(calls) == 8
    assert (calls[0][:, ~known] == 16).all() and (calls[-1][:, ~known] != 16).any()
    assert (maskgit_decode(fn, tokens, known, 2, 4, 16, steps=8, seed=1) == a).all()
    assert (maskgit_decode(fn, tokens, known, 2, 4, 16, steps=8, seed=2) != a).any()
    with pytest.raises(ValueError):
        maskgit_decode(fn, tokens, known, 2, 4, 16, steps=0)


def test_confident_logits_are_followed():
    logits = np.full((2, 10, 8), -20.0, dtype=np.float32)
    want = np.arange(10) % 8
    logits[0, np.arange(10), want] = 20
    logits[1, np.arange(10), 7 - want] = 20
    out = maskgit_decode(lambda s: logits, np.zeros(10, int), np.zeros(10, bool), 2, 3, 8, steps=4, seed=3)
    assert (out == want | ((7 - want) << 3)).all()
