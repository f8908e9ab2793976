"""ExecuTorch 8da4w of the transformer's Linear layers: torchao's Int8DynamicActivationIntxWeightConfig
(int8 activations quantized per token at run time, int4 symmetric weights with one scale per group of 32
inputs; the HIGHER_BITS layers int8 per output channel), which XNNPACK runs as its dynamically quantized
fully-connected kernels. No calibration: activation ranges are computed per call."""
import torch

from ..precisions import scheme_using
from .schemes import SCHEMES, bits_of


def quantize(module, precision=scheme_using("int8_dynamic_activation_int_weight")):
    """-> a copy of `module` with its Linear layers quantized, ready for torch.export and XNNPACK lowering."""
    import copy
    from torchao.quantization import Int8DynamicActivationIntxWeightConfig, quantize_
    from torchao.quantization.granularity import PerAxis, PerGroup
    scheme = SCHEMES[precision]
    module = copy.deepcopy(module)
    low, high = scheme["bits"], scheme["higher_bits"]
    dtype = {4: torch.int4, 8: torch.int8}
    for bits, granularity in ((low, PerGroup(scheme["group_size"])), (high, PerAxis(0))):
        quantize_(module, Int8DynamicActivationIntxWeightConfig(weight_dtype=dtype[bits], weight_granularity=granularity),
                  filter_fn=lambda m, name, bits=bits: isinstance(m, torch.nn.Linear) and bits_of(precision, name) == bits)
    return module
