"""Core ML palettization (pal6, pal4) of the transformer's Linear layers: k-means LUTs from
coremltools.optimize.coreml on top of an fp16 package, one LUT per weight tensor (schemes.py).

Core ML cannot predict on Linux, so the error is measured on the weights themselves: `dense_weights`
reads the LUTs back out of the package (constexpr_lut_to_dense, decompressed by coremltools), and
`torch_with` puts them into the torch transformer, which verify's machinery then runs on real windows.
"""
import contextlib
import copy
import io

import numpy as np
import torch

from .schemes import SCHEMES, bits_of, linear_layers


def const_name(layer):
    """The Core ML const holding a Linear's weight: torch.export's "p_" + the parameter path, cast to fp16."""
    return "p_" + layer.removeprefix("transformer.").replace(".", "_") + "_weight_to_fp16"


def palettize(model, module, precision):
    """fp16 Core ML model -> palettized; `module` is the exported torch module (names the Linear layers)."""
    from coremltools.optimize.coreml import (OpPalettizerConfig, OptimizationConfig, get_weights_metadata,
                                             palettize_weights)
    scheme = SCHEMES[precision]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        present = set(get_weights_metadata(model, weight_threshold=0))
    configs = {}
    for layer in linear_layers(module):
        name = const_name(layer)
        if name not in present:   # a renamed const would silently stay fp16: refuse instead
            raise RuntimeError(f"Core ML {precision}: no weight const {name} for {layer}")
        configs[name] = OpPalettizerConfig(mode="kmeans", nbits=bits_of(precision, layer),
                                           granularity=scheme["granularity"], weight_threshold=0)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return palettize_weights(model, OptimizationConfig(op_name_configs=configs))


def dense_weights(model):
    """{const name: fp16 weights} of the palettized consts, as the device will expand them."""
    from coremltools.optimize.coreml import decompress_weights, get_weights_metadata
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        meta = get_weights_metadata(decompress_weights(model), weight_threshold=0)
    return {k.removesuffix("_palettized"): v.val for k, v in meta.items() if k.endswith("_palettized")}


def torch_with(module, dense):
    """A copy of the exported torch module whose Linear weights are the package's palettized ones (those
    `dense` has: all of them for a pal6 / pal4 package)."""
    module = copy.deepcopy(module)
    for layer in linear_layers(module):
        linear, w = module.get_submodule(layer), dense.get(const_name(layer))
        if w is None:
            continue
        linear.weight.data = torch.from_numpy(np.asarray(w, np.float32).reshape(linear.weight.shape))
    return module
