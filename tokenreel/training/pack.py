"""`tokenreel data pack`: the tokenizer's training data in one small file, so that the repository plus that
file is all a short run on a rented GPU needs (`tokenreel train tokenizer --data FILE --device cuda`).

The file is a safetensors file of uint8 arrays (no pickle), zstd-compressed as a whole:
- `clip.<i>`: a training clip's frames (T, H, W, 3), short side `short` px, at most `frames` frames;
- `photo.<i>`: a training photo (H, W, 3), long side at most 384 px (camera motions are made from them);
- `val`: the validation windows (N, 17, 128, 128, 3), as `validation_windows` cuts them (sources held out).
The frames per clip are lowered until the file fits the budget (default 32 MiB).
"""
import io
import json
from pathlib import Path

import numpy as np
import zstandard
from PIL import Image
from tqdm import tqdm
from safetensors.numpy import load as st_load, save as st_save

from ..errors import UserError
from ..runtime.video import write_atomic
from .data import load_cached, training_split, validation_windows

MAGIC = b"tokenreel-pack-v1\n"
PHOTO_SIDE = 384


def _photo(path):
    im = Image.open(path).convert("RGB")
    im.thumbnail((PHOTO_SIDE, PHOTO_SIDE))
    return np.asarray(im).copy()


def _compress(arrays, meta):
    blob = st_save(arrays, metadata={"tokenreel": json.dumps(meta)})
    return MAGIC + zstandard.ZstdCompressor(level=12, threads=-1).compress(blob)


def pack(data_dir, out, budget_mib=32, short=72, frames=96, quiet=True):
    """Write the pack; -> (bytes written, frames per clip kept)."""
    train, val, photos = training_split(Path(data_dir))
    loading = tqdm(train, desc="pack clips", disable=quiet)
    clips = [np.ascontiguousarray(load_cached(c, short, frames)) for c in loading]
    clips = [c for c in clips if len(c) >= 17]
    val_windows = ((validation_windows(val) + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 1, 3, 4, 2)
    fixed = {"val": np.ascontiguousarray(val_windows.numpy())}
    fixed.update({f"photo.{i}": _photo(p) for i, p in enumerate(photos)})
    meta = {"short": short, "clips": [Path(c).name for c in train][:len(clips)], "photos": [Path(p).name for p in photos]}
    keep = frames
    while True:
        arrays = dict(fixed, **{f"clip.{i}": c[:keep] for i, c in enumerate(clips)})
        data = _compress(arrays, dict(meta, frames=keep))
        if len(data) <= budget_mib * 2 ** 20 or keep <= 17:
            break
        keep = max(17, int(keep * budget_mib * 2 ** 20 / len(data) * 0.95))
    if len(data) > budget_mib * 2 ** 20:
        raise UserError(f"the data does not fit {budget_mib} MiB even at 17 frames per clip; raise --max-mib")
    write_atomic(out, data, Path(out).suffix)
    return len(data), keep


class Packed:
    """A loaded pack: `videos` (list of uint8 clips), `photos` (list of uint8 images), `val` (uint8 windows)."""

    def __init__(self, path, max_bytes=2 ** 31):
        raw = Path(path).read_bytes()
        if not raw.startswith(MAGIC):
            raise UserError(f"{path}: not a tokenreel data pack (make one with `tokenreel data pack`)")
        try:
            blob = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw[len(MAGIC):])).read(max_bytes + 1)
            if len(blob) > max_bytes:
                raise ValueError("larger than 2 GiB decompressed")
            arrays = st_load(blob)
        except (zstandard.ZstdError, ValueError, OSError) as e:
            raise UserError(f"{path}: damaged data pack ({e})")
        self.videos = [arrays[k] for k in sorted((k for k in arrays if k.startswith("clip.")),
                                                 key=lambda k: int(k.split(".")[1]))]
        self.photos = [arrays[k] for k in sorted((k for k in arrays if k.startswith("photo.")),
                                                 key=lambda k: int(k.split(".")[1]))]
        self.val = arrays["val"]

    def val_windows(self):
        import torch
        return torch.from_numpy(self.val).permute(0, 1, 4, 2, 3).float() / 127.5 - 1
