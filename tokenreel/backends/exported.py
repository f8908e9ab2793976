"""Backends that run an export folder (`tokenreel export`) through its manifest: ONNX Runtime, ExecuTorch
(Python runtime, XNNPACK) and Core ML (coremltools, macOS only). One engine class per format turns named
numpy inputs into numpy outputs; the tokenizer and transformer logic above them is shared. ONNX Runtime
and Core ML need no torch; ExecuTorch's Python runtime exchanges torch tensors, so only it imports torch.
"""
import platform
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..precisions import DEFAULT
from ..runtime import manifest as manifest_io
from ..runtime.tiles import decode_tiled


def _np_dtype(name):
    return {"float32": np.float32, "float16": np.float16, "int64": np.int64, "int32": np.int32}[name]


def _mismatch(path, entry, what):
    return UserError(f"{path}: the model's {what} differ from its manifest entry; re-export the folder")


def _check_interface(path, entry, inputs, outputs):
    """The loaded model's (name or None, shape or None, dtype or None) inputs and outputs, in order, against
    its manifest entry: a model that does not take what the entry says is refused before any call."""
    for what, got, want in (("inputs", inputs, entry["inputs"]), ("outputs", outputs, entry["outputs"])):
        if len(got) != len(want):
            raise _mismatch(path, entry, f"{what} ({len(got)}, the entry lists {len(want)})")
        for (name, shape, dtype), w in zip(got, want):
            if name is not None and name != w["name"]:
                raise _mismatch(path, entry, f"{what} ({name!r} where the entry has {w['name']!r})")
            if shape is not None and (len(shape) != len(w["shape"]) or any(
                    isinstance(d, int) and d != e for d, e in zip(shape, w["shape"]))):    # str / None: dynamic
                raise _mismatch(path, entry, f"{what} (shape {list(shape)} of {w['name']!r}, the entry has "
                                             f"{w['shape']})")
            if what == "inputs" and dtype is not None and dtype != w["dtype"]:      # outputs are cast to fp32
                raise _mismatch(path, entry, f"{what} ({dtype} {w['name']!r}, the entry has {w['dtype']})")


def _loading(path, fmt, load):
    """Load a model file; what its runtime raises on a damaged or foreign file becomes one line."""
    try:
        return load()
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"{path}: not a loadable {fmt} model ({e.__class__.__name__}: {str(e)[:200]}); "
                        f"re-export the folder")


_ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64",
               "tensor(int32)": "int32"}
_ET_DTYPES = {6: "float32", 5: "float16", 4: "int64", 3: "int32"}     # ExecuTorch ScalarType


def _fused(path):
    """The transformer's graph with ONNX Runtime's fused attention and GELU (onnx_fusions.py), as bytes; None
    where its graph is not the export's pattern (it then runs as it is)."""
    import onnx
    from .onnx_fusions import fuse_transformer
    try:
        model = onnx.load(str(path))
        if fuse_transformer(model) == 0:
            return None
    except Exception:           # not the export's graph, or not a model: the file is loaded (or refused) as it is
        return None
    return model.SerializeToString()


class OnnxEngine:
    def __init__(self, path, entry, threads=None):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        graph = _fused(path) if entry.get("role") == "transformer" and entry.get("precision") != "fp16" else None
        self.session = None
        if graph is not None:       # an ONNX Runtime without the contrib ops runs the file as it is
            try:
                self.session = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])
            except Exception:
                pass
        self.fused = self.session is not None   # the transformer's attention and GELU run fused (onnx_fusions.py)
        if self.session is None:
            self.session = _loading(path, "ONNX", lambda: ort.InferenceSession(str(path), opts,
                                                                               providers=["CPUExecutionProvider"]))

        def spec(args):
            return [(a.name, a.shape, _ORT_DTYPES.get(a.type, a.type)) for a in args]
        _check_interface(path, entry, spec(self.session.get_inputs()), spec(self.session.get_outputs()))

    def run(self, feeds):
        return self.session.run(None, feeds)


class ExecutorchEngine:
    def __init__(self, path, entry, threads=None):
        try:
            from executorch.runtime import Runtime
        except ImportError:
            raise UserError("--backend executorch needs the ExecuTorch runtime: pip install 'tokenreel[export]'")
        self.method = _loading(path, "ExecuTorch", lambda: Runtime.get().load_program(Path(path)).load_method("forward"))
        self.names = [i["name"] for i in entry["inputs"]]

        def spec(n, meta):
            return [(None, tuple(meta(i).sizes()), _ET_DTYPES.get(meta(i).dtype(), str(meta(i).dtype())))
                    for i in range(n)]
        m = self.method.metadata
        _check_interface(path, entry, spec(m.num_inputs(), m.input_tensor_meta),
                         spec(m.num_outputs(), m.output_tensor_meta))

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
        self.model = _loading(path, "Core ML", lambda: ct.models.MLModel(str(path), compute_units=ct.ComputeUnit.ALL))
        self.output_names = [o["name"] for o in entry["outputs"]]
        d = self.model.get_spec().description
        _check_interface(path, entry, [(i.name, None, None) for i in d.input],
                         [(o.name, None, None) for o in d.output])

    def run(self, feeds):
        out = self.model.predict(feeds)
        return [np.asarray(out[n]) for n in self.output_names]


