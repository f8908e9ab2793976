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


def _owners(length, size, min_overlap=MIN_OVERLAP):
    """[(start, lo, hi)]: each tile of tile_starts and the span [lo, hi) it supplies, the overlaps split
    at their middle (a position comes from the tile it lies deepest in). Tiles of a small source overlap by
    at most half their size."""
    starts = tile_starts(length, size, min(min_overlap, size // 2))
    cuts = [0] + [(b + a + size) // 2 for a, b in zip(starts, starts[1:])] + [length]
    return [(s, cuts[i], cuts[i + 1]) for i, s in enumerate(starts)]


class TiledEncoder:
    """An encoder backend as one that takes larger frames: each step runs over overlapping tiles of `tile`
    (h, w) latent positions (encode_tiled), by default an export's fixed frame size. Used for drafts only:
    tile borders are not the tokens of the whole frame."""

    def __init__(self, backend, tile=None):
        self.backend = backend
        self.tile = tile or (backend.frame_size[1] // backend.spatial, backend.frame_size[0] // backend.spatial)
        self.bits, self.spatial, self.group = backend.bits, backend.spatial, backend.group
        self.levels = backend.levels
        self.latents_per_call = backend.latents_per_call

    def encode_step(self, frames, state):
        return encode_tiled(self.backend.encode_step, frames, state, self.tile, self.spatial)


def encode_tiled(step, frames, states, tile, spatial):
    """One encoder step over frames larger than `tile` (h, w) latent positions: a reframe's canvas drafted
    in pixels, on an encoder exported for the source's size.

    step(frames_tile, state) -> (latent (..., h, w), state); frames (F, 3, H*s, W*s); states: None at the
    start of a video, then what this returned. -> (latent (..., H, W), states). Each tile keeps its own
    causal state; a latent position comes from the tile it lies deepest in, so it saw the most real
    surroundings (a tile's border positions saw zero padding)."""
    H, W = frames.shape[-2] // spatial, frames.shape[-1] // spatial
    th, tw = tile
    if H < th or W < tw:
        raise ValueError(f"frames of {W}x{H} latent positions are smaller than the encoder tile {tw}x{th}")
    states = states or {}
    out, new_states = None, {}
    for y, y_lo, y_hi in _owners(H, th):
        for x, x_lo, x_hi in _owners(W, tw):
            ys, xs = slice(y * spatial, (y + th) * spatial), slice(x * spatial, (x + tw) * spatial)
            latent, new_states[y, x] = step(frames[..., ys, xs], states.get((y, x)))
            if out is None:
                out = np.zeros(latent.shape[:-2] + (H, W), latent.dtype)
            out[..., y_lo:y_hi, x_lo:x_hi] = latent[..., y_lo - y:y_hi - y, x_lo - x:x_hi - x]
    return out, new_states
