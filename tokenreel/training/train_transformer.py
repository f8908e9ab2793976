"""Train the masked video-token transformer on clips pre-tokenized by the shipped tokenizer.

    python -m tokenreel.training.train_transformer --out runs/tf --steps 3000
    torchrun --nproc_per_node 2 -m tokenreel.training.train_transformer --out runs/tf    # DDP

Token grids are computed once per clip (cached under ~/.cache/tokenreel/tokens/<tokenizer sha>) and
training windows (T, H, W) are cut from them at random places, with MAGVIT task masks; the loss is the
cross-entropy of every sub-token head on the tokens to predict.
"""
import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..models.transformer import MaskedTransformer, TransformerConfig, split_tokens
from ..backends.torch_backend import TorchTokenizer
from ..models.weights import DEFAULT_TOKENIZER, load_transformer
from ..runtime.tokenizing import encode_frames
from ..runtime.video import output_path, read_video
from .common import add_device_arg, prepare, setup_distributed, teardown_distributed, training_loop
from ..places import cache_dir
from ..places import default_data_dir
from .data import camera_motion, training_split
from .masks import TASKS, training_example

TINY = dict(dim=32, layers=1, heads=2, window=(3, 4, 4))


def task_weights(text):
    w = np.array([float(v) for v in text.split(",")])
    if len(w) != len(TASKS) or (w < 0).any() or w.sum() <= 0:
        raise argparse.ArgumentTypeError(f"give {len(TASKS)} non-negative weights for {','.join(TASKS)}")
    return w / w.sum()


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=f"tokenreel train {__name__.rsplit('_', 1)[-1]}", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER)
    p.add_argument("--size", type=int, default=128, help="short side the clips are tokenized at")
    p.add_argument("--max-frames", type=int, default=300, help="frames tokenized per clip")
    p.add_argument("--photo-clips", type=int, default=4, help="camera-motion clips made from each photo")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=6e-4)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--ema", type=float, default=0.998)
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--ckpt-every", type=int, default=100)
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--max-clips", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--init", type=Path, default=None, help="start a new run from these transformer weights")
    p.add_argument("--draft-share", type=float, default=0.5,
                   help="share of examples whose region to predict is partly shown as a draft (revise sampler)")
    p.add_argument("--task-weights", type=task_weights, default=None,
                   help=f"relative weights of the mask tasks {','.join(TASKS)} (default: equal)")
    add_device_arg(p)
    return p.parse_args(argv)


def tokenize_clip(encoder, path, size, max_frames, key):
    cached = cache_dir() / "tokens" / key / f"{Path(path).name}-{size}-{max_frames}.npy"
    if cached.exists():
        return np.load(cached)
    frames = read_video(path, short_side=size, multiple=8, max_frames=max_frames).frames
    tokens = encode_frames(encoder, iter(frames)).tokens
    cached.parent.mkdir(parents=True, exist_ok=True)
    with output_path(cached) as tmp:
        np.save(tmp, tokens)
    return tokens


