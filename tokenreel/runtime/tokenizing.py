"""Video <-> token grid through a tokenizer backend, streaming: one group of latent frames per call, so
memory stays constant however long the video is."""
from dataclasses import dataclass

import numpy as np

from .backend import TokenizerBackend
from .tokens import latents_of, quantize


@dataclass
class Encoded:
    tokens: np.ndarray      # (T', H', W') int32
    frames: int             # real frames (the last group may have been padded by repeating the last frame)


def to_float(frames_u8):
    """(F, H, W, 3) uint8 -> (F, 3, H, W) float32 in [-1, 1]."""
    return np.ascontiguousarray(frames_u8.transpose(0, 3, 1, 2), dtype=np.float32) / 127.5 - 1


def to_uint8(frames):
    """(F, 3, H, W) float in [-1, 1] -> (F, H, W, 3) uint8."""
    return np.clip(np.rint((frames.transpose(0, 2, 3, 1) + 1) * 127.5), 0, 255).astype(np.uint8)


def frame_groups(frames, group, per_call):
    """Yield lists of frames: the first frame plus per_call-1 groups, then per_call groups at a time.

    A short final list is padded by repeating the last frame up to whole groups."""
    buf, first = [], True
    for f in frames:
        buf.append(f)
        if len(buf) == (1 if first else 0) + group * (per_call - (1 if first else 0)):
            yield buf
            buf, first = [], False
    if buf:
        pad = (-(len(buf) - (1 if first else 0))) % group
        yield buf + [buf[-1]] * pad


def encode_calls(backend: TokenizerBackend, frames, progress=None):
    """Encode uint8 (H, W, 3) frames as they come: yield (tokens (n, H', W') int32, frames) per encoder
    call, the latent frames it made and the real video frames they stand for (not the padding that filled
    the last group). The one encoding loop: memory holds one call's frames and the encoder's state.

    `progress(n)` is called after each call with the number of frames it took."""
    real = 0

    def counted():
        nonlocal real
        for f in frames:
            real += 1
            yield f
    state, done = None, 0
    # frame_groups reads no frame past the group it yields, so `real` counts exactly this call's frames
    for buf in frame_groups(counted(), backend.group, backend.latents_per_call):
        latent, state = backend.encode_step(to_float(np.stack(buf)), state)
        if progress:
            progress(len(buf))
        yield quantize(latent, backend.levels), real - done
        done = real


def encode_frames(backend: TokenizerBackend, frames, progress=None):
    """frames: iterable of uint8 (H, W, 3) -> Encoded, or None if there were no frames (encode_calls)."""
    calls = list(encode_calls(backend, frames, progress))
    if not calls:
        return None
    return Encoded(np.concatenate([tokens for tokens, _ in calls]), sum(n for _, n in calls))


HOLD_RADIUS = 1     # token positions around a held one that must repeat too


def held_positions(tokens, prev_tokens, radius=HOLD_RADIUS):
    """(H', W') bool: positions whose token, and every token within `radius`, repeats the previous latent
    frame's. The decoder turns one latent frame into 4 frames that differ a little even when nothing moves
    (a pulse at every group); where the tokens held still, the decoded pixels should too."""
    same = np.pad(tokens == prev_tokens, radius, constant_values=True)
    H, W = tokens.shape
    held = np.ones((H, W), bool)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            held &= same[dy:dy + H, dx:dx + W]
    return held


def decode_tokens(backend: TokenizerBackend, tokens, frames=None, hold=True):
    """Yield uint8 (H, W, 3) frames for a (T', H', W') token grid, stopping after `frames` real frames.

    hold: through hold_still (hold=False: the decoder's own frames)."""
    decoded = _decoded(backend, tokens, frames)
    return hold_still(decoded, tokens, backend.group, backend.spatial) if hold else decoded


def _decoded(backend, tokens, frames):
    state, emitted = None, 0
    k = backend.latents_per_call
    for t in range(0, len(tokens), k):
        out, state = backend.decode_step(latents_of(tokens[t:t + k], backend.bits, backend.levels), state)
        for f in to_uint8(out):
            if frames is not None and emitted >= frames:
                return
            emitted += 1
            yield f


def hold_still(frames, tokens, group, spatial):
    """Decoded frames (uint8, in order from a video's first) with still blocks held: the pixels of a latent
    frame's 8x8 blocks whose tokens repeat (held_positions) are the previous frame's, like a codec's skip
    blocks. Frame i stands for latent frame (i + group - 1) // group (the first latent frame is one frame).
    On the validation clips (the v2 candidate) this changes PSNR by 0.01 dB and takes a held still's worst
    frame-to-frame change from 0.81 grey levels to 0 (the model card)."""
    last, mask, mask_latent = None, None, 0
    for i, f in enumerate(frames):
        latent = (i + group - 1) // group
        if latent != mask_latent:    # one mask per latent frame, for its frames
            held = held_positions(tokens[latent], tokens[latent - 1])
            mask = np.repeat(np.repeat(held, spatial, 0), spatial, 1)[..., None] if held.any() else None
            mask_latent = latent
        if mask is not None:
            f = np.where(mask, last, f)
        last = f.copy()              # a caller may draw on what it is given
        yield f


def without_padding(frames, real, padded):
    """Frames of an extended grid minus the source's padding: the encoder filled the source's last group
    by repeating its last frame, so positions [real, padded) of the decoded stream are those repeats."""
    for i, f in enumerate(frames):
        if not real <= i < padded:
            yield f
