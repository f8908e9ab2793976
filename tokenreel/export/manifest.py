"""Writing manifest.json: what an export folder holds, for loaders on every platform."""
import json
from pathlib import Path

from ..runtime.manifest import path_bytes, path_sha256
from ..runtime.video import write_atomic


def tensor_spec(names, tensors, float_dtype=None):
    return [{"name": n, "shape": list(t.shape),
             "dtype": float_dtype if float_dtype and t.is_floating_point() else str(t.dtype).replace("torch.", "")}
            for n, t in zip(names, tensors)]


def artifact_entry(artifact, path: Path, fmt, precision, info):
    """The manifest entry of one written artifact. `info` is what the format's exporter returned: at least
    "ops", and "inputs"/"outputs" where the format's interface differs from the torch module's."""
    import torch
    with torch.no_grad():
        outputs = artifact.module(*artifact.inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    entry = {"file": path.name, "format": fmt, "role": artifact.role, "precision": precision,
             "inputs": tensor_spec(artifact.input_names, artifact.inputs),
             "outputs": tensor_spec(artifact.output_names, outputs),
             "state": [{"input": i, "output": o} for i, o in artifact.state_pairs]}
    entry.update({k: info[k] for k in ("ops", "inputs", "outputs", "delegation", "compute_dtypes", "kept_float",
                                      "quantization") if k in info})
    entry.update({"bytes": path_bytes(path), "sha256": path_sha256(path)})
    return entry


def write(folder: Path, manifest: dict):
    write_atomic(Path(folder) / "manifest.json", json.dumps(manifest, indent=1).encode(), ".json")
