"""A rate-distortion plot (PNG, Pillow only): each codec's CRF sweep as a line, the tokenizer as a point."""
import math

from PIL import Image, ImageDraw

from ..runtime.preview import write_png

COLOURS = {"x264": (52, 120, 200), "x265": (230, 130, 30), "tokenreel": (200, 40, 40)}


def rate_distortion(rows, path, size=(720, 440), margin=60):
    """rows: `tokenreel eval tokenizer` rows (with x264_points / x265_points). One panel per clip is too
    many for a page: every clip's curves go on one chart, PSNR over log bits per pixel."""
    curves = []
    for r in rows:
        for codec in ("x264", "x265"):
            pts = r.get(f"{codec}_points")
            if pts:
                curves.append((codec, [(p[0], p[1]) for p in pts]))
    points = [("tokenreel", (r["bpp"], r["psnr"])) for r in rows]
    xs = [math.log10(x) for _, c in curves for x, _ in c] + [math.log10(p[0]) for _, p in points]
    ys = [y for _, c in curves for _, y in c] + [p[1] for _, p in points]
    x0, x1 = math.floor(min(xs) * 2) / 2, math.ceil(max(xs) * 2) / 2
    y0, y1 = math.floor(min(ys) / 5) * 5, math.ceil(max(ys) / 5) * 5
    W, H = size
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)

    def at(bpp, psnr):
        return (margin + (math.log10(bpp) - x0) / (x1 - x0) * (W - 2 * margin),
                H - margin - (psnr - y0) / (y1 - y0) * (H - 2 * margin))
    d.rectangle([margin, margin, W - margin, H - margin], outline=(90, 90, 90))
    for i in range(int((x1 - x0) * 2) + 1):          # ticks every half decade of bpp
        v = x0 + i / 2
        x = margin + (v - x0) / (x1 - x0) * (W - 2 * margin)
        d.line([x, H - margin, x, H - margin + 5], fill=(90, 90, 90))
        d.text((x - 14, H - margin + 8), f"{10 ** v:.3g}", fill=(40, 40, 40))
    for v in range(int(y0), int(y1) + 1, 5):
        y = H - margin - (v - y0) / (y1 - y0) * (H - 2 * margin)
        d.line([margin - 5, y, margin, y], fill=(90, 90, 90))
        d.text((margin - 28, y - 6), str(v), fill=(40, 40, 40))
    d.text((W // 2 - 60, H - 24), "bits per pixel (log)", fill=(40, 40, 40))
    d.text((8, margin - 30), "PSNR dB", fill=(40, 40, 40))
    for codec, c in curves:
        d.line([at(*p) for p in sorted(c)], fill=COLOURS[codec], width=2)
    for _, p in points:
        x, y = at(*p)
        d.ellipse([x - 5, y - 5, x + 5, y + 5], fill=COLOURS["tokenreel"])
    for i, name in enumerate(("x264", "x265", "tokenreel")):
        d.rectangle([W - margin - 110, margin + 10 + 16 * i, W - margin - 98, margin + 20 + 16 * i],
                    fill=COLOURS[name])
        d.text((W - margin - 92, margin + 8 + 16 * i), name, fill=(40, 40, 40))
    write_png(img, path)
