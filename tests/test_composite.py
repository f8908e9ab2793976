"""Keeping the source's pixels in video outputs: the feather weights and the two compositions."""
import numpy as np

from tokenreel.runtime.composite import FEATHER, blend, extended_frames, feather_weights, reframed_frames


def test_feather_is_source_inside_and_ramps_only_on_sides_facing_generated_canvas():
    w = feather_weights(64, 40, (16, 0, 48, 40))          # a horizontal band: margins above and below
    assert (w[:16] == 0).all() and (w[48:] == 0).all()
    assert (w[16 + FEATHER:48 - FEATHER] == 256).all()
    ramp = w[16:16 + FEATHER, 20]
    assert (np.diff(ramp) > 0).all() and 0 < ramp[0] < 64 and ramp[-1] < 256
    assert (w[16:48, 0] == w[16:48, 20]).all()             # the canvas border (left) gets no ramp
    assert (w[16:16 + FEATHER, 20] == w[47:47 - FEATHER:-1, 20]).all()   # symmetric top and bottom


def test_reframed_frames_keep_the_source_exactly_away_from_the_seam():
    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, (3, 32, 40, 3), dtype=np.uint8)
    dec = rng.integers(0, 256, (3, 64, 40, 3), dtype=np.uint8)
    out = np.stack(list(reframed_frames(list(dec), list(src), (16, 0, 48, 40))))
    assert (out[:, 16 + FEATHER:48 - FEATHER] == src[:, FEATHER:32 - FEATHER]).all()
    assert (out[:, :16] == dec[:, :16]).all() and (out[:, 48:] == dec[:, 48:]).all()
    seam = out[:, 16:16 + FEATHER].astype(int)
    lo = np.minimum(src[:, :FEATHER], dec[:, 16:16 + FEATHER]).astype(int)
    hi = np.maximum(src[:, :FEATHER], dec[:, 16:16 + FEATHER]).astype(int)
    assert ((seam >= lo) & (seam <= hi)).all()            # a blend of the two, nothing else


def test_extended_frames_are_the_source_then_its_last_frame_plus_the_models_change():
    src = [np.full((4, 4, 3), 200, np.uint8), np.full((4, 4, 3), 150, np.uint8)]
    draft = [np.full((4, 4, 3), 90, np.uint8)] * 3
    gen = [d.copy() for d in draft]
    gen[1][0, 0] = 130                      # the model changed one pixel's tokens: +40 there
    gen[2][:] = 0                           # and everything: clipped at 0
    out = list(extended_frames(iter(src), iter(gen), iter(draft)))
    assert len(out) == 5 and (out[0] == 200).all() and (out[1] == 150).all()
    assert (out[2] == 150).all()            # draft kept: the source's last frame, exactly
    assert out[3][0, 0, 0] == 190 and (out[3][1:] == 150).all()
    assert (out[4] == 60).all()
    assert (blend(src[0], gen[0], 256) == 200).all() and (blend(src[0], gen[0], 0) == 90).all()
