"""Writing manifest.json: what an export folder holds, for loaders on every platform."""
import json
import os
from pathlib import Path

from ..runtime.manifest import file_sha256


def artifact_entry(artifact, path: Path, fmt, precision, ops):
    def spec(names, tensors):
        return [{"name": n, "shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")}
                for n, t in zip(names, tensors)]
    import torch
    with torch.no_grad():
        outputs = artifact.module(*artifact.inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    return {"file": path.name, "format": fmt, "role": artifact.role, "precision": precision,
            "inputs": spec(artifact.input_names, artifact.inputs),
            "outputs": spec(artifact.output_names, outputs),
            "state": [{"input": i, "output": o} for i, o in artifact.state_pairs],
            "ops": ops, "bytes": path.stat().st_size, "sha256": file_sha256(path)}


def write(folder: Path, manifest: dict):
    tmp = folder / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, folder / "manifest.json")
