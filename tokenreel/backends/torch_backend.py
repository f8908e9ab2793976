"""The PyTorch server model as a runtime backend: the float32 reference every export is checked against."""
import torch

from ..models.weights import DEFAULT_TOKENIZER, DEFAULT_TRANSFORMER, load_tokenizer, load_transformer


class TorchTokenizer:
    def __init__(self, weights=None, latents_per_call=4):
        self.latents_per_call = latents_per_call
        self.model, meta = load_tokenizer(weights or DEFAULT_TOKENIZER)
        self.tokenizer_id, self.tokenizer_sha256 = meta["id"], meta["sha256"]
        cfg = self.model.cfg
        self.bits, self.spatial, self.group = cfg.bits, cfg.spatial_factor, cfg.group
        self.levels = cfg.levels

    @torch.inference_mode()
    def encode_step(self, frames, state):
        z, state = self.model.encoder(torch.from_numpy(frames)[None], state)
        return z[0].numpy(), state

    @torch.inference_mode()
    def decode_step(self, latents, state):
        first = state is None
        x, state = self.model.decoder(torch.from_numpy(latents)[None], state, first=first)
        return x[0].numpy(), state


class TorchTransformer:
    """The masked transformer as a runtime backend: logits for one window of sub-tokens per call."""

    def __init__(self, weights=None):
        self.model, meta = load_transformer(weights or DEFAULT_TRANSFORMER)
        cfg = self.model.cfg
        self.window, self.bits, self.splits = tuple(cfg.window), cfg.bits, cfg.splits
        self.sub_bits, self.mask_id = cfg.sub_bits, cfg.mask_id
        self.tokenizer_sha256 = meta.get("tokenizer_sha256")

    @torch.inference_mode()
    def logits(self, sub_tokens):
        return self.model(torch.from_numpy(sub_tokens)[None])[0].float().numpy()