def tokenize_photos(encoder, photos, per_photo, size, key, frames=17):
    """Camera-motion clips from photos (fixed seeds), tokenized once."""
    from PIL import Image
    out = []
    for i, p in enumerate(photos):
        cached = cache_dir() / "tokens" / key / f"photo-{Path(p).stem}-{per_photo}-{size}.npy"
        if cached.exists():
            out.extend(np.load(cached))
            continue
        im = Image.open(p).convert("RGB")
        im.thumbnail((512, 512))
        photo = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).float() / 127.5 - 1
        grids = []
        for k in range(per_photo):
            clip = camera_motion(photo, frames, size, np.random.default_rng(1000 * i + k))
            u8 = ((clip.permute(0, 2, 3, 1).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
            grids.append(encode_frames(encoder, iter(u8)).tokens)
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.save(cached, np.stack(grids))
        out.extend(grids)
    return out


def random_window(grids, window, rng):
    WT, WH, WW = window
    while True:
        g = grids[rng.integers(len(grids))]
        T, H, W = g.shape
        if T >= WT and H >= WH and W >= WW:
            t0, y0, x0 = rng.integers(0, T - WT + 1), rng.integers(0, H - WH + 1), rng.integers(0, W - WW + 1)
            return g[t0:t0 + WT, y0:y0 + WH, x0:x0 + WW]


def make_batch(grids, cfg, n, rng, task_weights=None, draft_share=0.0):
    """-> (tokens, shown, loss_on), each (n, N): the truth, what the model is shown (-1 = [MASK]), and
    where the loss is."""
    tokens = np.stack([random_window(grids, cfg.window, rng) for _ in range(n)])
    shown, loss_on = zip(*(training_example(t, rng, task_weights, draft_share, 2 ** cfg.bits) for t in tokens))
    return tuple(torch.from_numpy(np.stack(a).reshape(n, -1)).long() for a in (tokens, shown, loss_on))


def masked_loss(model, cfg, tokens, shown, loss_on):
    """Cross-entropy (summed over sub-token heads) and top-1 token accuracy on the tokens to predict."""
    target = split_tokens(tokens, cfg)                       # (B, splits, N)
    inputs = torch.where(shown[:, None, :] >= 0, split_tokens(shown.clamp(min=0), cfg),
                         torch.full_like(target, cfg.mask_id))
    logits = model(inputs).float()                           # (B, splits, N, V)
    sel = loss_on.bool()
    ce = sum(F.cross_entropy(logits[:, j][sel], target[:, j][sel]) for j in range(cfg.splits))
    correct = torch.stack([logits[:, j].argmax(-1) == target[:, j] for j in range(cfg.splits)]).all(0)
    return ce, correct[sel].float().mean()


@torch.no_grad()
def validate(model, cfg, batches):
    model.eval()
    losses, accs = [], []
    for batch in batches:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            ce, acc = masked_loss(model, cfg, *batch)
        losses.append(ce.item())
        accs.append(acc.item())
    model.train()
    return {"loss": float(np.mean(losses)), "acc": float(np.mean(accs))}


def main(argv=None):
    args = parse_args(argv)
    rank, world, device = setup_distributed(args.threads, device=args.device)
    encoder = TorchTokenizer(args.tokenizer, latents_per_call=8)
    cfg = TransformerConfig(**(TINY if args.tiny else {}), bits=encoder.bits)
    init = load_transformer(args.init)[0].state_dict() if args.init else None
    prepared = prepare(lambda: MaskedTransformer(cfg).fused_kernels(), args.out, world, device, init=init,
                       lr=args.lr, betas=(0.9, 0.95), weight_decay=0.05)
    model, _, _, step, _ = prepared

    data_dir = args.data or default_data_dir()
    train_clips, val_clips, train_photos = training_split(data_dir, args.max_clips)
    key = encoder.tokenizer_sha256[:16]
    bar_clips = tqdm(train_clips + val_clips, desc="tokenize clips", disable=rank != 0)
    grids = {c: tokenize_clip(encoder, c, args.size, args.max_frames, key) for c in bar_clips}
    train = [grids[c] for c in train_clips]
    train += tokenize_photos(encoder, train_photos, args.photo_clips, args.size, key)
    val = [grids[c] for c in val_clips]
    val_rng = np.random.default_rng(12345)
    val_batches = [make_batch(val, cfg, 8, val_rng) for _ in range(4)]
    val_draft_batches = [make_batch(val, cfg, 8, val_rng, draft_share=1.0) for _ in range(4)]
    rng = np.random.default_rng(1000 * rank + step)

    if rank == 0:
        n_params = sum(p.numel() for p in model.parameters())
        print(f"transformer {n_params / 1e6:.2f} M params, window {cfg.window}, {len(train)} token grids, "
              f"world {world}, from step {step}")

    def next_batch(_):
        batch = make_batch(train, cfg, args.batch, rng, args.task_weights, args.draft_share)
        return [t.to(device) for t in batch]

    def step_loss(train_model, batch, _):
        loss, acc = masked_loss(train_model, cfg, *batch)
        return loss, {"acc": acc.item()}

    def validate_both(ema):
        return {**{f"val_{k}": v for k, v in validate(ema, cfg, val_batches).items()},
                **{f"val_draft_{k}": v for k, v in validate(ema, cfg, val_draft_batches).items()}}
    training_loop(args, rank, prepared, name="transformer", next_batch=next_batch, loss=step_loss,
                  validate=validate_both, shown=("loss", "acc"),
                  state={"config": cfg.to_dict(), "tokenizer_sha256": encoder.tokenizer_sha256})
    teardown_distributed()


if __name__ == "__main__":
    main()
