"""Keep the user's pixels: video outputs of an edit take the source's own frames where the source is known.
Reframe blends the decoded (generated) margins in across a short feathered seam; extend continues from the
source's last frame and adds to it only what the model changed against its draft. The kept part of a
video is not blurred to the tokenizer's ~21 dB.

Integer arithmetic throughout (weights out of 256), specified in docs/sampler.md ("Keeping the source's
pixels") so the Kotlin and Swift ports give the same bytes.
"""
import numpy as np

FEATHER = 8        # pixels (one token) over which a generated margin blends into the kept source


def feather_weights(height, width, box, feather=FEATHER):
    """(height, width) int32 weights of the source, 0..256: 256 inside the kept box `box` = (y0, x0, y1, x1)
    (pixels, end exclusive) farther than `feather` from a side that faces generated canvas, a ramp
    w(d) = min(256, (2d + 1) * 256 // (2 * feather)) at distance d = 0, 1, ... from such a side, 0 outside.
    A side on the canvas border faces nothing and gets no ramp."""
    y0, x0, y1, x1 = box
    big = 1 << 30      # "no side near": int64 keeps (2d + 1) * 256 exact
    ys, xs = np.arange(height)[:, None], np.arange(width)[None, :]
    d = np.full((height, width), big, dtype=np.int64)
    if y0 > 0:
        d = np.minimum(d, ys - y0)
    if y1 < height:
        d = np.minimum(d, y1 - 1 - ys)
    if x0 > 0:
        d = np.minimum(d, xs - x0)
    if x1 < width:
        d = np.minimum(d, x1 - 1 - xs)
    w = np.minimum(256, (2 * d + 1) * 256 // (2 * feather))
    inside = (ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)
    return np.where(inside, w, 0).astype(np.int32)


def blend(source, decoded, weight):
    """uint8 frames (H, W, 3): (w * source + (256 - w) * decoded + 128) >> 8, w (H, W) or a scalar."""
    w = np.asarray(weight, dtype=np.int32)
    if w.ndim == 2:
        w = w[:, :, None]
    out = (w * source.astype(np.int32) + (256 - w) * decoded.astype(np.int32) + 128) >> 8
    return out.astype(np.uint8)


def reframed_frames(decoded, source, box, feather=FEATHER):
    """Yield reframed frames: each decoded canvas frame with the source frame (same count, sized to the box)
    pasted into `box` and feathered into the generated margins."""
    y0, x0, y1, x1 = box
    weights = None
    for dec, src in zip(decoded, source):
        if weights is None:
            weights = feather_weights(dec.shape[0], dec.shape[1], box, feather)
        placed = dec.copy()
        placed[y0:y1, x0:x1] = src
        yield blend(placed, dec, weights)


def extended_frames(source, generated, draft):
    """Yield the source's own frames, then each generated frame as the source's last frame plus what the
    model changed: clip(last + generated - draft, 0, 255), where `draft` is the decoded draft the model
    started from (the last latent frame copied forward). Where the model kept its draft, the extension is
    the source's last frame, sharp; where it changed tokens, the decoded change is added to it. The draft
    and the result go through the same decoder, so its blur and its flicker cancel where they agree."""
    last = None
    for f in source:
        last = f
        yield f
    for g, d in zip(generated, draft):
        if last is None:
            yield g
        else:
            yield np.clip(last.astype(np.int16) + g.astype(np.int16) - d.astype(np.int16), 0, 255).astype(np.uint8)
