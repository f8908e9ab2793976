"""Token-space edits over windows, with a deterministic stand-in for the transformer (the algorithm is
tested here; the trained model's quality is measured by `tokenreel eval edits`)."""
import numpy as np
import pytest

from tokenreel.errors import UserError
from tokenreel.runtime.edit import (extend, outpaint_canvas, parse_aspect, reframe_crop, reframe_outpaint,
                                    tile_starts)


class CopyNearestKnown:
    """Logits that favour, for every masked position, the token of the nearest known position in its row:
    a model-free way to see which context each call was given."""
    window, bits, splits, sub_bits, mask_id = (5, 8, 8), 8, 2, 4, 16

    def __init__(self):
        self.calls = 0

    def logits(self, sub):
        self.calls += 1
        T, H, W = self.window
        out = np.full((2, T * H * W, 16), -10.0, dtype=np.float32)
        grid = sub.reshape(2, T, H, W)
        for j in range(2):
            for t in range(T):
                for y in range(H):
                    row = grid[j, t, y]
                    knownx = np.flatnonzero(row != 16)
                    for x in range(W):
                        v = row[knownx[np.abs(knownx - x).argmin()]] if len(knownx) else 0
                        out[j, (t * H + y) * W + x, v] = 10.0
        return out


def test_parse_aspect():
    assert parse_aspect("9:16") == (9, 16)
    for bad in ["9x16", "0:1", "-1:2", "a:b", "16"]:
        with pytest.raises(UserError, match="W:H"):
            parse_aspect(bad)


def test_tiles_cover_with_overlap():
    for length in (16, 17, 28, 38, 68):
        starts = tile_starts(length, 16)
        covered = np.zeros(length, bool)
        for s in starts:
            covered[s:s + 16] = True
        assert covered.all() and starts[0] == 0 and starts[-1] == max(0, length - 16)


def test_crop_is_lossless_and_centred():
    tokens = np.arange(5 * 16 * 28).reshape(5, 16, 28)
    out = reframe_crop(tokens, "9:16")
    assert out.shape == (5, 16, 9) and (out == tokens[:, :, 9:18]).all()


def test_outpaint_keeps_the_source_and_fills_margins():
    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, (5, 8, 12))
    canvas, known = outpaint_canvas(src, "9:16")
    assert canvas.shape == (5, 21, 12) and known.sum() == src.size
    model = CopyNearestKnown()
    out, calls = reframe_outpaint(model, src, "9:16", steps=3, seed=0)
    y0 = (21 - 8) // 2
    # the source is kept but for its outermost row on each side that faces a margin (generated again)
    assert out.shape == (5, 21, 12) and (out[:, y0 + 1:y0 + 7] == src[:, 1:7]).all()
    assert calls == model.calls and calls > 0
    # a margin row right above the source copies... something real: every generated token is a valid id
    assert out.min() >= 0 and out.max() < 256


def test_extend_appends_and_conditions_on_the_end():
    rng = np.random.default_rng(1)
    src = rng.integers(0, 256, (3, 8, 8))
    model = CopyNearestKnown()
    out, calls = extend(model, src, frames=20, steps=2, seed=0)
    assert out.shape == (3 + 5, 8, 8) and (out[:3] == src).all() and calls == model.calls
    with pytest.raises(UserError, match="--frames"):
        extend(model, src, frames=0)
    with pytest.raises(UserError, match="--frames"):
        extend(model, src, frames=10 ** 6)


def test_window_borders_facing_a_later_window_are_left_to_it():
    """Window rows 6..13 of a 14-row canvas, with the window at rows 0..7 still to come: its top EDGE rows
    (canvas rows 6 and 7, context on one side only) are left for that window; the canvas border is not."""
    from tokenreel.runtime.edit import EDGE, _deferred
    d = _deferred(6, 0, (14, 6), (8, 6), later=[(0, 0)])
    assert d[:EDGE].all() and not d[EDGE:].any()
    assert not _deferred(0, 0, (14, 6), (8, 6), later=[]).any()      # the last window commits everything
    # a side that faces more canvas but no later window: committed
    assert not _deferred(6, 0, (14, 6), (8, 6), later=[]).any()


