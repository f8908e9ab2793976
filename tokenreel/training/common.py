"""What both trainers share: DDP set-up, the LR schedule, the EMA update and the training loop itself
(`training_loop`); each trainer supplies its batches, loss and validation."""
import json
import math
import os
import time

import torch
import torch.distributed as dist


def setup_distributed(threads=None, seed=0, device="auto"):
    """-> (rank, world, device). device: auto (CUDA when there is one), cpu or cuda. Under torchrun: gloo on
    CPU, nccl on GPU. Sets CPU threads and the seed."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    if cuda and not torch.cuda.is_available():
        from ..errors import UserError
        raise UserError("--device cuda: no CUDA device here (this torch build or machine has none)")
    ddp = "WORLD_SIZE" in os.environ
    if ddp:
        dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if ddp else (0, 1)
    return rank, world, torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")


def add_device_arg(p):
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where to train (auto: CUDA when there is one)")
    p.add_argument("--autocast", choices=("auto", "bf16", "off"), default="auto",
                   help="bf16 autocast (auto: on CUDA and on CPUs with AMX; on other CPUs whichever of bf16 and "
                        "fp32 runs the first batch faster: without AMX bf16 was 1.5x slower on one AVX-512 Xeon "
                        "and 1.2-1.8x faster on an AMD EPYC)")


def cpu_has_amx():
    try:
        with open("/proc/cpuinfo") as f:
            return "amx_bf16" in f.read()
    except OSError:
        return False


def use_bf16(choice, device, probe=None):
    """Whether to train under bf16 autocast; `probe()` decides "auto" on a CPU without AMX."""
    if choice == "auto":
        if device.type == "cuda" or cpu_has_amx():
            return True
        return bool(probe()) if probe is not None else False
    return choice == "bf16"


def bf16_faster(model, loss, batch, step, runs=2):
    """Whether a forward and backward pass of `loss` on `batch` is faster under bf16 autocast than in fp32 on
    this CPU (the best of `runs` timed passes each, after one untimed). The gradients are cleared after;
    the weights are untouched."""
    best = {}
    for bf16 in (True, False):
        times = []
        for k in range(runs + 1):
            t = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                value, _ = loss(model, batch, step)
            value.backward()
            if k:
                times.append(time.perf_counter() - t)
        best[bf16] = min(times)
    model.zero_grad(set_to_none=True)
    return best[True] < best[False]


def teardown_distributed():
    if dist.is_initialized():
        dist.destroy_process_group()


def lr_at(step, lr, warmup, steps, floor=0.1):
    """Linear warm-up, then cosine decay to floor * lr at `steps`."""
    if step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


@torch.no_grad()
def ema_update(ema, model, step, decay):
    d = min(decay, (1 + step) / (10 + step))
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm, 1 - d)


def prepare(make_model, out, world, device, init=None, **adamw):
    """Model, EMA copy, AdamW and the step, resumed from `out` when a checkpoint is there, else started
    from the `init` state dict (e.g. shipped weights) when given.

    -> (model, ema, opt, step, train_model); train_model is the DDP wrapper when world > 1."""
    from . import checkpoint
    model = make_model().to(device)
    ema = make_model().to(device).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), **adamw)
    state = checkpoint.load_training(out, model, ema, opt)
    if state is None:
        if init is not None:
            model.load_state_dict(init)
        ema.load_state_dict(model.state_dict())
    train_model = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    return model, ema, opt, (state["step"] if state else 0), train_model


def training_loop(args, rank, prepared, *, name, next_batch, loss, validate, state, shown):
    """The loop both trainers run, from the resumed step to --steps. Each step: next_batch(step), then
    loss(train_model, batch, step) -> (loss tensor, dict of floats), under bf16 autocast where --autocast
    says (use_bf16); the gradient norm
    is clipped to 1 (a non-finite one skips the batch, counted as `skipped` in the log); AdamW at lr_at;
    the EMA follows.

    Rank 0 only: a line a step in OUT/log.jsonl, validate(ema) -> dict added (and printed) every --val-every
    steps and at the end, and a checkpoint every --ckpt-every steps and at the end with the JSON state
    {"step", **state, "args"} (checkpoint.save_training: what resume reads). `shown`: parts on the bar.
    `prepared`: common.prepare's tuple. args: out, steps, lr, warmup, ema, val_every, ckpt_every."""
    from tqdm import tqdm

    from . import checkpoint
    model, ema, opt, step, train_model = prepared
    device = next(model.parameters()).device
    if rank == 0:
        args.out.mkdir(parents=True, exist_ok=True)
        log = open(args.out / "log.jsonl", "a")
    bar = tqdm(total=args.steps, initial=step, disable=rank != 0, desc=f"train {name}")
    t0, skipped = time.time(), 0
    autocast, bf16 = getattr(args, "autocast", "auto"), None
    while step < args.steps:
        batch = next_batch(step)
        if bf16 is None:    # decided on the first batch: a CPU without AMX times it both ways
            bf16 = use_bf16(autocast, device, lambda: bf16_faster(model, loss, batch, step))
            if rank == 0:
                tqdm.write(f"bf16 autocast: {'on' if bf16 else 'off'} (--autocast {autocast})")
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.lr, args.warmup, args.steps)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            value, parts = loss(train_model, batch, step)
        opt.zero_grad(set_to_none=True)
        value.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if not torch.isfinite(gnorm):  # skip a bad batch rather than poison the weights
            skipped += 1
            opt.zero_grad(set_to_none=True)
        opt.step()
        ema_update(ema, model, step, args.ema)
        step += 1
        bar.update(1)
        if rank == 0:
            rec = {"step": step, "loss": value.item(), "lr": lr_at(step - 1, args.lr, args.warmup, args.steps),
                   "gnorm": gnorm.item(), "sec": round(time.time() - t0, 1), "skipped": skipped, **parts}
            bar.set_postfix({k: f"{rec[k]:.3f}" for k in shown})
            if step % args.val_every == 0 or step == args.steps:
                rec.update(validate(ema))
                tqdm.write(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in rec.items()}))
            log.write(json.dumps(rec) + "\n")
            if step % args.ckpt_every == 0 or step == args.steps:
                log.flush()
                checkpoint.save_training(args.out, model, ema, opt, {
                    "step": step, **state, "args": {k: str(v) for k, v in vars(args).items()}})
    bar.close()
    if rank == 0:
        log.close()
