"""ONNX Runtime's fused CPU kernels for the transformer's attention and GELU (com.microsoft MultiHeadAttention
and FastGelu), swapped in when the ONNX backend loads an exported transformer (fp32 and int8).

The export writes attention as explicit bmm + softmax and GELU as its tanh formula (models/transformer.py):
standard ops, which phone execution providers (NNAPI, QNN) take, so the file stays so. On the CPU, ONNX
Runtime runs them as ~12 separate kernels per layer, writing every head's (N, N) scores to memory and back;
its fused kernels compute the same function (the logits' SQNR against the unfused graph: 135 dB at fp32)
in 15-20% less time a call, and on the int8 transformer they are the float part the recipe keeps
(attention's products). A fused node writes the tensor the last node it replaces wrote and keeps its
module's scope."""
from onnx import helper, numpy_helper

from ..quantization.recipe import module_of

MS_DOMAIN = "com.microsoft"


def _scopes(graph, suffix):
    """{module scope ending in `suffix`: its nodes in graph order}."""
    out = {}
    for n in graph.node:
        scope = module_of(n)
        if scope.endswith(suffix):
            out.setdefault(scope, []).append(n)
    return out


def _boundary(graph, nodes):
    """(external inputs, outputs read outside) of a set of nodes: tensors entering from other nodes or the
    graph inputs (not initializers), and those leaving it."""
    inits = {i.name for i in graph.initializer}
    made = {o for n in nodes for o in n.output}
    inside = {id(n) for n in nodes}
    ins = [i for n in nodes for i in n.input if i and i not in made and i not in inits]
    read_outside = {i for n in graph.node if id(n) not in inside for i in n.input}
    read_outside |= {o.name for o in graph.output}
    outs = [o for n in nodes for o in n.output if o in read_outside]
    return list(dict.fromkeys(ins)), outs


def _replace(graph, nodes, new_nodes):
    """Put new_nodes where the first of `nodes` stood, removing `nodes`."""
    at = list(graph.node).index(nodes[0])
    for n in nodes:
        graph.node.remove(n)
    for k, n in enumerate(new_nodes):
        graph.node.insert(at + k, n)


def _scoped(node, like):
    node.metadata_props.extend(p for p in like.metadata_props)
    return node


def _heads(graph, nodes, scope):
    """Attention heads of a module: from its (B, N, 3, heads, d) reshape of the qkv projection."""
    inits = {i.name: i for i in graph.initializer}
    for n in nodes:
        if n.op_type == "Reshape" and n.input[1] in inits:
            shape = numpy_helper.to_array(inits[n.input[1]])
            if shape.shape == (5,) and shape[2] == 3:
                return int(shape[3])
    raise ValueError(f"fuse_transformer: {scope}: no (B, N, 3, heads, d) reshape of the qkv projection")


def fuse_transformer(model) -> int:
    """Replace each attention module's products and softmax with MultiHeadAttention and each tanh GELU with
    FastGelu, in place -> the number of modules replaced. Raises ValueError where a module's subgraph does not
    have the one input and one output the fusion assumes (another exporter's graph: the caller keeps it unfused)."""
    g = model.graph
    done = 0
    for scope, nodes in _scopes(g, ".attn").items():
        ins, outs = _boundary(g, nodes)
        if len(ins) != 1 or len(outs) != 1 or [n.op_type for n in nodes].count("Softmax") != 1:
            raise ValueError(f"fuse_transformer: {scope}: expected one input (the qkv projection), one output "
                             f"and one softmax; found inputs {ins}, outputs {outs}")
        q, k, v = (f"{scope}.fused_{c}" for c in "qkv")
        split = _scoped(helper.make_node("Split", [ins[0]], [q, k, v], name=f"{scope}.fused_split", axis=-1,
                                         num_outputs=3), nodes[0])
        mha = _scoped(helper.make_node("MultiHeadAttention", [q, k, v], outs, name=f"{scope}.fused_mha",
                                       domain=MS_DOMAIN, num_heads=_heads(g, nodes, scope)), nodes[0])
        _replace(g, nodes, [split, mha])
        done += 1
    for scope, nodes in _scopes(g, ".mlp.1").items():
        ins, outs = _boundary(g, nodes)
        if len(ins) != 1 or len(outs) != 1 or [n.op_type for n in nodes].count("Tanh") != 1:
            raise ValueError(f"fuse_transformer: {scope}: expected the tanh GELU (one input, one output, one "
                             f"Tanh); found inputs {ins}, outputs {outs}")
        _replace(g, nodes, [_scoped(helper.make_node("FastGelu", ins, outs, name=f"{scope}.fused_gelu",
                                                     domain=MS_DOMAIN), nodes[0])])
        done += 1
    if done and not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    used = {i for n in g.node for i in n.input}
    for init in [i for i in g.initializer if i.name not in used]:     # the replaced nodes' constants
        g.initializer.remove(init)
    return done
