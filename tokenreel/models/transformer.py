"""Masked video-token transformer (MaskGIT / MAGVIT style), the PyTorch server model.

One call: a fixed window of T x H x W tokens (default 5 x 16 x 16 = 1280: 17 frames at 128 px), each token
given as `splits` sub-tokens (18 bits -> 9 + 9, as MAGVIT-v2 / Open-MAGVIT2 do), with sub-token id
2**bits_per_split meaning [MASK]; out come logits per sub-token, one small head each.

Written for export: static shapes, attention as explicit matmul + softmax (SDPA / nn.MultiheadAttention
bring mask logic that stays off the XNNPACK delegate), no data-dependent control flow. Training switches on
`fused_kernels` (SDPA and torch's tanh GELU: the same maths, 1.7x and 1.8x faster per bf16 step on 2 CPU
cores); exports never do.
"""
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import JsonConfig


@dataclass
class TransformerConfig(JsonConfig):
    bits: int = 18
    splits: int = 2            # sub-tokens per token
    window: tuple = (5, 16, 16)  # latent frames, rows, columns
    dim: int = 256
    layers: int = 5             # 4.5 M parameters: 9 MB in fp16 beside the 17.7 MB tokenizer
    heads: int = 4
    mlp: int = 4
    dropout: float = 0.0

    @property
    def sub_bits(self):
        return self.bits // self.splits

    @property
    def vocab(self):
        return 2 ** self.sub_bits

    @property
    def mask_id(self):
        return self.vocab

    @property
    def tokens(self):
        return math.prod(self.window)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.heads = cfg.heads
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)
        self.fused = False  # SDPA for training speed; the explicit form below is what exports

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        if self.fused:
            return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, N, C))
        # 3-D bmm over (batch x heads): a 4-D `@` lowers to expand_copy + bmm, and ExecuTorch runs those
        # expand copies of the (N, N) scores on its portable kernels (~20% of the call)
        d = C // self.heads
        q, k, v = (t.reshape(B * self.heads, N, d) for t in (q, k, v))
        att = torch.bmm(q, k.transpose(1, 2)) * (1.0 / math.sqrt(d))
        y = torch.bmm(att.softmax(-1), v).reshape(B, self.heads, N, d)
        return self.proj(y.transpose(1, 2).reshape(B, N, C))


class TanhGELU(nn.Module):
    """GELU, tanh approximation, written out. ExecuTorch's XNNPACK delegate takes nn.GELU(approximate="tanh")
    but computes the exact-erf GELU (76 dB apart: enough to change sampled tokens), and leaves the fp16
    GELU on the portable kernels; this form lowers to XNNPACK tanh/mul/add at both precisions and matches
    torch's to ~160 dB."""
    C = math.sqrt(2 / math.pi)
    fused = False  # torch's own kernel for training: the written-out muls are 37% of an unfused step

    def forward(self, x):
        if self.fused:
            return F.gelu(x, approximate="tanh")
        return 0.5 * x * (1 + torch.tanh(self.C * (x + 0.044715 * x * x * x)))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.dim)
        self.attn = Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.dim)
        self.mlp = nn.Sequential(nn.Linear(cfg.dim, cfg.mlp * cfg.dim), TanhGELU(),
                                 nn.Linear(cfg.mlp * cfg.dim, cfg.dim))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class MaskedTransformer(nn.Module):
    def __init__(self, cfg: TransformerConfig = TransformerConfig()):
        super().__init__()
        self.cfg = cfg
        T, H, W = cfg.window
        self.sub_emb = nn.ModuleList(nn.Embedding(cfg.vocab + 1, cfg.dim) for _ in range(cfg.splits))
        self.pos_t = nn.Parameter(torch.zeros(T, 1, 1, cfg.dim))
        self.pos_h = nn.Parameter(torch.zeros(1, H, 1, cfg.dim))
        self.pos_w = nn.Parameter(torch.zeros(1, 1, W, cfg.dim))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.ln_f = nn.LayerNorm(cfg.dim)
        self.heads = nn.ModuleList(nn.Linear(cfg.dim, cfg.vocab) for _ in range(cfg.splits))
        self.apply(self._init)
        for p in (self.pos_t, self.pos_h, self.pos_w):
            nn.init.normal_(p, std=0.02)

    def fused_kernels(self, on=True):
        for block in self.blocks:
            block.attn.fused = block.mlp[1].fused = on
        return self

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, sub_tokens):
        """sub_tokens: (B, splits, N) int64, N = T*H*W in (t, y, x) order, mask_id where unknown.
        Returns logits (B, splits, N, vocab)."""
        cfg = self.cfg
        x = sum(emb(sub_tokens[:, i]) for i, emb in enumerate(self.sub_emb))
        x = x + (self.pos_t + self.pos_h + self.pos_w).reshape(1, cfg.tokens, cfg.dim)
        for block in self.blocks:
            x = block(x)
        x = self.ln_f(x)
        return torch.stack([head(x) for head in self.heads], 1)


def split_tokens(tokens, cfg: TransformerConfig):
    """(..., N) int tokens -> (..., splits, N) sub-tokens, lowest bits first."""
    shifts = torch.arange(cfg.splits, device=tokens.device) * cfg.sub_bits
    return (tokens.unsqueeze(-2) >> shifts[:, None]) & (cfg.vocab - 1)
