"""The `.trl` token file, version 1 (specified in docs/trl-format.md).

    magic b"\\x89TRL" | version u8 | flags u8 | reserved u16 | header_len u32 | header (UTF-8 JSON)
    | payload_len u64 | payload | crc32 u32 (zlib CRC-32 of every byte before it)

all integers little-endian. The payload holds the token grid (T, H, W) of D-bit tokens as bit planes,
coded by one of two coders; the writer keeps whichever is smaller:
- "zstd": bit planes packed MSB-first (numpy.packbits) in (T, D, H, W) order, then Zstandard;
- "ans-ctx": each bit coded with rANS (constriction's AnsCoder) under an adaptive context model: the
  context of bit i at (t, y, x) is bit i at (t-1, y, x) and how many of its 4 neighbours in frame t-1 have
  bit i set; counts per (plane, context) start at 1/1 and are updated after each frame.
"""
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import UserError
from .tokens import bits_of, tokens_of
from .video import atomic_output

MAGIC = b"\x89TRL"
VERSION = 1
MAX_HEADER = 1 << 16
MAX_TOKENS = 1 << 26          # ~ 50 min of 30 fps video at 256 px: refuse anything larger
MAX_GRID_SIDE = 1024
PROB_BITS = 12                # probabilities are k / 4096, k in [1, 4095]
CONTEXTS = 11                 # 10 temporal contexts + 1 for the first latent frame
REQUIRED = ("tokenizer", "tokenizer_sha256", "grid", "bits", "fps", "size", "frames", "coder")


# ---------------------------------------------------------------- the context model (ans-ctx)
def _contexts(prev_bits):
    """prev_bits (D, H, W) 0/1 of frame t-1 -> context ids (D, H, W) for frame t."""
    p = np.pad(prev_bits, ((0, 0), (1, 1), (1, 1)), mode="edge").astype(np.int64)
    neighbours = p[:, :-2, 1:-1] + p[:, 2:, 1:-1] + p[:, 1:-1, :-2] + p[:, 1:-1, 2:]
    return prev_bits.astype(np.int64) * 5 + neighbours


