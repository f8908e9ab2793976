"""Per-layer int8 sensitivity, and the mixed-precision recipe it decides.

    python -m tokenreel.quantization.sensitivity            # -> tokenreel/quantization/recipe.json

For every exported role, each layer (module with a Conv / MatMul / Gemm) is quantized alone (ONNX static
int8, the same calibration set the export uses) and the SQNR of the role's main output against fp32 is
measured on the calibration inputs. A layer stays in float when quantizing it alone costs more than
`MARGIN_DB` below the median layer's SQNR, worst first, while the float layers hold at most
`FLOAT_BUDGET` of the role's weights (each float layer costs size and NPU time; this keeps an int8
artifact under a third of its fp32 size). The measured table is stored beside the decision.
"""
import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..runtime.video import write_atomic
from . import onnx_int8
from .recipe import RECIPE, module_of

MARGIN_DB = 10.0
FLOAT_BUDGET = 0.05


def _outputs(path, samples):
    import onnxruntime as ort
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return np.concatenate([session.run(None, dict(zip(names, s)))[0].reshape(-1) for s in samples])


def layer_weights(fp32_path):
    """{module: number of weights its Conv / MatMul / Gemm nodes hold}, and the graph's total."""
    import onnx
    model = onnx.load(str(fp32_path))
    size = {i.name: int(np.prod(i.dims)) for i in model.graph.initializer}
    per_module = {}
    for n in model.graph.node:
        if n.op_type in onnx_int8.QUANTIZED_OPS:
            m = module_of(n)
            per_module[m] = per_module.get(m, 0) + sum(size.get(x, 0) for x in n.input)
    return per_module, sum(size.values())


def layer_sensitivity(fp32_path, samples):
    """{module: SQNR dB of the output with only that module quantized}."""
    import onnx
    from ..verify import sqnr_db
    reference = _outputs(fp32_path, samples)
    nodes = {}
    for n in onnx.load(str(fp32_path)).graph.node:
        if n.op_type in onnx_int8.QUANTIZED_OPS:
            nodes.setdefault(module_of(n), []).append(n.name)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for module, names in tqdm(nodes.items(), desc=f"sensitivity {Path(fp32_path).stem}", leave=False):
            q = Path(tmp) / "one.onnx"
            onnx_int8.quantize(fp32_path, q, samples, only=names)
            out[module] = round(sqnr_db(reference, _outputs(q, samples)), 2)
    return out


def decide(sensitivity, weights=None, total=None):
    """Modules to keep float: far below the median, worst first, within the weight budget; and any module
    without weights below the median (the attention-score matmuls: float costs them no size, and int8
    scores are what the transformer is most sensitive to)."""
    median = float(np.median(list(sensitivity.values())))
    kept, used = [], 0
    for value, module in sorted((v, k) for k, v in sensitivity.items() if v < median):
        cost = (weights or {}).get(module, 0)
        if value >= median - MARGIN_DB and (cost or weights is None):
            continue
        if total and used + cost > FLOAT_BUDGET * total:
            continue
        kept.append(module)
        used += cost
    return kept


def main(argv=None):
    from ..backends.torch_backend import TorchTokenizer, TorchTransformer
    from ..export import onnx as onnx_export
    from ..export.spec import tokenizer_specs, transformer_spec
    from ..models.weights import DEFAULT_TRANSFORMER
    from .calibration import calibration_set, default_clips
    from ..logs import quiet_libraries
    quiet_libraries()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="128x224")
    p.add_argument("--out", type=Path, default=RECIPE)
    args = p.parse_args(argv)
    h, w = (int(v) for v in args.size.split("x"))
    tokenizer = TorchTokenizer()
    transformer = TorchTransformer() if DEFAULT_TRANSFORMER.is_file() else None
    clips = default_clips()
    with tqdm(total=len(clips), desc="calibrate") as bar:
        calibration = calibration_set(tokenizer, transformer, (w, h), clips, bar.update)
    artifacts = tokenizer_specs(tokenizer.model, h, w)
    if transformer is not None:
        artifacts.append(transformer_spec(transformer.model))
    recipe = {"rule": f"float when alone-int8 SQNR < median - {MARGIN_DB} dB, worst first, float weights "
                      f"<= {FLOAT_BUDGET:.0%} of the role's; and weightless modules below the median",
              "kept_float": {}, "float_outputs": {}, "sensitivity_db": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for a in artifacts:
            fp32 = Path(tmp) / f"{a.role}.onnx"
            onnx_export.export(a, fp32)
            s = layer_sensitivity(fp32, calibration[a.role])
            recipe["sensitivity_db"][a.role] = s
            recipe["kept_float"][a.role] = decide(s, *layer_weights(fp32))
            # the logits the tokens are chosen from stay float; their weights int8 (onnx_int8._unquantize_outputs)
            heads = sorted(m for m in s if m.startswith("transformer.heads."))
            if heads:
                recipe["float_outputs"][a.role] = heads
            print(f"{a.role}: {len(s)} layers, SQNR {min(s.values()):.1f}..{max(s.values()):.1f} dB, "
                  f"kept float: {recipe['kept_float'][a.role] or 'none'}")
    write_atomic(args.out, (json.dumps(recipe, indent=1) + "\n").encode(), ".json")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
