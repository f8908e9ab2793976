"""ONNX Runtime backends, loaded from an export folder through its manifest (no torch)."""
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..runtime import manifest as manifest_io


def _session(folder, entry, threads):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(Path(folder) / entry["file"]), opts, providers=["CPUExecutionProvider"])


class _Step:
    """One step model with explicit state: zeros at the start of a video, then what it returned."""

    def __init__(self, folder, entry, threads):
        self.session = _session(folder, entry, threads)
        self.entry = entry
        self.first_input = entry["inputs"][0]
        self.state_inputs = [i for i in entry["inputs"][1:]]

    def __call__(self, x, state):
        first = state is None
        if first:
            state = [np.zeros(i["shape"], np.float32) for i in self.state_inputs]
        feeds = {self.first_input["name"]: x[None].astype(np.float32)}
        feeds.update({i["name"]: s for i, s in zip(self.state_inputs, state)})
        out = self.session.run(None, feeds)
        return out[0][0], out[1:], first


class OnnxTokenizer:
    latents_per_call = 1

    def __init__(self, folder, precision="fp32", threads=None):
        m = manifest_io.read(folder)
        g = m["geometry"]
        self.bits, self.spatial, self.group = g["bits"], g["spatial"], g["group"]
        self.frame_size = tuple(g["frame_size"])
        self.tokenizer_id = m["weights"]["tokenizer"]["id"]
        self.tokenizer_sha256 = m["weights"]["tokenizer"]["sha256"]
        self.encoder = _Step(folder, manifest_io.find(m, "encoder_step", "onnx", precision), threads)
        self.decoder = _Step(folder, manifest_io.find(m, "decoder_step", "onnx", precision), threads)

    def _check(self, h, w):
        if (w, h) != self.frame_size:
            raise UserError(f"the ONNX encoder was exported for {self.frame_size[0]}x{self.frame_size[1]} frames, "
                            f"not {w}x{h}; export at that size or choose --size to match")

    def encode_step(self, frames, state):
        self._check(*frames.shape[-2:])
        if state is None:  # the first frame stands alone: it fills its group, as in the server model
            frames = np.repeat(frames[:1], self.group, axis=0)
        latent, state, _ = self.encoder(frames, state)
        return latent, state

    def decode_step(self, latents, state):
        frames, state, first = self.decoder(latents, state)
        return (frames[self.group - 1:] if first else frames), state


class OnnxTransformer:
    def __init__(self, folder, precision="fp32", threads=None):
        m = manifest_io.read(folder)
        g = m["geometry"]
        if "window" not in g:
            raise UserError(f"{folder}: the export holds no transformer; export one with --transformer")
        self.window, self.bits, self.splits = tuple(g["window"]), g["bits"], g["splits"]
        self.sub_bits, self.mask_id = g["sub_bits"], g["mask_id"]
        self.tokenizer_sha256 = m["weights"]["tokenizer"]["sha256"]
        self.session = _session(folder, manifest_io.find(m, "transformer", "onnx", precision), threads)

    def logits(self, sub_tokens):
        return self.session.run(None, {"sub_tokens": sub_tokens[None].astype(np.int64)})[0][0]
