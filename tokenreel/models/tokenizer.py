"""Causal LFQ video tokenizer (MAGVIT-v2 geometry), the PyTorch server model.

Frames (B, F, 3, H, W) in [-1, 1] with F = 1 + 4n become tokens (B, 1 + n, H/8, W/8): the first frame
alone, then every group of 4 frames, is one latent frame. Each token is a `bits`-bit integer: with LFQ
(lookup-free quantization, the default) one bit per latent channel, the channel's sign; with FSQ (finite
scalar quantization, `levels`) each latent channel rounds to one of L levels and the token packs the
channels' codes, log2(L) bits each.

How the geometry is reached cheaply and exportably:
- time-to-depth: the first frame is repeated to fill a group of 4, and each group of 4 frames is stacked in
  channels; space-to-depth 4x4 (pixel_unshuffle) does the same in space, so all convs run at 1/4 resolution
  at the latent frame rate (like Cosmos's patching);
- temporal mixing between latent frames is a *causal* conv over `taps` frames, written as one Conv2d over
  the channel-stacked taps (a sum of 2-D convs): no Conv3d anywhere, and the previous frames are explicit
  state, so streaming one latent frame per call is exact;
- GroupNorm runs on (B*T, C, H, W), i.e. per frame, so streaming statistics equal whole-clip ones.
"""
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import JsonConfig


def fsq_bits(levels):
    return sum(L.bit_length() - 1 for L in levels)


@dataclass
class TokenizerConfig(JsonConfig):
    bits: int = 18              # D: latent channels = bits per token (MAGVIT-v2: 18)
    patch: int = 4              # space-to-depth factor at the input
    group: int = 4              # frames per latent frame (after the first)
    ch1: int = 96               # channels at 1/4 resolution
    ch2: int = 192              # channels at 1/8 resolution (the token grid)
    enc_blocks: tuple = (1, 2)  # residual blocks at 1/4 and 1/8 resolution
    dec_blocks: tuple = (3, 2)  # decoder: at 1/8 then 1/4 resolution
    taps: int = 3               # temporal taps of each block's causal conv
    norm_groups: int = 16
    # what the causal convs see before a video's first frame: "zeros" (v1), or "replicate": that first
    # frame's own features, as if it had always been there, so a still encodes to the same tokens from
    # the first latent frame on (zeros need ~3 latent frames to settle)
    causal_start: str = "zeros"
    # FSQ: levels per latent channel, powers of two whose log2 sum to `bits` (so tokens pack as bits and
    # the sub-token split, the .trl coder and the ports are unchanged); () is LFQ, one channel per bit
    levels: tuple = ()

    def __post_init__(self):
        if any(L < 2 or L & (L - 1) for L in self.levels):
            raise ValueError(f"FSQ levels {self.levels}: a level count is not a power of two (>= 2)")
        if self.levels and fsq_bits(self.levels) != self.bits:
            raise ValueError(f"FSQ levels {self.levels} sum to {fsq_bits(self.levels)} bits, not {self.bits}")

    @property
    def spatial_factor(self):
        return self.patch * 2

    @property
    def latent_channels(self):
        return len(self.levels) if self.levels else self.bits


