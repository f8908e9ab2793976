"""Token <-> bit conversions (numpy). A token is a D-bit integer. LFQ: bit i is the sign of latent
channel i (1 for >= 0). FSQ (`levels`, powers of two): channel i, rounded to one of L_i integers, is
code value + L_i/2 in log2(L_i) bits, lowest channel in the lowest bits. The transformer sees a token as
sub-tokens: consecutive groups of bits, lowest bits first."""
import numpy as np


def bits_of(tokens: np.ndarray, bits: int) -> np.ndarray:
    """(...) int -> (..., bits) uint8 of 0/1, bit 0 first."""
    return ((tokens[..., None].astype(np.int64) >> np.arange(bits)) & 1).astype(np.uint8)


def tokens_of(bit_array: np.ndarray) -> np.ndarray:
    """(..., bits) 0/1 -> (...) int32 tokens."""
    return (bit_array.astype(np.int64) << np.arange(bit_array.shape[-1])).sum(-1).astype(np.int32)


def _fsq_layout(levels):
    half = np.array([L // 2 for L in levels], dtype=np.int64)[:, None, None]
    shifts = np.cumsum([0] + [L.bit_length() - 1 for L in levels[:-1]])[:, None, None]
    return half, shifts, np.array(levels, dtype=np.int64)[:, None, None] - 1


def latents_of(tokens: np.ndarray, bits: int, levels=()) -> np.ndarray:
    """(T, H, W) tokens -> (T, C, H, W) float32: the decoder's input (LFQ: C = bits, +-1)."""
    if not levels:
        return np.moveaxis(bits_of(tokens, bits), -1, 1).astype(np.float32) * 2 - 1
    half, shifts, masks = _fsq_layout(levels)
    codes = (tokens[:, None].astype(np.int64) >> shifts) & masks
    return ((codes - half) / half).astype(np.float32)


def quantize(latent: np.ndarray, levels=()) -> np.ndarray:
    """(T, C, H, W) float pre-quantization latent -> (T, H, W) tokens (LFQ: the sign of each channel; FSQ:
    the encoder has bounded it, so each channel rounds, half to even as torch.round does)."""
    if not levels:
        return tokens_of(np.moveaxis(latent >= 0, 1, -1))
    half, shifts, _ = _fsq_layout(levels)
    return ((np.rint(latent).astype(np.int64) + half) << shifts).sum(1).astype(np.int32)


def sub_tokens_of(tokens: np.ndarray, known: np.ndarray, splits: int, sub_bits: int, mask_id: int) -> np.ndarray:
    """(N,) tokens -> (splits, N) int64 sub-tokens, lowest bits first, mask_id where not known."""
    shifts = np.arange(splits, dtype=np.int64)[:, None] * sub_bits
    sub = (np.asarray(tokens, dtype=np.int64)[None, :] >> shifts) & ((1 << sub_bits) - 1)
    sub[:, ~known] = mask_id
    return sub
