"""Train the causal tokenizer (LFQ, or FSQ with --levels) on real clips and photo camera motions.

    python -m tokenreel.training.train_tokenizer --out runs/tok --steps 6000
    torchrun --nproc_per_node 2 -m tokenreel.training.train_tokenizer --out runs/tok   # DDP (gloo / nccl)

bf16 autocast (--autocast), AdamW with warm-up and cosine decay, entropy weight annealed 0.1 -> 0.005 over the
first quarter, EMA of the weights (what ships). Resumes from --out if a checkpoint is there; a new run can
start from shipped weights (--init). Besides reconstruction: a margin hinge that keeps latents off the
quantizer's cell edges, a hinge that ties a latent's token to the previous latent frame's where the pixels
held still, and held-still windows (a frame repeated, or a clip that stops) so stills decode without a pulse;
a spatial gradient loss and a per-patch detail loss against blur. --decoder-only fine-tunes the decoder of
--init alone: the tokens stay the same, so a transformer trained on them still fits (ship.py --tokens-of).
"""
import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..errors import UserError
from ..metrics import gradient_energy, psnr, ssim
from ..models.tokenizer import Tokenizer, TokenizerConfig, fsq_bits, temporal_tie_loss
from ..models.weights import load_tokenizer
from .common import add_device_arg, prepare, setup_distributed, teardown_distributed, training_loop
from ..places import default_data_dir
from .data import ClipSampler, training_split, validation_windows
from .pack import Packed

TINY = dict(bits=12, ch1=32, ch2=32, enc_blocks=(1, 1), dec_blocks=(1, 1), norm_groups=8)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=f"tokenreel train {__name__.rsplit('_', 1)[-1]}", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, log); resumes if present")
    p.add_argument("--data", type=Path, default=None,
                   help="data folder with clips/ and photos/, or a data pack file (`tokenreel data pack`)")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch", type=int, default=12, help="clips per step per process")
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--size", type=int, default=64, help="training crop size")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--val-every", type=int, default=500)
    p.add_argument("--ckpt-every", type=int, default=250)
    p.add_argument("--tiny", action="store_true", help="tiny model and data, for tests")
    p.add_argument("--max-clips", type=int, default=None, help="use only this many training clips")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--init", type=Path, default=None, help="start a new run from these tokenizer weights")
    p.add_argument("--levels", type=lambda v: tuple(int(L) for L in v.split(",")), default=(),
                   help="FSQ levels per latent channel, e.g. 8,8,8,8,8,8 (powers of two, 2^bits codes in all); "
                        "default LFQ; a new run only")
    p.add_argument("--causal-start", choices=("zeros", "replicate"), default="replicate",
                   help="the causal state before a video's first frame (v1: zeros)")
    p.add_argument("--entropy-start", type=float, default=0.1,
                   help="entropy weight at step 0, annealed to 0.005 over the first quarter")
    p.add_argument("--still-share", type=float, default=0.15, help="share of held-still training windows")
    p.add_argument("--margin-weight", type=float, default=0.5)
    p.add_argument("--tie-weight", type=float, default=0.2)
    p.add_argument("--flicker-weight", type=float, default=1.0,
                   help="weight of the frame-to-frame change loss (the decoded change must match the input's)")
    p.add_argument("--grad-weight", type=float, default=0.0,
                   help="weight of the spatial gradient loss (neighbouring-pixel differences must match the input's)")
    p.add_argument("--sharp-weight", type=float, default=0.0,
                   help="weight of the detail loss (each 8x8 patch's gradient energy must match the input's)")
    p.add_argument("--decoder-only", action="store_true",
                   help="train the decoder alone: the encoder and so every token stay exactly as in --init")
    add_device_arg(p)
    return p.parse_args(argv)


