"""The mixed-precision recipe: which layers stay in float when a model is quantized to int8.

`recipe.json` beside this file is written by `python -m tokenreel.quantization.sensitivity` from measured
per-layer sensitivity; layers are named by their module path in the server model (e.g.
"encoder.conv_out", "transformer.heads.0"), which every format maps to its own nodes.
"""
import json
from pathlib import Path

RECIPE = Path(__file__).with_name("recipe.json")


def load():
    return json.loads(RECIPE.read_text()) if RECIPE.is_file() else {"kept_float": {}}


def kept_float(role):
    return list(load()["kept_float"].get(role, []))


def float_outputs(role):
    """Modules whose weights are int8 but whose outputs stay float (the transformer's logit heads)."""
    return list(load().get("float_outputs", {}).get(role, []))


def module_of(node):
    """The innermost module scope the dynamo ONNX exporter recorded for a node ("" if none)."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            scopes = [s for s in json.loads(prop.value.replace("'", '"')) if s]
            return scopes[-2] if len(scopes) > 1 else (scopes[0] if scopes else "")
    return ""


def onnx_nodes(path, role, modules=None):
    """Names of the ONNX nodes inside the modules kept float (or `modules`)."""
    import onnx
    keep = set(kept_float(role) if modules is None else modules)
    return [n.name for n in onnx.load(str(path)).graph.node if keep and module_of(n) in keep]
