"""The edit cases both app ports are tested against, written once: the Python runtime's tiling, crop,
reframe (with the token mirror's draft and with a given canvas draft) and extend (tokenreel/runtime/edit.py,
both samplers) on a fake transformer, its tiled decode and tiled encode (runtime/tiles.py) on fake decoder
and encoder steps, the reframe's pixel draft (edit.outpaint_pixel_draft) on a fake tokenizer, whole and
exported for one frame size, with edit.py's defaults (steps, the revise threshold of each edit), `fill`
on one window at each threshold, and the decoder's hold of still blocks (runtime/tokenizing.py
`held_positions`, and `decode_tokens` with hold on and off on FakeTokenizer's decoder). tests/test_android_core.py
and tests/test_ios_core.py write them to a file and hand its path to the Kotlin and Swift tests in
TOKENREEL_EDIT_CASES.

    .venv/bin/python tests/edit_cases.py OUT.json      # the same file, for running a port's tests by hand
"""
import json
import sys

import numpy as np

from tokenreel.runtime import edit, tiles
from tokenreel.runtime.tokenizing import decode_tokens, held_positions, to_float


class FakeTransformer:
    """Logits that depend on position and on the sub-tokens (integers / 8: exact in float32 in both ports)."""
    window, bits, splits, sub_bits = (3, 6, 6), 6, 2, 3
    mask_id = 1 << sub_bits

    def logits(self, sub):
        sub = np.asarray(sub, np.int64)
        n = sub.shape[1]
        k = np.arange(n)[None, :, None]
        v = np.arange(1 << self.sub_bits)[None, None, :]
        j = np.arange(self.splits)[:, None, None]
        z = k * 131 + v * 71 + j * 37 + sub[:, :, None] * 13 + np.roll(sub, -1, axis=1)[:, :, None] * 7
        return (z % 97 / 8.0 - 6.0).astype(np.float32)


def grid(a):
    return {"shape": list(a.shape), "data": np.asarray(a).reshape(-1).astype(int).tolist()}


def fake_decoder_step(latents, state):
    """(T, D, h, w) latents -> (T, 3, 2h, 2w) frames, the call count as state: multiples of 1/16, so only the
    tiles' blending rounds. A pixel's value depends on its place in the tile, so overlapping tiles differ."""
    calls = 0 if state is None else state
    T, D, h, w = latents.shape
    base = (latents * np.arange(1, D + 1, dtype=np.float32)[None, :, None, None]).sum(1)
    px = np.repeat(np.repeat(base, 2, 1), 2, 2)[:, None]
    c = np.arange(3, dtype=np.float32)[None, :, None, None]
    y = np.arange(2 * h, dtype=np.float32)[None, None, :, None]
    x = np.arange(2 * w, dtype=np.float32)[None, None, None, :]
    return (px + c * 0.25 + y * 0.125 + x * 0.0625 - calls * 0.5).astype(np.float32), calls + 1


def fake_encoder_step(frames, state):
    """(F, 3, 2h, 2w) frames -> ((1, 3, h, w) latent, the call count as state), exact in float32 in every
    language: channel c of a latent position is the sum of its 2x2 pixel block's channel c over the frames, as
    the integers they came from (rint((x + 1) * 127.5)), less 127.5 for each value summed (so never 0: its sign
    is the token bit), plus ((3y + 5x + c + calls) % 7 - 3) * 16 by the position (y, x) in the frames given and
    the calls before: a tile's tokens depend on where the tile starts and on its own state."""
    calls = 0 if state is None else state
    F, C, H2, W2 = frames.shape
    h, w = H2 // 2, W2 // 2
    v = np.rint((frames + 1) * np.float32(127.5)).astype(np.float32)
    block = v.reshape(F, C, h, 2, w, 2).sum(axis=(0, 3, 5)) - np.float32(127.5 * F * 4)
    y, x, c = np.arange(h)[None, :, None], np.arange(w)[None, None, :], np.arange(C)[:, None, None]
    pos = ((3 * y + 5 * x + c + calls) % 7 - 3) * 16
    return (block + pos.astype(np.float32))[None].astype(np.float32), calls + 1


