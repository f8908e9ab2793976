"""Intermediate values of a production ExecuTorch .pte, under the server model's FX node names.

Why this way: the .pte under test may be the broken thing (a wrong weight, a bad lowering), so its values
must come from running that very file; re-exporting the server module would hide the fault. ExecuTorch's
ETDump, given a debug buffer, logs the tensors of every instruction the runtime executes: each portable op
and each XNNPACK delegate call (XNNPACK keeps the values inside a delegate to itself, so for delegated ops
the granularity is one value per delegate subgraph output). Naming those instructions needs the ETRecord
of the same program, which the .pte does not carry: the server module is lowered again exactly as
`export/executorch.py` does, only for that map (instruction -> debug handle -> FX node), after checking
that its program has the very same instructions and values as the file's.
"""
import contextlib
import copy
import io
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def executorch_intermediates(artifact, pte_path, inputs, precision):
    """Run `pte_path` on `inputs` with ETDump on: {FX node name: float32 array} for every value it logs."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools import Inspector
    from executorch.devtools.etrecord import parse_etrecord
    from executorch.devtools.inspector._inspector_utils import propagate_back_debug_handle
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

    module, xs = artifact.module, [torch.from_numpy(np.asarray(x)) for x in inputs]
    if precision == "fp16":   # as export/executorch.py lower()
        module = copy.deepcopy(module).half()
        xs = [x.half() if x.is_floating_point() else x for x in xs]
    with tempfile.TemporaryDirectory() as tmp, _quiet():
        etrecord, etdump, debug = (str(Path(tmp) / f) for f in ("etrecord.bin", "etdump.etdp", "debug.bin"))
        # The ETRecord (names only): same lowering as lower(), plus generate_etrecord.
        program = torch.export.export(module, tuple(xs), strict=False)
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()], generate_etrecord=True)
        relowered = edge.to_executorch()
        _check_same_program(relowered.buffer, Path(pte_path).read_bytes(), pte_path)
        relowered.get_etrecord().save(etrecord)
        # The values: the production file itself.
        loaded = Runtime.get().load_program(str(pte_path), enable_etdump=True,
                                            debug_buffer_size=_debug_buffer_size(program))
        loaded.load_method("forward").execute(xs)
        loaded.write_etdump_result_to_file(etdump, debug)
        record = parse_etrecord(etrecord)
        inspector = Inspector(etdump_path=etdump, etrecord=record, debug_buffer_path=debug)
        # Debug handles of the edge program back onto the ATen graph, whose node names are the keys.
        if not propagate_back_debug_handle(record.exported_program, record.export_graph_id,
                                           record.edge_dialect_program):
            raise RuntimeError(f"{pte_path}: cannot map ExecuTorch debug handles back to the FX graph")

    aten = {}   # debug handle -> ATen nodes, in graph order
    for node in record.exported_program.graph.nodes:
        if node.op == "call_function" and isinstance(node.meta.get("val"), torch.Tensor):
            aten.setdefault(node.meta.get("debug_handle"), []).append(node)
    delegate_outputs = _delegate_output_handles(edge.exported_program().graph_module)

    values = {}
    for block in inspector.event_blocks:
        for event in sorted(block.events, key=lambda e: e._instruction_id or 0):
            if event.name == "OPERATOR_CALL" or not event.debug_data or event.debug_handles is None:
                continue   # OPERATOR_CALL repeats the op's own event; others are timing only
            handles = event.debug_handles
            handles = (handles,) if isinstance(handles, int) else tuple(handles)
            tensors = [t for t in event.debug_data if isinstance(t, torch.Tensor)]
            if event.name == "DELEGATE_CALL":
                # A delegate call logs its inputs then its outputs; one handle per output value.
                outs = delegate_outputs.get(frozenset(handles))
                if outs is None or len(tensors) < len(outs):
                    raise RuntimeError(f"{pte_path}: delegate call {event._instruction_id} does not match "
                                       "the re-lowered server program")
                pairs = zip(outs, tensors[len(tensors) - len(outs):])
            else:   # a portable op logs its outputs (out= arguments); the first is the op's result
                pairs = [(handles[-1], tensors[0])] if tensors else []
            for handle, tensor in pairs:
                for node in aten.get(handle, [])[-1:]:   # the last ATen node of that handle holds the value
                    if tuple(node.meta["val"].shape) == tuple(tensor.shape):
                        values[node.name] = tensor.detach().float().numpy().copy()
    return values


def _delegate_output_handles(graph_module):
    """{handles of a delegate's ops: [debug handle of each of its outputs, or None]}."""
    out = {}
    for child in graph_module.children():
        sub = getattr(child, "original_module", None)
        if sub is None:
            continue
        nodes = [n for n in sub.graph.nodes if n.op == "call_function"]
        handles = frozenset(h for n in nodes for h in _as_tuple(n.meta.get("debug_handle")))
        result = []
        for node in sub.graph.output_node().args[0]:
            handle = node.meta.get("debug_handle") if isinstance(node, torch.fx.Node) else None
            # Only a complete op's value: not one that a later op of the same handle (e.g. sigmoid of silu) uses.
            if handle is not None and any(u.meta.get("debug_handle") == handle for u in node.users
                                          if u.op == "call_function"):
                handle = None
            result.append(handle)
        out[handles] = result
    return out


def _as_tuple(handle):
    return () if handle is None else (handle,) if isinstance(handle, int) else tuple(handle)


def _debug_buffer_size(program):
    """Room for every logged tensor: each value at most as input and output of a call, plus slack."""
    total = sum(v.numel() * v.element_size() for n in program.graph.nodes
                if isinstance(v := n.meta.get("val"), torch.Tensor))
    return 4 * total + (16 << 20)


def _check_same_program(relowered, production, path):
    """The ETRecord only names the production file's events if both programs have the same instructions."""
    from executorch.exir._serialize._program import deserialize_pte_binary
    a, b = (deserialize_pte_binary(x).program.execution_plan for x in (relowered, production))
    if len(a) != len(b) or any(p.chains != q.chains or p.operators != q.operators or p.values != q.values
                               or p.inputs != q.inputs or p.outputs != q.outputs for p, q in zip(a, b)):
        raise RuntimeError(f"{path}: its program does not have the structure of the server module lowered "
                           "again (other ops, shapes or delegates), so its ETDump cannot be named; "
                           "was it exported from this model and precision?")
