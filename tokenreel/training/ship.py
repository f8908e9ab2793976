"""Write a run's EMA weights as the shipped default (fp16 safetensors, config in the metadata).

    python -m tokenreel.training.ship runs/tok              # -> tokenreel/weights/tokenizer.safetensors
    python -m tokenreel.training.ship runs/tf --kind transformer --id tokenreel-transformer-v2
"""
import argparse
import json
from pathlib import Path

from safetensors.torch import load_file

from ..models.weights import KINDS, WEIGHTS_DIR, save_weights


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("run", type=Path)
    p.add_argument("--kind", choices=list(KINDS), default="tokenizer")
    p.add_argument("--out", type=Path, default=None, help="default: tokenreel/weights/KIND.safetensors")
    p.add_argument("--id", default=None, help="the weights' name and version (default: tokenreel-KIND-v1)")
    args = p.parse_args(argv)
    out = args.out or WEIGHTS_DIR / f"{args.kind}.safetensors"
    state = json.loads((args.run / "state.json").read_text())
    cls, cfg_cls = KINDS[args.kind]
    model = cls(cfg_cls.from_dict(state["config"]))
    model.load_state_dict(load_file(str(args.run / "ema.safetensors")))
    out.parent.mkdir(parents=True, exist_ok=True)
    extra = {k: str(state[k]) for k in ("step", "tokenizer_sha256") if k in state}
    save_weights(model, out, args.id or f"tokenreel-{args.kind}-v1", extra)
    print(f"{args.run} (step {state['step']}) -> {out}")


if __name__ == "__main__":
    main()
