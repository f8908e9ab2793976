"""Exports of the server models for phones: ONNX, Core ML and ExecuTorch, fp32, fp16 and int8, and lower-bit
transformer weights (pal6 / pal4 in Core ML, w4 in ONNX, 8da4w in ExecuTorch: quantization/schemes.py).

What is exported is defined once (`spec.py`, an `ExportSpec` per file); each format has one module with
`export(artifact, path, precision) -> info`; `tokenreel export` drives them and writes manifest.json beside the artifacts.
"""
import importlib
import time
from pathlib import Path

from tqdm import tqdm

from ..errors import UserError
from ..runtime import manifest as exported
from ..runtime.manifest import SCHEMA_VERSION
from ..runtime.sampler import SPEC_VERSION
from ..precisions import DEFAULT, FORMATS, NAMES, TABLE, needs_calibration
from ..quantization.schemes import fallback
from . import manifest as manifest_io
from ..models.tokenizer import start_calls
from .spec import tokenizer_specs, transformer_spec

PRECISIONS = NAMES     # the precision table (precisions.py): formats, quantizer, thresholds, files
MIN_VERSIONS = {"onnxruntime": "1.17", "onnx_opset": 18, "executorch": "1.5", "ios": "17", "coreml_spec": 8}


def min_versions(entries):
    """MIN_VERSIONS, raised where an artifact needs a newer runtime (w4's 8-bit MatMulNBits: ORT 1.22)."""
    out = dict(MIN_VERSIONS)
    for e in entries.values():
        need = e.get("quantization", {}).get("min_onnxruntime")
        if need and tuple(map(int, need.split("."))) > tuple(map(int, out["onnxruntime"].split("."))):
            out["onnxruntime"] = need
    return out


def _check_choices(formats, precisions):
    for f in formats:
        if f not in FORMATS:
            raise UserError(f"--formats {f}: choose from {', '.join(FORMATS)}")
    for p in precisions:
        if p not in PRECISIONS:
            raise UserError(f"--precision {p}: choose from {', '.join(PRECISIONS)}")
        only = TABLE[p].only_format     # each lower-bit scheme exists in one format
        if only and only not in formats:
            raise UserError(f"--precision {p} is a {only} precision: add {only} to --formats")


def _jobs(artifacts, formats, precisions):
    """(artifact, format, precision) to export: a lower-bit precision only in its own format."""
    return [(a, f, p) for f in formats for p in precisions for a in artifacts if f in TABLE[p].formats]


def _kept_entries(out, geometry, weights, entries):
    """The artifacts an earlier export left in `out` that this one did not make again, where that export is of
    the same weights, geometry, sampler and manifest schema and each file is still as it wrote it: exporting
    another format or precision into a folder adds to it. Anything else is dropped from the manifest."""
    try:
        old = exported.read(out, verify=False)
    except UserError:           # none there, or not ours
        return {}
    if (old["geometry"], old["weights"], old.get("sampler"), old["schema_version"]) != \
            (geometry, weights, SPEC_VERSION, SCHEMA_VERSION):
        return {}
    kept = {}
    for key, entry in old["artifacts"].items():
        if key in entries:
            continue
        rewritten = next((e for e in entries.values() if e["file"] == entry["file"]), None)
        if rewritten is not None:   # a file this export wrote again (a lower-bit scheme's int8 tokenizer)
            if (rewritten["role"], rewritten["format"]) != (entry["role"], entry["format"]):
                continue
            entry = dict({k: v for k, v in rewritten.items() if k != "quantization"}, precision=entry["precision"],
                         **({"quantization": entry["quantization"]} if "quantization" in entry else {}))
        else:
            try:
                exported.verify_entry(out, entry)
            except UserError:   # removed or changed since
                continue
        kept[key] = entry
    try:
        min_versions(kept)      # fields the manifest check does not cover: a damaged entry is not kept
    except Exception:
        return {}
    return kept