def entropy_weight(step, args):
    t = min(1.0, step / max(1, args.steps // 4))
    return args.entropy_start + (0.005 - args.entropy_start) * t


def losses(model, quantizer, x, ent_w, args, group):
    """model: what to train (DDP-wrapped under torchrun); quantizer: its quantizer."""
    recon, aux = model(x)
    recon = recon.float()
    l1 = (recon - x).abs().mean()
    l2 = F.mse_loss(recon, x)
    frames = torch.randperm(x.shape[1])[:4]  # SSIM on 4 random frames a clip: unbiased, 4x cheaper in fp32
    s = ssim(recon[:, frames], x[:, frames])
    tie = temporal_tie_loss(quantizer, aux["latent"], x, group)
    # A still decoded with a pulse at group boundaries has small per-frame error but a large error in the
    # frame-to-frame change; matching the change directly is what removes the pulse.
    flicker = ((recon[:, 1:] - recon[:, :-1]) - (x[:, 1:] - x[:, :-1])).abs().mean()
    # L1 and L2 are met by a blur; matching neighbouring-pixel differences is what keeps the edges.
    grad = sum((recon.diff(dim=d) - x.diff(dim=d)).abs().mean() for d in (-1, -2))
    # ...but an L1 on differences is met by the median edge, and texture whose phase the latent does not
    # carry still comes back flat; matching each patch's amount of detail, wherever it sits, does not.
    sharp = (patch_detail(recon) - patch_detail(x)).abs().mean()
    total = (l1 + l2 + 0.2 * (1 - s) + 0.25 * aux["commit"] + ent_w * aux["entropy"]
             + args.margin_weight * aux["margin"] + args.tie_weight * tie + args.flicker_weight * flicker
             + args.grad_weight * grad + args.sharp_weight * sharp)
    return total, {"l1": l1.item(), "l2": l2.item(), "ssim": s.item(), "commit": aux["commit"].item(),
                   "entropy": aux["entropy"].item(), "margin": aux["margin"].item(), "tie": tie.item(),
                   "flicker": flicker.item(), "grad": grad.item(), "sharp": sharp.item()}


def patch_detail(frames, patch=8):
    """Root of the mean squared neighbouring-pixel difference (grey) over each patch x patch block."""
    g = frames.mean(2).flatten(0, 1)
    energy = (g[:, :-1, 1:] - g[:, :-1, :-1]) ** 2 + (g[:, 1:, :-1] - g[:, :-1, :-1]) ** 2
    return (F.avg_pool2d(energy[:, None], patch) + 1e-6).sqrt()


def channels_last(frames):
    return frames.float().permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def validate(model, windows, batch=4):
    """Reconstruction, the share of latents near a cell edge, and how still a held frame stays:
    tokens repeated between consecutive latent frames, and the largest decoded frame-to-frame change
    (grey levels), on each window's first frame held for the whole window."""
    model.eval()
    ps, ss, codes, near, repeat, change, detail = [], [], [], [], [], [], []
    for i in range(0, len(windows), batch):
        x = windows[i:i + batch]
        still = x[:, :1].expand_as(x)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=x.device.type == "cpu"):
            z, _ = model.encoder(x)
            tokens = model.quantizer.tokens(z)
            recon = model.decode(tokens).float()
            still_tokens = model.encode(still)
            still_recon = model.decode(still_tokens).float()
        ps += [psnr(r, t) for r, t in zip(recon, x)]
        ss += [ssim(r, t).item() for r, t in zip(recon, x)]
        detail += [gradient_energy(channels_last(r)) / max(gradient_energy(channels_last(t)), 1e-9)
                   for r, t in zip(recon, x)]
        codes.append(tokens.flatten())
        z = z.float()
        near.append((model.quantizer.inside(z, z) < 0.05).float().mean().item())
        repeat.append((still_tokens[:, 1:] == still_tokens[:, :-1]).float().mean().item())
        change.append(((still_recon[:, 1:] - still_recon[:, :-1]).abs().mean((2, 3, 4)) * 127.5).max().item())
    model.train()
    codes = torch.cat(codes)
    return {"val_psnr": sum(ps) / len(ps), "val_ssim": sum(ss) / len(ss),
            "val_sharpness": sum(detail) / len(detail),
            "val_distinct": codes.unique().numel() / codes.numel(), "val_near_boundary": sum(near) / len(near),
            "val_still_repeat": sum(repeat) / len(repeat), "val_still_change": max(change)}


def main(argv=None):
    args = parse_args(argv)
    rank, world, device = setup_distributed(args.threads, device=args.device)

    if args.init:
        if args.levels:
            raise UserError("--levels starts a new tokenizer; it cannot --init from trained weights")
        init, _ = load_tokenizer(args.init)
        cfg = replace(init.cfg, causal_start=args.causal_start)
    else:
        base = TokenizerConfig(**TINY) if args.tiny else TokenizerConfig()
        bits = fsq_bits(args.levels) if args.levels else base.bits
        try:
            cfg = replace(base, causal_start=args.causal_start, levels=args.levels, bits=bits)
        except ValueError as e:
            raise UserError(f"--levels: {e}") from None
    saved = args.out / "state.json"
    if saved.exists():          # resuming: the run's own quantizer, or a clear error, not a shape mismatch
        run_levels = tuple(json.loads(saved.read_text())["config"].get("levels", ()))
        if run_levels != cfg.levels:
            raise UserError(f"{args.out} was trained with --levels {','.join(map(str, run_levels)) or '(LFQ)'}; "
                            f"resume it with the same --levels, or pass a new --out")
    if args.decoder_only and not args.init:
        raise UserError("--decoder-only fine-tunes a trained tokenizer's decoder; give its weights with --init")

    def make_model():
        tokenizer = Tokenizer(cfg)
        if args.decoder_only:  # no gradient, no weight decay, no EMA drift (lerp of equal values is exact)
            tokenizer.encoder.requires_grad_(False)
            tokenizer.quantizer.requires_grad_(False)
        return tokenizer
    prepared = prepare(make_model, args.out, world, device, lr=args.lr, betas=(0.9, 0.99),
                       weight_decay=0.01, init=init.state_dict() if args.init else None)
    model, _, _, step, _ = prepared

    data = args.data or default_data_dir()
    if data.is_file():          # a data pack: clips, photos and validation windows in one file
        packed = Packed(data)
        train_clips, train_photos, val = packed.videos, packed.photos, packed.val_windows()
    else:
        train_clips, val_clips, train_photos = training_split(data, args.max_clips)
        val = validation_windows(val_clips, frames=args.frames, size=2 * args.size) if rank == 0 else None
    with tqdm(total=len(train_clips), desc="load clips", disable=rank != 0) as bar:
        sampler = ClipSampler(train_clips, train_photos, frames=args.frames, size=args.size,
                              seed=1000 * rank + step, progress=bar.update, still_share=args.still_share)
    val = val.to(device) if rank == 0 else None

    if rank == 0:
        print(f"tokenizer {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M params, "
              f"{len(train_clips)} train clips, {len(train_photos)} photos, {len(val)} val windows, "
              f"world {world}, from step {step}")

    def step_loss(train_model, x, step):
        return losses(train_model, model.quantizer, x, entropy_weight(step, args), args, cfg.group)
    training_loop(args, rank, prepared, name="tokenizer", next_batch=lambda _: sampler.batch(args.batch).to(device),
                  loss=step_loss, validate=lambda ema: validate(ema, val), state={"config": cfg.to_dict()},
                  shown=("l1", "ssim"))
    teardown_distributed()


if __name__ == "__main__":
    main()
