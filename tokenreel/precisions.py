"""Every precision tokenreel exports and runs, in one table; no torch, so the runtime and the CLI read it too.

A precision is a name and what it means everywhere: which formats can export it, how the export produces
it (`quantizer`), the dtype of its float computations, what `tokenreel verify` holds it to, what its
tokenizer artifacts fall back to, and so which file an export writes for each artifact
(`NAME.PRECISION.SUFFIX`, `file_name`).

    fp32   float32, the server model as it is; the graph the int8 and lower-bit quantizers start from
    fp16   float16 weights and computations (ONNX keeps fp32 inputs and outputs; ExecuTorch takes half ones)
    int8   the format's int8: static QDQ calibrated on real inputs (ONNX Runtime; ExecuTorch PT2E, XNNPACK),
           int8 linear weights over fp16 activations in Core ML (no calibration)
    pal6   Core ML      6-bit k-means palettization (a 64-entry LUT per weight tensor), fp16 compute
    pal4   Core ML      4-bit k-means palettization (16-entry LUT per tensor), fp16 compute
    w4     ONNX         weight-only int4, symmetric, one fp32 scale per block of 32 inputs (MatMulNBits),
                        fp32 activations
    8da4w  ExecuTorch   int8 dynamic per-token activations x int4 weights, symmetric, per group of 32 inputs
                        (torchao), XNNPACK

The last four are lower-bit schemes of the transformer's Linear layers (`SCHEMES`; how the layers are chosen
and lowered: quantization/schemes.py). The tokenizer has no Linear layers: at these precisions its
artifacts are the format's int8 export (`FALLBACK`), and their manifest entry says so.

Verify's thresholds (documented in docs/verify.md): each key is a measured figure; a figure passes when it
is >= its threshold, except `*_drop_db`, which pass when <= (how far an edit's PSNR against the real frames
may fall below the server model's). fp32 must reproduce the server model; fp16 and int8 must keep what
users see: at int8, 98% of token bits equal, decoder PSNR >= 35 dB against the server decoder (the bar
ml-stable-diffusion sets for Core ML conversions), transformer top-1 agreement >= 95%, and the end-to-end
PSNR against the real frames no more than 0.5 dB below the server model's, for the tokenizer alone and for
both edits. The lower-bit transformer precisions are held to int8's bars, plus a floor on the transformer's
logits SQNR: the shipped transformer measured 30-36 dB with the sensitive layers kept wider, 23-25 dB with
every Linear at 4 bits (docs/quantization.md), so 28 dB catches a scheme that lost its wide layers.
`layer_sqnr_db` is localisation's: a layer "diverges" when its output's SQNR against the server model's
falls below it.
"""
from dataclasses import dataclass

FORMATS = {"onnx": ".onnx", "coreml": ".mlpackage", "executorch": ".pte"}   # format -> file suffix

FP32, FP16, INT8 = "fp32", "fp16", "int8"
DEFAULT = FP32      # export, encode / decode, eval and the backends: what reproduces the server model
PHONE = INT8        # the demo, the API's Editor and bench's edits: what a phone would run
FALLBACK = INT8     # the tokenizer's artifacts at a lower-bit (transformer-only) precision

CAST, QUANTIZE_INT8, SCHEME = "float cast", "format int8", "lower-bit scheme"     # how a precision is made


@dataclass(frozen=True)
class Precision:
    name: str
    quantizer: str                   # CAST, QUANTIZE_INT8 or SCHEME
    compute: object                  # dtype of the float computations; None: the format's own (int8)
    thresholds: dict                 # verify: figure -> threshold
    layer_sqnr_db: float             # verify's localisation: a layer below this diverges
    formats: tuple = tuple(FORMATS)  # the formats that can export it
    calibrated_in: tuple = ()        # formats whose export of it needs calibration inputs
    fallback: object = None          # the precision of its tokenizer artifacts, if not its own
    scheme: object = None            # SCHEME: the scheme's parameters (the manifest's "quantization" entry)

    @property
    def cast(self):
        """A float model cast to `compute`, no quantizer (fp32, fp16)."""
        return self.quantizer == CAST

    @property
    def int8(self):
        """The format's int8 quantizer (quantization/onnx_int8.py, executorch_int8.py; Core ML's weights)."""
        return self.quantizer == QUANTIZE_INT8

    @property
    def half(self):
        return self.compute == "float16"

    @property
    def only_format(self):
        """The one format that exports it (the lower-bit schemes), or None where every format does."""
        return self.formats[0] if len(self.formats) == 1 else None

    def written(self, role):
        """The precision of the file that serves `role` at this precision (a tokenizer role may fall back)."""
        return self.fallback if self.fallback and role != "transformer" else self.name

    def file_name(self, artifact, role, fmt):
        """The file an export writes for artifact `artifact` (of `role`) in `fmt`: "encoder_step.int8.onnx"."""
        return f"{artifact}.{self.written(role)}{FORMATS[fmt]}"