class FakeTokenizer:
    """A tokenizer stand-in for the pixel drafts and the hold: fake_encoder_step, 3 bits, 2 pixels a token.
    `frame_size` (w, h): an encoder exported for that frame size (it refuses others), None: one that takes any
    size. `latents_per_call`: latent frames a decoder call takes."""
    bits, spatial, group, levels = 3, 2, 4, ()

    def __init__(self, frame_size=None, latents_per_call=1):
        self.frame_size, self.latents_per_call = frame_size, latents_per_call

    def encode_step(self, frames, state):
        if self.frame_size is not None and (frames.shape[3], frames.shape[2]) != tuple(self.frame_size):
            raise ValueError(f"frames of {frames.shape[3]}x{frames.shape[2]}, the encoder takes {self.frame_size}")
        return fake_encoder_step(frames, state)

    def decode_step(self, latents, state):
        """fake_decoder_step's frames / 8, each latent frame's given to its frames (the first call's first
        latent frame 1, every other one `group`), plus 3k/128 by the frame's place k in the call: the
        frames of a repeated latent frame differ (a pulse), which the hold takes away. Exact in float32."""
        first = state is None
        out, state = fake_decoder_step(latents, state)
        n = 1 + (len(latents) - 1) * self.group if first else len(latents) * self.group
        k = np.arange(n)
        latent = (k + self.group - 1) // self.group if first else k // self.group
        pulse = k.astype(np.float32)[:, None, None, None] * np.float32(3 / 128)
        return (out[latent] * np.float32(1 / 8) + pulse).astype(np.float32), state


def pixels(a):
    """uint8 (F, H, W, 3) frames -> their bytes."""
    return {"shape": list(a.shape), "data": np.asarray(a, np.uint8).reshape(-1).tolist()}


def bits(a):
    """float32 array -> its bit patterns (compared exactly)."""
    return {"shape": list(a.shape), "bits": np.asarray(a, np.float32).reshape(-1).view(np.uint32).tolist()}


def tiles_case():
    """decode_tiled twice in a row (the second call continues the first's per-tile states)."""
    rng = np.random.default_rng(5)
    latents = (rng.integers(-8, 9, (2, 3, 8, 11)) / 4).astype(np.float32)
    tile = (5, 6)
    first, states = tiles.decode_tiled(fake_decoder_step, latents, None, tile, 2)
    second, states = tiles.decode_tiled(fake_decoder_step, -latents, states, tile, 2)
    return {"latents": bits(latents), "tile": list(tile), "spatial": 2, "out": [bits(first), bits(second)],
            "states": [{"y": int(y), "x": int(x), "calls": s} for (y, x), s in sorted(states.items())]}


def encode_tiles_case():
    """encode_tiled twice in a row (a first call of one frame, then a group of four: the second continues the
    first's per-tile states) over frames 11 x 15 latent positions, tiles of 6 x 8 (overlaps split in the middle)."""
    rng = np.random.default_rng(8)
    tile = (6, 8)
    first = to_float(rng.integers(0, 256, (1, 22, 30, 3), dtype=np.uint8))
    second = to_float(rng.integers(0, 256, (4, 22, 30, 3), dtype=np.uint8))
    one, states = tiles.encode_tiled(fake_encoder_step, first, None, tile, 2)
    two, states = tiles.encode_tiled(fake_encoder_step, second, states, tile, 2)
    return {"frames": [bits(first), bits(second)], "tile": list(tile), "spatial": 2, "out": [bits(one), bits(two)],
            "owners": [{"length": n, "size": size, "spans": [list(o) for o in tiles._owners(n, size)]}
                       for n, size in [(11, 6), (15, 8), (50, 16), (6, 6), (100, 37)]],
            "states": [{"y": int(y), "x": int(x), "calls": s} for (y, x), s in sorted(states.items())]}


