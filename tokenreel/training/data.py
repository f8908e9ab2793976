"""Training data: random windows of real clips, and synthetic camera-motion clips from real photos.

Clips (any container PyAV reads, or folders of frames) are decoded once, resized so the short side is
`cache_short` pixels, and cached as uint8 .npy files; training windows are then cut from memory.

Validation split (fixed, by source repository, so no validation clip shares a source with training):
`VAL_SOURCES` below. Photos: the `kodak24` folder is held out for validation.
"""
import hashlib
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..places import cache_dir
from ..progress import counted
from ..runtime.video import list_clips, output_path, read_video

VAL_SOURCES = ("mdn", "sam2", "torchcodec", "VideoDepthAnything")
VAL_PHOTO_FOLDERS = ("kodak24",)
PHOTO_EXTS = (".png", ".jpg", ".jpeg")


def clip_source(path: Path):
    """The source repository: the part before '__' of the clip's name (or of its folder's, for videos
    inside a clip folder such as intel-sample-videos__asl_gestures/)."""
    name = path.name if "__" in path.name else path.parent.name
    return name.split("__")[0]


def split_clips(data_dir: Path):
    clips = list_clips(data_dir / "clips")
    train = [c for c in clips if clip_source(c) not in VAL_SOURCES]
    val = [c for c in clips if clip_source(c) in VAL_SOURCES]
    return train, val


def split_photos(data_dir: Path):
    photos = sorted(p for p in (data_dir / "photos").rglob("*") if p.suffix.lower() in PHOTO_EXTS)
    val = [p for p in photos if p.relative_to(data_dir / "photos").parts[0] in VAL_PHOTO_FOLDERS]
    train = [p for p in photos if p not in val]
    return train, val


def load_cached(path: Path, short: int, max_frames: int):
    key = hashlib.sha1(f"{path.resolve()}|{short}|{max_frames}".encode()).hexdigest()[:16]
    cached = cache_dir() / "frames" / f"{path.stem}-{key}.npy"
    if cached.exists():
        return np.load(cached, mmap_mode="r")
    frames = read_video(path, short_side=short, max_frames=max_frames).frames
    cached.parent.mkdir(parents=True, exist_ok=True)
    with output_path(cached) as tmp:        # a unique temp name: ranks may cache the same clip at once
        np.save(tmp, frames)
    return frames


def resize_crop(video, size, rng, scale_range=(0.5, 1.0)):
    """video: uint8 (T, H, W, 3) -> float (T, 3, size, size) in [-1, 1]: random square crop, resize, flip."""
    T, H, W, _ = video.shape
    side = min(H, W)
    crop = int(side * rng.uniform(*scale_range))
    crop = max(crop, min(size, side))
    y, x = rng.integers(0, H - crop + 1), rng.integers(0, W - crop + 1)
    t = torch.from_numpy(np.ascontiguousarray(video[:, y:y + crop, x:x + crop])).permute(0, 3, 1, 2).float()
    if crop != size:
        t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    if rng.random() < 0.5:
        t = t.flip(-1)
    return (t / 127.5 - 1).clamp(-1, 1)


def camera_motion(photo, frames, size, rng):
    """A synthetic clip: a moving virtual camera (pan, zoom, slight rotation) over a still photo."""
    img = photo.unsqueeze(0)  # (1, 3, H, W) in [-1, 1]
    H, W = img.shape[-2:]
    aspect = W / H
    extent = rng.uniform(0.25, 0.6)  # crop height as a share of the photo
    def pose():
        return np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), rng.uniform(0.8, 1.25),
                         rng.uniform(-0.08, 0.08)])
    a, b = pose(), pose()
    a[:2] *= 1 - extent
    b[:2] = a[:2] + (b[:2] - a[:2]) * rng.uniform(0.05, 0.5)
    ts = np.linspace(0, 1, frames)
    thetas = []
    for tt in ts:
        cx, cy, zoom, rot = a + (b - a) * tt
        s = extent / zoom
        c, si = math.cos(rot), math.sin(rot)
        # affine_grid maps output coords [-1,1]^2 to input coords; square output, non-square photo
        thetas.append([[s * c / aspect, -s * si / aspect, cx], [s * si, s * c, cy]])
    theta = torch.tensor(thetas, dtype=torch.float32)
    grid = F.affine_grid(theta, (frames, 3, size, size), align_corners=False)
    video = F.grid_sample(img.expand(frames, -1, -1, -1), grid, mode="bilinear", padding_mode="reflection",
                          align_corners=False)
    return video.clamp(-1, 1)


