"""Resumable training checkpoints as safetensors (no pickle): model, EMA, optimizer state, JSON state."""
import json
import time
from contextlib import suppress
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..runtime.video import output_path, write_atomic


# the fixed temp names of older tokenreels (a killed save left them): removed once they are an hour old
LEGACY_TEMPS = ("model.tmp", "ema.tmp", "optim.tmp", "state.json.tmp")


def _save(tensors, path, metadata=None):
    with output_path(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata=metadata)


def _sweep_legacy(folder):
    for name in LEGACY_TEMPS:
        with suppress(OSError):
            if time.time() - (folder / name).stat().st_mtime > 3600:
                (folder / name).unlink()


def optimizer_tensors(opt):
    sd = opt.state_dict()
    tensors = {f"{i}.{name}": (v if torch.is_tensor(v) else torch.tensor(v))
               for i, st in sd["state"].items() for name, v in st.items()}
    return tensors, json.dumps(sd["param_groups"])


def load_optimizer(opt, tensors, groups_json):
    state = {}
    for key, v in tensors.items():
        i, name = key.split(".", 1)
        state.setdefault(int(i), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": json.loads(groups_json)})


def save_training(folder: Path, model, ema, opt, state: dict):
    """Write every file under a unique temp name first (runtime/video.py's atomic write), state.json last: a
    crash mid-save keeps the old one usable."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _sweep_legacy(folder)
    _save(model.state_dict(), folder / "model.safetensors")
    _save(ema.state_dict(), folder / "ema.safetensors")
    tensors, groups = optimizer_tensors(opt)
    _save(tensors, folder / "optim.safetensors", {"param_groups": groups})
    write_atomic(folder / "state.json", json.dumps(state, indent=1).encode(), ".json")


def load_training(folder: Path, model, ema, opt):
    folder = Path(folder)
    if not (folder / "state.json").exists():
        return None
    state = json.loads((folder / "state.json").read_text())
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    ema.load_state_dict(load_file(str(folder / "ema.safetensors")))
    from safetensors import safe_open
    with safe_open(str(folder / "optim.safetensors"), "pt") as f:
        groups = f.metadata()["param_groups"]
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    load_optimizer(opt, tensors, groups)
    return state