def pixel_draft_cases():
    """edit.outpaint_pixel_draft on FakeTokenizer: a whole encoder, one exported for a smaller frame (tiles over
    the canvas), a larger one (the canvas drafted larger, then cut) and one larger across but smaller down; margins
    wider than the source (the mirror reflects again); a source wider than the aspect (the canvas grows down);
    frames that do not fill their last group."""
    rng = np.random.default_rng(9)
    out = []
    for frames_shape, grid_shape, aspect, frame_size in [
            ((5, 8, 12, 3), (2, 4, 6), "1:1", None), ((5, 8, 12, 3), (2, 4, 6), "1:1", (12, 10)),
            ((5, 8, 12, 3), (2, 4, 6), "1:1", (16, 16)), ((5, 8, 12, 3), (2, 4, 6), "1:1", (16, 10)),
            ((3, 4, 4, 3), (2, 2, 2), "4:1", None), ((6, 6, 16, 3), (3, 3, 8), "1:1", (12, 10)),
            ((7, 12, 10, 3), (3, 6, 5), "16:9", (12, 12))]:
        frames = rng.integers(0, 256, frames_shape, dtype=np.uint8)
        draft = edit.outpaint_pixel_draft(FakeTokenizer(frame_size), iter(frames), grid_shape, aspect)
        out.append({"frames": pixels(frames), "grid": list(grid_shape), "aspect": aspect,
                    "frame_size": None if frame_size is None else list(frame_size), "out": grid(draft)})
    return out


def fill_cases(rng, b):
    """`fill` on one extend-like window (the first latent frame known, the rest drafted as it, copied) at each
    edit's threshold: some drafted token scores between the two, so the grids differ."""
    T = b.window[0]
    tokens = rng.integers(0, 1 << b.bits, b.window)
    known = np.zeros(b.window, bool)
    known[0] = True
    draft = np.repeat(tokens[:1], T, axis=0)
    out = []
    for edit_name, threshold in sorted(edit.REVISE_THRESHOLD.items()):
        grid_out, calls = edit.fill(b, tokens, known, 2, 13, draft=draft, threshold=threshold)
        out.append({"edit": edit_name, "tokens": grid(tokens), "known": known.reshape(-1).astype(int).tolist(),
                    "draft": grid(draft), "steps": 2, "seed": 13, "threshold": threshold, "out": grid(grid_out),
                    "calls": calls})
    outs = {json.dumps(c["out"]) for c in out}
    assert len(outs) == len(set(edit.REVISE_THRESHOLD.values())), "the fill cases do not tell the thresholds apart"
    return out


def check_thresholds_told_apart(b, cases):
    """Each edit's revise cases give other grids with the edits' thresholds exchanged, so a port that used one
    threshold for both edits (or the other edit's) fails them."""
    saved = dict(edit.REVISE_THRESHOLD)
    if saved["reframe"] == saved["extend"]:
        return
    edit.REVISE_THRESHOLD = {"reframe": saved["extend"], "extend": saved["reframe"]}
    try:
        for kind in ("reframe", "extend"):
            differ = 0
            for c in cases[kind]:
                if c["sampler"] != "revise":
                    continue
                tokens = np.asarray(c["in"]["data"]).reshape(c["in"]["shape"])
                if kind == "reframe":
                    draft = c.get("draft")
                    draft = None if draft is None else np.asarray(draft["data"]).reshape(draft["shape"])
                    out, _ = edit.reframe_outpaint(b, tokens, c["aspect"], steps=c["steps"], seed=c["seed"], draft=draft)
                else:
                    out, _ = edit.extend(b, tokens, c["frames"], steps=c["steps"], seed=c["seed"])
                differ += grid(out) != c["out"]
            assert differ, f"no {kind} case tells the thresholds {saved} apart"
    finally:
        edit.REVISE_THRESHOLD = saved