class ClipSampler:
    """Draws batches (B, frames, 3, size, size) in [-1, 1] from real clips and photo camera motions.
    clips: paths (decoded once, cached) or uint8 (T, H, W, 3) arrays (a data pack's)."""

    def __init__(self, clips, photos, frames=17, size=64, photo_share=0.25, seed=0,
                 cache_short=160, max_frames=600, progress=None, still_share=0.0):
        self.frames, self.size, self.photo_share, self.still_share = frames, size, photo_share, still_share
        self.rng = np.random.default_rng(seed)
        videos = (c if isinstance(c, np.ndarray) else load_cached(c, cache_short, max_frames)
                  for c in counted(clips, progress))
        self.videos = [v for v in videos if len(v) >= frames]
        self.photos = []
        for p in photos:     # paths, or uint8 (H, W, 3) arrays (a data pack's)
            if not isinstance(p, np.ndarray):
                im = Image.open(p).convert("RGB")
                im.thumbnail((512, 512))
                p = np.asarray(im).copy()
            self.photos.append(torch.from_numpy(p).permute(2, 0, 1).float() / 127.5 - 1)

    def window(self):
        """A moving window, or (still_share of the time) one held still: its first frame repeated
        throughout, or the window stopping at a random frame, as a camera at rest would."""
        w = self.moving_window()
        if self.rng.random() < self.still_share:
            stop = 0 if self.rng.random() < 0.5 else int(self.rng.integers(1, self.frames))
            w = torch.cat([w[:stop + 1], w[stop:stop + 1].expand(self.frames - stop - 1, -1, -1, -1)])
        return w

    def moving_window(self):
        if self.photos and self.rng.random() < self.photo_share:
            photo = self.photos[self.rng.integers(len(self.photos))]
            return camera_motion(photo, self.frames, self.size, self.rng)
        video = self.videos[self.rng.integers(len(self.videos))]
        max_stride = max(1, min(3, (len(video) - 1) // (self.frames - 1)))
        stride = int(self.rng.integers(1, max_stride + 1))
        span = (self.frames - 1) * stride + 1
        start = int(self.rng.integers(0, len(video) - span + 1))
        return resize_crop(video[start:start + span:stride], self.size, self.rng)

    def batch(self, n):
        return torch.stack([self.window() for _ in range(n)])


def validation_windows(clips, frames=17, size=128, per_clip=1):
    """Fixed windows: centre crop at `size`, frames from the middle of each validation clip."""
    out = []
    for c in clips:
        video = read_video(c, short_side=size, max_frames=None).frames
        if len(video) < frames:
            continue
        T, H, W, _ = video.shape
        y, x = (H - size) // 2, (W - size) // 2
        for k in range(per_clip):
            s = (T - frames) * (k + 1) // (per_clip + 1)
            w = video[s:s + frames, y:y + size, x:x + size]
            out.append(torch.from_numpy(np.ascontiguousarray(w)).permute(0, 3, 1, 2).float() / 127.5 - 1)
    return torch.stack(out)


def training_split(data_dir: Path, max_clips=None):
    """-> (train clips, validation clips, train photos); `max_clips` trims all three for quick runs."""
    train_clips, val_clips = split_clips(data_dir)
    train_photos, _ = split_photos(data_dir)
    if max_clips:
        train_clips, val_clips, train_photos = train_clips[:max_clips], val_clips[:1], train_photos[:2]
    if not val_clips:  # a data folder without the validation sources: validate on a training clip, and say so
        print(f"no validation sources ({', '.join(VAL_SOURCES)}) in {data_dir}; validating on {train_clips[-1].name}")
        val_clips = train_clips[-1:]
    return train_clips, val_clips, train_photos
