"""Token <-> bit conversions (numpy). A token is a D-bit integer; bit i is the sign of latent channel i
(1 for >= 0). The transformer sees it as sub-tokens: consecutive groups of bits, lowest bits first."""
import numpy as np


def bits_of(tokens: np.ndarray, bits: int) -> np.ndarray:
    """(...) int -> (..., bits) uint8 of 0/1, bit 0 first."""
    return ((tokens[..., None].astype(np.int64) >> np.arange(bits)) & 1).astype(np.uint8)


def tokens_of(bit_array: np.ndarray) -> np.ndarray:
    """(..., bits) 0/1 -> (...) int32 tokens."""
    return (bit_array.astype(np.int64) << np.arange(bit_array.shape[-1])).sum(-1).astype(np.int32)


def latents_of(tokens: np.ndarray, bits: int) -> np.ndarray:
    """(T, H, W) tokens -> (T, bits, H, W) float32 of +-1: the decoder's input."""
    return np.moveaxis(bits_of(tokens, bits), -1, 1).astype(np.float32) * 2 - 1


def quantize(latent: np.ndarray) -> np.ndarray:
    """(T, bits, H, W) float pre-quantization latent -> (T, H, W) tokens (LFQ: sign of each channel)."""
    return tokens_of(np.moveaxis(latent >= 0, 1, -1))


def sub_tokens_of(tokens: np.ndarray, known: np.ndarray, splits: int, sub_bits: int, mask_id: int) -> np.ndarray:
    """(N,) tokens -> (splits, N) int64 sub-tokens, lowest bits first, mask_id where not known."""
    shifts = np.arange(splits, dtype=np.int64)[:, None] * sub_bits
    sub = (np.asarray(tokens, dtype=np.int64)[None, :] >> shifts) & ((1 << sub_bits) - 1)
    sub[:, ~known] = mask_id
    return sub
