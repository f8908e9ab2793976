"""Causal LFQ video tokenizer (MAGVIT-v2 geometry), the PyTorch server model.

Frames (B, F, 3, H, W) in [-1, 1] with F = 1 + 4n become tokens (B, 1 + n, H/8, W/8): the first frame
alone, then every group of 4 frames, is one latent frame. Each token is a `bits`-bit integer, one bit per
latent channel (lookup-free quantization: the bit is the channel's sign).

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

    @property
    def spatial_factor(self):
        return self.patch * 2


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
        self.conv_out = nn.Conv2d(c.ch2, c.bits, 1)

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
        return z, new_states


class Decoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        c = cfg
        self.cfg = cfg
        self.conv_in = nn.Conv2d(c.bits, c.ch2, 3, padding=1)
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
        """q: (B, T', bits, h, w) of +-1. Returns frames (B, F, 3, H, W); F = 1 + 4(T'-1) when `first`."""
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


def margin_loss(z, margin=0.3):
    """Hinge on the distance to the sign boundary: a latent within `margin` of 0 has its bit decided by
    float rounding or int8 error, so backends would disagree on the token."""
    return F.relu(margin - z.float().abs()).mean()


def temporal_tie_loss(z, frames, group, margin=0.3, still=4 / 255):
    """Where the frames of a latent step do not change, the latent's sign should not either: a hinge on
    z_t * sign(z_{t-1}) at token positions whose pixels moved by less than `still` (mean abs, [-1, 1]
    units x 2) from the previous group's last frame to every frame of this group.

    z: (B, T', bits, h, w); frames: (B, 1 + group*(T'-1), 3, H, W)."""
    if z.shape[1] < 2:
        return z.new_zeros(())
    B, T = z.shape[:2]
    f = frames[:, 1:].unflatten(1, (T - 1, group))                         # (B, T'-1, g, 3, H, W)
    prev = torch.cat([frames[:, :1], f[:, :-1, -1]], 1)[:, :, None]       # last frame before each group
    moved = (f - prev).abs().mean(3).amax(2)                              # (B, T'-1, H, W)
    s = z.shape[-1]
    moved = F.avg_pool2d(moved, frames.shape[-1] // s)                    # per token position
    weight = (moved < 2 * still).float()[:, :, None]
    agree = z[:, 1:].float() * torch.sign(z[:, :-1].float()).detach()
    return (weight * F.relu(margin - agree)).sum() / weight.sum().clamp(min=1) / z.shape[2]


class LFQ(nn.Module):
    """Lookup-free quantization: each channel -> its sign (+1 for z >= 0)."""

    def __init__(self, bits, group_bits=9):
        super().__init__()
        self.bits = bits
        self.group_bits = group_bits
        codes = torch.arange(2 ** group_bits)
        self.register_buffer("code_bits", ((codes[:, None] >> torch.arange(group_bits)) & 1).float(),
                             persistent=False)

    @staticmethod
    def quantize(z):
        return torch.where(z >= 0, 1.0, -1.0).to(z.dtype)

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
        return q_st, {"commit": commit, "entropy": per_sample - usage, "margin": margin_loss(z)}


class Tokenizer(nn.Module):
    def __init__(self, cfg: TokenizerConfig = TokenizerConfig()):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.lfq = LFQ(cfg.bits)

    def forward(self, frames):
        z, _ = self.encoder(frames)
        q, aux = self.lfq(z)
        recon, _ = self.decoder(q)
        return recon, {**aux, "latent": z}

    # ---- integer tokens <-> +-1 latents (the runtime has a numpy twin of these) ----
    def bits_to_tokens(self, q):
        weights = (2 ** torch.arange(self.cfg.bits, device=q.device)).view(1, 1, -1, 1, 1)
        return ((q > 0).long() * weights).sum(2)

    def tokens_to_bits(self, tokens):
        shifts = torch.arange(self.cfg.bits, device=tokens.device).view(1, 1, -1, 1, 1)
        return ((tokens.unsqueeze(2) >> shifts) & 1).float() * 2 - 1

    @torch.no_grad()
    def encode(self, frames):
        z, _ = self.encoder(frames)
        return self.bits_to_tokens(LFQ.quantize(z))

    @torch.no_grad()
    def decode(self, tokens):
        frames, _ = self.decoder(self.tokens_to_bits(tokens))
        return frames