def test_source_edges_facing_a_margin_are_generated_again():
    from tokenreel.runtime.edit import SOURCE_EDGE, source_edges_regenerated
    known = np.zeros((2, 10, 12), bool)
    known[:, 3:7, 0:12] = True          # a landscape source on a taller canvas: margins above and below
    k = source_edges_regenerated(known)
    assert not k[:, 3:3 + SOURCE_EDGE].any() and not k[:, 7 - SOURCE_EDGE:7].any()
    assert k[:, 3 + SOURCE_EDGE:7 - SOURCE_EDGE].all()          # the inside and the canvas's own border stay
    assert (k[:, :, 0] == k[:, :, 5]).all()                      # no margin left or right: columns untouched


class FavourToken:
    """Logits (splits=2, 4-bit sub-tokens) that put all mass on one token per position: `choice` (N,)."""
    splits, sub_bits, mask_id = 2, 4, 16

    def __init__(self, choice):
        self.choice, self.calls = np.asarray(choice), 0

    def logits(self, sub):
        self.calls += 1
        n = sub.shape[1]
        out = np.full((2, n, 16), -20.0, dtype=np.float32)
        for j in range(2):
            out[j, np.arange(n), (self.choice >> (4 * j)) & 15] = 0.0
        return out


def test_revise_keeps_a_draft_the_model_agrees_with_in_one_call():
    from tokenreel.runtime.sampler import revise_decode
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 256, 40)
    known = np.zeros(40, bool)
    known[:10] = True
    model = FavourToken(truth)
    out = revise_decode(model.logits, truth, known, truth, 2, 4, 16, steps=4, seed=0)
    assert (out == truth).all() and model.calls == 1


def test_revise_redoes_only_the_drafted_tokens_the_model_rates_unlikely():
    from tokenreel.runtime.sampler import draft_scores, revise_decode
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 256, 40)
    known = np.zeros(40, bool)
    known[:10] = True
    draft = truth.copy()
    wrong = np.arange(20, 30)
    draft[wrong] = (truth[wrong] + 17) % 256        # both sub-tokens differ from the model's choice
    model = FavourToken(truth)
    scores = draft_scores(model.logits(draft[None].repeat(2, 0)), draft, np.arange(40), 2, 4)
    assert (scores[wrong] == -40).all() and (np.delete(scores, wrong) == 0).all()
    model.calls = 0
    out = revise_decode(model.logits, truth, known, draft, 2, 4, 16, steps=3, seed=0)
    assert (out == truth).all()                     # the wrong drafts re-predicted, the rest kept
    assert model.calls == 1 + 3


class AgreeWithInput(FavourToken):
    """Puts all mass on whatever token each position shows (0 where masked): keeps any draft."""
    bits = 8

    def __init__(self, window):
        self.window, self.calls = window, 0

    def logits(self, sub):
        self.choice = np.where(sub[0] == 16, 0, sub[0]) | (np.where(sub[1] == 16, 0, sub[1]) << 4)
        return FavourToken.logits(self, sub)


def test_revise_extend_starts_from_copying_the_last_latent_frame():
    """A model that agrees with any draft leaves extend at its draft: the last latent frame copied forward."""
    rng = np.random.default_rng(3)
    src = rng.integers(0, 256, (3, 4, 4))
    out, calls = extend(AgreeWithInput((5, 4, 4)), src, frames=12, seed=0)
    assert out.shape == (6, 4, 4) and (out[:3] == src).all() and (out[3:] == src[-1]).all()
    assert calls == 1                               # one window, its draft kept whole


