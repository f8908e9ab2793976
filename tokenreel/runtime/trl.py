"""The `.trl` token file, version 1 (specified in docs/trl-format.md, with the limits every reader applies).

    magic b"\\x89TRL" | version u8 | flags u8 | reserved u16 | header_len u32 | header (UTF-8 JSON)
    | payload_len u64 | payload | crc32 u32 (zlib CRC-32 of every byte before it)

all integers little-endian. The payload holds the token grid (T, H, W) of D-bit tokens as bit planes,
coded by one of two coders; the writer keeps whichever is smaller:
- "zstd": bit planes packed MSB-first (numpy.packbits) in (T, D, H, W) order, then Zstandard;
- "ans-ctx": each bit coded with rANS (constriction's AnsCoder) under an adaptive context model: the
  context of bit i of token (t, y, x) is bit i of the tokens to the left, above-left, above and
  above-right in frame t and of token (t-1, y, x); counts per (plane, context) start at 1/1 and learn
  after every token. One coder call per token (all D bits at once).
The header's `planes_crc32` (CRC-32 of the grid's shape and the packed bit planes) binds the payload to
the header.

Hostile files: every header field is checked (`check_header`) before it sizes anything; the decoded size
is checked against the payload before decoding (zstd: the frame's declared content size; ans-ctx: at
most ANS_TOKENS_PER_BYTE tokens per payload byte beyond ANS_FREE_TOKENS), decoding must end exactly at the
payload's end, and memory is bytes per token (int32 tokens, packed planes), never one int64 per bit.
"""
import json
import math
import re
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import UserError, load_json, read_regular
from .video import write_atomic

MAGIC = b"\x89TRL"
VERSION = 1
MAX_HEADER = 1 << 16          # header JSON bytes
MAX_HEADER_DEPTH = 8          # JSON nesting (the known fields need 2)
MAX_TOKENS = 1 << 23          # T*H*W: 32 MiB of int32 tokens; 10 min of 30 fps video at 256x448, 41 at 128x224
MAX_GRID_SIDE = 1024          # tokens per row / column: 8192 px, video.MAX_SIDE
MAX_BITS = 24
MAX_FRAMES = 4 * MAX_TOKENS + 1
ANS_TOKENS_PER_BYTE = 16      # ans-ctx: T*H*W <= 16 * payload bytes + ANS_FREE_TOKENS (one coder call a token)
ANS_FREE_TOKENS = 1 << 14
PROB_BITS = 12                # probabilities are k / 4096, k in [1, 4095]
CONTEXTS = 48                 # 32 for frames after the first, 16 for the first
REQUIRED = ("tokenizer", "tokenizer_sha256", "grid", "bits", "fps", "size", "frames", "coder")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK_BITS = 1 << 22         # bits per chunk when (un)packing planes: 4 MiB of uint8 temporaries


def raw_length(T, D, H, W):
    """Bytes of the packed bit planes of a grid (the zstd coder's decompressed size)."""
    return (T * D * H * W + 7) // 8


def max_payload(T, D, H, W):
    """The longest payload either coder writes for this grid (Zstandard's compress bound, with room for the
    ans-ctx coder's model cost); readers refuse longer ones."""
    raw = raw_length(T, D, H, W)
    return raw + raw // 256 + 4096


MAX_FILE = 12 + MAX_HEADER + 8 + max_payload(MAX_TOKENS, MAX_BITS, 1, 1) + 4


class _Corrupt(Exception):
    """A payload that does not decode to the grid its header states."""


# ---------------------------------------------------------------- the header, as a schema
def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
    return _is_int(v) or isinstance(v, float) and math.isfinite(v)


def _int_list(v, n, lo, hi):
    return isinstance(v, list) and len(v) == n and all(_is_int(x) and lo <= x <= hi for x in v)


def _string(v, most):
    return isinstance(v, str) and 0 < len(v) <= most