def held_positions_cases():
    """held_positions on one latent frame against the previous: one token changed in the middle, one at a corner
    (outside the grid counts as repeated), all equal, all different, and one changed at a radius of 2."""
    rng = np.random.default_rng(10)
    prev = rng.integers(0, 8, (5, 6))
    middle, corner, other = prev.copy(), prev.copy(), (prev + 1 + rng.integers(0, 7, prev.shape)) % 8
    middle[2, 3] = (middle[2, 3] + 1) % 8
    corner[0, 0] = (corner[0, 0] + 1) % 8
    out = []
    for tokens, radius in [(middle, 1), (corner, 1), (prev.copy(), 1), (other, 1), (middle, 2)]:
        held = held_positions(tokens, prev, radius)
        out.append({"tokens": grid(tokens[None]), "prev": grid(prev[None]), "radius": radius,
                    "held": held.reshape(-1).astype(int).tolist()})
    assert len({json.dumps(c["held"]) for c in out}) == len(out), "the held_positions cases do not differ"
    return out


def decode_tokens_cases():
    """decode_tokens on FakeTokenizer with hold on and off: latent frames 1 and 4 repeat the previous one but for one
    token (the blocks around it not held), 3 and 5 repeat it whole; one decoder call a latent frame, and two a call
    (the first call's frames: 1, then a group for each further latent frame) stopped mid-group."""
    rng = np.random.default_rng(11)
    tokens = rng.integers(0, 8, (6, 3, 4))
    tokens[1] = tokens[0]
    tokens[1, 0, 0] = (tokens[1, 0, 0] + 1) % 8
    tokens[3] = tokens[2]
    tokens[4] = tokens[3]
    tokens[4, 2, 3] = (tokens[4, 2, 3] + 1) % 8
    tokens[5] = tokens[4]
    out = []
    for per_call, frames in [(1, None), (2, 18)]:
        b = FakeTokenizer(latents_per_call=per_call)
        held = np.stack(list(decode_tokens(b, tokens, frames)))
        free = np.stack(list(decode_tokens(b, tokens, frames, hold=False)))
        assert (held[0] == free[0]).all() and (held[1:] != free[1:]).any(), "hold on and off do not differ as they should"
        out.append({"tokens": grid(tokens), "latents_per_call": per_call, "frames": frames,
                    "hold": pixels(held), "free": pixels(free)})
    return out