_INT8_BARS = {
    "encoder.bits_equal": 0.98, "decoder.psnr_db": 35.0, "transformer.top1_agree": 0.95,
    "tokenizer.truth_drop_db": 0.5, "reframe.truth_drop_db": 0.5, "extend.truth_drop_db": 0.5,
}
_ROWS = [
    Precision(FP32, CAST, "float32", {
        "encoder.tokens_equal": 0.999, "encoder.bits_equal": 0.9999, "encoder.latent_sqnr_db": 60.0,
        "decoder.psnr_db": 60.0,
        "transformer.logits_sqnr_db": 60.0, "transformer.top1_agree": 0.999,
        "reframe.tokens_equal": 0.999, "extend.tokens_equal": 0.999,
        "reframe.psnr_vs_server_db": 60.0, "extend.psnr_vs_server_db": 60.0,
    }, layer_sqnr_db=60.0),
    Precision(FP16, CAST, "float16", {
        "encoder.bits_equal": 0.99, "encoder.latent_sqnr_db": 30.0,
        "decoder.psnr_db": 35.0,
        "transformer.logits_sqnr_db": 30.0, "transformer.top1_agree": 0.95,
        "tokenizer.truth_drop_db": 0.5, "reframe.truth_drop_db": 0.5, "extend.truth_drop_db": 0.5,
    }, layer_sqnr_db=30.0),
    Precision(INT8, QUANTIZE_INT8, None, _INT8_BARS, layer_sqnr_db=15.0, calibrated_in=("onnx", "executorch")),
]

# The lower-bit schemes, as the manifest records them. Per-tensor LUTs: per-grouped-channel ones (groups of
# 16 channels) need iOS 18 and measured no better in a one-off check on the shipped transformer (median
# weight SQNR 32.2 vs 31.9 dB at 6 bits, 20.0 vs 20.1 at 4; logits 36.3 vs 35.6 and 23.4 vs 23.3 dB): these
# weights are alike across channels.
_SCHEMES = {
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
_ROWS += [Precision(name, SCHEME, s["compute"], {**_INT8_BARS, "transformer.logits_sqnr_db": 28.0},
                    layer_sqnr_db=15.0, formats=(s["format"],), fallback=FALLBACK, scheme=s)
          for name, s in _SCHEMES.items()]

TABLE = {p.name: p for p in _ROWS}
NAMES = tuple(TABLE)                                                   # in the order of the table
SCHEMES = {p.name: p.scheme for p in _ROWS if p.scheme}


def scheme_using(method):
    """The lower-bit precision whose scheme uses `method` ("weight_only_int" -> "w4")."""
    return next(name for name, s in SCHEMES.items() if s["method"] == method)


def needs_calibration(precisions, tokenizer_too=True):
    """Whether exporting `precisions` needs real calibration inputs: the int8 quantizers of ONNX and
    ExecuTorch calibrate; so does a lower-bit precision's int8 tokenizer in those formats, if tokenizer
    artifacts are exported."""
    for p in map(TABLE.__getitem__, precisions):
        if p.calibrated_in:
            return True
        if tokenizer_too and p.fallback and set(TABLE[p.fallback].calibrated_in) & set(p.formats):
            return True
    return False


def option_help():
    """The names, as `tokenreel export --precision`'s help lists them."""
    by_format = {}
    for p in _ROWS:
        if p.only_format:
            by_format.setdefault(p.only_format, []).append(p.name)
    return (",".join(p.name for p in _ROWS if not p.only_format) + ", or lower-bit transformer weights " +
            ", ".join(f"{','.join(names)} ({fmt})" for fmt, names in by_format.items()))
