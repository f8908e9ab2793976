"""The server tokenizer: geometry, causality, no Conv3d, and streaming that equals whole-clip encoding."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from tokenreel.models.tokenizer import Tokenizer, TokenizerConfig
from tokenreel.runtime.tokenizing import decode_tokens, encode_frames, held_positions, to_float
from tokenreel.runtime.tokens import bits_of, latents_of, quantize, tokens_of
from tokenreel.runtime.video import read_video

TINY = TokenizerConfig(bits=12, ch1=16, ch2=32, enc_blocks=(1, 1), dec_blocks=(1, 1), norm_groups=8)


def test_geometry_17_frames_128px_to_5x16x16():
    model = Tokenizer(TINY).eval()
    x = torch.rand(1, 17, 3, 128, 128) * 2 - 1
    tokens = model.encode(x)
    assert tokens.shape == (1, 5, 16, 16) and int(tokens.max()) < 2 ** TINY.bits
    assert model.decode(tokens).shape == (1, 17, 3, 128, 128)
    # fully convolutional: any size divisible by 8
    assert model.encode(torch.zeros(1, 9, 3, 40, 72)).shape == (1, 3, 5, 9)


def test_no_conv3d_and_per_frame_norms_only():
    model = Tokenizer()
    kinds = {type(m).__name__ for m in model.modules()}
    assert "Conv3d" not in kinds and "BatchNorm2d" not in kinds and "GroupNorm" in kinds


def test_causal_in_time():
    torch.manual_seed(0)
    model = Tokenizer(TINY).eval()
    x = torch.rand(1, 17, 3, 32, 32) * 2 - 1
    y = x.clone()
    y[:, 9:] = torch.rand_like(y[:, 9:])  # change frames 9.. = latent frames 3, 4
    zx, _ = model.encoder(x)
    zy, _ = model.encoder(y)
    assert torch.equal(zx[:, :3], zy[:, :3]) and not torch.equal(zx[:, 3:], zy[:, 3:])


def test_token_bit_packing_matches_the_model():
    model = Tokenizer(TINY)
    z = torch.randn(2, 3, TINY.bits, 4, 5)
    q = model.quantizer.quantize(z)
    tokens = model.quantizer.tokens(z)
    assert torch.equal(model.quantizer.latents(tokens), q)
    assert np.array_equal(quantize(z[0].numpy()), tokens[0].numpy())
    assert np.array_equal(latents_of(tokens[0].numpy(), TINY.bits), q[0].numpy())
    assert np.array_equal(tokens_of(bits_of(tokens.numpy(), TINY.bits)), tokens.numpy())


def test_fsq_tokens_pack_codes_and_match_the_runtime():
    levels = (8, 8, 4, 2)                                       # 3 + 3 + 2 + 1 = 9 bits
    model = Tokenizer(replace(TINY, bits=9, levels=levels)).eval()
    x = torch.rand(1, 9, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        z, _ = model.encoder(x)
        q, _ = model.quantizer(z)
    assert z.shape[2] == 4 and z.min() > -4.01 and z.max() < 3.01           # bounded in the graph
    tokens = model.encode(x)
    assert int(tokens.min()) >= 0 and int(tokens.max()) < 2 ** 9
    assert np.array_equal(quantize(z[0].numpy(), levels), tokens[0].numpy())
    latents = latents_of(tokens[0].numpy(), 9, levels)
    assert np.allclose(latents, q[0].numpy()) and np.array_equal(latents, model.quantizer.latents(tokens)[0].numpy())
    # channel 0 is the lowest 3 bits: code = rounded value + 4
    assert np.array_equal(tokens[0].numpy() & 7, np.rint(z[0, :, 0].numpy()).astype(int) + 4)
    # the extreme levels: token 0 and 2^9 - 1, decoding to -1 and (L/2 - 1) / (L/2)
    extremes = quantize(np.array([[-4, -4, -2, -1], [3, 3, 1, 0]], np.float32)[:, :, None, None], levels)
    assert extremes[:, 0, 0].tolist() == [0, 511]
    assert latents_of(extremes, 9, levels)[:, :, 0, 0].tolist() == [[-1, -1, -1, -1], [0.75, 0.75, 0.5, 0]]


def test_fsq_levels_must_pack_as_bits():
    with pytest.raises(ValueError, match="not a power of two"):
        TokenizerConfig(bits=15, levels=(8, 8, 8, 5, 4))          # 3+3+3+2+2 would sum right; 5 cannot pack
    with pytest.raises(ValueError, match="sum to 6 bits, not 18"):
        TokenizerConfig(bits=18, levels=(8, 8))


class OneLatentPerCall:
    """The shipped backend, restricted to one latent frame per call like the exported step models."""
    def __init__(self, backend):
        self.b = backend
        self.latents_per_call = 1
        self.bits, self.group, self.spatial, self.levels = backend.bits, backend.group, backend.spatial, ()

    def encode_step(self, frames, state):
        return self.b.encode_step(frames, state)

    def decode_step(self, latents, state):
        return self.b.decode_step(latents, state)


def test_streaming_equals_whole_clip_on_a_real_clip(backend, bikes):
    frames = read_video(bikes, short_side=128, multiple=8, max_frames=33).frames  # 33 frames -> 9 latent
    with torch.inference_mode():
        z_whole, _ = backend.model.encoder(torch.from_numpy(to_float(frames))[None])
    z_whole = z_whole[0].numpy()
    whole = quantize(z_whole)
    stream = encode_frames(OneLatentPerCall(backend), iter(frames))
    assert stream.frames == 33 and stream.tokens.shape == whole.shape == (9, 16, 38)
    differ = bits_of(stream.tokens, backend.bits) != bits_of(whole, backend.bits)
    # the only difference allowed: a latent within float rounding of zero whose sign flips
    flips = int(differ.sum())
    near_zero = np.abs(np.moveaxis(z_whole, 1, -1)[differ])
    print(f"bit flips between streaming and whole-clip encoding: {flips} of {differ.size}")
    assert flips <= differ.size * 1e-3 and (near_zero < 1e-4).all()

    # decoding: one latent frame per call gives the whole-clip frames
    streamed = np.stack(list(decode_tokens(OneLatentPerCall(backend), whole, 33, hold=False)))
    with torch.inference_mode():
        ref = backend.model.decode(torch.from_numpy(whole).long()[None])[0].numpy()
    ref_u8 = np.clip(np.rint((ref.transpose(0, 2, 3, 1) + 1) * 127.5), 0, 255)
    assert streamed.shape == (33, 128, 304, 3)
    assert np.abs(streamed.astype(int) - ref_u8).max() <= 1


def test_streaming_state_does_not_grow(backend, bikes):
    frames = read_video(bikes, short_side=64, multiple=8, max_frames=41).frames
    sizes = []
    state = None
    for i, buf in enumerate([frames[:1]] + [frames[1 + 4 * k: 5 + 4 * k] for k in range(10)]):
        _, state = backend.encode_step(to_float(buf), state)
        sizes.append(sum(s.numel() for s in state))
    assert len(set(sizes)) == 1


def test_replicated_causal_start_holds_a_still_from_the_first_latent_frame():
    """causal_start="replicate": a held frame gives the same latent at every latent frame, the first included
    (zeros as the state before the video need several latent frames to settle); streaming stays exact."""
    from tokenreel.models.tokenizer import Tokenizer, TokenizerConfig
    torch.manual_seed(0)
    tiny = dict(bits=12, ch1=32, ch2=32, enc_blocks=(1, 1), dec_blocks=(1, 1), norm_groups=8)
    still = torch.rand(1, 1, 3, 32, 32).expand(1, 17, 3, 32, 32) * 2 - 1
    for start, holds in (("replicate", True), ("zeros", False)):
        model = Tokenizer(TokenizerConfig(**tiny, causal_start=start)).eval()
        with torch.no_grad():
            z, _ = model.encoder(still)
        same = torch.allclose(z[:, 1:], z[:, :1].expand_as(z[:, 1:]), atol=1e-5)
        assert same == holds, start
    model = Tokenizer(TokenizerConfig(**tiny, causal_start="replicate")).eval()
    clip = torch.rand(1, 9, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        whole, _ = model.encoder(clip)
        first, states = model.encoder(clip[:, :5])
        rest, _ = model.encoder(clip[:, 5:], states)
    assert torch.allclose(whole, torch.cat([first, rest], 1), atol=1e-5)


def test_held_positions_need_their_neighbours_to_repeat_too():
    prev = np.arange(30).reshape(5, 6)
    cur = prev.copy()
    cur[2, 3] = 99
    held = held_positions(cur, prev)
    assert not held[1:4, 2:5].any() and held.sum() == 30 - 9
    assert held_positions(prev, prev).all() and not held_positions(prev + 1, prev).any()


def test_decoding_holds_blocks_whose_tokens_repeat(backend):
    rng = np.random.default_rng(0)
    first = rng.integers(0, 2 ** backend.bits, (6, 8))
    grid = np.repeat(first[None], 4, 0)
    grid[3, 0, 0] ^= 1                                          # one token changes in the last latent frame
    held = np.stack(list(decode_tokens(backend, grid, 13)))
    free = np.stack(list(decode_tokens(backend, grid, 13, hold=False)))
    assert (held[1:9] == held[0]).all()                         # latent frames 1-2 repeat 0: frame 0 held
    assert not (free[1:9] == free[0]).all()                     # the decoder alone pulses
    # latent frame 3 (frames 9-12): only the 2x2 blocks within one position of (0, 0) are decoded anew
    assert (held[9:, 16:] == held[0, 16:]).all() and (held[9:, :, 16:] == held[0, :, 16:]).all()
    assert (held[9:, :16, :16] == free[9:, :16, :16]).all()
