"""Write a run's EMA weights as the shipped default (fp16 safetensors, config in the metadata).

    python -m tokenreel.training.ship runs/tok              # -> tokenreel/weights/tokenizer.safetensors
    python -m tokenreel.training.ship runs/tf --kind transformer --id tokenreel-transformer-v2
    python -m tokenreel.training.ship runs/tf --kind transformer --tokens-of runs/dec.safetensors

--tokens-of binds a transformer to a tokenizer other than the one it was trained on, refused unless that
tokenizer's encoder and quantizer equal the training tokenizer's exactly (a `--decoder-only` fine-tune), so
that both make the same tokens.
"""
import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from ..errors import UserError
from ..models.weights import KINDS, WEIGHTS_DIR, load_tokenizer, save_weights
from ..runtime.manifest import file_sha256


def same_tokens(trained_on, tokens_of):
    """Whether two tokenizer weights files make the same tokens: equal encoder and quantizer tensors."""
    a, _ = load_tokenizer(trained_on)
    b, _ = load_tokenizer(tokens_of)
    if a.cfg.to_dict() != b.cfg.to_dict():
        return False
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(v, sb[k]) for k, v in sa.items() if not k.startswith("decoder."))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("run", type=Path)
    p.add_argument("--kind", choices=list(KINDS), default="tokenizer")
    p.add_argument("--out", type=Path, default=None, help="default: tokenreel/weights/KIND.safetensors")
    p.add_argument("--id", default=None, help="the weights' name and version (default: tokenreel-KIND-v1)")
    p.add_argument("--tokens-of", type=Path, default=None,
                   help="a transformer: bind it to these tokenizer weights (same encoder as its training tokenizer)")
    args = p.parse_args(argv)
    out = args.out or WEIGHTS_DIR / f"{args.kind}.safetensors"
    state = json.loads((args.run / "state.json").read_text())
    cls, cfg_cls = KINDS[args.kind]
    model = cls(cfg_cls.from_dict(state["config"]))
    model.load_state_dict(load_file(str(args.run / "ema.safetensors")))
    out.parent.mkdir(parents=True, exist_ok=True)
    extra = {k: str(state[k]) for k in ("step", "tokenizer_sha256") if k in state}
    if args.tokens_of:
        if args.kind != "transformer":
            raise UserError("--tokens-of binds a transformer to a tokenizer; pass --kind transformer")
        trained_on = Path(state.get("args", {}).get("tokenizer", ""))
        if not trained_on.is_file() or file_sha256(trained_on) != state.get("tokenizer_sha256"):
            raise UserError(f"--tokens-of needs a transformer run whose training tokenizer ({trained_on}) is "
                            f"still there, unchanged")
        if not same_tokens(trained_on, args.tokens_of):
            raise UserError(f"{args.tokens_of} does not make the tokens of {trained_on} (its encoder differs); "
                            f"train the transformer on its tokens instead")
        extra["tokenizer_sha256"] = file_sha256(args.tokens_of)
    save_weights(model, out, args.id or f"tokenreel-{args.kind}-v1", extra)
    print(f"{args.run} (step {state['step']}) -> {out}")


if __name__ == "__main__":
    try:
        main()
    except UserError as e:
        raise SystemExit(f"ship: error: {e}") from None