def export_models(out: Path, formats=("onnx",), precisions=(DEFAULT,), size=(128, 224),
                  tokenizer_weights=None, transformer_weights=None, quiet=False, calibration_clips=None,
                  roles=None):
    """Export every artifact (or those of `roles`) in every format and precision; -> the manifest."""
    from ..models.weights import DEFAULT_TOKENIZER, DEFAULT_TRANSFORMER, load_tokenizer, load_transformer
    _check_choices(formats, precisions)
    for f in formats:   # a missing optional engine is a user error, before any work is done
        try:
            importlib.import_module({"onnx": "onnxscript", "coreml": "coremltools", "executorch": "executorch"}[f])
        except ImportError:
            raise UserError(f"--formats {f} needs its converter: pip install 'tokenreel[export]'")
    h, w = size
    tokenizer, tok_meta = load_tokenizer(tokenizer_weights or DEFAULT_TOKENIZER)
    if tokenizer.cfg.levels:    # the manifest, the ports and the golden vectors speak LFQ only
        raise UserError(f"{tokenizer_weights}: an FSQ tokenizer cannot be exported yet (LFQ only)")
    s = tokenizer.cfg.spatial_factor
    if h % s or w % s:
        raise UserError(f"--size {h}x{w}: both sides must be multiples of {s}")
    artifacts = tokenizer_specs(tokenizer, h, w)
    geometry = {"bits": tokenizer.cfg.bits, "spatial": s, "group": tokenizer.cfg.group, "frame_size": [w, h]}
    warm = {"encoder_step": start_calls(tokenizer.encoder), "decoder_step": start_calls(tokenizer.decoder)}
    if any(warm.values()):      # a `replicate` causal start: the runtime warms the zero states (docs/export.md)
        geometry["start_calls"] = warm
    weights = {"tokenizer": {"id": tok_meta["id"], "sha256": tok_meta["sha256"]}}
    tf_path = Path(transformer_weights or DEFAULT_TRANSFORMER)
    if transformer_weights or tf_path.is_file():
        transformer, tf_meta = load_transformer(tf_path)
        artifacts.append(transformer_spec(transformer))
        c = transformer.cfg
        geometry.update(window=list(c.window), splits=c.splits, sub_bits=c.sub_bits, mask_id=c.mask_id)
        weights["transformer"] = {"id": tf_meta["id"], "sha256": tf_meta["sha256"]}
    calibration = {}
    # real inputs of every role, from the server model (quantization/calibration.py), for int8 and for the
    # tokenizer's int8 at w4 / 8da4w (Core ML's int8 and the lower-bit transformers need none)
    tokenizer_too = roles is None or {"encoder_step", "decoder_step"} & set(roles)
    if needs_calibration(precisions, tokenizer_too):
        from ..backends.torch_backend import TorchTokenizer, TorchTransformer
        from ..quantization.calibration import calibration_set, default_clips
        clips = calibration_clips or default_clips()
        with tqdm(total=len(clips), desc="calibrate", disable=quiet) as bar:
            calibration = calibration_set(TorchTokenizer(tokenizer_weights),
                                          TorchTransformer(tf_path) if "transformer" in weights else None,
                                          (w, h), clips, bar.update)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    entries = {}
    jobs = _jobs([a for a in artifacts if roles is None or a.role in roles], formats, precisions)
    written = {}    # (name, format, precision written) -> its entry: one file serves every precision that uses it
    bar = tqdm(jobs, desc="export", disable=quiet)
    for a, fmt, precision in bar:
        bar.set_postfix_str(f"{a.name} {fmt} {precision}")
        # the lower-bit schemes lower the transformer's Linear layers; the tokenizer takes the format's int8
        own = TABLE[precision].written(a.role)
        if (a.name, fmt, own) not in written:
            path = out / TABLE[precision].file_name(a.name, a.role, fmt)
            t = time.perf_counter()
            info = importlib.import_module(f".{fmt}", __name__).export(a, path, own, calibration.get(a.role))
            entry = manifest_io.artifact_entry(a, path, fmt, own, info)
            entry["export_seconds"] = round(time.perf_counter() - t, 1)
            written[a.name, fmt, own] = entry
        entry = dict(written[a.name, fmt, own], precision=precision)
        if own != precision:
            entry["quantization"] = fallback(precision)
        entries[f"{a.name}.{precision}.{fmt}"] = entry
    entries = {**_kept_entries(out, geometry, weights, entries), **entries}
    manifest = {"schema_version": SCHEMA_VERSION, "geometry": geometry, "weights": weights,
                "sampler": SPEC_VERSION, "min_versions": min_versions(entries), "artifacts": entries}
    manifest_io.write(out, manifest)
    return manifest
