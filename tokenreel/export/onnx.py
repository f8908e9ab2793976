"""ONNX export of one artifact: torch.export (dynamo) at opset 18, fixed shapes, optimized by onnxscript."""
import contextlib
import io
import os
import warnings
from pathlib import Path

import torch

OPSET = 18


def export(artifact, path: Path):
    """Write artifact as ONNX at `path` (temp file, then rename). Returns the op types it uses."""
    import onnx
    tmp = path.with_suffix(".tmp.onnx")
    # the exporter prints its stages to stdout; the export command shows its own progress bar instead
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(artifact.module, artifact.inputs, dynamo=True, opset_version=OPSET,
                                    input_names=artifact.input_names, output_names=artifact.output_names,
                                    optimize=True, verbose=False)
    program.save(str(tmp))
    model = onnx.load(str(tmp))
    onnx.checker.check_model(model)
    os.replace(tmp, path)
    return sorted({n.op_type for n in model.graph.node})
