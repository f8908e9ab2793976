"""Tiled decoding: a fixed-size exported decoder decodes a larger token grid (a reframed canvas)."""
import numpy as np

from tokenreel.runtime.tiles import _ramp, tile_starts


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
