"""ExecuTorch export of one artifact: torch.export, lowered to the XNNPACK delegate, saved as .pte.

Every compute-heavy op must land in the delegate. ExecuTorch's own delegation report says which ops did
not; the manifest lists them, and the export fails, naming the op, if a heavy one is among them.
"""
import contextlib
import copy
import io
import os
import warnings
from pathlib import Path

import torch

from ..errors import UserError
from .manifest import tensor_spec

# Ops that carry the FLOPs: none of these may run on ExecuTorch's portable (reference) kernels.
HEAVY_OPS = ("convolution", "mm", "bmm", "addmm", "linear", "matmul", "baddbmm", "_softmax", "einsum")


def lower(artifact, precision="fp32"):
    """torch.export + XNNPACK lowering -> (edge program manager, delegation summary)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower
    module, inputs = artifact.module, artifact.inputs
    if precision == "fp16":
        module = copy.deepcopy(module).half()
        inputs = tuple(x.half() if x.is_floating_point() else x for x in inputs)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.export.export(module, inputs, strict=False)
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    info = get_delegation_info(edge.exported_program().graph_module)
    by_op = {k.removeprefix("aten_"): v for k, v in info.delegation_by_operator.items() if k != "getitem"}
    delegation = {"delegate": "XnnpackBackend", "subgraphs": info.num_delegated_subgraphs,
                  "delegated": {k: v.delegated for k, v in by_op.items() if v.delegated},
                  "portable": {k: v.non_delegated for k, v in by_op.items() if v.non_delegated}}
    return edge, delegation


def heavy_ops(names):
    """The heavy ones among delegation-report op names such as "convolution_default", "_softmax_default"."""
    return sorted(op for op in names if any(op == h or op.startswith(h + "_") for h in HEAVY_OPS))


def export(artifact, path: Path, precision="fp32"):
    """Write artifact as an XNNPACK-delegated .pte at `path`; returns its manifest info."""
    edge, delegation = lower(artifact, precision)
    heavy = heavy_ops(delegation["portable"])
    if heavy:
        raise UserError(f"ExecuTorch export of {artifact.name}: heavy ops not delegated to XNNPACK: "
                        f"{', '.join(heavy)}; rewrite the block so it lowers")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = edge.to_executorch()
    tmp = path.with_suffix(".tmp.pte")
    tmp.write_bytes(program.buffer)
    os.replace(tmp, path)
    info = {"ops": sorted(set(delegation["delegated"]) | set(delegation["portable"])), "delegation": delegation}
    if precision == "fp16":   # the program takes and returns half tensors
        module = copy.deepcopy(artifact.module).half()
        inputs = tuple(x.half() if x.is_floating_point() else x for x in artifact.inputs)
        with torch.no_grad():
            outputs = module(*inputs)
        info["inputs"] = tensor_spec(artifact.input_names, inputs)
        info["outputs"] = tensor_spec(artifact.output_names, outputs if isinstance(outputs, tuple) else (outputs,))
    return info
