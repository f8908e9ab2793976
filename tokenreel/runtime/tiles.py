"""Decode token grids larger than a fixed-size exported decoder: overlapping tiles, blended in pixels.

Phone graphs have static shapes, so a decoder step exported for 128x224 frames cannot decode a reframed
9:16 canvas in one call. The canvas is covered by overlapping tiles of the decoder's size; each tile keeps
its own causal state, and the overlaps are cross-faded with linear ramps, so tile borders do not show as
seams (the decoder's convolutions see past a tile's edge only within the overlap)."""
import math

import numpy as np

MIN_OVERLAP = 4       # latent positions shared by neighbouring tiles (32 px at 8x)


def tile_starts(length, size, min_overlap=MIN_OVERLAP):
    """Start offsets of windows of `size` covering [0, length), evenly spaced, overlapping >= min_overlap."""
    if length <= size:
        return [0]
    n = math.ceil((length - size) / (size - min_overlap)) + 1
    return sorted({round(i * (length - size) / (n - 1)) for i in range(n)})


def _ramp(start, size, total, fade):
    """1-D blend weights of a tile [start, start+size) in a line of `total`: ramps at inner edges only."""
    d = np.arange(size, dtype=np.float32) + 0.5
    w = np.ones(size, np.float32)
    if start > 0:
        w = np.minimum(w, d / fade)
    if start + size < total:
        w = np.minimum(w, d[::-1] / fade)
    return w


def decode_tiled(step, latents, states, tile, spatial):
    """One decoder step over a latent grid larger than `tile` (h, w).

    step(latents_tile, state) -> (frames (F, 3, h*s, w*s), state); states: None at the start of a video,
    then what this returned. -> (frames (F, 3, H*s, W*s), states)."""
    H, W = latents.shape[-2:]
    th, tw = tile
    if H < th or W < tw:
        raise ValueError(f"latent grid {H}x{W} is smaller than the decoder tile {th}x{tw}")
    corners = [(y, x) for y in tile_starts(H, th) for x in tile_starts(W, tw)]
    states = states or {c: None for c in corners}
    fade = MIN_OVERLAP * spatial
    out = weight = None
    new_states = {}
    for y, x in corners:
        frames, new_states[y, x] = step(latents[..., y:y + th, x:x + tw], states[y, x])
        if out is None:
            out = np.zeros(frames.shape[:2] + (H * spatial, W * spatial), np.float32)
            weight = np.zeros((H * spatial, W * spatial), np.float32)
        w = np.outer(_ramp(y * spatial, th * spatial, H * spatial, fade),
                     _ramp(x * spatial, tw * spatial, W * spatial, fade))
        ys, xs = slice(y * spatial, (y + th) * spatial), slice(x * spatial, (x + tw) * spatial)
        out[..., ys, xs] += frames * w
        weight[ys, xs] += w
    return out / weight, new_states
