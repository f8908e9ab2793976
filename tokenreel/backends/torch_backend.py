"""The PyTorch server model as a runtime backend: the float32 reference every export is checked against."""
import numpy as np
import torch

from ..models.weights import DEFAULT_TOKENIZER, load_tokenizer


class TorchTokenizer:
    latents_per_call = 4

    def __init__(self, weights=None):
        self.model, meta = load_tokenizer(weights or DEFAULT_TOKENIZER)
        self.tokenizer_id, self.tokenizer_sha256 = meta["id"], meta["sha256"]
        cfg = self.model.cfg
        self.bits, self.spatial, self.group = cfg.bits, cfg.spatial_factor, cfg.group

    @torch.inference_mode()
    def encode_step(self, frames, state):
        z, state = self.model.encoder(torch.from_numpy(frames)[None], state)
        return z[0].numpy(), state

    @torch.inference_mode()
    def decode_step(self, latents, state):
        first = state is None
        x, state = self.model.decoder(torch.from_numpy(latents)[None], state, first=first)
        return x[0].numpy(), state
