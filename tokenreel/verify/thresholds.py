"""Pass thresholds of `tokenreel verify`, per precision, in one place (documented in docs/verify.md).

Each key is a measured figure; a figure passes when it is >= its threshold, except `*_drop_db`, which
pass when <= (how far an edit's PSNR against the real frames may fall below the server model's).
fp32 must reproduce the server model; fp16 and int8 must keep what users see: at int8, 98% of token
bits equal, decoder PSNR >= 35 dB against the server decoder (the bar ml-stable-diffusion sets for Core ML
conversions), transformer top-1 agreement >= 95%, and the end-to-end PSNR against the real frames no more
than 0.5 dB below the server model's, for the tokenizer alone and for both edits.
The lower-bit transformer precisions (pal6, pal4, w4, 8da4w; their tokenizer artifacts are int8) are held
to int8's bars, plus a floor on the transformer's logits SQNR: the shipped transformer measured 30-36 dB
with the sensitive layers kept wider, 23-25 dB with every Linear at 4 bits (docs/quantization.md), so
28 dB catches a scheme that lost its wide layers.
"""
THRESHOLDS = {
    "fp32": {
        "encoder.tokens_equal": 0.999, "encoder.bits_equal": 0.9999, "encoder.latent_sqnr_db": 60.0,
        "decoder.psnr_db": 60.0,
        "transformer.logits_sqnr_db": 60.0, "transformer.top1_agree": 0.999,
        "reframe.tokens_equal": 0.999, "extend.tokens_equal": 0.999,
        "reframe.psnr_vs_server_db": 60.0, "extend.psnr_vs_server_db": 60.0,
    },
    "fp16": {
        "encoder.bits_equal": 0.99, "encoder.latent_sqnr_db": 30.0,
        "decoder.psnr_db": 35.0,
        "transformer.logits_sqnr_db": 30.0, "transformer.top1_agree": 0.95,
        "tokenizer.truth_drop_db": 0.5, "reframe.truth_drop_db": 0.5, "extend.truth_drop_db": 0.5,
    },
    "int8": {
        "encoder.bits_equal": 0.98, "decoder.psnr_db": 35.0, "transformer.top1_agree": 0.95,
        "tokenizer.truth_drop_db": 0.5, "reframe.truth_drop_db": 0.5, "extend.truth_drop_db": 0.5,
    },
}
for _p in ("pal6", "pal4", "w4", "8da4w"):
    THRESHOLDS[_p] = {**THRESHOLDS["int8"], "transformer.logits_sqnr_db": 28.0}

# Localisation: a layer "diverges" when its output's SQNR against the server model's falls below this.
LAYER_SQNR_DB = {"fp32": 60.0, "fp16": 30.0, "int8": 15.0, "pal6": 15.0, "pal4": 15.0, "w4": 15.0, "8da4w": 15.0}


def judge(precision, figures):
    """-> list of failures ("name value vs threshold") for the figures that have a threshold."""
    failures = []
    for name, limit in THRESHOLDS.get(precision, {}).items():
        if name not in figures:
            continue
        value = figures[name]
        ok = value <= limit if name.endswith("_drop_db") else value >= limit
        if not ok:
            failures.append(f"{name} {value:.4g} {'>' if name.endswith('_drop_db') else '<'} {limit:g}")
    return failures
