"""The shipped default weights: safetensors (fp16 on disk, float32 in memory) with the config in the metadata."""
import hashlib
import json
from functools import lru_cache
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import UserError
from .tokenizer import Tokenizer, TokenizerConfig

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
DEFAULT_TOKENIZER = WEIGHTS_DIR / "tokenizer.safetensors"


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_tokenizer(model: Tokenizer, path, model_id, extra=None):
    meta = {"config": json.dumps(model.cfg.to_dict()), "id": model_id, **(extra or {})}
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata=meta)


@lru_cache(maxsize=4)
def load_tokenizer(path=DEFAULT_TOKENIZER):
    """-> (model in eval mode, float32; metadata dict with 'id' and 'sha256')."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: tokenizer weights not found; reinstall tokenreel or pass --weights")
    try:
        with safe_open(str(path), "pt") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k).float() for k in f.keys()}
        model = Tokenizer(TokenizerConfig.from_dict(json.loads(meta["config"])))
        model.load_state_dict(tensors)
    except (KeyError, ValueError, RuntimeError, OSError) as e:
        raise UserError(f"{path}: not a tokenreel tokenizer weights file ({e.__class__.__name__})")
    meta["sha256"] = file_sha256(path)
    return model.eval().requires_grad_(False), meta