def _frame_probs(counts, ctx):
    """counts (D, CONTEXTS, 2), ctx (D, H, W) -> P(bit = 1) as k / 4096, float64 (D*H*W,)."""
    c = counts[np.arange(counts.shape[0])[:, None, None], ctx]
    k = np.clip((c[..., 1] * (1 << PROB_BITS) + (c[..., 0] + c[..., 1]) // 2) // (c[..., 0] + c[..., 1]),
                1, (1 << PROB_BITS) - 1)
    return (k / (1 << PROB_BITS)).reshape(-1)


def _walk_frames(planes_of_frame, D, H, W, T):
    """Yield (t, probs) with the model state before frame t; planes_of_frame(t) gives frame t's bits after."""
    counts = np.ones((D, CONTEXTS, 2), dtype=np.int64)
    prev = None
    for t in range(T):
        ctx = np.full((D, H, W), CONTEXTS - 1, dtype=np.int64) if prev is None else _contexts(prev)
        yield _frame_probs(counts, ctx)
        cur = planes_of_frame(t)
        np.add.at(counts, (np.arange(D)[:, None, None], ctx, cur.astype(np.int64)), 1)
        prev = cur


def _model():
    import constriction
    return constriction, constriction.stream.model.Bernoulli(perfect=False)


def encode_ans(planes):
    """planes (T, D, H, W) 0/1 -> bytes."""
    constriction, model = _model()
    T, D, H, W = planes.shape
    probs = np.concatenate(list(_walk_frames(lambda t: planes[t], D, H, W, T)))
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(planes.reshape(-1).astype(np.int32), model, probs)
    return coder.get_compressed().astype("<u4").tobytes()


def decode_ans(payload, T, D, H, W):
    constriction, model = _model()
    if len(payload) % 4:
        raise ValueError("ans payload is not whole 32-bit words")
    coder = constriction.stream.stack.AnsCoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
    planes = np.zeros((T, D, H, W), dtype=np.uint8)

    def decoded(t):
        return planes[t]
    for t, probs in enumerate(_walk_frames(decoded, D, H, W, T)):
        planes[t] = coder.decode(model, probs).reshape(D, H, W)
    return planes


def encode_zstd(planes):
    import zstandard
    return zstandard.ZstdCompressor(level=19).compress(np.packbits(planes.reshape(-1)).tobytes())


def decode_zstd(payload, T, D, H, W):
    import zstandard
    n = T * D * H * W
    raw = zstandard.ZstdDecompressor().decompress(payload, max_output_size=(n + 7) // 8)
    if len(raw) != (n + 7) // 8:
        raise ValueError("zstd payload has the wrong length")
    return np.unpackbits(np.frombuffer(raw, np.uint8), count=n).reshape(T, D, H, W)


CODERS = {"zstd": (encode_zstd, decode_zstd), "ans-ctx": (encode_ans, decode_ans)}


# ---------------------------------------------------------------- the file
def to_planes(tokens, bits):
    return np.moveaxis(bits_of(tokens, bits), -1, 1)


def pack(tokens: np.ndarray, meta: dict, coder=None) -> bytes:
    """tokens (T, H, W) int -> the bytes of a .trl file. meta: the header fields except grid/bits/coder."""
    bits = int(meta["bits"])
    planes = to_planes(tokens, bits)
    payloads = {name: enc(planes) for name, (enc, _) in CODERS.items() if coder in (None, name)}
    name = min(payloads, key=lambda k: len(payloads[k]))
    header = dict(meta, grid=list(tokens.shape), coder=name)
    hb = json.dumps(header, sort_keys=True).encode()
    payload = payloads[name]
    body = MAGIC + struct.pack("<BBHI", VERSION, 0, 0, len(hb)) + hb + struct.pack("<Q", len(payload)) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def unpack(data: bytes, where="token file"):
    """bytes -> (tokens (T, H, W) int32, header). Every field is checked before it sizes anything."""
    def bad(why):
        return UserError(f"{where}: {why}; re-encode the video with `tokenreel encode`")
    if len(data) < 16 or data[:4] != MAGIC:
        raise bad("not a .trl token file (wrong magic bytes)")
    version, _flags, _res, hlen = struct.unpack_from("<BBHI", data, 4)
    if version != VERSION:
        raise bad(f".trl version {version} is not supported (this tokenreel reads version {VERSION})")
    if hlen > MAX_HEADER or 12 + hlen + 12 > len(data):
        raise bad("truncated or corrupt header")
    if zlib.crc32(data[:-4]) != struct.unpack("<I", data[-4:])[0]:
        raise bad("checksum mismatch: the file is truncated or corrupt")
    try:
        header = json.loads(data[12:12 + hlen])
        (plen,) = struct.unpack_from("<Q", data, 12 + hlen)
        missing = [k for k in REQUIRED + ("grid",) if k not in header]
        if missing:
            raise bad(f"header lacks {', '.join(missing)}")
        T, H, W = (int(v) for v in header["grid"])
        D = int(header["bits"])
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise bad(f"corrupt header ({e})")
    if not (0 < T and 0 < H <= MAX_GRID_SIDE and 0 < W <= MAX_GRID_SIDE and 1 <= D <= 24 and T * H * W <= MAX_TOKENS):
        raise bad(f"implausible token grid {T}x{H}x{W} of {D} bits")
    start = 12 + hlen + 8
    if start + plen + 4 != len(data):
        raise bad("payload length does not match the file size")
    if header["coder"] not in CODERS:
        raise bad(f"unknown payload coder {header['coder']!r}")
    try:
        planes = CODERS[header["coder"]][1](data[start:start + plen], T, D, H, W)
    except Exception as e:  # a corrupt payload can fail inside the coder in many ways
        raise bad(f"payload does not decode ({e})")
    return tokens_of(np.moveaxis(planes, 1, -1)), header


def write(path, tokens, meta, coder=None):
    """Write atomically: a temp file beside the target, then rename."""
    path = Path(path)
    data = pack(tokens, meta, coder)
    tmp = atomic_output(path, ".trl")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return len(data)


def read(path):
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such token file")
    if path.stat().st_size > 64 * MAX_TOKENS:
        raise UserError(f"{path}: too large to be a .trl file")
    return unpack(path.read_bytes(), str(path))


def payload_length(data: bytes) -> int:
    """Bytes of the coded token payload in a packed .trl (what bits-per-pixel figures count)."""
    (hlen,) = struct.unpack_from("<I", data, 8)
    return struct.unpack_from("<Q", data, 12 + hlen)[0]
