"""The masked transformer rewritten for the Apple Neural Engine, following apple/ml-stable-diffusion
(`ane_transformers`): activations as (B, C, 1, S) so the channel axis is the one the ANE tiles, every
linear layer a 1x1 Conv2d, LayerNorm over the channel axis, and attention split per head into einsums
("SPLIT_EINSUM") so no 5-D tensor or large transpose appears. Same weights, same maths as
`MaskedTransformer`: it loads that model's state dict (linear weights reshaped to 1x1 kernels).
Only the Core ML export uses it.
"""
import math

import torch
import torch.nn as nn

from .transformer import MaskedTransformer


class LayerNormANE(nn.Module):
    """LayerNorm over the channel axis of a (B, C, 1, S) tensor."""

    def __init__(self, ln: nn.LayerNorm):
        super().__init__()
        self.eps = ln.eps
        self.weight = nn.Parameter(ln.weight.detach().clone())
        self.bias = nn.Parameter(ln.bias.detach().clone())

    def forward(self, x):
        centred = x - x.mean(1, keepdim=True)
        scale = torch.rsqrt(centred.pow(2).mean(1, keepdim=True) + self.eps)
        return centred * scale * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def conv1x1(linear: nn.Linear):
    conv = nn.Conv2d(linear.in_features, linear.out_features, 1)
    conv.weight.data = linear.weight.detach().clone()[:, :, None, None]
    conv.bias.data = linear.bias.detach().clone()
    return conv


class AttentionANE(nn.Module):
    def __init__(self, attn):
        super().__init__()
        self.heads = attn.heads
        self.qkv = conv1x1(attn.qkv)
        self.proj = conv1x1(attn.proj)

    def forward(self, x):                                   # (B, C, 1, S)
        C = x.shape[1]
        d = C // self.heads
        q, k, v = self.qkv(x).split(C, dim=1)
        k = k.transpose(1, 3)                               # (B, S, 1, C)
        out = []
        for h in range(self.heads):
            qh, kh, vh = q[:, h * d:(h + 1) * d], k[..., h * d:(h + 1) * d], v[:, h * d:(h + 1) * d]
            w = torch.einsum("bchq,bkhc->bkhq", qh, kh) * (1.0 / math.sqrt(d))   # (B, S_k, 1, S_q)
            out.append(torch.einsum("bkhq,bchk->bchq", w.softmax(dim=1), vh))      # (B, d, 1, S_q)
        return self.proj(torch.cat(out, dim=1))


class BlockANE(nn.Module):
    def __init__(self, block):
        super().__init__()
        self.ln1, self.ln2 = LayerNormANE(block.ln1), LayerNormANE(block.ln2)
        self.attn = AttentionANE(block.attn)
        fc1, act, fc2 = block.mlp
        self.mlp = nn.Sequential(conv1x1(fc1), act, conv1x1(fc2))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class MaskedTransformerANE(nn.Module):
    """Same call as MaskedTransformer: (B, splits, N) sub-tokens -> (B, splits, N, vocab) logits."""

    def __init__(self, model: MaskedTransformer):
        super().__init__()
        self.cfg = cfg = model.cfg
        self.sub_emb = model.sub_emb
        pos = (model.pos_t + model.pos_h + model.pos_w).reshape(cfg.tokens, cfg.dim)
        self.register_buffer("pos", pos.detach().t().reshape(1, cfg.dim, 1, cfg.tokens).clone())
        self.blocks = nn.ModuleList(BlockANE(b) for b in model.blocks)
        self.ln_f = LayerNormANE(model.ln_f)
        self.heads = nn.ModuleList(conv1x1(h) for h in model.heads)

    def forward(self, sub_tokens):
        x = sum(emb(sub_tokens[:, i]) for i, emb in enumerate(self.sub_emb))   # (B, S, C)
        x = x.transpose(1, 2).unsqueeze(2) + self.pos                             # (B, C, 1, S)
        for block in self.blocks:
            x = block(x)
        x = self.ln_f(x)
        return torch.stack([head(x).squeeze(2).transpose(1, 2) for head in self.heads], 1)
