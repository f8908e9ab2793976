"""Lower-bit weight schemes for the transformer's linear layers: one precision name each, one format each
(pal6 / pal4 in Core ML, w4 in ONNX, 8da4w in ExecuTorch; their parameters are rows of the precision table,
tokenreel/precisions.py, and `SCHEMES` here is its view).

Only the transformer's Linear layers (1x1 convolutions in Core ML's Neural Engine layout) are lowered; its
embeddings, position table and LayerNorms stay float. The 4-bit schemes keep `HIGHER_BITS` layers at a
higher width: palettized alone to 4 bits, block 0's layers (28-37 dB of logits SQNR left) and the two
heads (31 dB) cost the most, every other layer leaves 40-51 dB; with every Linear at 4 bits top-1
agreement falls to 92-94%, under verify's 95% (`benchmarks/quantization.py --lowbit`, docs/quantization.md).

The tokenizer has no Linear layers; at these precisions its artifacts are the format's int8 export
(`FALLBACK`), and their manifest entry says so.
"""
import torch

from ..precisions import FALLBACK, SCHEMES

HIGHER_BITS = ("transformer.blocks.0.", "transformer.heads.")


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
