"""Exports of the server models for phones. This version writes ONNX (Core ML and ExecuTorch: see the
open export issue); `tokenreel export` drives it and writes manifest.json beside the artifacts."""
from pathlib import Path

from tqdm import tqdm

from ..errors import UserError
from ..runtime.manifest import SCHEMA_VERSION
from ..runtime.sampler import SPEC_VERSION
from . import manifest as manifest_io
from .spec import tokenizer_artifacts, transformer_artifact

FORMATS = {"onnx": ".onnx"}
PRECISIONS = ("fp32",)


def export_models(out: Path, formats=("onnx",), precisions=("fp32",), size=(128, 224),
                  tokenizer_weights=None, transformer_weights=None, quiet=False):
    from ..models.weights import DEFAULT_TOKENIZER, DEFAULT_TRANSFORMER, load_tokenizer, load_transformer
    for f in formats:
        if f not in FORMATS:
            raise UserError(f"--formats {f}: this version exports {', '.join(FORMATS)}")
    for p in precisions:
        if p not in PRECISIONS:
            raise UserError(f"--precision {p}: this version exports {', '.join(PRECISIONS)}")
    h, w = size
    tokenizer, tok_meta = load_tokenizer(tokenizer_weights or DEFAULT_TOKENIZER)
    s = tokenizer.cfg.spatial_factor
    if h % s or w % s:
        raise UserError(f"--size {h}x{w}: both sides must be multiples of {s}")
    artifacts = tokenizer_artifacts(tokenizer, h, w)
    geometry = {"bits": tokenizer.cfg.bits, "spatial": s, "group": tokenizer.cfg.group, "frame_size": [w, h]}
    weights = {"tokenizer": {"id": tok_meta["id"], "sha256": tok_meta["sha256"]}}
    tf_path = Path(transformer_weights or DEFAULT_TRANSFORMER)
    if transformer_weights or tf_path.is_file():
        transformer, tf_meta = load_transformer(tf_path)
        artifacts.append(transformer_artifact(transformer))
        c = transformer.cfg
        geometry.update(window=list(c.window), splits=c.splits, sub_bits=c.sub_bits, mask_id=c.mask_id)
        weights["transformer"] = {"id": tf_meta["id"], "sha256": tf_meta["sha256"]}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    entries = {}
    jobs = [(a, f, p) for a in artifacts for f in formats for p in precisions]
    for a, fmt, precision in tqdm(jobs, desc="export", disable=quiet):
        path = out / f"{a.name}.{precision}{FORMATS[fmt]}"
        from . import onnx as onnx_export
        ops = onnx_export.export(a, path)
        entries[f"{a.name}.{precision}.{fmt}"] = manifest_io.artifact_entry(a, path, fmt, precision, ops)
    manifest = {"schema_version": SCHEMA_VERSION, "geometry": geometry, "weights": weights,
                "sampler": SPEC_VERSION, "onnx_opset": 18, "min_versions": {"onnxruntime": "1.17"},
                "artifacts": entries}
    manifest_io.write(out, manifest)
    return manifest
