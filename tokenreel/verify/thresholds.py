"""Pass thresholds of `tokenreel verify`, per precision: rows of the precision table (tokenreel/precisions.py,
where they are explained; documented in docs/verify.md), and `judge`, which applies them.

Each key is a measured figure; a figure passes when it is >= its threshold, except `*_drop_db`, which
pass when <= (how far an edit's PSNR against the real frames may fall below the server model's).
"""
from ..precisions import TABLE

THRESHOLDS = {name: p.thresholds for name, p in TABLE.items()}

# Localisation: a layer "diverges" when its output's SQNR against the server model's falls below this.
LAYER_SQNR_DB = {name: p.layer_sqnr_db for name, p in TABLE.items()}


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
