"""Backends that run an export folder (`tokenreel export`) through its manifest: ONNX Runtime, ExecuTorch
(Python runtime, XNNPACK) and Core ML (coremltools, macOS only). One engine class per format turns named
numpy inputs into numpy outputs; the tokenizer and transformer logic above them is shared. ONNX Runtime
and Core ML need no torch; ExecuTorch's Python runtime exchanges torch tensors, so only it imports torch.
"""
import platform
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..runtime import manifest as manifest_io
from ..runtime.tiles import decode_tiled


def _np_dtype(name):
    return {"float32": np.float32, "float16": np.float16, "int64": np.int64, "int32": np.int32}[name]


class OnnxEngine:
    def __init__(self, path, entry, threads=None):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def run(self, feeds):
        return self.session.run(None, feeds)


class ExecutorchEngine:
    def __init__(self, path, entry, threads=None):
        try:
            from executorch.runtime import Runtime
        except ImportError:
            raise UserError("--backend executorch needs the ExecuTorch runtime: pip install 'tokenreel[export]'")
        self.method = Runtime.get().load_program(Path(path)).load_method("forward")
        self.names = [i["name"] for i in entry["inputs"]]

    def run(self, feeds):
        import torch
        outputs = self.method.execute([torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in self.names])
        return [o.numpy() for o in outputs]


class CoremlEngine:
    def __init__(self, path, entry, threads=None):
        if platform.system() != "Darwin":
            raise UserError("--backend coreml runs Core ML models, which needs macOS; on this machine use "
                            "--backend onnx or executorch")
        import coremltools as ct
        self.model = ct.models.MLModel(str(path), compute_units=ct.ComputeUnit.ALL)
        self.output_names = [o["name"] for o in entry["outputs"]]

    def run(self, feeds):
        out = self.model.predict(feeds)
        return [np.asarray(out[n]) for n in self.output_names]


ENGINES = {"onnx": OnnxEngine, "executorch": ExecutorchEngine, "coreml": CoremlEngine}


class Artifact:
    """One exported model: feeds are cast to the dtypes its manifest entry names, outputs come back fp32."""

    def __init__(self, folder, manifest, role, fmt, precision, threads=None):
        self.entry = manifest_io.find(manifest, role, fmt, precision)
        self.engine = ENGINES[fmt](Path(folder) / self.entry["file"], self.entry, threads)
        self.inputs = self.entry["inputs"]

    def __call__(self, *arrays):
        feeds = {i["name"]: np.asarray(a, dtype=_np_dtype(i["dtype"])) for i, a in zip(self.inputs, arrays)}
        return [np.asarray(o, dtype=np.float32) for o in self.engine.run(feeds)]


class _Step:
    """One step model with explicit state: zeros at the start of a video, then what it returned."""

    def __init__(self, artifact):
        self.artifact = artifact
        self.state_shapes = [i["shape"] for i in artifact.inputs[1:]]

    def __call__(self, x, state):
        first = state is None
        if first:
            state = [np.zeros(s, np.float32) for s in self.state_shapes]
        out = self.artifact(x[None], *state)
        return out[0][0], out[1:], first


class ExportedTokenizer:
    latents_per_call = 1

    def __init__(self, folder, fmt="onnx", precision="fp32", threads=None):
        m = manifest_io.read(folder)
        g = m["geometry"]
        self.format = fmt
        self.bits, self.spatial, self.group = g["bits"], g["spatial"], g["group"]
        self.frame_size = tuple(g["frame_size"])
        self.tokenizer_id = m["weights"]["tokenizer"]["id"]
        self.tokenizer_sha256 = m["weights"]["tokenizer"]["sha256"]
        self.encoder = _Step(Artifact(folder, m, "encoder_step", fmt, precision, threads))
        self.decoder = _Step(Artifact(folder, m, "decoder_step", fmt, precision, threads))

    def _check(self, h, w):
        if (w, h) != self.frame_size:
            raise UserError(f"the {self.format} encoder was exported for {self.frame_size[0]}x{self.frame_size[1]} "
                            f"frames, not {w}x{h}; export at that size or choose --size to match")

    def encode_step(self, frames, state):
        self._check(*frames.shape[-2:])
        if state is None:  # the first frame stands alone: it fills its group, as in the server model
            frames = np.repeat(frames[:1], self.group, axis=0)
        latent, state, _ = self.encoder(frames, state)
        return latent, state

    def _decode_tile(self, latents, state):
        frames, state, first = self.decoder(latents, state)
        return (frames[self.group - 1:] if first else frames), state

    def decode_step(self, latents, state):
        tile = (self.frame_size[1] // self.spatial, self.frame_size[0] // self.spatial)
        if latents.shape[-2:] == tile:
            return self._decode_tile(latents, state)
        if latents.shape[-2] < tile[0] or latents.shape[-1] < tile[1]:
            raise UserError(f"the {self.format} decoder was exported for {self.frame_size[0]}x{self.frame_size[1]} "
                            f"frames; a {latents.shape[-1] * self.spatial}x{latents.shape[-2] * self.spatial} "
                            f"video is smaller: export at its size")
        # a larger grid (a reframed canvas): overlapping tiles of the exported size (runtime/tiles.py)
        return decode_tiled(self._decode_tile, latents, state, tile, self.spatial)


class ExportedTransformer:
    def __init__(self, folder, fmt="onnx", precision="fp32", threads=None):
        m = manifest_io.read(folder)
        g = m["geometry"]
        if "window" not in g:
            raise UserError(f"{folder}: the export holds no transformer; export one with --transformer")
        self.window, self.bits, self.splits = tuple(g["window"]), g["bits"], g["splits"]
        self.sub_bits, self.mask_id = g["sub_bits"], g["mask_id"]
        self.tokenizer_sha256 = m["weights"]["tokenizer"]["sha256"]
        self.model = Artifact(folder, m, "transformer", fmt, precision, threads)

    def logits(self, sub_tokens):
        return self.model(sub_tokens[None])[0][0]
