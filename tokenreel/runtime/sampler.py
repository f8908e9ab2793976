"""MaskGIT iterative parallel decoding, and draft-and-revise decoding on top of it, with a fully specified
counter-based generator (docs/sampler.md).

Numpy only. The Kotlin and Swift ports reproduce `Generator` bit for bit and `maskgit_decode` /
`revise_decode` pick for pick given the same logits; the spec cases in tests/golden (runtime/spec_cases.py) pin them down.
"""
import math

import numpy as np

from .tokens import sub_tokens_of

SPEC_VERSION = "tokenreel-sampler-v1"
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
M1, M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def mix64(x):
    """SplitMix64's output function on uint64 arrays (wrapping arithmetic)."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * M1
        x = (x ^ (x >> np.uint64(27))) * M2
    return x ^ (x >> np.uint64(31))


class Generator:
    """Counter-based: value i of key k is mix64(k + (i + 1) * GOLDEN) (= the i-th SplitMix64 output from
    state k). Sub-keys: derive(k, label) = mix64(k ^ mix64(label * GOLDEN + 1)), so any draw is addressable
    without replaying the stream."""

    def __init__(self, key):
        self.key = np.uint64(key & 0xFFFFFFFFFFFFFFFF)

    def derive(self, label):
        with np.errstate(over="ignore"):
            sub = mix64(np.uint64(label) * GOLDEN + np.uint64(1))
        return Generator(int(mix64(self.key ^ sub)))

    def uint64(self, start, count):
        i = np.arange(start, start + count, dtype=np.uint64)
        with np.errstate(over="ignore"):
            return mix64(self.key + (i + np.uint64(1)) * GOLDEN)

    def uniform(self, start, count):
        """Doubles in (0, 1): ((v >> 11) + 0.5) / 2**53."""
        return ((self.uint64(start, count) >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def cosine_remaining(unknown, step, steps):
    """Tokens still masked after `step` (0-based) of `steps`: floor(unknown * cos(pi/2 * (step+1)/steps))."""
    return int(math.floor(unknown * math.cos(math.pi / 2 * (step + 1) / steps)))


def sample_categorical(logits, u):
    """logits (M, V) float, u (M,) in (0, 1) -> picks (M,), log-probabilities of the picks (M,), in float64.

    Inverse CDF: the first index whose cumulative probability exceeds u (the last index if rounding
    leaves u above the total)."""
    x = logits.astype(np.float64)
    x = x - x.max(-1, keepdims=True)
    p = np.exp(x)
    cdf = np.cumsum(p, -1)               # a plain left-to-right running sum, which ports can reproduce
    total = cdf[:, -1:]                  # (numpy's p.sum() adds pairwise: a different last bit)
    picks = np.minimum((cdf <= u[:, None] * total).sum(-1), x.shape[-1] - 1)
    logp = x[np.arange(len(x)), picks] - np.log(total[:, 0])
    return picks, logp


def maskgit_decode(logits_fn, tokens, known, splits, sub_bits, mask_id, steps=12, seed=0,
                   temperature=4.5, progress=None):
    """Fill the unknown tokens of one window.

    tokens (N,) int (values at unknown positions are ignored), known (N,) bool.
    logits_fn(sub_tokens (splits, N) int64) -> (splits, N, 2**sub_bits) float logits.
    Each step samples every masked token (one categorical per sub-token), scores it by the sum of its
    sub-token log-probabilities plus temperature * (1 - (step+1)/steps) * Gumbel noise, and keeps all but
    the `cosine_remaining` least confident; known and already kept tokens never change."""
    if steps <= 0:
        raise ValueError("steps must be positive")
    gen = Generator(seed)
    tokens = np.where(known, tokens, 0).astype(np.int64)
    fixed = known.copy()
    unknown = int((~known).sum())
    for step in range(steps):
        masked = np.flatnonzero(~fixed)
        if len(masked) == 0:
            break
        logits = logits_fn(sub_tokens_of(tokens, fixed, splits, sub_bits, mask_id))
        g = gen.derive(step)
        M = len(masked)
        u = g.uniform(0, splits * M).reshape(M, splits)  # per masked token, per sub-token
        picks = np.zeros(M, dtype=np.int64)
        confidence = np.zeros(M, dtype=np.float64)
        for j in range(splits):
            pj, lpj = sample_categorical(logits[j][masked], u[:, j])
            picks |= pj << (j * sub_bits)
            confidence += lpj
        anneal = temperature * (1.0 - (step + 1) / steps)
        gumbel = -np.log(-np.log(g.derive(1 << 32).uniform(0, M)))
        confidence += anneal * gumbel
        remaining = min(cosine_remaining(unknown, step, steps), M - 1)
        order = np.argsort(confidence, kind="stable")  # least confident first; ties: lower position first
        keep = order[remaining:]
        tokens[masked[keep]] = picks[keep]
        fixed[masked[keep]] = True
        if progress:
            progress(1)
    return tokens.astype(np.int32)


def draft_scores(logits, tokens, positions, splits, sub_bits):
    """How the model rates the shown tokens at `positions`, against its own top choice: in float64,
    sum over sub-tokens j of L[j][n][sub_j(token)] - max_v L[j][n][v] (0: the model's top choice for every
    sub-token; -3: e^3 times less likely than it). No exp or log, so ports match exactly."""
    score = np.zeros(len(positions), dtype=np.float64)
    mask = (1 << sub_bits) - 1
    for j in range(splits):
        lj = logits[j][positions].astype(np.float64)
        sub = (np.asarray(tokens)[positions].astype(np.int64) >> (j * sub_bits)) & mask
        score += lj[np.arange(len(positions)), sub] - lj.max(-1)
    return score


def revise_decode(logits_fn, tokens, known, draft, splits, sub_bits, mask_id, steps=2, seed=0,
                  threshold=2.0, temperature=4.5, progress=None):
    """Start from a draft and revise it (a predictor-corrector; MaskGIT's own editing path starts late too).

    One call shows the model every token: the known ones and `draft` (N,) at the unknown positions. The
    drafted tokens it rates more than `threshold` below its top choice (`draft_scores`) are masked again
    and filled by `maskgit_decode` in `steps` steps with the same seed; all other drafted tokens are kept,
    so where the model is unsure the draft stands. Calls: 1 + steps (1 when every drafted token is kept).
    steps=0: the re-masked tokens are sampled from the scoring call's own logits, as MaskGIT's one and only
    step would sample them (a corrector step, Token-Critic style: 1 call)."""
    if steps < 0:
        raise ValueError("steps must be 0 or more")
    shown = np.where(known, tokens, draft).astype(np.int64)
    unknown = np.flatnonzero(~known)
    if len(unknown) == 0:
        return shown.astype(np.int32)
    logits = logits_fn(sub_tokens_of(shown, np.ones(len(shown), dtype=bool), splits, sub_bits, mask_id))
    if progress:
        progress(1)
    score = draft_scores(logits, shown, unknown, splits, sub_bits)
    fixed = known.copy()
    fixed[unknown[score >= -threshold]] = True
    if fixed.all():
        return shown.astype(np.int32)
    if steps == 0:   # one MaskGIT step fixes every token it samples; here it samples from the scoring logits
        return maskgit_decode(lambda _: logits, shown, fixed, splits, sub_bits, mask_id, steps=1, seed=seed,
                              temperature=temperature)
    return maskgit_decode(logits_fn, shown, fixed, splits, sub_bits, mask_id, steps=steps, seed=seed,
                          temperature=temperature, progress=progress)
