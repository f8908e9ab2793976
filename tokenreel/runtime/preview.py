"""Side-by-side preview pictures: one labelled row per video, a few evenly spaced frames each."""
import io

import numpy as np
from PIL import Image, ImageDraw

from .video import write_atomic


def write_png(image, path):
    """A Pillow image as a PNG at `path`, whole or not at all (video.write_atomic)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    write_atomic(path, buf.getvalue(), ".png")


def pick(frames, n):
    idx = np.linspace(0, len(frames) - 1, n).round().astype(int)
    return [frames[i] for i in idx]


def side_by_side(rows, path, per_row=4, label_width=120):
    """rows: [(label, frames uint8 (T, H, W, 3))]; frames of different sizes are centred in their cells."""
    cells = [pick(frames, per_row) for _, frames in rows]
    cw = max(f.shape[1] for c in cells for f in c)
    heights = [max(f.shape[0] for f in c) for c in cells]     # each row as tall as its tallest frame
    pad = 4
    sheet = Image.new("RGB", (label_width + per_row * (cw + pad), sum(heights) + pad * len(rows)), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    y0 = 0
    for (label, _), frames, ch in zip(rows, cells, heights):
        draw.text((6, y0 + ch // 2 - 6), label, fill=(235, 235, 235))
        for c, f in enumerate(frames):
            x = label_width + c * (cw + pad) + (cw - f.shape[1]) // 2
            sheet.paste(Image.fromarray(f), (x, y0 + (ch - f.shape[0]) // 2))
        y0 += ch + pad
    write_png(sheet, path)
