"""What the runtime asks of a model backend (PyTorch server, ONNX Runtime, ExecuTorch, Core ML).

Arrays are numpy float32. Frames are (F, 3, H, W) in [-1, 1]; latents are (T', C, H/8, W/8), C = bits for
LFQ, one channel per level for FSQ.
State is opaque to the runtime: whatever the backend returned last time, or None at the start of a video.
"""
from typing import Any, Protocol

import numpy as np


class TokenizerBackend(Protocol):
    tokenizer_id: str        # names the weights' family and version
    tokenizer_sha256: str    # sha256 of the weights file: .trl files are bound to it
    bits: int                # D
    levels: tuple            # FSQ levels per latent channel; () for LFQ (runtime/tokens.py)
    spatial: int             # 8: pixels per token side
    group: int               # 4: frames per latent frame after the first
    latents_per_call: int    # how many latent frames one step call may take

    def encode_step(self, frames: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        """First call: 1 + 4k frames; later calls: 4k frames. Returns the pre-quantization latent."""

    def decode_step(self, latents: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        """Quantized latents (runtime/tokens.latents_of) -> frames; the first call's first latent frame
        gives 1 frame, every other one 4."""