def test_maskgit_sampler_is_still_available():
    model = CopyNearestKnown()
    src = np.random.default_rng(4).integers(0, 256, (5, 8, 12))
    _, calls = reframe_outpaint(model, src, "9:16", steps=3, seed=0, sampler="maskgit")
    assert calls == model.calls and calls % 3 == 0
    with pytest.raises(UserError, match="--sampler"):
        reframe_outpaint(model, src, "9:16", sampler="greedy")


def test_outpaint_draft_sits_on_the_source_when_the_canvas_is_padded_to_the_window():
    """A canvas smaller than the window is padded; the mirrored draft must still match the source in place."""
    src = np.random.default_rng(5).integers(0, 256, (1, 4, 5))
    out, _ = reframe_outpaint(AgreeWithInput((1, 6, 6)), src, "1:1", seed=0)
    assert out.shape == (1, 5, 5) and (out[:, :4] == src).all() and (out[:, 4] == src[:, 3]).all()


def test_outpaint_keeps_a_given_canvas_draft_where_the_model_agrees():
    """reframe_outpaint(draft=...): the margins and the regenerated source edges start from the given canvas
    draft (a pixel draft, edit.outpaint_pixel_draft), the source's inner tokens stay the source's."""
    rng = np.random.default_rng(6)
    src = rng.integers(0, 256, (1, 4, 5))
    draft = rng.integers(0, 256, (1, 5, 5))            # the canvas of "1:1": one row of margin below
    out, _ = reframe_outpaint(AgreeWithInput((1, 6, 6)), src, "1:1", seed=0, draft=draft)
    assert (out[:, :3] == src[:, :3]).all()            # inner rows: the source's own tokens
    assert (out[:, 3:] == draft[:, 3:]).all()          # its edge row facing the margin and the margin: the draft
    with pytest.raises(ValueError, match="draft"):
        reframe_outpaint(AgreeWithInput((1, 6, 6)), src, "1:1", draft=draft[:, :4])


class BlockMeanTokenizer:
    """A stand-in tokenizer with no state or context: each 2x2 pixel block's channel means, as 3 bits."""
    bits, spatial, group, latents_per_call, levels = 3, 2, 4, 1, ()

    def __init__(self, frame_size=None):
        self.frame_size = frame_size

    def encode_step(self, frames, state):
        assert self.frame_size is None or (frames.shape[3], frames.shape[2]) == self.frame_size
        f = frames.reshape(frames.shape[0], 3, frames.shape[2] // 2, 2, frames.shape[3] // 2, 2)
        return f.mean(axis=(0, 3, 5))[None], state


def test_outpaint_pixel_draft_encodes_the_edge_replicated_canvas_on_any_encoder():
    from tokenreel.runtime.edit import outpaint_pixel_draft
    from tokenreel.runtime.tokenizing import encode_frames
    frames = np.random.default_rng(7).integers(0, 256, (5, 8, 12, 3), dtype=np.uint8)   # 4 x 6 tokens, 2 latent frames
    grid = (2, 4, 6)
    whole = BlockMeanTokenizer()
    draft = outpaint_pixel_draft(whole, iter(frames), grid, "1:1")        # canvas 6 x 6, the source at row 1
    replicated = np.pad(frames, ((0, 0), (2, 2), (0, 0), (0, 0)), mode="edge")
    assert draft.shape == (2, 6, 6) and (draft == encode_frames(whole, iter(replicated)).tokens).all()
    # an exported encoder of one frame size: tiles over a larger canvas, a drafted-larger-then-cut smaller one
    assert (outpaint_pixel_draft(BlockMeanTokenizer((12, 10)), iter(frames), grid, "1:1") == draft).all()
    big = outpaint_pixel_draft(BlockMeanTokenizer((16, 16)), iter(frames), grid, "1:1")
    wide = np.pad(frames, ((0, 0), (4, 4), (2, 2), (0, 0)), mode="edge")      # the 8 x 8-token tile
    assert (big == encode_frames(whole, iter(wide)).tokens[:, 1:7, 1:7]).all()
