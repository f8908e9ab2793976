"""Pass thresholds of `tokenreel verify`, per precision, in one place (documented in docs/verify.md).

Each key is a measured figure; a figure passes when it is >= its threshold, except `*_drop_db`, which
pass when <= (how far an edit's PSNR against the real frames may fall below the server model's).
fp32 must reproduce the server model; fp16 must keep the edits right (the int8 figures of the
quantization issue are the same kind, set there).
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
        "reframe.truth_drop_db": 0.5, "extend.truth_drop_db": 0.5,
    },
}

# Localisation: a layer "diverges" when its output's SQNR against the server model's falls below this.
LAYER_SQNR_DB = {"fp32": 60.0, "fp16": 30.0}


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
