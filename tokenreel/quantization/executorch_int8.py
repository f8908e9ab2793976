"""ExecuTorch static int8: PT2E with the XNNPACK quantizer (symmetric, per-channel weights, int8
activations), calibrated on real inputs. Of the recipe's float layers only the activation matmuls stay
float here (see `float_here`)."""
import torch


def float_here(module, kept_float):
    """The recipe's float modules this quantizer honours: activation-only ones (an attention's matmuls,
    which it never quantizes). Weight layers cannot be left out: this version's XNNPACKQuantizer refuses
    `set_module_name(name, None)`, so they are quantized like the rest (say so in the manifest)."""
    present = {name: m for name, m in module.named_modules()}   # the recipe may name layers this model lacks
    return [n for n in kept_float if n in present and not isinstance(present[n], (torch.nn.Conv2d, torch.nn.Linear))]


def quantize(module, example_inputs, samples):
    """-> a converted (quantize/dequantize-annotated) module ready for torch.export and XNNPACK lowering."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                          get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    graph = torch.export.export(module, example_inputs, strict=False).module()
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for sample in samples:
            prepared(*(torch.from_numpy(x.copy()) for x in sample))
    return convert_pt2e(prepared)
