"""ExecuTorch static int8: PT2E with the XNNPACK quantizer (symmetric, per-channel weights, int8
activations), calibrated on real inputs.

As in the ONNX recipe, only convolutions and linear layers are quantized, and none inside the recipe's
float modules: a filter on the graph's nodes does both. Left to itself the quantizer would also quantize
every add and mul, which puts the transformer's written-out GELU (x * x * x ...) through int8 at each step
(logits 30 dB instead of 35 against the server)."""
import torch

QUANTIZED_TARGETS = ("linear", "conv1d", "conv2d", "convolution")


def float_here(module, kept_float):
    """The recipe's float modules present in this model (the recipe may name layers it lacks)."""
    present = {name for name, _ in module.named_modules()}
    return [n for n in kept_float if n in present]


def _node_filter(kept_float):
    def in_float_module(node):   # the innermost module, as the ONNX recipe names nodes (recipe.module_of)
        stack = list((node.meta.get("nn_module_stack") or {}).values())
        return bool(stack) and stack[-1][0] in kept_float

    def quantize_node(node):
        if node.op != "call_function":   # a pattern's weight and bias come along with its conv / linear
            return True
        name = getattr(node.target, "__name__", str(node.target)).split(".")[0]
        return name in QUANTIZED_TARGETS and not in_float_module(node)
    return quantize_node


def quantize(module, example_inputs, samples, kept_float=(), float_outputs=()):
    """-> a converted (quantize/dequantize-annotated) module ready for torch.export and XNNPACK lowering.
    `float_outputs`: linear modules quantized dynamically instead (int8 weights, activations quantized per
    call, the output float), as the recipe's logit heads (onnx_int8._unquantize_outputs says why)."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                          get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    quantizer.set_filter_function(_node_filter(tuple(kept_float)))
    for name in float_here(module, float_outputs):
        quantizer.set_module_name(name, get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))
    graph = torch.export.export(module, example_inputs, strict=False).module()
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for sample in samples:
            prepared(*(torch.from_numpy(x.copy()) for x in sample))
    return convert_pt2e(prepared)
