"""Tiled decoding: a fixed-size exported decoder decodes a larger token grid (a reframed canvas)."""
import numpy as np

from tokenreel.runtime.tiles import _owners, _ramp, encode_tiled, tile_starts


def test_tiles_cover_and_weights_add_up():
    for length, size in [(50, 16), (28, 28), (19, 8), (100, 37)]:
        starts = tile_starts(length, size)
        covered = np.zeros(length, int)
        weight = np.zeros(length)
        for s in starts:
            covered[s:s + size] += 1
            weight[s:s + size] += _ramp(s, size, length, 4)
        assert covered.min() >= 1 and starts[-1] + size == length
        assert weight.min() > 0.1      # every position has real weight; the blend divides by it


def test_exported_decoder_decodes_a_larger_grid_like_the_server(exported, backend, bikes):
    from tokenreel.backends import tokenizer_backend
    from tokenreel.runtime.video import read_video_cropped
    from tokenreel.verify import decode, encode, psnr_db
    models, _ = exported
    onnx = tokenizer_backend("onnx", models=models, precision="fp32")
    frames = read_video_cropped(bikes, onnx.frame_size, 9).frames
    tokens, _ = encode(backend, frames)
    big = np.concatenate([tokens, tokens[:, ::-1]], axis=1)[:, :, np.r_[0:tokens.shape[2], 0:7]]  # 2 x 1.4 tiles
    server = decode(backend, big, 9)
    tiled = decode(onnx, big, 9)
    assert tiled.shape == server.shape == (9, big.shape[1] * 8, big.shape[2] * 8, 3)
    assert psnr_db(server, tiled) > 35


def test_encode_tiles_split_their_overlaps_and_keep_a_state_each():
    for length, size in [(50, 16), (28, 28), (19, 8), (100, 37)]:
        spans = _owners(length, size)
        assert spans[0][1] == 0 and spans[-1][2] == length
        for (s, lo, hi), (_, next_lo, _) in zip(spans, spans[1:] + [(0, length, 0)]):
            assert s <= lo < hi <= s + size and hi == next_lo     # each span inside its tile, no gaps
    calls = []

    def step(frames, state):       # a local "encoder": each 2x2 pixel block's mean, and a call counter
        calls.append(state)
        f = frames.reshape(frames.shape[0], 3, frames.shape[2] // 2, 2, frames.shape[3] // 2, 2)
        return f.mean(axis=(0, 1, 3, 5))[None], (state or 0) + 1
    frames = np.random.default_rng(0).standard_normal((4, 3, 2 * 19, 2 * 30)).astype(np.float32)
    latent, states = encode_tiled(step, frames, None, (8, 16), 2)
    assert np.allclose(latent[0], frames.reshape(4, 3, 19, 2, 30, 2).mean(axis=(0, 1, 3, 5)), atol=1e-6)
    latent, states = encode_tiled(step, frames, states, (8, 16), 2)
    assert set(states.values()) == {2} and len(states) == len(tile_starts(19, 8)) * len(tile_starts(30, 16))


def test_exported_encoder_drafts_a_larger_canvas_close_to_the_server(exported, backend, bikes):
    """The reframe's pixel draft encodes a canvas larger than the export over tiles (tiles.TiledEncoder)."""
    from tokenreel.backends import tokenizer_backend
    from tokenreel.runtime.tiles import TiledEncoder
    from tokenreel.runtime.tokenizing import encode_frames
    from tokenreel.runtime.video import read_video_cropped
    models, _ = exported
    onnx = tokenizer_backend("onnx", models=models, precision="fp32")
    frames = read_video_cropped(bikes, onnx.frame_size, 9).frames
    canvas = np.pad(frames, ((0, 0), (40, 40), (0, 24), (0, 0)), mode="symmetric")   # 2 x 1.x tiles
    server = encode_frames(backend, iter(canvas)).tokens
    tiled = encode_frames(TiledEncoder(onnx), iter(canvas)).tokens
    assert tiled.shape == server.shape == (3, canvas.shape[1] // 8, canvas.shape[2] // 8)
    bits = np.unpackbits(np.bitwise_xor(tiled, server).astype(">u4").view(np.uint8)).mean() * 32 / backend.bits
    assert bits < 0.02, f"{bits:.2%} of the tiled draft's bits differ from the server's"