# key -> (check, what it must be); optional keys are checked when present
_FIELDS = {
    "tokenizer": (lambda v: _string(v, 256), "a string of 1 to 256 characters"),
    "tokenizer_sha256": (lambda v: isinstance(v, str) and _SHA256.fullmatch(v) is not None,
                         "64 lowercase hex digits"),
    "grid": (lambda v: _int_list(v, 3, 1, MAX_TOKENS) and v[1] <= MAX_GRID_SIDE and v[2] <= MAX_GRID_SIDE
             and v[0] * v[1] * v[2] <= MAX_TOKENS,
             f"[T, H, W] of integers, H and W at most {MAX_GRID_SIDE}, T*H*W at most {MAX_TOKENS} tokens"),
    "bits": (lambda v: _is_int(v) and 1 <= v <= MAX_BITS, f"an integer from 1 to {MAX_BITS}"),
    "coder": (lambda v: isinstance(v, str) and v in CODERS, "zstd or ans-ctx"),
    "fps": (lambda v: _is_number(v) and 0.01 <= v <= 1000, "a number from 0.01 to 1000"),
    "frames": (lambda v: _is_int(v) and 1 <= v <= MAX_FRAMES, f"an integer from 1 to {MAX_FRAMES}"),
    "size": (lambda v: _int_list(v, 2, 1, 8 * MAX_GRID_SIDE), f"[width, height], 1 to {8 * MAX_GRID_SIDE} px"),
    "source_size": (lambda v: _int_list(v, 2, 1, 1 << 16), "[width, height], 1 to 65536 px"),
    "resize": (lambda v: isinstance(v, str) and len(v) <= 1024, "a string of at most 1024 characters"),
    "planes_crc32": (lambda v: _is_int(v) and 0 <= v < 1 << 32, "an integer from 0 to 2^32 - 1"),
}


def check_header(header, where="token file", hint=True):
    """Validate a header (a parsed JSON value) as the schema of docs/trl-format.md -> (T, H, W, D, coder).
    The one place header fields are checked; nothing reads them before."""
    if not isinstance(header, dict):
        raise _bad(where, "corrupt header (not a JSON object)", hint)
    missing = [k for k in REQUIRED if k not in header]
    if missing:
        raise _bad(where, f"header lacks {', '.join(missing)}", hint)
    for key, (ok, what) in _FIELDS.items():
        if key in header and not ok(header[key]):
            raise _bad(where, f"header field {key!r} is {_show(header[key])}; it must be {what}", hint)
    T, H, W = header["grid"]
    return T, H, W, header["bits"], header["coder"]


def _show(v):
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _bad(where, why, hint=True):
    return UserError(f"{where}: {why}" + ("; re-encode the video with `tokenreel encode`" if hint else ""))


