"""ExecuTorch export of one artifact: torch.export, lowered to the XNNPACK delegate, saved as .pte.

Every compute-heavy op must land in the delegate. ExecuTorch's own delegation report says which ops did
not; the manifest lists them, and the export fails, naming the op, if a heavy one is among them.
"""
import contextlib
import copy
import io
import warnings
from pathlib import Path

import torch

from ..errors import UserError
from ..runtime.video import write_atomic
from ..precisions import DEFAULT, TABLE
from .manifest import tensor_spec

# Ops that carry the FLOPs: none of these may run on ExecuTorch's portable (reference) kernels.
HEAVY_OPS = ("convolution", "mm", "bmm", "addmm", "linear", "matmul", "baddbmm", "_softmax", "einsum")


def lower(artifact, precision=DEFAULT, calibration=None):
    """torch.export + XNNPACK lowering -> (edge program manager, delegation summary).
    int8: PT2E static quantization first (quantization/executorch_int8.py), calibrated on real inputs.
    8da4w (the transformer): torchao dynamic int8 x int4 Linear layers (quantization/executorch_8da4w.py)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower
    module, inputs = artifact.module, artifact.inputs
    p = TABLE[precision]
    if p.half:
        module = half_with_fp32_layer_norms(module)
        inputs = tuple(x.half() if x.is_floating_point() else x for x in inputs)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if p.int8:
            from ..quantization import executorch_int8
            from ..quantization import recipe
            module = executorch_int8.quantize(module, inputs, calibration, recipe.kept_float(artifact.role),
                                              recipe.float_outputs(artifact.role))
        if p.scheme:    # 8da4w, the one ExecuTorch scheme
            from ..quantization import executorch_8da4w
            module = executorch_8da4w.quantize(module, precision)
        program = torch.export.export(module, inputs, strict=False)
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    info = get_delegation_info(edge.exported_program().graph_module)
    by_op = {k.removeprefix("aten_"): v for k, v in info.delegation_by_operator.items() if k != "getitem"}
    delegation = {"delegate": "XnnpackBackend", "subgraphs": info.num_delegated_subgraphs,
                  "delegated": {k: v.delegated for k, v in by_op.items() if v.delegated},
                  "portable": {k: v.non_delegated for k, v in by_op.items() if v.non_delegated}}
    return edge, delegation


class _Fp32LayerNorm(torch.nn.Module):
    """LayerNorm computed in fp32 inside an fp16 program: ExecuTorch's portable fp16 layer_norm gives
    wrong results (verify localised it: -25 dB at the first LayerNorm of the transformer)."""

    def __init__(self, ln):
        super().__init__()
        self.ln = copy.deepcopy(ln).float()

    def forward(self, x):
        return self.ln(x.float()).to(x.dtype)


def half_with_fp32_layer_norms(module):
    module = copy.deepcopy(module).half()
    for name, child in list(module.named_modules()):
        for attr, sub in list(child.named_children()):
            if isinstance(sub, torch.nn.LayerNorm):
                setattr(child, attr, _Fp32LayerNorm(sub))
    return module


def heavy_ops(names):
    """The heavy ones among delegation-report op names such as "convolution_default", "_softmax_default"."""
    return sorted(op for op in names if any(op == h or op.startswith(h + "_") for h in HEAVY_OPS))


def export(artifact, path: Path, precision=DEFAULT, calibration=None):
    """Write artifact as an XNNPACK-delegated .pte at `path`; returns its manifest info."""
    edge, delegation = lower(artifact, precision, calibration)
    p = TABLE[precision]
    heavy = heavy_ops(delegation["portable"])
    if heavy:
        raise UserError(f"ExecuTorch export of {artifact.name}: heavy ops not delegated to XNNPACK: "
                        f"{', '.join(heavy)}; rewrite the block so it lowers")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = edge.to_executorch()
    write_atomic(path, program.buffer, ".pte")
    delegation["cost"] = portable_cost(path, artifact.inputs if not p.half else
                                       tuple(x.half() if x.is_floating_point() else x for x in artifact.inputs))
    info = {"ops": sorted(set(delegation["delegated"]) | set(delegation["portable"])), "delegation": delegation}
    if p.int8:
        from ..quantization import executorch_int8, recipe
        info["kept_float"] = executorch_int8.float_here(artifact.module, recipe.kept_float(artifact.role))
    if p.scheme:
        from ..quantization import schemes
        info["quantization"] = schemes.describe(precision, artifact.module)
    if p.half:   # the program takes and returns half tensors
        module = half_with_fp32_layer_norms(artifact.module)
        inputs = tuple(x.half() if x.is_floating_point() else x for x in artifact.inputs)
        with torch.no_grad():
            outputs = module(*inputs)
        info["inputs"] = tensor_spec(artifact.input_names, inputs)
        info["outputs"] = tensor_spec(artifact.output_names, outputs if isinstance(outputs, tuple) else (outputs,))
    return info


def portable_cost(path, inputs, runs=5):
    """What the ops left outside XNNPACK cost: ExecuTorch's own profiler (ETDump) over a few runs.
    -> {"delegate_ms", "portable_ms", "portable_share", "portable_ms_by_op"}, medians per call."""
    import statistics
    import tempfile
    from executorch.devtools import Inspector
    from executorch.runtime import Runtime
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), \
            contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = Runtime.get().load_program(Path(path), enable_etdump=True)
        method = program.load_method("forward")
        for _ in range(runs):
            method.execute(list(inputs))
        program.write_etdump_result_to_file(f"{tmp}/run.etdp", f"{tmp}/debug.bin")
        events = [e for b in Inspector(etdump_path=f"{tmp}/run.etdp").event_blocks if b.name == "Execute"
                  for e in b.events if e.perf_data is not None]
    per_run = lambda name: [sum(x) for x in zip(*[e.perf_data.raw for e in events if e.name == name])]  # noqa: E731
    delegate, portable = per_run("DELEGATE_CALL"), per_run("OPERATOR_CALL")
    by_op = {}
    for e in events:
        if e.name.startswith("native_call_"):
            op = e.name.removeprefix("native_call_").split(".")[0]
            by_op[op] = by_op.get(op, 0.0) + statistics.median(e.perf_data.raw)
    d, p = (statistics.median(x) if x else 0.0 for x in (delegate, portable))
    return {"delegate_ms": round(d, 3), "portable_ms": round(p, 3),
            "portable_share": round(p / (d + p), 4) if d + p else 0.0,
            "portable_ms_by_op": {k: round(v, 3) for k, v in sorted(by_op.items())}}
