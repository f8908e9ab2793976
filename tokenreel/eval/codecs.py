"""x264 / x265 baselines (Debian's ffmpeg) for rate-distortion comparisons.

Fair counting: the codec's raw bitstream (-f h264 / -f hevc) with SEI removed (filter_units), not an MP4
with its container and encoder-settings text; a CRF sweep (rate control misses its target on short
clips), then PSNR/SSIM interpolated at the wanted bits per pixel in log-rate."""
import shutil
import subprocess
import tempfile
from pathlib import Path

import av
import numpy as np

from ..errors import UserError

CODECS = {
    "x264": ("libx264", "h264", "filter_units=remove_types=6", []),
    "x265": ("libx265", "hevc", "filter_units=remove_types=39|40", ["-x265-params", "log-level=error"]),
}
CRFS = list(range(20, 52, 3)) + [51]


def encode_decode(frames, fps, codec, crf):
    """frames uint8 (T, H, W, 3) -> (bytes of the bitstream, decoded frames uint8)."""
    if shutil.which("ffmpeg") is None:
        raise UserError("ffmpeg not found; install it (apt-get install ffmpeg) for codec baselines")
    lib, fmt, bsf, extra = CODECS[codec]
    T, H, W, _ = frames.shape
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / f"clip.{fmt}"
        cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}",
               "-r", str(fps), "-i", "-", "-c:v", lib, "-preset", "medium", "-crf", str(crf), *extra,
               "-pix_fmt", "yuv420p", "-bsf:v", bsf, "-f", fmt, str(out)]
        subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), check=True, capture_output=True)
        size = out.stat().st_size
        with av.open(str(out), format=fmt) as c:
            dec = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    return size, dec


def sweep(frames, fps, codec, quality):
    """-> list of (bpp, psnr, ssim) over the CRF sweep, sorted by bpp. quality(dec) -> (psnr, ssim)."""
    T, H, W, _ = frames.shape
    points = []
    for crf in CRFS:
        size, dec = encode_decode(frames, fps, codec, crf)
        points.append((8 * size / (T * H * W), *quality(dec[:T])))
    return sorted(set(points))


def at_bpp(points, bpp):
    """Interpolate (psnr, ssim) at `bpp` in log-rate; None outside the swept range (say so, don't extrapolate)."""
    rates = np.log([p[0] for p in points])
    if not rates[0] <= np.log(bpp) <= rates[-1]:
        return None
    return tuple(float(np.interp(np.log(bpp), rates, [p[i] for p in points])) for i in (1, 2))
