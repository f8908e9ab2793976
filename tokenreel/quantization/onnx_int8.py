"""ONNX static int8: QDQ, per-channel int8 weights, uint8 activations, calibrated on real inputs, with
ONNX Runtime's quantization tools. Nodes the recipe keeps in float are excluded by name."""
import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np

from ..runtime.video import output_path


# The ops that carry the FLOPs; norms, activations and adds stay float between them (DequantizeLinear in,
# QuantizeLinear out), as on the NPUs' int8 paths.
QUANTIZED_OPS = ("Conv", "MatMul", "Gemm")


class _Reader:
    """ONNX Runtime's CalibrationDataReader over our calibration tuples."""

    def __init__(self, names, samples):
        self.names, self.samples = names, iter(samples)

    def get_next(self):
        sample = next(self.samples, None)
        return None if sample is None else {n: np.asarray(x) for n, x in zip(self.names, sample)}


def quantize(fp32_path: Path, out_path: Path, samples, exclude=(), only=None, method="minmax", float_outputs=()):
    """fp32 .onnx -> int8 QDQ .onnx at out_path (temp file, then rename); `only`: quantize just these nodes;
    `float_outputs`: nodes whose int8 weights stay but whose outputs are not quantized."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    names = [i.name for i in onnx.load(str(fp32_path)).graph.input]
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()), \
            output_path(out_path) as tmp_out:
        pre = Path(tmp) / "pre.onnx"
        # no ORT graph optimization here: it renames nodes (the Linear MatMuls), and the recipe's exclusions
        # and the sensitivity run name nodes of the exported graph (onnxscript has optimized it already)
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True, skip_optimization=True)
        quantize_static(str(pre), str(tmp_out), _Reader(names, samples), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=list(exclude), op_types_to_quantize=list(QUANTIZED_OPS),
                        nodes_to_quantize=list(only) if only is not None else None,
                        calibrate_method={"minmax": CalibrationMethod.MinMax,
                                          "percentile": CalibrationMethod.Percentile}[method],
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
        if float_outputs:
            model = onnx.load(str(tmp_out))
            _unquantize_outputs(model.graph, set(float_outputs))
            onnx.save(model, str(tmp_out))
    model = onnx.load(str(out_path))
    return sorted({n.op_type for n in model.graph.node})


def _unquantize_outputs(graph, names):
    """Drop the QuantizeLinear -> DequantizeLinear pair after each named node, so that what reads its output
    reads it in float. For the logit heads: uint8 logits decide ties between near-equal tokens (verify's
    top-1 agreement was 94.8% on the validation clips, 97.2% with their outputs float), and keeping their
    weights int8 keeps the file at a third of fp32's (heads wholly float would not)."""
    consumers = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    dropped, outputs = [], {o.name for o in graph.output}
    for n in graph.node:
        if n.name not in names or n.output[0] in outputs:
            continue
        for q in consumers.get(n.output[0], []):
            dqs = consumers.get(q.output[0], [])
            if q.op_type != "QuantizeLinear" or q.output[0] in outputs or \
                    any(dq.op_type != "DequantizeLinear" or dq.output[0] in outputs for dq in dqs):
                continue
            for dq in dqs:
                for reader in consumers.get(dq.output[0], []):
                    reader.input[:] = [n.output[0] if i == dq.output[0] else i for i in reader.input]
            dropped += [q] + dqs
    for node in dropped:
        graph.node.remove(node)
    used = {i for n in graph.node for i in n.input}
    for init in [t for t in graph.initializer if t.name not in used]:     # their scales and zero points
        graph.initializer.remove(init)


def quantizable_nodes(path: Path):
    """Names of the nodes static quantization acts on (their weights carry the FLOPs)."""
    import onnx
    return [n.name for n in onnx.load(str(path)).graph.node if n.op_type in QUANTIZED_OPS]
