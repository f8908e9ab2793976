"""MAGVIT-style task masks over a (T, H, W) window: True = known (given to the model), False = to predict.

Tasks: frame prediction (the first 1-3 latent frames known), outpainting (a central, vertical or
horizontal band, or a random rectangle known) and MaskGIT random masking. Inside the region to predict,
a cosine-scheduled share is revealed again, as the sampler's later steps will show the model.

Drafts (for the draft-and-revise sampler): part of the region to predict is shown not as [MASK] but as a
draft token, as the sampler will show it one: the last known latent frame copied forward, the nearest
known token along the row or column (edge replication), a neighbour, or a random token. The loss is on
every shown-but-unsure token too, so the model's probability of a shown token means something."""
import math

import numpy as np

TASKS = ("frames", "central", "vertical", "horizontal", "rectangle", "random")


def task_mask(shape, task, rng):
    T, H, W = shape
    known = np.zeros(shape, dtype=bool)
    if task == "frames":
        known[:rng.integers(1, min(4, T))] = True
    elif task == "central":
        h, w = rng.integers(H // 4, 3 * H // 4 + 1), rng.integers(W // 4, 3 * W // 4 + 1)
        known[:, (H - h) // 2:(H - h) // 2 + h, (W - w) // 2:(W - w) // 2 + w] = True
    elif task == "vertical":      # a full-height band known (e.g. portrait source on a landscape canvas)
        w = rng.integers(W // 4, 3 * W // 4 + 1)
        x0 = rng.integers(0, W - w + 1)
        known[:, :, x0:x0 + w] = True
    elif task == "horizontal":    # a full-width band known (landscape source on a portrait canvas)
        h = rng.integers(H // 4, 3 * H // 4 + 1)
        y0 = rng.integers(0, H - h + 1)
        known[:, y0:y0 + h] = True
    elif task == "rectangle":
        h, w = rng.integers(2, H + 1), rng.integers(2, W + 1)
        y0, x0 = rng.integers(0, H - h + 1), rng.integers(0, W - w + 1)
        known[:, y0:y0 + h, x0:x0 + w] = True
    return known


def training_mask(shape, rng, task_weights=None):
    """-> known (T, H, W) bool with at least one token to predict."""
    task = TASKS[rng.choice(len(TASKS), p=task_weights)]
    known = task_mask(shape, task, rng)
    if known.all():   # a rectangle that covered everything: predict it all instead
        known[:] = False
    return reveal(known, rng)


def reveal(known, rng):
    shape = known.shape
    unknown = np.flatnonzero(~known.reshape(-1))
    # reveal part of the unknown region: the masked share follows the cosine schedule, r = cos(pi/2 * u)
    keep_masked = max(1, math.ceil(len(unknown) * math.cos(math.pi / 2 * rng.random())))
    reveal = rng.permutation(unknown)[keep_masked:]
    flat = known.reshape(-1).copy()
    flat[reveal] = True
    return flat.reshape(shape)


DRAFTS = ("copy_last", "replicate", "neighbour", "random")


def draft_of(tokens, task_known, rng, vocab):
    """A draft for every position of `tokens` (T, H, W), built as the sampler builds its drafts from what
    the task gives: the last fully known latent frame copied forward (else the previous frame), or the
    nearest task-known token along the row, then the column (else a neighbour); some positions random."""
    T, H, W = tokens.shape
    method = DRAFTS[rng.integers(len(DRAFTS))]
    draft = tokens.copy()
    if method == "copy_last":
        full = task_known.reshape(T, -1).all(1)
        for t in range(1, T):
            src = max((k for k in range(t) if full[k]), default=t - 1)
            draft[t] = tokens[src]
    elif method == "replicate" and task_known.any():
        ys, xs = np.nonzero(task_known.any(0))
        for y in range(H):
            row = xs[ys == y]
            for x in range(W):
                if row.size:
                    draft[:, y, x] = tokens[:, y, row[np.abs(row - x).argmin()]]
                else:
                    y2 = ys[np.abs(ys - y).argmin()]
                    draft[:, y, x] = tokens[:, y2, x]
    elif method in ("neighbour", "replicate"):
        dy, dx = [(0, 1), (0, -1), (1, 0), (-1, 0)][rng.integers(4)]
        draft = np.roll(tokens, (dy, dx), axis=(1, 2))
    else:
        draft = rng.integers(0, vocab, tokens.shape)
    noise = rng.random(tokens.shape) < 0.1
    draft[noise] = rng.integers(0, vocab, int(noise.sum()))
    return draft


def training_example(tokens, rng, task_weights=None, draft_share=0.0, vocab=2 ** 18):
    """-> (shown, loss_on): shown (T, H, W) int64 with -1 for [MASK] (known tokens as they are, drafted
    ones as their draft); loss_on: the positions the loss is on (everything not known for sure)."""
    task = TASKS[rng.choice(len(TASKS), p=task_weights)]
    task_known = task_mask(tokens.shape, task, rng)
    if task_known.all():
        task_known[:] = False
    known = reveal(task_known, rng)
    shown = np.where(known, tokens, -1)
    if draft_share and rng.random() < draft_share:  # (no draw when off: the same stream as training_mask)
        unknown = ~known
        drafted = unknown & (rng.random(tokens.shape) < rng.uniform(0.3, 1.0))
        shown = np.where(drafted, draft_of(tokens, task_known, rng, vocab), shown)
    return shown, ~known
