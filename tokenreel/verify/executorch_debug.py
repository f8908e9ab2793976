"""Intermediate values of a production ExecuTorch .pte, under the server model's FX node names.

Why this way: the .pte under test may be the broken thing (a wrong weight, a bad lowering), so its values
must come from running that very file; re-exporting the server module would hide the fault. ExecuTorch's
ETDump, given a debug buffer, logs the tensors of every instruction the runtime executes: each portable op
and each XNNPACK delegate call (XNNPACK keeps the values inside a delegate to itself, so for delegated ops
the granularity is one value per delegate subgraph output). Naming those instructions needs the ETRecord
of the same program, which the .pte does not carry: the server module is lowered again exactly as
`export/executorch.py` does, only for that map (instruction -> debug handle -> FX node), after checking
that its program has the very same instructions and values as the file's. fp16: this ExecuTorch's ETDump
cannot log half tensors, so there the production program itself is run with its instruction results made
program outputs (see `_exposed_outputs`); same instructions, weights and delegate blobs.
"""
import contextlib
import io
import operator
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from ..precisions import TABLE


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def executorch_intermediates(artifact, pte_path, inputs, precision):
    """Run `pte_path` on `inputs`: {FX node name: float32 array} for every value the run exposes."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.etrecord import parse_etrecord
    from executorch.devtools.inspector._inspector_utils import propagate_back_debug_handle
    from executorch.exir import to_edge_transform_and_lower

    # the run's inputs in the example inputs' dtypes; a copy, as numpy gives size-1 axes made by [None] a
    # 0 stride, which ExecuTorch refuses
    module, examples = artifact.module, list(artifact.inputs)
    xs = [torch.from_numpy(np.ascontiguousarray(x)).clone(memory_format=torch.contiguous_format).to(e.dtype)
          for x, e in zip(inputs, examples)]
    half = TABLE[precision].half
    if half:   # as export/executorch.py lower()
        from ..export.executorch import half_with_fp32_layer_norms
        module = half_with_fp32_layer_norms(module)
        examples = [x.half() if x.is_floating_point() else x for x in examples]
        xs = [x.half() if x.is_floating_point() else x for x in xs]
    production = Path(pte_path).read_bytes()
    with tempfile.TemporaryDirectory() as tmp, _quiet():
        tmp = Path(tmp)
        # The ETRecord (names only): same lowering as lower(), plus generate_etrecord.
        program = torch.export.export(module, tuple(examples), strict=False)
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()], generate_etrecord=True)
        relowered = edge.to_executorch()
        _check_same_program(relowered.buffer, production, pte_path)
        relowered.get_etrecord().save(str(tmp / "etrecord.bin"))
        record = parse_etrecord(str(tmp / "etrecord.bin"))
        # The values: the production file itself.
        if half:
            outputs = _exposed_outputs(production, xs, record._instruction_id_to_num_outs_map["forward"], tmp)
        else:
            outputs = _etdump_outputs(pte_path, xs, record, tmp, _debug_buffer_size(program))
        # Debug handles of the edge program back onto the ATen graph, whose node names are the keys.
        if not propagate_back_debug_handle(record.exported_program, record.export_graph_id,
                                           record.edge_dialect_program):
            raise RuntimeError(f"{pte_path}: cannot map ExecuTorch debug handles back to the FX graph")

    aten = {}   # debug handle -> ATen nodes, in graph order
    for node in record.exported_program.graph.nodes:
        if node.op == "call_function" and isinstance(node.meta.get("val"), torch.Tensor):
            aten.setdefault(node.meta.get("debug_handle"), []).append(node)
    # An instruction holds an ATen node's value only if it ran that node's whole decomposition (matmul ->
    # expand_copy, bmm, view_copy may be split between portable ops and a delegate) and it is the last part.
    edge_ops = _op_counts(record.edge_dialect_program.graph.nodes)
    delegates = _delegate_output_handles(edge.exported_program().graph_module, edge_ops)
    handle_map = record._debug_handle_map["forward"]

    values = {}
    for instruction, (is_delegate, tensors) in sorted(outputs.items()):
        handles = _as_tuple(handle_map.get(str(instruction)))
        if is_delegate:   # one handle per delegate output
            outs = delegates.get(frozenset(handles))
            if outs is None or len(outs) != len(tensors):
                raise RuntimeError(f"{pte_path}: delegate call {instruction} does not match the re-lowered "
                                   "server program")
            pairs = zip(outs, tensors)
        else:   # a portable op: its first output is the op's result
            whole = len(handles) == 1 and edge_ops[handles[0]] == 1
            pairs = [(handles[0], tensors[0])] if whole and tensors else []
        for handle, tensor in pairs:
            if tensor is None:
                continue
            for node in aten.get(handle, [])[-1:]:   # the last ATen node of that handle holds the value
                if tuple(node.meta["val"].shape) == tuple(tensor.shape):
                    values[node.name] = tensor.detach().float().numpy().copy()
    return values


def _etdump_outputs(pte_path, xs, record, tmp, buffer_size):
    """fp32: run with ETDump and a debug buffer -> {instruction id: (is delegate call, output tensors)}."""
    from executorch.devtools import Inspector
    from executorch.runtime import Runtime
    etdump, debug = str(tmp / "etdump.etdp"), str(tmp / "debug.bin")
    loaded = Runtime.get().load_program(str(pte_path), enable_etdump=True, debug_buffer_size=buffer_size)
    loaded.load_method("forward").execute(xs)
    loaded.write_etdump_result_to_file(etdump, debug)
    inspector = Inspector(etdump_path=etdump, etrecord=record, debug_buffer_path=debug)
    n_outs = record._instruction_id_to_num_outs_map["forward"]
    out = {}
    for block in inspector.event_blocks:
        for event in block.events:
            if event.name == "OPERATOR_CALL" or not event.debug_data or event._instruction_id is None:
                continue   # OPERATOR_CALL repeats the op's own event; others are timing only
            tensors = [t for t in event.debug_data if isinstance(t, torch.Tensor)]
            if event.name == "DELEGATE_CALL":   # logs its inputs, then its outputs
                tensors = tensors[len(tensors) - n_outs.get(str(event._instruction_id), 1):]
            out[event._instruction_id] = (event.name == "DELEGATE_CALL", tensors)
    return out


def _exposed_outputs(production, xs, n_outs, tmp):
    """fp16: ETDump (executorch 1.5.1) cannot log half tensors. Instead, a copy of the production program
    whose every instruction result is also a program output, in memory of its own (planned memory is
    reused), same weights and delegate blobs -> {instruction id: (is delegate call, output tensors)}."""
    from executorch.exir._serialize._program import deserialize_pte_binary, serialize_pte_binary
    from executorch.exir.schema import AllocationDetails, DelegateCall, Tensor
    from executorch.runtime import Runtime
    pte = deserialize_pte_binary(production)
    plan = pte.program.execution_plan[0]
    picked = {}
    for i, instruction in enumerate(plan.chains[0].instructions):
        call = instruction.instr_args
        if isinstance(call, DelegateCall):   # args: inputs, then outputs (as many as the delegate's)
            picked[i] = (True, call.args[len(call.args) - n_outs.get(str(i), 1):])
        elif hasattr(call, "op_index"):      # out-variant kernel: the last arg is its result
            result = plan.values[call.args[-1]].val   # a tensor, or a list of them (e.g. native_group_norm)
            picked[i] = (False, [call.args[-1]] if isinstance(result, Tensor) else getattr(result, "items", [])[:1])
    sizes = list(plan.non_const_buffer_sizes)
    exposed = []
    for index in dict.fromkeys(v for _, args in picked.values() for v in args):
        tensor = plan.values[index].val
        if not isinstance(tensor, Tensor) or tensor.allocation_info is None or index in plan.outputs:
            continue
        size = int(np.prod(tensor.sizes)) * _ITEMSIZE.get(int(tensor.scalar_type), 8)
        mem = tensor.allocation_info.memory_id
        offset = -(-sizes[mem] // 64) * 64
        tensor.allocation_info = AllocationDetails(mem, offset & 0xFFFFFFFF, offset >> 32)
        sizes[mem] = offset + size
        exposed.append(index)
    plan.non_const_buffer_sizes = sizes
    plan.outputs = plan.outputs + exposed
    path = tmp / "exposed.pte"
    path.write_bytes(bytes(serialize_pte_binary(pte, extract_delegate_segments=True)))
    results = Runtime.get().load_program(str(path)).load_method("forward").execute(xs)
    by_index = dict(zip(plan.outputs, results))
    return {i: (is_delegate, [by_index.get(v) for v in args])
            for i, (is_delegate, args) in picked.items()}


_ITEMSIZE = {0: 1, 1: 1, 2: 2, 3: 4, 4: 8, 5: 2, 6: 4, 7: 8, 11: 1, 15: 2}   # ExecuTorch ScalarType -> bytes


def _op_counts(nodes):
    """{debug handle: number of edge ops (getitems aside) that carry it}."""
    return Counter(h for n in nodes if n.op == "call_function" and n.target is not operator.getitem
                   for h in _as_tuple(n.meta.get("debug_handle")))


def _delegate_output_handles(graph_module, edge_ops):
    """{handles of a delegate's ops: [debug handle of each of its outputs, or None if not a whole op's value]}."""
    out = {}
    for child in graph_module.children():
        sub = getattr(child, "original_module", None)
        if sub is None:
            continue
        nodes = [n for n in sub.graph.nodes if n.op == "call_function"]
        handles = frozenset(h for n in nodes for h in _as_tuple(n.meta.get("debug_handle")))
        inside = _op_counts(nodes)
        result = []
        for node in sub.graph.output_node().args[0]:
            handle = node.meta.get("debug_handle") if isinstance(node, torch.fx.Node) else None
            # Not a part (e.g. sigmoid of silu, which mul uses next), nor an op partly run outside.
            if handle is not None and (inside[handle] != edge_ops[handle] or any(
                    u.meta.get("debug_handle") == handle for u in node.users if u.op == "call_function")):
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
                           "again (other ops, shapes or delegates), so its values cannot be named; "
                           "was it exported from this model and precision?")
