"""Lower-bit weight schemes for the transformer's linear layers: one precision name each, one format each.

    pal6   Core ML      6-bit k-means palettization (a 64-entry LUT per weight tensor), fp16 compute
    pal4   Core ML      4-bit k-means palettization (16-entry LUT per tensor), fp16 compute
    w4     ONNX         weight-only int4, symmetric, one fp32 scale per block of 32 inputs (MatMulNBits),
                        fp32 activations
    8da4w  ExecuTorch   int8 dynamic per-token activations x int4 weights, symmetric, per group of 32 inputs
                        (torchao), XNNPACK

Only the transformer's Linear layers (1x1 convolutions in Core ML's Neural Engine layout) are lowered; its
embeddings, position table and LayerNorms stay float. The 4-bit schemes keep `HIGHER_BITS` layers at a
higher width: palettized alone to 4 bits, block 0's layers (28-37 dB of logits SQNR left) and the two
heads (31 dB) cost the most, every other layer leaves 40-51 dB; with every Linear at 4 bits top-1
agreement falls to 92-94%, under verify's 95% (`benchmarks/quantization.py --lowbit`, docs/quantization.md).

The tokenizer has no Linear layers; at these precisions its artifacts are the format's int8 export
(`FALLBACK`), and their manifest entry says so.
"""
import torch

# Per-tensor LUTs: per-grouped-channel ones (groups of 16 channels) need iOS 18 and measured no better in
# a one-off check on the shipped transformer (median weight SQNR 32.2 vs 31.9 dB at 6 bits, 20.0 vs 20.1
# at 4; logits 36.3 vs 35.6 and 23.4 vs 23.3 dB): these weights are alike across channels.
SCHEMES = {
    "pal6": {"format": "coreml", "method": "palettize_kmeans", "bits": 6, "granularity": "per_tensor",
             "compute": "float16"},
    "pal4": {"format": "coreml", "method": "palettize_kmeans", "bits": 4, "granularity": "per_tensor",
             "compute": "float16", "higher_bits": 6},
    "w4": {"format": "onnx", "method": "weight_only_int", "bits": 4, "granularity": "per_block", "block_size": 32,
           "symmetric": True, "compute": "float32", "higher_bits": 8,
           # 8-bit MatMulNBits (the wide layers) came with ONNX Runtime 1.22 (microsoft/onnxruntime#24384, #24491)
           "min_onnxruntime": "1.22"},
    "8da4w": {"format": "executorch", "method": "int8_dynamic_activation_int_weight", "bits": 4,
              "granularity": "per_group", "group_size": 32, "symmetric": True, "compute": "float32",
              "higher_bits": 8, "higher_granularity": "per_channel"},
}
HIGHER_BITS = ("transformer.blocks.0.", "transformer.heads.")
FALLBACK = "int8"


def linear_layers(module):
    """Names of the Linear layers these schemes lower, as in the exported module ("transformer.blocks.0.attn.qkv")."""
    return [n for n, m in module.named_modules() if isinstance(m, torch.nn.Linear)]


def bits_of(precision, layer):
    scheme = SCHEMES[precision]
    return scheme.get("higher_bits", scheme["bits"]) if layer.startswith(HIGHER_BITS) else scheme["bits"]


def layers_by_bits(precision, module):
    """{bits: [layer names]} for the manifest: which layers got which width."""
    out = {}
    for layer in linear_layers(module):
        out.setdefault(str(bits_of(precision, layer)), []).append(layer)
    return out


def describe(precision, module):
    """The manifest's "quantization" entry of a transformer at a lower-bit precision."""
    return {"scheme": precision, **SCHEMES[precision], "layers": layers_by_bits(precision, module),
            "float": "embeddings, position table, LayerNorms, attention matmuls"}


def fallback(precision):
    """The manifest's "quantization" entry of a tokenizer artifact at a lower-bit precision."""
    return {"scheme": FALLBACK, "fallback_of": precision,
            "why": f"{precision} lowers the transformer's Linear layers; the tokenizer (convolutions) uses this "
                   f"format's {FALLBACK} export"}


def format_of(precision):
    return SCHEMES[precision]["format"] if precision in SCHEMES else None
