"""What is exported, once for every format: step models with explicit state, at fixed shapes.

- encoder step: 4 frames + the causal-conv states in -> one latent frame (pre-quantization) + states out.
  The first call of a video passes its first frame 4 times and zero states (exactly what the server
  model's patchify does with a lone first frame).
- decoder step: one latent frame of +-1 + states in -> 4 frames + states out; of the first call's
  output only the last frame is real.
- transformer: one window of sub-tokens in (mask id where unknown) -> sub-token logits out.
LFQ's sign and bit packing and the sub-token split stay in the runtime (numpy): cheap, exact, and not
worth an integer op set on every accelerator.
"""
from dataclasses import dataclass, field

import torch
import torch.nn as nn


class EncoderStep(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, frames, *states):
        z, new_states = self.encoder(frames, list(states))
        return (z, *new_states)


class DecoderStep(nn.Module):
    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, latent, *states):
        frames, new_states = self.decoder(latent, list(states), first=False)
        return (frames, *new_states)


class TransformerCall(nn.Module):
    def __init__(self, transformer):
        super().__init__()
        self.transformer = transformer

    def forward(self, sub_tokens):
        return self.transformer(sub_tokens)


@dataclass
class ExportSpec:
    """What one exported file is made from: the module, its fixed example inputs and its tensor names (the
    loaded, runnable file is backends.exported.ExportedModel)."""
    name: str                      # file stem and manifest key
    role: str                      # encoder_step | decoder_step | transformer
    module: nn.Module
    inputs: tuple                  # example tensors (fixed shapes)
    input_names: list
    output_names: list
    state_pairs: list = field(default_factory=list)   # (input name, output name) carried between calls


def _states(blocks_out):
    return [torch.zeros_like(s) for s in blocks_out]


@torch.no_grad()
def tokenizer_specs(tokenizer, height, width):
    cfg = tokenizer.cfg
    g = cfg.group
    frames = torch.zeros(1, g, 3, height, width)
    _, enc_states = tokenizer.encoder(frames)
    latent = torch.ones(1, 1, cfg.bits, height // cfg.spatial_factor, width // cfg.spatial_factor)
    _, dec_states = tokenizer.decoder(latent, first=False)
    out = []
    for role, module, x, states in (("encoder_step", EncoderStep(tokenizer.encoder), frames, enc_states),
                                     ("decoder_step", DecoderStep(tokenizer.decoder), latent, dec_states)):
        n = len(states)
        first = "frames" if role == "encoder_step" else "latent"
        result = "latent" if role == "encoder_step" else "frames"
        out.append(ExportSpec(
            name=f"{role}_{height}x{width}", role=role, module=module.eval(), inputs=(x, *_states(states)),
            input_names=[first] + [f"state_in_{i}" for i in range(n)],
            output_names=[result] + [f"state_out_{i}" for i in range(n)],
            state_pairs=[(f"state_in_{i}", f"state_out_{i}") for i in range(n)]))
    return out


def transformer_spec(transformer):
    cfg = transformer.cfg
    tokens = torch.full((1, cfg.splits, cfg.tokens), cfg.mask_id, dtype=torch.int64)
    return ExportSpec(name="transformer", role="transformer", module=TransformerCall(transformer).eval(),
                    inputs=(tokens,), input_names=["sub_tokens"], output_names=["logits"])
