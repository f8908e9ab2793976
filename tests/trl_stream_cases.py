"""Version-2 .trl files for the ports' readers (android_demo/core TrlStreamTest, ios_demo/TokenreelKit
TrlStreamTests), with what Python's reader says of each cut of them: for every file (tests/golden/tokens-v2.trl,
and files whose chunks mix ans-wave and zstd, carrying the frame before and the counts over a zstd chunk) its
bytes, tokens and header, the decompressed planes of its zstd chunks (the ports' tests have no Zstandard: they
replay these), and at offsets around every record boundary what `trl.unpack(data[:cut], partial=True)` returns
(chunks, grid, frames, coder, complete, stopped) or its error, and the strict read's one-line error.
tests/test_trl_stream_cases.py checks that the committed file is what this writes.

    .venv/bin/python tests/trl_stream_cases.py        # rewrite tests/golden/trl-stream-cases.json
"""
import json
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from tokenreel.errors import UserError  # noqa: E402
from tokenreel.runtime import spec_cases, trl  # noqa: E402

PATH = ROOT / "tests/golden/trl-stream-cases.json"


def records(data):
    """[(kind, start, payload start, end)] of a version-2 file's records (end: after the crc32)."""
    at, out = 12 + struct.unpack_from("<I", data, 8)[0] + 4, []
    while at + trl._CHUNK.size <= len(data):
        kind = data[at:at + 1]
        plen = trl._CHUNK.unpack_from(data, at)[-1] if kind == b"F" else 0
        out.append((kind.decode(), at, at + trl._CHUNK.size, at + trl._CHUNK.size + plen + 4))
        at = out[-1][-1]
    return out


def written(tokens, meta, coders, chunk):
    """tokens as a version-2 file in chunks of `chunk` latent frames, chunk i coded by coders[i] (the writer's
    choice where None): what TrlWriter writes, with its coder set per chunk."""
    T = len(tokens)
    w = trl.TrlWriter(None, meta, coders[0], chunk)
    for i, t0 in enumerate(range(0, T, chunk)):
        t1 = min(T, t0 + chunk)
        w.coder = coders[i]
        w.append(tokens[t0:t1], trl._chunk_frames(meta["frames"], t0, t1, T))
    w.close()
    return w.data


def moving(T, H, W, bits, seed):
    """Tokens with some structure: a frame that slides by a column every other latent frame, part of it noisy."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 1 << bits, (H, W))
    tokens = np.stack([np.roll(base, t // 2, axis=1) for t in range(T)])
    noisy = rng.random((T, H, W)) < 0.3
    noisy[:, :H // 2] = False
    return (tokens ^ noisy * rng.integers(0, 1 << bits, (T, H, W))).astype(np.int32)


def files():
    """name -> (bytes, tokens, where it comes from)."""
    mixed_meta = dict(spec_cases.TRL_META, bits=7, frames=23, size=[40, 24])
    thin_meta = dict(spec_cases.TRL_META, bits=24, frames=18, size=[8, 32])
    mixed = moving(7, 3, 5, 7, 21)
    thin = moving(6, 4, 1, 24, 22)
    return {
        "tokens-v2.trl": ((ROOT / "tests/golden/tokens-v2.trl").read_bytes(), spec_cases.trl_tokens(),
                          "tests/golden/tokens-v2.trl: golden.trl_tokens() in chunks of 2 latent frames"),
        "mixed.trl": (written(mixed, mixed_meta, ("ans-wave", "zstd", "ans-wave", "ans-wave"), 2), mixed,
                      "7 x 3 x 5 tokens of 7 bits, 23 frames (the last chunk's latent frame stands for 2), chunks "
                      "of 2 latent frames coded ans-wave, zstd, ans-wave, ans-wave: the third continues the first's "
                      "counts after the frame the zstd chunk holds"),
        "thin.trl": (written(thin, thin_meta, ("zstd", "ans-wave", "ans-wave", "zstd", "ans-wave", "ans-wave"), 1),
                     thin, "6 x 4 x 1 tokens of 24 bits, 18 frames (the last stands for 1), one latent frame a "
                           "chunk: the file starts with zstd, so the first ans-wave chunk has a frame before"),
    }


def read(data, cut):
    """What Python's reader says of data[:cut]."""
    try:
        tokens, h = trl.unpack(data[:cut], partial=True)
    except UserError as e:
        return {"at": cut, "error": str(e)}
    out = {"at": cut, "chunks": h["chunks"], "grid": h["grid"], "frames": h["frames"], "coder": h["coder"],
           "complete": h["complete"], "stopped": h.get("stopped")}
    try:
        trl.unpack(data[:cut])
        out["strict_error"] = None
    except UserError as e:
        out["strict_error"] = str(e)
    return out


def cuts(data):
    """Offsets around the magic, the header and every record's start, head, payload and end, and the end."""
    hend = 12 + struct.unpack_from("<I", data, 8)[0] + 4
    at = {0, 3, 4, 5, 8, 12, 13, hend - 5, hend - 4, hend - 1, hend, hend + 1}
    for _, start, body, end in records(data):
        at |= {start + 1, body - 1, body, (body + end) // 2, end - 4, end - 1, end, end + 1}
    return sorted(a for a in at if 0 <= a <= len(data))


def zstd_planes(data):
    """payload hex -> its decompressed bytes (hex), for every zstd chunk."""
    import zstandard
    out = {}
    for kind, start, body, end in records(data):
        if kind == "F" and data[start + 1] == 1 + trl.CHUNK_CODERS.index("zstd"):
            payload = data[body:end - 4]
            out[payload.hex()] = zstandard.ZstdDecompressor().decompress(payload).hex()
    return out


def stream_cases():
    out = []
    for name, (data, tokens, about) in files().items():
        back, header = trl.unpack(data, partial=True)
        assert (back == tokens).all() and header["complete"], name
        out.append({"name": name, "about": about, "hex": data.hex(),
                    "tokens": {"shape": list(tokens.shape), "data": tokens.reshape(-1).astype(int).tolist()},
                    "header": header, "zstd": zstd_planes(data), "cuts": [read(data, c) for c in cuts(data)]})
    return {"about": "Version-2 .trl files (docs/trl-format.md, Version 2) and what tokenreel/runtime/trl.py reads "
                     "of them cut at `at` bytes: trl.unpack(data[:at], partial=True) -> the tokens of `chunks` "
                     "complete chunks (the first grid[0] latent frames of `tokens`), `frames`, `coder`, "
                     "`complete` and why it stopped (`stopped`), or `error`; `strict_error`: trl.unpack(data[:at])'s "
                     "error (where = 'token file'), null when the file is complete. `header`: the whole file's "
                     "partial read. `zstd`: payload hex -> its decompressed planes (hex), for test decoders. "
                     "Written by tests/trl_stream_cases.py.",
            "files": out}


def text():
    """The cases as JSON, a file's fields and each cut on a line of their own."""
    cases = stream_cases()
    files = []
    for f in cases["files"]:
        fields = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in f.items() if k != "cuts"]
        cuts = ",\n".join(f"  {json.dumps(c)}" for c in f["cuts"])
        files.append("{\n" + ",\n".join(fields) + ',\n "cuts": [\n' + cuts + "\n ]}")
    return '{"about": ' + json.dumps(cases["about"]) + ',\n"files": [\n' + ",\n".join(files) + "\n]}\n"


if __name__ == "__main__":
    PATH.write_text(text())
    print(f"wrote {PATH.relative_to(ROOT)}")
