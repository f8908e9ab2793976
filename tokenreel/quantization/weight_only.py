"""ONNX weight-only int4 (w4) of the transformer's Linear MatMuls: ONNX Runtime's MatMulNBitsQuantizer,
round-to-nearest, symmetric, one fp32 scale per block of 32 inputs (schemes.py); the HIGHER_BITS layers
get 8 bits the same way. Activations stay fp32; ONNX Runtime's MatMulNBits kernel dequantizes blocks on
the fly. No calibration: only weights are quantized."""
import contextlib
import io
import logging
from pathlib import Path

from ..runtime.video import output_path
from .recipe import module_of
from ..precisions import scheme_using
from .schemes import SCHEMES, bits_of


def quantize(fp32_path: Path, out_path: Path, precision=scheme_using("weight_only_int")):
    """fp32 .onnx -> MatMulNBits .onnx at out_path (temp file, then rename). -> {module: bits}, read back
    from the written graph (refuses a Linear left unquantized or at another width than the scheme's)."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    scheme = SCHEMES[precision]
    model = onnx.load(str(fp32_path))
    weights = {i.name for i in model.graph.initializer}
    # the Linear MatMuls: a constant weight and a module scope (attention's activation matmuls have neither)
    linear = {n.name: module_of(n) for n in model.graph.node
              if n.op_type == "MatMul" and n.input[1] in weights and module_of(n)}
    scopes = {n.name: list(n.metadata_props) for n in model.graph.node if n.name in linear}
    by_bits = {}
    for name, module in linear.items():
        by_bits.setdefault(bits_of(precision, module), []).append(name)
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    for bits, nodes in sorted(by_bits.items()):   # one pass per width
        # nodes_to_include only adds to the MatMul op type; exclusion is what limits a pass
        q = MatMulNBitsQuantizer(model, bits=bits, block_size=scheme["block_size"], is_symmetric=scheme["symmetric"],
                                 nodes_to_exclude=[n for n in linear if n not in nodes])
        with contextlib.redirect_stdout(io.StringIO()):
            q.process()
        model = q.model.model
    for n in model.graph.node:   # the quantizer drops the module scope; keep it for the manifest and verify
        if n.op_type == "MatMulNBits" and not n.metadata_props:
            n.metadata_props.extend(scopes[n.name.rsplit("_Q", 1)[0]])
    quantized = {linear[n.name.rsplit("_Q", 1)[0]]: next(a.i for a in n.attribute if a.name == "bits")
                 for n in model.graph.node if n.op_type == "MatMulNBits"}
    expected = {module: bits_of(precision, module) for module in linear.values()}
    if quantized != expected:
        raise RuntimeError(f"ONNX {precision}: MatMulNBits widths {quantized} differ from the scheme's {expected}")
    with output_path(out_path) as tmp:
        onnx.save(model, str(tmp))
        onnx.checker.check_model(str(tmp))
    return quantized