ENGINES = {"onnx": OnnxEngine, "executorch": ExecutorchEngine, "coreml": CoremlEngine}


class ExportedModel:
    """One exported model file, loaded and runnable (written from an export.spec.ExportSpec): feeds are cast
    to the dtypes its manifest entry names, outputs come back fp32."""

    def __init__(self, folder, manifest, role, fmt, precision, threads=None, first_shape=None):
        self.entry = manifest_io.find(manifest, role, fmt, precision)
        self.inputs = self.entry["inputs"]
        where = Path(folder) / self.entry["file"]
        if not self.inputs or not self.entry["outputs"]:
            raise UserError(f"{where}: the manifest entry lists no inputs or no outputs; re-export the folder")
        if first_shape is not None and list(self.inputs[0]["shape"]) != list(first_shape):
            raise UserError(f"{where}: takes {self.inputs[0]['name']} of shape {self.inputs[0]['shape']}, not the "
                            f"{list(first_shape)} the manifest's geometry implies; re-export the folder")
        self.engine = ENGINES[fmt](manifest_io.artifact_path(folder, self.entry), self.entry, threads)

    def __call__(self, *arrays):
        feeds = {i["name"]: np.asarray(a, dtype=_np_dtype(i["dtype"])) for i, a in zip(self.inputs, arrays)}
        return [np.asarray(o, dtype=np.float32) for o in self.engine.run(feeds)]


class _Step:
    """One step model with explicit state: zeros at the start of a video, then what it returned. With
    `start_calls` (a tokenizer whose causal start replicates the first frame), the first input is fed that
    many times before its real call, which turns the zero states into the replicated start
    (models/tokenizer.py `start_calls`)."""

    def __init__(self, artifact, start_calls=0):
        self.artifact, self.start_calls = artifact, start_calls
        e = artifact.entry
        ins, outs = e["inputs"][1:], e["outputs"][1:]
        pairs = [(p["input"], p["output"]) for p in e.get("state", [])]
        if pairs != [(i["name"], o["name"]) for i, o in zip(ins, outs)] or len(ins) != len(outs) or \
                any(i["shape"] != o["shape"] for i, o in zip(ins, outs)):
            raise UserError(f"{e['file']}: its state inputs and outputs do not pair up as a step model's "
                            f"(state_in_i -> state_out_i, same shapes); re-export the folder")
        self.state_shapes = [i["shape"] for i in ins]

    def __call__(self, x, state):
        first = state is None
        if first:
            state = [np.zeros(s, np.float32) for s in self.state_shapes]
            for _ in range(self.start_calls):
                state = self.artifact(x[None], *state)[1:]
        out = self.artifact(x[None], *state)
        return out[0][0], out[1:], first


class ExportedTokenizer:
    latents_per_call = 1

    def __init__(self, folder, fmt="onnx", precision=DEFAULT, threads=None):
        m = manifest_io.read(folder)
        g = m["geometry"]
        self.format = fmt
        self.bits, self.spatial, self.group = g["bits"], g["spatial"], g["group"]
        self.levels = ()    # exports are LFQ only (export/__init__.py refuses FSQ)
        self.frame_size = tuple(g["frame_size"])
        self.tokenizer_id = m["weights"]["tokenizer"]["id"]
        self.tokenizer_sha256 = m["weights"]["tokenizer"]["sha256"]
        w, h, s = *self.frame_size, self.spatial
        warm = g.get("start_calls", {})
        self.encoder = _Step(ExportedModel(folder, m, "encoder_step", fmt, precision, threads,
                                      (1, self.group, 3, h, w)), warm.get("encoder_step", 0))
        self.decoder = _Step(ExportedModel(folder, m, "decoder_step", fmt, precision, threads,
                                      (1, 1, self.bits, h // s, w // s)), warm.get("decoder_step", 0))

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
    def __init__(self, folder, fmt="onnx", precision=DEFAULT, threads=None):
        m = manifest_io.read(folder)
        g = m["geometry"]
        if "window" not in g:
            raise UserError(f"{folder}: the export holds no transformer; export one with --transformer")
        self.window, self.bits, self.splits = tuple(g["window"]), g["bits"], g["splits"]
        self.sub_bits, self.mask_id = g["sub_bits"], g["mask_id"]
        self.tokenizer_sha256 = m["weights"]["tokenizer"]["sha256"]
        self.model = ExportedModel(folder, m, "transformer", fmt, precision, threads,
                              (1, self.splits, int(np.prod(self.window))))

    def logits(self, sub_tokens):
        return self.model(sub_tokens[None])[0][0]
