"""The verify report as a table: one row per format and precision, a pass/fail column, and for a failure
the layer table around the first divergence."""

COLUMNS = [("encoder.tokens_equal", "enc tok=", "{:.2%}"), ("encoder.bits_equal", "enc bit=", "{:.3%}"),
           ("encoder.latent_sqnr_db", "latent SQNR", "{:.1f}"), ("decoder.psnr_db", "dec PSNR", "{:.1f}"),
           ("tokenizer.truth_drop_db", "tokenizer drop dB", "{:+.2f}"),
           ("transformer.logits_sqnr_db", "logit SQNR", "{:.1f}"), ("transformer.top1_agree", "top-1", "{:.2%}"),
           ("reframe.tokens_equal", "reframe tok=", "{:.2%}"), ("reframe.truth_drop_db", "reframe drop dB", "{:+.2f}"),
           ("extend.tokens_equal", "extend tok=", "{:.2%}"), ("extend.truth_drop_db", "extend drop dB", "{:+.2f}")]


def table(report):
    lines = [f"verify {report['folder']} on {', '.join(report['rows'][0]['clips'])} "
             f"(server: {report['server']['tokenizer']}; SQNR/PSNR capped at 200 dB = identical)", "",
             "| format | precision | " + " | ".join(c[1] for c in COLUMNS) + " | result |",
             "|---|---|" + "---|" * len(COLUMNS) + "---|"]
    for r in report["rows"]:
        if r["status"] == "skipped":
            cells = [""] * len(COLUMNS) + [f"skipped: {r['reason']}"]
        else:
            f = r["figures"]
            cells = [fmt.format(f[k]) if k in f else "" for k, _, fmt in COLUMNS]
            cells.append("PASS" if r["status"] == "pass" else "FAIL: " + "; ".join(r["failures"]))
        lines.append(f"| {r['format']} | {r['precision']} | " + " | ".join(cells) + " |")
    for r in report["rows"]:
        for loc in r.get("localisation", []):
            lines += ["", f"{loc['artifact']}: " + (loc.get("error") or _first(loc))]
            lines += _layer_rows(loc)
    lines += ["", "PASS" if report["pass"] else "FAIL"]
    return "\n".join(lines)


def _first(loc):
    d = loc["first_divergence"]
    if d is None:
        return f"no layer below the threshold ({loc['compared']} compared)"
    return f"first divergence at {d['module'] or '(top level)'} [{d['op']}], SQNR {d['sqnr_db']:.1f} dB"


def _layer_rows(loc, before=4, after=3):
    rows = loc.get("rows") or []
    if not rows:
        return []
    i = next((k for k, r in enumerate(rows) if r.get("first_divergence")), len(rows) - 1)
    out = ["| layer (module) | op | SQNR dB |", "|---|---|---|"]
    for r in rows[max(0, i - before):i + after + 1]:
        mark = " <- first divergence" if r.get("first_divergence") else ""
        out.append(f"| {r['module'] or '-'} | {r['op']} | {r['sqnr_db']:.1f}{mark} |")
    return out