class CausalConv(nn.Module):
    """k x k spatial conv over `taps` consecutive frames; output t sees frames t-taps+1 .. t.

    Input (B, T, C, H, W). `state` holds the taps-1 frames before x; at the start of a video (None) it is
    zeros or, with `replicate`, x's first frame repeated."""

    def __init__(self, cin, cout, k=3, taps=1, stride=1, replicate=False):
        super().__init__()
        self.taps, self.replicate = taps, replicate
        self.conv = nn.Conv2d(cin * taps, cout, k, stride, padding=k // 2)

    def state_shape(self, cin, h, w):
        return (self.taps - 1, cin, h, w)

    def forward(self, x, state=None):
        B, T = x.shape[:2]
        if self.taps == 1:
            return self.conv(x.flatten(0, 1)).unflatten(0, (B, T)), None
        if state is None:
            state = self.start_state(x)
        xs = torch.cat([state, x], 1)
        stacked = torch.cat([xs[:, i:i + T] for i in range(self.taps)], 2)
        y = self.conv(stacked.flatten(0, 1)).unflatten(0, (B, T))
        return y, xs[:, T:]

    def start_state(self, x):
        if self.replicate:
            return x[:, :1].expand(-1, self.taps - 1, -1, -1, -1)
        return x.new_zeros((x.shape[0], self.taps - 1) + x.shape[2:])


def start_calls(module):
    """Step calls that turn zero causal states into a `replicate` start: the same first input fed this many
    times first. Each causal conv of taps k is exact once its last k-1 inputs are, so the convs in series
    need sum(k-1) calls; after them every state holds the first input's own features, as if it had always
    been there, which is what the server model's `replicate` start computes. 0 for a `zeros` start."""
    convs = [m for m in module.modules() if isinstance(m, CausalConv) and m.taps > 1]
    return sum(m.taps - 1 for m in convs) if any(m.replicate for m in convs) else 0


def frame_norm(channels, groups):
    return nn.GroupNorm(groups, channels, eps=1e-5)


def per_frame(fn, x):
    """Apply a 2-D op to every frame of (B, T, C, H, W)."""
    return fn(x.flatten(0, 1)).unflatten(0, x.shape[:2])


class ResBlock(nn.Module):
    def __init__(self, ch, taps, groups, replicate=False):
        super().__init__()
        self.norm1 = frame_norm(ch, groups)
        self.conv1 = CausalConv(ch, ch, 3, taps, replicate=replicate)
        self.norm2 = frame_norm(ch, groups)
        self.conv2 = CausalConv(ch, ch, 3, 1)

    def forward(self, x, state=None):
        h, state = self.conv1(per_frame(lambda t: F.silu(self.norm1(t)), x), state)
        h, _ = self.conv2(per_frame(lambda t: F.silu(self.norm2(t)), h))
        return x + h, state


def res_blocks(ch, n, cfg):
    return nn.ModuleList(ResBlock(ch, cfg.taps, cfg.norm_groups, cfg.causal_start == "replicate") for _ in range(n))


def run_blocks(blocks, x, states, new_states):
    for block in blocks:
        x, s = block(x, None if states is None else states[len(new_states)])
        new_states.append(s)
    return x


class Encoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        c = cfg
        self.cfg = cfg
        cin = 3 * c.group * c.patch * c.patch
        self.conv_in = nn.Conv2d(cin, c.ch1, 3, padding=1)
        self.blocks1 = res_blocks(c.ch1, c.enc_blocks[0], c)
        self.down = nn.Conv2d(c.ch1, c.ch2, 3, stride=2, padding=1)
        self.blocks2 = res_blocks(c.ch2, c.enc_blocks[1], c)
        self.norm_out = frame_norm(c.ch2, c.norm_groups)
        self.conv_out = nn.Conv2d(c.ch2, c.latent_channels, 1)

    def patchify(self, frames):
        """(B, F, 3, H, W), F = 1 + 4n (or 4n when continuing a stream) -> (B, T', 3*4*p*p, H/p, W/p)."""
        B, Fr = frames.shape[:2]
        g = self.cfg.group
        if Fr % g:  # the first frame of a video stands alone: repeat it to fill its group
            frames = torch.cat([frames[:, :1].expand(-1, g - Fr % g, -1, -1, -1), frames], 1)
        x = per_frame(lambda t: F.pixel_unshuffle(t, self.cfg.patch), frames)
        return x.reshape(B, x.shape[1] // g, g * x.shape[2], x.shape[3], x.shape[4])

    def forward(self, frames, states=None):
        new_states = []
        x = per_frame(self.conv_in, self.patchify(frames))
        x = run_blocks(self.blocks1, x, states, new_states)
        x = per_frame(self.down, x)
        x = run_blocks(self.blocks2, x, states, new_states)
        z = per_frame(lambda t: self.conv_out(F.silu(self.norm_out(t))), x)
        if self.cfg.levels:  # bounded in the graph, so every backend's latent only needs rounding
            z = FSQ.bound(z, self.cfg.levels)
        return z, new_states


class Decoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        c = cfg
        self.cfg = cfg
        self.conv_in = nn.Conv2d(c.latent_channels, c.ch2, 3, padding=1)
        self.blocks2 = res_blocks(c.ch2, c.dec_blocks[0], c)
        self.up = nn.Conv2d(c.ch2, c.ch1 * 4, 3, padding=1)  # then pixel_shuffle(2): no resize op needed
        self.blocks1 = res_blocks(c.ch1, c.dec_blocks[1], c)
        self.norm_out = frame_norm(c.ch1, c.norm_groups)
        self.conv_out = nn.Conv2d(c.ch1, 3 * c.group * c.patch * c.patch, 3, padding=1)

    def unpatchify(self, x):
        B, T, C, h, w = x.shape
        g, p = self.cfg.group, self.cfg.patch
        x = x.reshape(B, T * g, C // g, h, w)
        return per_frame(lambda t: F.pixel_shuffle(t, p), x)

    def forward(self, q, states=None, first=True):
        """q: (B, T', latent channels, h, w), quantized. Returns frames (B, F, 3, H, W); F = 1 + 4(T'-1)
        when `first`."""
        new_states = []
        x = per_frame(self.conv_in, q)
        x = run_blocks(self.blocks2, x, states, new_states)
        x = per_frame(lambda t: F.pixel_shuffle(self.up(t), 2), x)
        x = run_blocks(self.blocks1, x, states, new_states)
        x = per_frame(lambda t: self.conv_out(F.silu(self.norm_out(t))), x)
        frames = self.unpatchify(x)
        if first:
            frames = frames[:, self.cfg.group - 1:]
        return frames, new_states


def temporal_tie_loss(quantizer, z, frames, group, still=4 / 255):
    """Where the frames of a latent step do not change, the latent's token should not either: a hinge that
    keeps z_t inside the cell of z_{t-1}'s code, `quantizer.margin` from its edge, at token positions whose
    pixels moved by less than `still` (mean abs, [-1, 1] units x 2) from the previous group's last frame to
    every frame of this group.

    z: (B, T', C, h, w); frames: (B, 1 + group*(T'-1), 3, H, W)."""
    if z.shape[1] < 2:
        return z.new_zeros(())
    B, T = z.shape[:2]
    f = frames[:, 1:].unflatten(1, (T - 1, group))                         # (B, T'-1, g, 3, H, W)
    prev = torch.cat([frames[:, :1], f[:, :-1, -1]], 1)[:, :, None]       # last frame before each group
    moved = (f - prev).abs().mean(3).amax(2)                              # (B, T'-1, H, W)
    s = z.shape[-1]
    moved = F.avg_pool2d(moved, frames.shape[-1] // s)                    # per token position
    weight = (moved < 2 * still).float()[:, :, None]
    inside = quantizer.inside(z[:, 1:].float(), z[:, :-1].float().detach())
    return (weight * F.relu(quantizer.margin - inside)).sum() / weight.sum().clamp(min=1) / z.shape[2]


class LFQ(nn.Module):
    """Lookup-free quantization: each channel -> its sign (+1 for z >= 0); token bit i = channel i's."""
    margin = 0.3    # latents this close to 0 have their bit decided by float rounding or int8 error

    def __init__(self, bits, group_bits=9):
        super().__init__()
        self.bits = bits
        self.group_bits = group_bits
        codes = torch.arange(2 ** group_bits)
        self.register_buffer("code_bits", ((codes[:, None] >> torch.arange(group_bits)) & 1).float(),
                             persistent=False)
        self.register_buffer("shifts", torch.arange(bits).view(-1, 1, 1), persistent=False)

    @staticmethod
    def quantize(z):
        return torch.where(z >= 0, 1.0, -1.0).to(z.dtype)

    @staticmethod
    def inside(z, ref):
        """Signed distance of z into the cell of ref's code (negative: outside it)."""
        return z * torch.sign(ref)

    def tokens(self, z):
        """(B, T, bits, h, w) latent -> (B, T, h, w) int64 tokens."""
        return ((z >= 0).long() << self.shifts).sum(2)

    def latents(self, tokens):
        """Tokens -> the decoder's +-1 input."""
        return ((tokens.unsqueeze(2) >> self.shifts) & 1).float() * 2 - 1

    def forward(self, z):
        """z: (B, T, bits, h, w). Returns straight-through q and the auxiliary losses."""
        q = self.quantize(z)
        q_st = z + (q - z).detach()
        commit = F.mse_loss(z, q.detach())
        # entropy terms: per-bit code probabilities p(bit=1) = sigmoid(4z) (distance to +-1 codes)
        logits = 4 * z.float().movedim(2, -1).reshape(-1, self.bits)
        lp1, lp0 = F.logsigmoid(logits), F.logsigmoid(-logits)
        p1 = lp1.exp()
        per_sample = -(p1 * lp1 + (1 - p1) * lp0).sum(-1).mean()
        # codebook usage: exact entropy of the mean code distribution within each group of bits
        usage = 0.0
        for g0 in range(0, self.bits, self.group_bits):
            sl = slice(g0, min(g0 + self.group_bits, self.bits))
            cb = self.code_bits[: 2 ** (sl.stop - sl.start), : sl.stop - sl.start]
            logp = lp1[:, sl] @ cb.T + lp0[:, sl] @ (1 - cb).T
            mean_p = logp.softmax(-1).mean(0)
            usage = usage - (mean_p * (mean_p + 1e-9).log()).sum()
        return q_st, {"commit": commit, "entropy": per_sample - usage,
                      "margin": F.relu(self.margin - self.inside(z.float(), z.float())).mean()}


class FSQ(nn.Module):
    """Finite scalar quantization (Mentzer et al., 2023): the encoder bounds channel i to about
    (-L/2, L/2 - 1) and it rounds to one of L integers; code = value + L/2, packed lowest channel in the
    lowest bits. No codebook, so no entropy or commitment loss."""
    margin = 0.15   # of a cell 1 wide

    def __init__(self, levels):
        super().__init__()
        half = torch.tensor([L // 2 for L in levels], dtype=torch.float32).view(-1, 1, 1)
        shifts = torch.tensor([0] + [L.bit_length() - 1 for L in levels[:-1]]).cumsum(0).view(-1, 1, 1)
        self.register_buffer("half_width", half, persistent=False)
        self.register_buffer("shifts", shifts, persistent=False)
        self.register_buffer("masks", torch.tensor(levels).view(-1, 1, 1) - 1, persistent=False)

    @staticmethod
    def bound(z, levels):
        """Even L only (powers of two): tanh into (-L/2, L/2 - 1), shifted so that 0 stays a level. In
        float32 even under autocast: bf16 would put latents 1/64 apart near the cell edges."""
        half_l = torch.tensor([(L - 1) * (1 + 1e-3) / 2 for L in levels], device=z.device).view(-1, 1, 1)
        shift = torch.atanh(0.5 / half_l)
        return torch.tanh(z.float() + shift) * half_l - 0.5

    @staticmethod
    def inside(z, ref):
        return 0.5 - (z - torch.round(ref)).abs()

    def tokens(self, z):
        codes = (torch.round(z.float()) + self.half_width).long()
        return (codes << self.shifts).sum(2)

    def latents(self, tokens):
        codes = (tokens.unsqueeze(2) >> self.shifts) & self.masks
        return (codes.float() - self.half_width) / self.half_width

    def forward(self, z):
        q = z + (torch.round(z) - z).detach()
        zero = z.new_zeros(())
        return q / self.half_width, {"commit": zero, "entropy": zero,
                               "margin": F.relu(self.margin - self.inside(z.float(), z.float())).mean()}


class Tokenizer(nn.Module):
    def __init__(self, cfg: TokenizerConfig = TokenizerConfig()):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quantizer = FSQ(cfg.levels) if cfg.levels else LFQ(cfg.bits)

    def forward(self, frames):
        z, _ = self.encoder(frames)
        q, aux = self.quantizer(z)
        recon, _ = self.decoder(q)
        return recon, {**aux, "latent": z}

    @torch.no_grad()
    def encode(self, frames):
        z, _ = self.encoder(frames)
        return self.quantizer.tokens(z)

    @torch.no_grad()
    def decode(self, tokens):
        frames, _ = self.decoder(self.quantizer.latents(tokens))
        return frames
