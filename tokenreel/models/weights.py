"""The shipped default weights: safetensors (fp16 on disk, float32 in memory), config in the metadata."""
import json
from functools import lru_cache
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import UserError
from ..runtime.manifest import file_sha256
from .tokenizer import Tokenizer, TokenizerConfig
from .transformer import MaskedTransformer, TransformerConfig

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
DEFAULT_TOKENIZER = WEIGHTS_DIR / "tokenizer.safetensors"
DEFAULT_TRANSFORMER = WEIGHTS_DIR / "transformer.safetensors"
KINDS = {"tokenizer": (Tokenizer, TokenizerConfig), "transformer": (MaskedTransformer, TransformerConfig)}


def save_weights(model, path, model_id, extra=None):
    kind = next(k for k, (cls, _) in KINDS.items() if isinstance(model, cls))
    meta = {"kind": kind, "config": json.dumps(model.cfg.to_dict()), "id": model_id, **(extra or {})}
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata=meta)


@lru_cache(maxsize=8)
def load_weights(kind, path):
    """-> (model in eval mode, float32; metadata dict with 'id' and 'sha256')."""
    path = Path(path)
    if not path.is_file():
        if path.parent == WEIGHTS_DIR:
            raise UserError(f"no {kind} weights are shipped yet ({path.name}); train them with "
                            f"`tokenreel train {kind}` and `python -m tokenreel.training.ship`, or pass a path")
        raise UserError(f"{path}: {kind} weights not found; check the path")
    cls, cfg_cls = KINDS[kind]
    try:
        with safe_open(str(path), "pt") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k).float() for k in f.keys()}
        if meta.get("kind", "tokenizer") != kind:
            raise ValueError(f"holds a {meta.get('kind')}")
        model = cls(cfg_cls.from_dict(json.loads(meta["config"])))
        model.load_state_dict(tensors)
    except (KeyError, ValueError, RuntimeError, OSError) as e:
        raise UserError(f"{path}: not tokenreel {kind} weights ({e.__class__.__name__}: {e})")
    meta["sha256"] = file_sha256(path)
    return model.eval().requires_grad_(False), meta


def load_tokenizer(path=DEFAULT_TOKENIZER):
    return load_weights("tokenizer", Path(path))


def load_transformer(path=DEFAULT_TRANSFORMER):
    return load_weights("transformer", Path(path))
