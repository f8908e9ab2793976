"""What every training loop here shares: DDP set-up, the LR schedule, the EMA update."""
import math
import os

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
                   help="where to train (auto: CUDA when there is one); bf16 autocast on both")


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
