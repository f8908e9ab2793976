"""ONNX Runtime's fused CPU kernels for the transformer's attention and GELU (com.microsoft MultiHeadAttention
and FastGelu), swapped in when the ONNX backend loads an exported transformer (fp32 and int8).

The export writes attention as explicit bmm + softmax and GELU as its tanh formula (models/transformer.py):
standard ops, which phone execution providers (NNAPI, QNN) take, so the file stays so. On the CPU, ONNX
Runtime runs them as ~12 separate kernels per layer, writing every head's (N, N) scores to memory and back;
its fused kernels compute the same function (the logits' SQNR against the unfused graph: 135 dB at fp32)
in 15-20% less time a call, and on the int8 transformer they are the float part the recipe keeps
(attention's products). A fused node writes the tensor the last node it replaces wrote and keeps its
module's scope."""
import math
from collections import Counter

from onnx import helper, numpy_helper

from ..quantization.recipe import module_of

MS_DOMAIN = "com.microsoft"
# the op types of one module as models/transformer.py's Attention and TanhGELU export (torch.onnx dynamo,
# opset 18): a module with anything else (a mask, a bias, another formula) is not fused
ATTENTION_OPS = {"Reshape": 6, "Transpose": 3, "Slice": 3, "Squeeze": 3, "MatMul": 2, "Mul": 1, "Softmax": 1}
GELU_OPS = {"Mul": 6, "Add": 2, "Tanh": 1}
GELU_CONSTANTS = (0.5, 0.044715, math.sqrt(2 / math.pi), 1.0)


def _scopes(graph, suffix):
    """{module scope ending in `suffix`: its nodes in graph order}."""
    out = {}
    for n in graph.node:
        scope = module_of(n)
        if scope.endswith(suffix):
            out.setdefault(scope, []).append(n)
    return out


def _boundary(graph, inits, nodes):
    """(external inputs, outputs read outside) of a set of nodes: tensors entering from other nodes or the
    graph inputs (not initializers), and those leaving it."""
    made = {o for n in nodes for o in n.output}
    inside = {id(n) for n in nodes}
    ins = [i for n in nodes for i in n.input if i and i not in made and i not in inits]
    read_outside = {i for n in graph.node if id(n) not in inside for i in n.input}
    read_outside |= {o.name for o in graph.output}
    outs = [o for n in nodes for o in n.output if o in read_outside]
    return list(dict.fromkeys(ins)), outs


def _constants(inits, nodes, op_type):
    """The scalar initializers the nodes of this op type read."""
    values = [numpy_helper.to_array(inits[i]) for n in nodes if n.op_type == op_type for i in n.input if i in inits]
    return [float(v.reshape(-1)[0]) for v in values if v.size == 1]


def _check(graph, inits, nodes, scope, ops, what):
    """-> the module's one input and one output, or ValueError where it is not the exported pattern."""
    ins, outs = _boundary(graph, inits, nodes)
    found = dict(Counter(n.op_type for n in nodes))
    if found != ops or len(ins) != 1 or len(outs) != 1:
        raise ValueError(f"fuse_transformer: {scope} is not the exported {what} (ops {found}, inputs {ins}, "
                         f"outputs {outs})")
    return ins[0], outs[0]


def _replace(graph, nodes, new_nodes):
    """Put new_nodes where the first of `nodes` stood (after what feeds them), removing `nodes`; and the
    initializers only they read."""
    at = list(graph.node).index(nodes[0])
    read = {i for n in nodes for i in n.input}
    for n in nodes:
        graph.node.remove(n)
    for k, n in enumerate(new_nodes):
        graph.node.insert(at + k, n)
    still = {i for n in graph.node for i in n.input} | {o.name for o in graph.output} | \
        {i.name for i in graph.input}
    for init in [i for i in graph.initializer if i.name in read and i.name not in still]:
        graph.initializer.remove(init)


def _scoped(node, like):
    node.metadata_props.extend(p for p in like.metadata_props)
    return node


def _heads(inits, nodes, scope):
    """Attention heads of a module and their width: from its (B, N, 3, heads, d) reshape of the qkv
    projection."""
    for n in nodes:
        if n.op_type == "Reshape" and n.input[1] in inits:
            shape = numpy_helper.to_array(inits[n.input[1]])
            if shape.shape == (5,) and shape[2] == 3 and shape[3] > 0 and shape[4] > 0:
                return int(shape[3]), int(shape[4])
    raise ValueError(f"fuse_transformer: {scope}: no (B, N, 3, heads, d) reshape of the qkv projection")


def fuse_transformer(model) -> int:
    """Replace each attention module's products and softmax with MultiHeadAttention and each tanh GELU with
    FastGelu, in place -> the number of modules replaced. Raises ValueError, leaving the model unchanged,
    where a module is not the pattern the export writes (its op types, one input and one output, the
    attention's 1/sqrt(d) scale and last-axis softmax, the GELU's constants)."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    plans = []
    for scope, nodes in _scopes(g, ".attn").items():
        x, y = _check(g, inits, nodes, scope, ATTENTION_OPS, "attention")
        heads, d = _heads(inits, nodes, scope)
        softmax = next(n for n in nodes if n.op_type == "Softmax")
        axis = next((a.i for a in softmax.attribute if a.name == "axis"), -1)
        scale = _constants(inits, nodes, "Mul")
        if axis not in (-1, 3) or len(scale) != 1 or not math.isclose(scale[0], 1 / math.sqrt(d), rel_tol=1e-6):
            raise ValueError(f"fuse_transformer: {scope}: softmax axis {axis}, scale {scale}: not attention over "
                             f"keys scaled by 1/sqrt({d})")
        q, k, v = (f"{scope}.fused_{c}" for c in "qkv")
        split = _scoped(helper.make_node("Split", [x], [q, k, v], name=f"{scope}.fused_split", axis=-1,
                                         num_outputs=3), nodes[0])
        mha = _scoped(helper.make_node("MultiHeadAttention", [q, k, v], [y], name=f"{scope}.fused_mha",
                                       domain=MS_DOMAIN, num_heads=heads), nodes[0])
        plans.append((nodes, [split, mha]))
    for scope, nodes in _scopes(g, ".mlp.1").items():
        x, y = _check(g, inits, nodes, scope, GELU_OPS, "tanh GELU")
        constants = _constants(inits, nodes, "Mul") + _constants(inits, nodes, "Add")
        if not all(any(math.isclose(c, want, rel_tol=1e-6) for c in constants) for want in GELU_CONSTANTS):
            raise ValueError(f"fuse_transformer: {scope}: constants {constants} are not the tanh GELU's")
        plans.append((nodes, [_scoped(helper.make_node("FastGelu", [x], [y], name=f"{scope}.fused_gelu",
                                                       domain=MS_DOMAIN), nodes[0])]))
    for nodes, new_nodes in plans:        # every module checked first: a refusal leaves the model as it was
        _replace(g, nodes, new_nodes)
    if plans and not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return len(plans)