def edit_cases():
    rng = np.random.default_rng(3)
    b = FakeTransformer()
    cases = {"backend": {"window": list(b.window), "bits": b.bits, "splits": b.splits, "sub_bits": b.sub_bits},
             "defaults": {"steps": dict(edit.DEFAULT_STEPS), "revise_threshold": dict(edit.REVISE_THRESHOLD)},
             "tile_starts": [], "crop": [], "reframe": [], "extend": []}
    for length, size, overlap in [(5, 8, 4), (14, 6, 4), (8, 6, 4), (37, 16, 4), (29, 16, 4), (9, 5, 1), (100, 9, 3)]:
        cases["tile_starts"].append({"length": length, "size": size, "min_overlap": overlap,
                                     "starts": edit.tile_starts(length, size, overlap)})
    for shape, aspect in [((2, 6, 8), "9:16"), ((2, 6, 8), "16:9"), ((1, 5, 7), "1:1"), ((1, 9, 4), "4:3")]:
        tokens = rng.integers(0, 1 << b.bits, shape)
        canvas, known = edit.outpaint_canvas(tokens, aspect)
        cases["crop"].append({"in": grid(tokens), "aspect": aspect, "out": grid(edit.reframe_crop(tokens, aspect)),
                              "canvas": grid(canvas), "canvas_known": known.reshape(-1).astype(int).tolist(),
                              "box": list(edit.outpaint_box(shape[1], shape[2], aspect))})
    # a tall canvas tiled in space and time; a wide one; one smaller than the window (padded in space and time);
    # margins wider than the source (its mirrored draft reflects again); the sampler's default steps (None);
    # then MaskGIT from masks
    for shape, aspect, steps, seed, sampler in [((4, 6, 8), "9:16", 3, 5, "revise"),
                                                ((3, 6, 6), "16:9", 2, 2 ** 50 + 3, "revise"),
                                                ((2, 4, 5), "1:1", 4, 0, "revise"), ((2, 6, 3), "16:9", 3, 7, "revise"),
                                                ((3, 6, 8), "9:16", None, 1, "revise"),
                                                ((4, 6, 8), "9:16", 3, 5, "maskgit"), ((2, 4, 5), "1:1", 4, 0, "maskgit")]:
        tokens = rng.integers(0, 1 << b.bits, shape)
        out, calls = edit.reframe_outpaint(b, tokens, aspect, steps=steps, seed=seed, sampler=sampler)
        cases["reframe"].append({"in": grid(tokens), "aspect": aspect, "steps": steps, "seed": seed,
                                 "sampler": sampler, "out": grid(out), "calls": calls})
    # a given canvas draft (reframe_outpaint(draft=), a pixel draft in the product): one the window's size, one
    # smaller than the window (the draft padded symmetric), and MaskGIT, which leaves it
    draws = np.random.default_rng(4)
    for shape, aspect, steps, seed, sampler in [((4, 6, 8), "9:16", 3, 5, "revise"), ((2, 4, 5), "1:1", 4, 0, "revise"),
                                                ((2, 6, 3), "16:9", None, 7, "revise"),
                                                ((2, 4, 5), "1:1", 4, 0, "maskgit")]:
        tokens = draws.integers(0, 1 << b.bits, shape)
        canvas, _ = edit.outpaint_canvas(tokens, aspect)
        draft = draws.integers(0, 1 << b.bits, canvas.shape)
        out, calls = edit.reframe_outpaint(b, tokens, aspect, steps=steps, seed=seed, sampler=sampler, draft=draft)
        mirrored = grid(edit.reframe_outpaint(b, tokens, aspect, steps=steps, seed=seed, sampler=sampler)[0])
        assert (grid(out) != mirrored) == (sampler == "revise"), "the given draft is not the revise sampler's alone"
        cases["reframe"].append({"in": grid(tokens), "aspect": aspect, "steps": steps, "seed": seed,
                                 "sampler": sampler, "draft": grid(draft), "out": grid(out), "calls": calls})
    for shape, frames, steps, seed, sampler in [((3, 6, 8), 9, 3, 11, "revise"), ((2, 6, 6), 1, 2, -4, "revise"),
                                                ((4, 7, 6), 20, 2, 0, "revise"), ((3, 6, 6), 8, None, 3, "revise"),
                                                ((3, 6, 8), 9, 3, 11, "maskgit")]:
        tokens = rng.integers(0, 1 << b.bits, shape)
        out, calls = edit.extend(b, tokens, frames, steps=steps, seed=seed, sampler=sampler)
        cases["extend"].append({"in": grid(tokens), "frames": frames, "steps": steps, "seed": seed,
                                "sampler": sampler, "out": grid(out), "calls": calls})
    check_thresholds_told_apart(b, cases)
    cases["fill"] = fill_cases(rng, b)
    cases["tiles"] = tiles_case()
    cases["encode_tiled"] = encode_tiles_case()
    cases["outpaint_pixel_draft"] = pixel_draft_cases()
    cases["held_positions"] = held_positions_cases()
    cases["decode_tokens"] = decode_tokens_cases()
    return cases


def write(path):
    with open(path, "w") as f:
        json.dump(edit_cases(), f)


if __name__ == "__main__":
    write(sys.argv[1] if len(sys.argv) > 1 else "edit-cases.json")
