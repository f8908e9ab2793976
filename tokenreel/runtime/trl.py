"""The `.trl` token file, version 1 (specified in docs/trl-format.md).

    magic b"\\x89TRL" | version u8 | flags u8 | reserved u16 | header_len u32 | header (UTF-8 JSON)
    | payload_len u64 | payload | crc32 u32 (zlib CRC-32 of every byte before it)

all integers little-endian. The payload holds the token grid (T, H, W) of D-bit tokens as bit planes,
coded by one of two coders; the writer keeps whichever is smaller:
- "zstd": bit planes packed MSB-first (numpy.packbits) in (T, D, H, W) order, then Zstandard;
- "ans-ctx": each bit coded with rANS (constriction's AnsCoder) under an adaptive context model: the
  context of bit i of token (t, y, x) is bit i of the tokens to the left, above-left, above and
  above-right in frame t and of token (t-1, y, x); counts per (plane, context) start at 1/1 and learn
  after every token. One coder call per token (all D bits at once).
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
CONTEXTS = 48                 # 32 for frames after the first, 16 for the first
REQUIRED = ("tokenizer", "tokenizer_sha256", "grid", "bits", "fps", "size", "frames", "coder")


# ---------------------------------------------------------------- the context model (ans-ctx)
def _contexts(planes, t, y, x):
    """Contexts (D,) of token (t, y, x)'s bits from already coded bits, per plane: the bit to the left,
    above-left, above and above-right in frame t, and (after frame 0) the same bit in frame t-1.
    Outside the grid a bit counts as 0. Frame 0 uses contexts 32..47, later frames 0..31."""
    D, H, W = planes.shape[1:]
    def bit(tt, yy, xx):
        return planes[tt, :, yy, xx].astype(np.int64) if 0 <= yy and 0 <= xx < W else np.zeros(D, np.int64)
    ctx = bit(t, y, x - 1) * 8 + bit(t, y - 1, x - 1) * 4 + bit(t, y - 1, x) * 2 + bit(t, y - 1, x + 1)
    return ctx + 32 if t == 0 else ctx + 16 * bit(t - 1, y, x)


def _tokens_in_order(planes, code_token):
    """Walk the tokens in coding order (t, y, x); code_token(t, y, x, probs) codes (or decodes into
    planes) the D bits of one token, then the counts learn from them."""
    T, D, H, W = planes.shape
    counts = np.ones((D, CONTEXTS, 2), dtype=np.int64)
    planes_idx = np.arange(D)
    one = 1 << PROB_BITS
    for t in range(T):
        for y in range(H):
            for x in range(W):
                ctx = _contexts(planes, t, y, x)
                c = counts[planes_idx, ctx]
                k = np.clip((c[:, 1] * one + (c[:, 0] + c[:, 1]) // 2) // (c[:, 0] + c[:, 1]), 1, one - 1)
                code_token(t, y, x, k / one)
                counts[planes_idx, ctx, planes[t, :, y, x].astype(np.int64)] += 1


def _model():
    import constriction
    return constriction, constriction.stream.model.Bernoulli(perfect=False)


def encode_ans(planes):
    """planes (T, D, H, W) 0/1 -> bytes. Symbols go token by token (t, y, x), within a token plane 0 first."""
    constriction, model = _model()
    symbols, probs = [], []

    def collect(t, y, x, p):
        symbols.append(planes[t, :, y, x])
        probs.append(p)
    _tokens_in_order(planes, collect)
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(np.concatenate(symbols).astype(np.int32), model, np.concatenate(probs))
    return coder.get_compressed().astype("<u4").tobytes()


def decode_ans(payload, T, D, H, W):
    constriction, model = _model()
    if len(payload) % 4:
        raise ValueError("ans payload is not whole 32-bit words")
    coder = constriction.stream.stack.AnsCoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
    planes = np.zeros((T, D, H, W), dtype=np.uint8)

    def decode_token(t, y, x, p):
        planes[t, :, y, x] = coder.decode(model, p)
    _tokens_in_order(planes, decode_token)
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
