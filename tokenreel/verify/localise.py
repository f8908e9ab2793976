"""Kernel-level localisation: which layer of an exported artifact first diverges from the server model.

The reference is the server module's `torch.export` graph run op by op (every FX node's output, with the
module it came from). The artifact under test exposes its intermediate values under the same FX node
names: ONNX by making every matching value a graph output (the dynamo exporter names values after the
FX nodes); ExecuTorch by `executorch_intermediates` (see there). Both run on the same real inputs the
check used, so the first op whose SQNR falls below the threshold is where the artifact breaks.
"""
from pathlib import Path

import numpy as np

from ..runtime.tokenizing import to_float
from ..runtime.tokens import latents_of
from ..precisions import TABLE
from .thresholds import LAYER_SQNR_DB

ROLES = {"encoder": ["encoder_step"], "decoder": ["decoder_step"], "transformer": ["transformer"],
         "reframe": ["encoder_step", "transformer", "decoder_step"],
         "extend": ["encoder_step", "transformer", "decoder_step"]}


def torch_spec(role, server_tok, server_tf, frame_size):
    from ..export.spec import tokenizer_specs, transformer_spec
    if role == "transformer":
        return transformer_spec(server_tf.model)
    w, h = frame_size
    return {a.role: a for a in tokenizer_specs(server_tok.model, h, w)}[role]


def real_inputs(role, artifact, run):
    """The artifact's inputs on the clip the check used (the first call of a video: states are zero)."""
    states = [np.zeros(t.shape, np.float32) for t in artifact.inputs[1:]]
    if role == "encoder_step":
        group = artifact.inputs[0].shape[1]
        return [np.repeat(to_float(run.frames[:1]), group, axis=0)[None], *states]
    if role == "decoder_step":
        return [latents_of(run.tokens[:1], run.tokenizer.bits)[None], *states]
    return [run.windows[0][2][None]]


def reference_values(artifact, inputs):
    """Every FX node's output of the server module on `inputs`: {name: (module path, op, array)}."""
    import torch
    program = torch.export.export(artifact.module, tuple(torch.from_numpy(np.asarray(x)) for x in inputs),
                                  strict=False)
    values = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, node):
            out = super().run_node(node)
            if node.op == "call_function" and isinstance(out, torch.Tensor) and out.is_floating_point():
                stack = node.meta.get("nn_module_stack") or {}
                module = list(stack.values())[-1][0] if stack else ""
                values[node.name] = (module, str(node.target).split(".")[-2] if "." in str(node.target)
                                     else str(node.target), out.detach().float().numpy())
            return out
    with torch.no_grad():
        module = program.module()
        Recorder(module).run(*[torch.from_numpy(np.asarray(x)) for x in inputs])
    return values


def onnx_intermediates(path, inputs, names):
    """Run an ONNX model with every value named in `names` made an output: {name: array}."""
    import onnx
    import onnxruntime as ort
    model = onnx.load(str(path))
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    have = {o.name for o in model.graph.output}
    produced = [o for n in model.graph.node for o in n.output if o in names and o not in have]
    for name in produced:
        model.graph.output.append(onnx.helper.make_tensor_value_info(
            name, types.get(name, onnx.TensorProto.FLOAT), None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name: np.asarray(x).astype(_onnx_np_type(i.type)) for i, x in zip(session.get_inputs(), inputs)}
    outs = session.run(produced, feeds)
    return dict(zip(produced, outs))


def _onnx_np_type(type_string):
    return {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64,
            "tensor(int32)": np.int32}[type_string]


def layer_table(reference, ours, precision):
    """Rows in graph order: {"op", "module", "node", "sqnr_db"}; the first below the threshold is marked."""
    from . import sqnr_db
    rows, first = [], None
    for name, (module, op, ref) in reference.items():
        if name not in ours or np.shape(ours[name]) != ref.shape:
            continue
        q = sqnr_db(ref, np.asarray(ours[name], np.float32))
        row = {"node": name, "module": module, "op": op, "sqnr_db": q}
        if first is None and q < LAYER_SQNR_DB[precision]:
            row["first_divergence"] = True
            first = row
        rows.append(row)
    return rows, first


def localise(folder, manifest, fmt, precision, failures, run, server_tok, server_tf):
    """For each role the failures point at: the layer table and the first divergent layer."""
    from ..runtime import manifest as manifest_io
    roles = []
    for failure in failures:
        for role in ROLES[failure.split(".")[0]]:
            if role not in roles and (role != "transformer" or server_tf is not None):
                roles.append(role)
    out = []
    for role in roles:
        entry = manifest_io.find(manifest, role, fmt, precision)
        artifact = torch_spec(role, server_tok, server_tf, tuple(manifest["geometry"]["frame_size"]))
        inputs = real_inputs(role, artifact, run)
        reference = reference_values(artifact, inputs)
        path = Path(folder) / entry["file"]
        if fmt == "onnx":
            ours = onnx_intermediates(path, inputs, set(reference))
        elif fmt == "executorch" and TABLE[precision].cast:     # float programs (fp32, fp16)
            from .executorch_debug import executorch_intermediates
            ours = executorch_intermediates(artifact, path, inputs, precision)
        else:
            # quantized ExecuTorch programs: naming their values needs the same quantized re-lowering,
            # which needs the export's calibration run; not done here
            why = "on this machine" if fmt == "coreml" else f"at {precision}"
            out.append({"artifact": entry["file"], "error": f"no layer localisation for {fmt} {why}"})
            continue
        rows, first = layer_table(reference, ours, precision)
        out.append({"artifact": entry["file"], "compared": len(rows),
                    "first_divergence": first, "rows": rows})
    return out
