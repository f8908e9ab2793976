"""MAGVIT-style task masks over a (T, H, W) window: True = known (given to the model), False = to predict.

Tasks: frame prediction (the first 1-3 latent frames known), outpainting (a central, vertical or
horizontal band, or a random rectangle known) and MaskGIT random masking. Inside the region to predict,
a cosine-scheduled share is revealed again, as the sampler's later steps will show the model."""
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
    unknown = np.flatnonzero(~known.reshape(-1))
    # reveal part of the unknown region: the masked share follows the cosine schedule, r = cos(pi/2 * u)
    keep_masked = max(1, math.ceil(len(unknown) * math.cos(math.pi / 2 * rng.random())))
    reveal = rng.permutation(unknown)[keep_masked:]
    flat = known.reshape(-1).copy()
    flat[reveal] = True
    return flat.reshape(shape)