# ---------------------------------------------------------------- bit planes, packed (the zstd coder's bytes)
def _frame_chunks(T, frame_bits):
    step = max(1, _CHUNK_BITS // max(1, frame_bits))
    return [(t, min(T, t + step)) for t in range(0, T, step)]


def _plane_bits(frames, D):
    """(t, H, W) int tokens -> (t, D, H, W) uint8 bits, one byte per bit of this chunk only."""
    out = np.empty((frames.shape[0], D) + frames.shape[1:], np.uint8)
    for i in range(D):
        out[:, i] = (frames >> i) & 1
    return out


def pack_planes(tokens, D):
    """(T, H, W) tokens -> the bit planes (T, D, H, W) packed MSB-first, the last byte zero-padded."""
    T, H, W = tokens.shape
    out, carry = [], np.zeros(0, np.uint8)
    for t0, t1 in _frame_chunks(T, D * H * W):
        bits = np.concatenate([carry, _plane_bits(tokens[t0:t1], D).reshape(-1)])
        whole = len(bits) // 8 * 8
        out.append(np.packbits(bits[:whole]).tobytes())
        carry = bits[whole:]
    out.append(np.packbits(carry).tobytes())
    return b"".join(out)


def unpack_planes(raw, T, D, H, W):
    """The inverse of pack_planes: bytes -> (T, H, W) int32 tokens, a chunk of frames at a time."""
    tokens = np.empty((T, H, W), np.int32)
    frame_bits = D * H * W
    buf = np.frombuffer(raw, np.uint8)
    for t0, t1 in _frame_chunks(T, frame_bits):
        start, end = t0 * frame_bits, t1 * frame_bits
        bits = np.unpackbits(buf[start // 8:(end + 7) // 8])[start % 8:start % 8 + end - start]
        bits = bits.reshape(t1 - t0, D, H, W)
        acc = np.zeros((t1 - t0, H, W), np.int32)
        for i in range(D):
            acc |= bits[:, i].astype(np.int32) << i
        tokens[t0:t1] = acc
    return tokens


def planes_crc32(raw, T, D, H, W):
    """The header's planes_crc32: CRC-32 of T, H, W, D (u32 little-endian each), then the packed planes. It
    binds the payload to the header: another file's payload, or this one read as another shape, differs."""
    return zlib.crc32(raw, zlib.crc32(struct.pack("<4I", T, H, W, D)))


# ---------------------------------------------------------------- the context model (ans-ctx)
def _chunk_contexts(tokens, t0, t1, i):
    """Contexts and bits of plane i for the tokens of frames [t0, t1), flattened in (t, y, x) order: bit i
    of the tokens to the left (x8), above-left (x4), above (x2) and above-right (x1) in the same frame (0
    outside the grid), plus 16 x bit i of token (t-1, y, x) in frames after the first; frame 0 adds 32."""
    frames = tokens[t0:t1]
    n, H, W = frames.shape
    b = ((frames >> i) & 1).astype(np.uint8)
    p = np.zeros((n, H + 1, W + 2), np.uint8)
    p[:, 1:, 1:-1] = b
    ctx = 8 * p[:, 1:, :W] + 4 * p[:, :H, :W] + 2 * p[:, :H, 1:W + 1] + p[:, :H, 2:]
    ctx[1:] += 16 * b[:-1]
    if t0 == 0:
        ctx[0] += 32
    else:
        ctx[0] += 16 * ((tokens[t0 - 1] >> i) & 1).astype(np.uint8)
    return ctx.reshape(-1), b.reshape(-1)


def _chunk_model(tokens, t0, t1, D, counts, probabilities=True):
    """Run the adaptive model over frames [t0, t1) from `counts` (D, 48, 2), updating them in place.
    -> k (n, D) uint16, P(bit = 1) = k / 4096 for every bit in coding order, or None when not asked."""
    n = (t1 - t0) * tokens.shape[1] * tokens.shape[2]
    k = np.empty((n, D), np.uint16) if probabilities else None
    for i in range(D):
        ctx, b = _chunk_contexts(tokens, t0, t1, i)
        if probabilities:
            # the counts each bit sees: the chunk's start counts plus the earlier bits of its context
            order = np.argsort(ctx, kind="stable")
            cs, bs = ctx[order], b[order].astype(np.int64)
            ones_before = np.cumsum(bs) - bs
            start = np.searchsorted(cs, cs)
            c1 = counts[i, cs, 1] + ones_before - ones_before[start]
            total = counts[i, cs, 0] + counts[i, cs, 1] + np.arange(n) - start
            k[order, i] = np.clip((c1 * (1 << PROB_BITS) + total // 2) // total, 1, (1 << PROB_BITS) - 1)
        seen = np.bincount(ctx, minlength=CONTEXTS)
        ones = np.bincount(ctx, weights=b, minlength=CONTEXTS).astype(np.int64)
        counts[i, :, 0] += seen - ones
        counts[i, :, 1] += ones
    return k


def _model():
    import constriction
    return constriction, constriction.stream.model.Bernoulli(perfect=False)


def encode_ans(tokens, D):
    """(T, H, W) tokens -> bytes. Symbols go token by token (t, y, x), within a token plane 0 first. The
    stack coder takes them last first: the model runs forward once to find each chunk's start counts, then
    chunk by chunk backwards (bytes of memory per bit of one chunk only)."""
    constriction, model = _model()
    T, H, W = tokens.shape
    chunks = _frame_chunks(T, D * H * W)
    counts = np.ones((D, CONTEXTS, 2), np.int64)
    starts = []
    for t0, t1 in chunks:
        starts.append(counts.copy())
        _chunk_model(tokens, t0, t1, D, counts, probabilities=False)
    coder = constriction.stream.stack.AnsCoder()
    piece = max(1, _CHUNK_BITS // 32 // D)        # tokens per coder call
    for (t0, t1), start in zip(reversed(chunks), reversed(starts)):
        k = _chunk_model(tokens, t0, t1, D, start)
        symbols = _plane_bits(tokens[t0:t1].reshape(1, -1), D)[0].T     # (n, D)
        for a in reversed(range(0, len(k), piece)):
            coder.encode_reverse(symbols[a:a + piece].reshape(-1).astype(np.int32), model,
                                 k[a:a + piece].reshape(-1) / (1 << PROB_BITS))
    return coder.get_compressed().astype("<u4").tobytes()


def decode_ans(payload, T, D, H, W):
    """bytes -> (T, H, W) int32 tokens; the coder must be empty exactly after the last token. Once it is
    empty every further bit decodes as 0 (the stack coder's empty state), so the rest of the grid is 0."""
    constriction, model = _model()
    if len(payload) % 4:
        raise _Corrupt("the ans-ctx payload is not whole 32-bit words")
    coder = constriction.stream.stack.AnsCoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
    tokens = np.zeros((T, H, W), np.int32)
    one = 1 << PROB_BITS
    c1 = np.ones(D * CONTEXTS, np.int64)
    total = np.full(D * CONTEXTS, 2, np.int64)
    prob = np.full(D * CONTEXTS, 0.5)                    # k / 4096 of every (plane, context)
    offset = np.arange(D, dtype=np.int64) * CONTEXTS
    shifts = np.arange(D, dtype=np.int32)
    zero = np.zeros(D, np.int64)
    row = np.zeros((D, W + 2), np.int64)                 # bits of the row above, 0 outside the grid
    for t in range(T):
        prev = offset + 32 if t == 0 else None
        for y in range(H):
            if coder.is_empty():
                return tokens
            above = row if y else np.zeros_like(row)
            base = 4 * above[:, :W] + 2 * above[:, 1:W + 1] + above[:, 2:]        # (D, W)
            if prev is None:
                base = base + 16 * ((tokens[t - 1, y][None, :] >> shifts[:, None]) & 1) + offset[:, None]
            else:
                base = base + prev[:, None]
            base = np.ascontiguousarray(base.T)
            cur = np.zeros((D, W + 2), np.int64)
            left = zero
            for x in range(W):
                idx = base[x] + left
                bits = coder.decode(model, prob[idx])
                ones, seen = c1[idx] + bits, total[idx] + 1
                c1[idx], total[idx] = ones, seen
                k = (ones * one + (seen >> 1)) // seen           # clamped to [1, 4095] below
                np.minimum(k, one - 1, out=k)
                np.maximum(k, 1, out=k)
                prob[idx] = k * (1.0 / one)
                cur[:, x + 1] = bits
                left = 8 * bits
            tokens[t, y] = (cur[:, 1:W + 1] << shifts[:, None]).sum(0)
            row = cur
    if not coder.is_empty():
        raise _Corrupt("the ans-ctx payload holds more than the grid (is it another file's payload?)")
    return tokens


def encode_zstd(tokens, D):
    import zstandard
    return zstandard.ZstdCompressor(level=19).compress(pack_planes(tokens, D))


def decode_zstd(payload, T, D, H, W):
    """One Zstandard frame that declares exactly the packed planes' size, and nothing after it."""
    import zstandard
    n = raw_length(T, D, H, W)
    try:
        declared = zstandard.get_frame_parameters(payload).content_size
    except zstandard.ZstdError as e:
        raise _Corrupt(f"not a Zstandard frame ({e})")
    if declared != n:
        raise _Corrupt(f"the Zstandard frame declares {'no' if declared < 0 else declared} content size; "
                       f"the grid needs {n} bytes")
    try:
        raw = zstandard.ZstdDecompressor().decompress(payload, max_output_size=n, allow_extra_data=False)
    except zstandard.ZstdError as e:
        raise _Corrupt(f"Zstandard: {e}")
    if len(raw) != n:
        raise _Corrupt("the zstd payload has the wrong length")
    pad = 8 * n - T * D * H * W
    if pad and raw[-1] & ((1 << pad) - 1):
        raise _Corrupt("the packed planes' padding bits are not zero")
    return unpack_planes(raw, T, D, H, W), raw


CODERS = {"zstd": (encode_zstd, decode_zstd), "ans-ctx": (encode_ans, decode_ans)}


def ans_admissible(T, H, W, payload_len):
    """ans-ctx decodes one token per coder call: its cost must be justified by the payload (a payload byte
    stands for at most ANS_TOKENS_PER_BYTE tokens beyond ANS_FREE_TOKENS) or the reader refuses the file."""
    return T * H * W <= ANS_TOKENS_PER_BYTE * payload_len + ANS_FREE_TOKENS


# ---------------------------------------------------------------- the file
def pack(tokens: np.ndarray, meta: dict, coder=None) -> bytes:
    """tokens (T, H, W) int -> the bytes of a .trl file. meta: the header fields except grid/bits/coder.
    The header is checked as a reader checks it: the writer never writes a file readers refuse."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 3:
        raise ValueError(f"tokens must be (T, H, W), not {tokens.shape}")
    bits = meta.get("bits")
    if not _is_int(bits) or not 1 <= bits <= MAX_BITS:
        raise ValueError(f"bits {bits!r}: 1 to {MAX_BITS}")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= 1 << bits):
        raise ValueError(f"tokens outside [0, 2^{bits})")
    T, H, W = tokens.shape
    if T * H * W > MAX_TOKENS:
        raise UserError(f"a grid of {T}x{H}x{W} tokens is more than a .trl holds ({MAX_TOKENS} tokens); "
                        f"encode a shorter or smaller clip")
    tokens = tokens.astype(np.int32, copy=False)
    header = {k: v for k, v in meta.items() if k not in ("grid", "coder", "planes_crc32")}
    header.update(grid=[T, H, W], planes_crc32=planes_crc32(pack_planes(tokens, bits), T, bits, H, W))
    payloads = {}
    for name, (enc, _) in CODERS.items():
        if coder in (None, name):
            payload = enc(tokens, bits)
            if name != "ans-ctx" or ans_admissible(T, H, W, len(payload)):
                payloads[name] = payload
    if not payloads:        # ans-ctx asked for, on a grid it codes too small for readers to accept
        raise ValueError(f"the {coder} payload of this grid would be refused by readers; use zstd")
    name = min(payloads, key=lambda k: len(payloads[k]))
    header["coder"] = name
    check_header(header, "cannot write a .trl", hint=False)
    hb = json.dumps(header, sort_keys=True, allow_nan=False).encode()
    if len(hb) > MAX_HEADER:
        raise ValueError(f"the header is {len(hb)} bytes, more than {MAX_HEADER}")
    payload = payloads[name]
    body = MAGIC + struct.pack("<BBHI", VERSION, 0, 0, len(hb)) + hb + struct.pack("<Q", len(payload)) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def unpack(data: bytes, where="token file"):
    """bytes -> (tokens (T, H, W) int32, header), checked in the order of docs/trl-format.md: nothing the
    header says sizes anything before it is validated, and the payload must justify what it decodes to."""
    if len(data) < 24 or data[:4] != MAGIC:
        raise _bad(where, "not a .trl token file (wrong magic bytes)")
    version, _flags, _res, hlen = struct.unpack_from("<BBHI", data, 4)
    if version != VERSION:
        raise _bad(where, f".trl version {version} is not supported (this tokenreel reads version {VERSION})")
    if hlen > MAX_HEADER or 12 + hlen + 12 > len(data):
        raise _bad(where, "truncated or corrupt header")
    if zlib.crc32(memoryview(data)[:-4]) != struct.unpack("<I", data[-4:])[0]:
        raise _bad(where, "checksum mismatch: the file is truncated or corrupt")
    try:
        header = load_json(data[12:12 + hlen], MAX_HEADER_DEPTH)
    except ValueError as e:
        raise _bad(where, f"corrupt header ({e})")
    T, H, W, D, coder = check_header(header, where)
    (plen,) = struct.unpack_from("<Q", data, 12 + hlen)
    start = 12 + hlen + 8
    if start + plen + 4 != len(data):
        raise _bad(where, "payload length does not match the file size")
    if plen > max_payload(T, D, H, W):
        raise _bad(where, f"a {plen}-byte payload is longer than any coder writes for a {T}x{H}x{W} grid")
    if coder == "ans-ctx" and not ans_admissible(T, H, W, plen):
        raise _bad(where, f"a {plen}-byte ans-ctx payload cannot hold a {T}x{H}x{W} grid")
    payload = memoryview(data)[start:start + plen]
    try:
        if coder == "zstd":
            tokens, raw = decode_zstd(payload, T, D, H, W)
        else:
            tokens = decode_ans(payload, T, D, H, W)
            raw = pack_planes(tokens, D) if "planes_crc32" in header else b""
    except _Corrupt as e:
        raise _bad(where, f"payload does not decode ({e})")
    except ValueError as e:       # the entropy coder refusing its input (e.g. a zero last word)
        raise _bad(where, f"payload does not decode ({e})")
    if "planes_crc32" in header and planes_crc32(raw, T, D, H, W) != header["planes_crc32"]:
        raise _bad(where, "the payload does not belong to this header (planes_crc32 differs)")
    return tokens, header


def write(path, tokens, meta, coder=None):
    """Write atomically: a temp file beside the target, then rename."""
    data = pack(tokens, meta, coder)
    write_atomic(path, data, ".trl")
    return len(data)


def read(path):
    path = Path(path)
    return unpack(read_regular(path, MAX_FILE, ".trl token file"), str(path))


def payload_length(data: bytes) -> int:
    """Bytes of the coded token payload in a packed .trl (what bits-per-pixel figures count)."""
    (hlen,) = struct.unpack_from("<I", data, 8)
    return struct.unpack_from("<Q", data, 12 + hlen)[0]
