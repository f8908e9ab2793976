"""Image quality measures shared by training (as losses) and evaluation. Frames in [-1, 1], except the
numpy measures on uint8 frames (F, H, W, 3) at the end."""
import numpy as np
import torch
import torch.nn.functional as F


def _gaussian(size=11, sigma=1.5, device=None):
    x = torch.arange(size, dtype=torch.float32, device=device) - size // 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def ssim(a, b, size=11, sigma=1.5):
    """Mean SSIM (Wang et al. 2004, Gaussian window) over frames of (..., 3, H, W) in [-1, 1], per channel.

    Always float32: under bf16 autocast the variance terms lose their precision and the ratio blows up."""
    with torch.autocast(a.device.type, enabled=False):
        return _ssim(a, b, size, sigma)


def _ssim(a, b, size, sigma):
    a = (a.float().flatten(0, -4) + 1) / 2
    b = (b.float().flatten(0, -4) + 1) / 2
    size = min(size, a.shape[-1], a.shape[-2]) // 2 * 2 + 1
    g = _gaussian(size, sigma, a.device)
    C = a.shape[1]
    kx = g.view(1, 1, 1, -1).repeat(C, 1, 1, 1)
    ky = g.view(1, 1, -1, 1).repeat(C, 1, 1, 1)

    def blur(t):
        return F.conv2d(F.conv2d(t, kx, groups=C), ky, groups=C)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.mean()


def psnr(a, b):
    """PSNR in dB of RGB frames in [-1, 1] (peak-to-peak 2), over the whole tensor."""
    mse = ((a.float().clamp(-1, 1) - b.float().clamp(-1, 1)) ** 2).mean()
    return float(10 * torch.log10(4 / mse.clamp_min(1e-12)))


def gradient_energy(u8):
    """Mean squared difference between neighbouring pixels (grey): the detail a blurred frame loses."""
    f = u8.astype(np.float64).mean(-1)
    return float((np.diff(f, axis=1) ** 2).mean() + (np.diff(f, axis=2) ** 2).mean())


def motion(u8):
    """Mean absolute frame-to-frame change, in grey levels."""
    return float(np.abs(np.diff(u8.astype(np.float64), axis=0)).mean())
