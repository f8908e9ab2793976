"""Write a run's EMA weights as the shipped default (fp16 safetensors, config in the metadata).

    python -m tokenreel.training.ship runs/tok [--out tokenreel/weights/tokenizer.safetensors]
"""
import argparse
import json
from pathlib import Path

from safetensors.torch import load_file

from ..models.tokenizer import Tokenizer, TokenizerConfig
from ..models.weights import DEFAULT_TOKENIZER, save_tokenizer


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("run", type=Path)
    p.add_argument("--out", type=Path, default=DEFAULT_TOKENIZER)
    p.add_argument("--id", default="tokenreel-tokenizer-v1")
    args = p.parse_args(argv)
    state = json.loads((args.run / "state.json").read_text())
    model = Tokenizer(TokenizerConfig.from_dict(state["config"]))
    model.load_state_dict(load_file(str(args.run / "ema.safetensors")))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_tokenizer(model, args.out, args.id, {"train_steps": str(state["step"])})
    print(f"{args.run} (step {state['step']}) -> {args.out}")


if __name__ == "__main__":
    main()
