"""ExecuTorch static int8: PT2E with the XNNPACK quantizer (symmetric, per-channel weights, int8
activations), calibrated on real inputs; modules the recipe keeps in float are left unquantized, so
XNNPACK runs them in fp32."""
import torch


def quantize(module, example_inputs, samples, kept_float=()):
    """-> a converted (quantize/dequantize-annotated) module ready for torch.export and XNNPACK lowering."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                          get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    for name in kept_float:
        quantizer.set_module_name(name, None)
    graph = torch.export.export(module, example_inputs, strict=False).module()
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for sample in samples:
            prepared(*(torch.from_numpy(x.copy()) for x in sample))
    return convert_pt2e(prepared)
