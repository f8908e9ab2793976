"""Exports of the server models for phones: ONNX, Core ML and ExecuTorch, fp32 and fp16.

What is exported is defined once (`spec.py`); each format has one module with `export(artifact, path,
precision) -> info`; `tokenreel export` drives them and writes manifest.json beside the artifacts.
"""
import importlib
import time
from pathlib import Path

from tqdm import tqdm

from ..errors import UserError
from ..runtime.manifest import SCHEMA_VERSION
from ..runtime.sampler import SPEC_VERSION
from . import manifest as manifest_io
from .spec import tokenizer_artifacts, transformer_artifact

FORMATS = {"onnx": ".onnx", "coreml": ".mlpackage", "executorch": ".pte"}   # format -> file suffix
PRECISIONS = ("fp32", "fp16", "int8")
MIN_VERSIONS = {"onnxruntime": "1.17", "onnx_opset": 18, "executorch": "1.5", "ios": "17", "coreml_spec": 8}


def _check_choices(formats, precisions):
    for f in formats:
        if f not in FORMATS:
            raise UserError(f"--formats {f}: choose from {', '.join(FORMATS)}")
    for p in precisions:
        if p not in PRECISIONS:
            raise UserError(f"--precision {p}: choose from {', '.join(PRECISIONS)}")


def export_models(out: Path, formats=("onnx",), precisions=("fp32",), size=(128, 224),
                  tokenizer_weights=None, transformer_weights=None, quiet=False, calibration_clips=None):
    from ..models.weights import DEFAULT_TOKENIZER, DEFAULT_TRANSFORMER, load_tokenizer, load_transformer
    _check_choices(formats, precisions)
    for f in formats:   # a missing optional engine is a user error, before any work is done
        try:
            importlib.import_module({"onnx": "onnxscript", "coreml": "coremltools", "executorch": "executorch"}[f])
        except ImportError:
            raise UserError(f"--formats {f} needs its converter: pip install 'tokenreel[export]'")
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
    calibration = {}
    if "int8" in precisions:   # real inputs of every role, from the server model (quantization/calibration.py)
        from ..backends.torch_backend import TorchTokenizer, TorchTransformer
        from ..quantization.calibration import calibration_set
        calibration = calibration_set(TorchTokenizer(tokenizer_weights),
                                      TorchTransformer(tf_path) if "transformer" in weights else None,
                                      (w, h), calibration_clips, None if quiet else tqdm)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    entries = {}
    jobs = [(a, f, p) for f in formats for p in precisions for a in artifacts]
    bar = tqdm(jobs, desc="export", disable=quiet)
    for a, fmt, precision in bar:
        bar.set_postfix_str(f"{a.name} {fmt} {precision}")
        path = out / f"{a.name}.{precision}{FORMATS[fmt]}"
        t = time.perf_counter()
        info = importlib.import_module(f".{fmt}", __name__).export(a, path, precision, calibration.get(a.role))
        entry = manifest_io.artifact_entry(a, path, fmt, precision, info)
        entry["export_seconds"] = round(time.perf_counter() - t, 1)
        entries[f"{a.name}.{precision}.{fmt}"] = entry
    manifest = {"schema_version": SCHEMA_VERSION, "geometry": geometry, "weights": weights,
                "sampler": SPEC_VERSION, "min_versions": MIN_VERSIONS, "artifacts": entries}
    manifest_io.write(out, manifest)
    return manifest
