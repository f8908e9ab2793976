"""ONNX export of one artifact: torch.export (dynamo) at opset 18, fixed shapes, optimized by onnxscript.
fp16 converts the weights and computations to half with ONNX Runtime's converter, keeping fp32 inputs and
outputs so the same runtime code feeds every precision."""
import contextlib
import io
import warnings
from pathlib import Path

import torch

from ..precisions import DEFAULT, FP32, TABLE
from .files import output, scratch

OPSET = 18


def export(artifact, path: Path, precision=DEFAULT, calibration=None):
    """Write artifact as ONNX at `path` (temp file, then rename). Returns {"ops": op types it uses}.
    int8: the fp32 graph, quantized by quantization/onnx_int8.py on the `calibration` inputs.
    w4 (the transformer): the fp32 graph with int4 MatMul weights (quantization/weight_only.py)."""
    import onnx
    p = TABLE[precision]
    if p.int8:
        from ..quantization import onnx_int8, recipe
        with scratch(path) as fp32:       # the quantizer writes `path` whole or not at all
            export(artifact, fp32, FP32)
            excluded = recipe.onnx_nodes(fp32, artifact.role)
            kept = [m for m in recipe.kept_float(artifact.role) if recipe.onnx_nodes(fp32, artifact.role, [m])]
            ops = onnx_int8.quantize(fp32, path, calibration, exclude=excluded,
                                     float_outputs=recipe.onnx_nodes(fp32, artifact.role,
                                                                     recipe.float_outputs(artifact.role)))
        return {"ops": ops, "kept_float": kept}
    if p.scheme:        # w4, the one ONNX scheme
        from ..quantization import schemes, weight_only
        with scratch(path) as fp32:
            export(artifact, fp32, FP32)
            weight_only.quantize(fp32, path, precision)
        return {"ops": sorted({n.op_type for n in onnx.load(str(path)).graph.node}),
                "quantization": schemes.describe(precision, artifact.module)}
    # the exporter prints its stages to stdout; the export command shows its own progress bar instead
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(artifact.module, artifact.inputs, dynamo=True, opset_version=OPSET,
                                    input_names=artifact.input_names, output_names=artifact.output_names,
                                    optimize=True, verbose=False)
    with output(path) as tmp:
        program.save(str(tmp))
        model = onnx.load(str(tmp))
        if p.half:
            from onnxruntime.transformers.float16 import convert_float_to_float16
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = convert_float_to_float16(model, keep_io_types=True)
            import onnx_ir   # the converter appends its input casts at the end: restore topological order
            graph = onnx_ir.from_proto(model)
            graph.graph.sort()
            model = onnx_ir.to_proto(graph)
            onnx.save(model, str(tmp))
        onnx.checker.check_model(model)
    return {"ops": sorted({n.op_type for n in model.graph.node})}
