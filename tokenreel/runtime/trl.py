"""The `.trl` token file (specified in docs/trl-format.md, with the limits every reader applies).

Version 2, what `write` and `TrlWriter` write: a stream of chunks that a writer appends while it encodes
and a reader recovers from when it was cut short,

    magic b"\\x89TRL" | version 2 | flags u8 | reserved u16 | header_len u32 | header (UTF-8 JSON) | crc32
    | chunk ... | end chunk        (a chunk: a few latent frames, coded by ans-wave or zstd, + crc32)

every crc32 the CRC-32 of all the file's bytes before it; only a file ending in an end chunk whose totals
match is complete. Version 1, still read (and written by `pack`, for the ports' spec cases):

    magic b"\\x89TRL" | version u8 | flags u8 | reserved u16 | header_len u32 | header (UTF-8 JSON)
    | payload_len u64 | payload | crc32 u32 (zlib CRC-32 of every byte before it)

all integers little-endian. A payload holds the token grid (T, H, W) of D-bit tokens as bit planes,
coded by one of three coders; the writer keeps the smaller of ans-wave and zstd unless asked for one:
- "zstd": bit planes packed MSB-first (numpy.packbits) in (T, D, H, W) order, then Zstandard;
- "ans-ctx": each bit coded with rANS (constriction's AnsCoder) under an adaptive context model: the
  context of bit i of token (t, y, x) is bit i of the tokens to the left, above-left, above and
  above-right in frame t and of token (t-1, y, x); counts per (plane, context) start at 1/1 and learn
  after every token. One coder call per token (all D bits at once): ~20 us a token in Python.
- "ans-wave": a context model like ans-ctx's (bit i of the tokens to the left, above-left and above and of
  tokens (t-1, y, x) and (t-1, y, x+1)) with the tokens in waves w = x + y + 2t (every context neighbour
  is in an earlier wave) and the counts learning after every wave: one vectorised coder call per wave,
  W + H + 2T - 3 calls for the grid, ~1.5-3 us a token; -8.5% to +2.8% of ans-ctx's bytes on real clips.
A version-1 header's `planes_crc32` (CRC-32 of the grid's shape and the packed bit planes; a version-2
chunk's, of its frames) binds the payload to the header.

Hostile files: every header field is checked (`check_header`) before it sizes anything; the decoded size
is checked against the payload before decoding (zstd: the frame's declared content size; ans-ctx and
ans-wave: at most ANS_TOKENS_PER_BYTE tokens per payload byte beyond ANS_FREE_TOKENS, ans-wave also at most
WAVES_PER_BYTE waves beyond FREE_WAVES), decoding must end exactly at the payload's end, and memory is
bytes per token (int32 tokens, packed planes), never one int64 per bit.
"""
import copy
import io
import json
import math
import os
import re
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import UserError, load_json, open_regular, os_error
from .video import atomic_output, finish_output, write_atomic

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
WAVES_PER_BYTE = 1            # ans-wave also: W + H + 2T - 3 waves <= payload bytes + FREE_WAVES (a coder call
FREE_WAVES = 1 << 10          # and ~20 numpy calls each, ~40-80 us: a T x 1 x 1 grid is T waves of one token)
PROB_BITS = 12                # probabilities are k / 4096, k in [1, 4095]
CONTEXTS = 48                 # 32 for frames after the first, 16 for the first
REQUIRED = ("tokenizer", "tokenizer_sha256", "grid", "bits", "fps", "size", "frames", "coder")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK_BITS = 1 << 22         # bits per chunk when (un)packing planes: 4 MiB of uint8 temporaries
_WAVE_GROUP_BITS = 1 << 19    # bits the ans-wave encoder models at once: ~40 MiB of temporaries


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
    "grid_hw": (lambda v: _int_list(v, 2, 1, MAX_GRID_SIDE), f"[H, W] of integers from 1 to {MAX_GRID_SIDE}"),
    "bits": (lambda v: _is_int(v) and 1 <= v <= MAX_BITS, f"an integer from 1 to {MAX_BITS}"),
    "coder": (lambda v: isinstance(v, str) and v in CODERS, "zstd, ans-ctx or ans-wave"),
    "fps": (lambda v: _is_number(v) and 0.01 <= v <= 1000, "a number from 0.01 to 1000"),
    "frames": (lambda v: _is_int(v) and 1 <= v <= MAX_FRAMES, f"an integer from 1 to {MAX_FRAMES}"),
    "size": (lambda v: _int_list(v, 2, 1, 8 * MAX_GRID_SIDE), f"[width, height], 1 to {8 * MAX_GRID_SIDE} px"),
    "source_size": (lambda v: _int_list(v, 2, 1, 1 << 16), "[width, height], 1 to 65536 px"),
    "resize": (lambda v: isinstance(v, str) and len(v) <= 1024, "a string of at most 1024 characters"),
    "planes_crc32": (lambda v: _is_int(v) and 0 <= v < 1 << 32, "an integer from 0 to 2^32 - 1"),
}


def check_header(header, where="token file", hint=True, required=REQUIRED):
    """Validate a header (a parsed JSON value) as the schema of docs/trl-format.md -> (T, H, W, D, coder) of
    a version-1 header (required=REQUIRED_STREAM: a version-2 one, -> None). The one place header fields
    are checked; nothing reads them before."""
    if not isinstance(header, dict):
        raise _bad(where, "corrupt header (not a JSON object)", hint)
    missing = [k for k in required if k not in header]
    if missing:
        raise _bad(where, f"header lacks {', '.join(missing)}", hint)
    for key, (ok, what) in _FIELDS.items():
        if key in header and not ok(header[key]):
            raise _bad(where, f"header field {key!r} is {_show(header[key])}; it must be {what}", hint)
    if required is REQUIRED:
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
    coder = _ans_coder(constriction, payload, "ans-ctx")
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


def _ans_coder(constriction, payload, name):
    """The stack coder over a payload of whole little-endian 32-bit words (constriction refuses a zero last
    word with a ValueError, which readers report as a payload that does not decode)."""
    if len(payload) % 4:
        raise _Corrupt(f"the {name} payload is not whole 32-bit words")
    return constriction.stream.stack.AnsCoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))


# ---------------------------------------------------------------- the wavefront coder (ans-wave)
# A context model like ans-ctx's in an order that decodes in bulk. In a run of n frames, position (t, y, x)
# belongs to wave w = x + y + 2t: the neighbours a context reads (left, above-left and above in the frame;
# the same position and its right neighbour one frame earlier) all lie in earlier waves, so all the bits
# of a wave are decoded by one vectorised coder call, and the counts learn between waves rather than
# between tokens. On real clips: -8.5% to +2.8% of ans-ctx's bytes, -1.9% in all (docs/trl-format.md).
WAVE_CONTEXTS = 40                 # per plane: 32 after the file's first frame, 8 in it
WAVE_FIRST = 32                    # the file's frame 0 has no frame before it: contexts 32 + s
WAVE_WEIGHTS = np.array([4, 2, 1, 8, 16], np.int32)[:, None, None]   # left, above-left, above; the frame
#                                                                        before: same position, right


class _Diagonals:
    """A frame's positions p = y*W + x by diagonal d = x + y: sorted by (d mod 2, d, y), so that a wave's
    positions (every other diagonal) are one slice, `start[d]`:`end[d]` a diagonal's; `d` of each sorted
    position; `near` (5, H*W): the positions a context reads for each sorted position (left, above-left,
    above; the position and its right neighbour, read one frame earlier: `rows` -1), H*W when outside."""
    rows = np.array([0, 0, 0, -1, -1])[:, None]

    def __init__(self, H, W):
        y, x = np.divmod(np.arange(H * W, dtype=np.int64), W)
        d = x + y
        self.order = np.lexsort((y, d, d % 2))
        self.d = d[self.order]
        self.dmax = W + H - 2
        sizes = np.bincount(d, minlength=self.dmax + 1)
        self.start = np.searchsorted(self.d % 2 * (self.dmax + 1) + self.d, np.arange(self.dmax + 1) % 2 *
                                     (self.dmax + 1) + np.arange(self.dmax + 1))
        self.end = self.start + sizes
        out = H * W
        p, ys, xs = self.order, y[self.order], x[self.order]
        self.near = np.stack([np.where(xs > 0, p - 1, out), np.where((xs > 0) & (ys > 0), p - W - 1, out),
                              np.where(ys > 0, p - W, out), p, np.where(xs < W - 1, p + 1, out)])


class _WaveRun:
    """Tokens of a run of n frames (H, W) as the coder sees them: row 0 of `buf` is the frame before the run
    (zeros if there is none), rows 1..n the run; column H*W of every row is 0 (outside the grid)."""

    def __init__(self, n, H, W, D, prev=None):
        self.n, self.H, self.W, self.D = n, H, W, D
        self.geo = _Diagonals(H, W)
        self.buf = np.zeros((n + 1, H * W + 1), np.int32)
        self.first = prev is None             # the run starts the file: its frame 0 has contexts 32 + s
        if prev is not None:
            self.buf[0, :H * W] = prev.reshape(-1)
        self.shifts = np.arange(D, dtype=np.int32)
        self.plane = np.arange(D, dtype=np.int64) * WAVE_CONTEXTS
        self.waves = 2 * (n - 1) + self.geo.dmax + 1

    def positions(self, w):
        """Wave w -> (row in buf, slice of the sorted frame positions) of its positions in coding order: by
        increasing diagonal d = x + y of the parity of w (so decreasing t = (w - d) / 2), then by y."""
        g = self.geo
        lo = max(w - 2 * (self.n - 1), w % 2)
        hi = min(g.dmax - (g.dmax - w) % 2, w)
        k = slice(g.start[lo], g.end[hi]) if lo <= hi else slice(0, 0)
        return (w - g.d[k]) // 2 + 1, k

    def contexts(self, rows, k):
        """(m, D) contexts (plane i's are 40 i + ...) of the positions (rows, k)."""
        bits = self.buf[rows + self.geo.rows, self.geo.near[:, k]][:, :, None] >> self.shifts    # (5, m, D)
        bits &= 1
        bits *= WAVE_WEIGHTS
        ctx = bits.sum(0, dtype=np.int64)
        ctx += self.plane
        if self.first:
            ctx[rows == 1] += WAVE_FIRST      # the file's frame 0 (its 'frame before' row is zeros)
        return ctx

    def bits(self, rows, k):
        """The bits of the positions (rows, k) in coding order: position by position, plane 0 first."""
        return ((self.buf[rows, self.geo.order[k]][:, None] >> self.shifts) & 1).reshape(-1)

    def tokens(self):
        return self.buf[1:, :self.H * self.W].reshape(self.n, self.H, self.W)


def _probabilities(c1, total):
    """P(bit = 1) of a context from its counts, as ans-ctx: k / 4096, k = round(4096 c1 / total) clamped to
    [1, 4095], in integer arithmetic so that every port gets the same k."""
    one = 1 << PROB_BITS
    return np.clip((c1 * one + total // 2) // total, 1, one - 1) / one


class WaveModel:
    """The counts of ans-wave, (c0, c1) per (plane, context), starting at (1, 1). They learn once a wave is
    coded, so every bit of a wave is coded with the counts of the waves before it."""

    def __init__(self, D):
        self.set(np.ones((D * WAVE_CONTEXTS, 2), np.int64))

    def set(self, counts):
        self.counts = counts
        self.p = _probabilities(counts[:, 1], counts[:, 0] + counts[:, 1])

    def learn(self, ctx, bits):
        self.set(self.counts + np.bincount(2 * ctx + bits, minlength=self.counts.size).reshape(-1, 2))

    def probabilities(self, ctx, wave, bits):
        """P(bit = 1) of every symbol of waves [wave[0], wave[-1]] (`wave`: each symbol's) as the decoder
        will see them: these counts plus those of the waves before the symbol's."""
        if not len(wave):
            return np.zeros(0)
        a, n = wave[0], wave[-1] - wave[0] + 1
        per = np.bincount((wave - a) * self.counts.size + 2 * ctx + bits, minlength=n * self.counts.size)
        per = per.reshape(n, -1, 2)
        before = np.cumsum(per, axis=0) - per + self.counts         # (waves, contexts, 2) at each wave's start
        c = before[wave - a, ctx]
        return _probabilities(c[:, 1], c[:, 0] + c[:, 1])


def _wave_groups(run):
    """Consecutive waves [a, b) of about _WAVE_GROUP_BITS coded bits, or as many waves as make that many
    counts (WaveModel.probabilities), at least one wave: the encoder's unit of memory."""
    groups, a, size = [], 0, 0
    counts = 2 * WAVE_CONTEXTS * run.D
    for w in range(run.waves):
        k = run.positions(w)[1]
        size += (k.stop - k.start) * run.D
        if size >= _WAVE_GROUP_BITS or (w + 1 - a) * counts >= _WAVE_GROUP_BITS:
            groups.append((a, w + 1))
            a, size = w + 1, 0
    return groups + ([(a, run.waves)] if a < run.waves else [])


def _group(run, a, b):
    """Waves [a, b) -> their contexts (flat, coding order), bits and each symbol's wave."""
    rows, k = zip(*(run.positions(w) for w in range(a, b)))
    sizes = [len(r) * run.D for r in rows]
    rows, k = np.concatenate(rows), np.concatenate([np.arange(s.start, s.stop) for s in k])
    return run.contexts(rows, k).reshape(-1), run.bits(rows, k), np.repeat(np.arange(a, b), sizes)


def encode_wave(tokens, D, prev=None, model=None):
    """(n, H, W) tokens -> bytes: one run, after frame `prev` (None: the run starts the file), with `model`
    (None: fresh counts), which ends holding the counts after the run. The stack coder takes the symbols
    last first: the counts at each group's start are found going forward, then the groups are coded
    backwards (memory: the symbols of one group)."""
    constriction, bernoulli = _model()
    n, H, W = tokens.shape
    run = _WaveRun(n, H, W, D, prev)
    run.buf[1:, :H * W] = tokens.reshape(n, -1)
    model = model or WaveModel(D)
    groups, starts = _wave_groups(run), []
    for a, b in groups:
        starts.append(model.counts.copy())
        group = _group(run, a, b)
        model.learn(*group[:2])
    end = model.counts
    coder = constriction.stream.stack.AnsCoder()
    for i in reversed(range(len(groups))):
        ctx, bits, wave = group if i == len(groups) - 1 else _group(run, *groups[i])
        model.counts = starts[i]
        coder.encode_reverse(bits, bernoulli, model.probabilities(ctx, wave, bits))
    model.set(end)
    return coder.get_compressed().astype("<u4").tobytes()


def decode_wave(payload, n, D, H, W, prev=None, model=None):
    """bytes -> (n, H, W) int32 tokens of one run (prev, model: as encode_wave). One coder call per wave;
    the coder must be empty exactly after the run's last bit (once empty, it decodes every bit as 0)."""
    constriction, bernoulli = _model()
    coder = _ans_coder(constriction, payload, "ans-wave")
    run = _WaveRun(n, H, W, D, prev)
    model = model or WaveModel(D)
    for w in range(run.waves):
        rows, k = run.positions(w)
        ctx = run.contexts(rows, k).reshape(-1)
        bits = coder.decode(bernoulli, model.p[ctx])
        run.buf[rows, run.geo.order[k]] = (bits.reshape(-1, D) << run.shifts).sum(1)
        model.learn(ctx, bits)
    if not coder.is_empty():
        raise _Corrupt("the ans-wave payload holds more than the grid (is it another file's payload?)")
    return run.tokens()


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


CODERS = {"zstd": (encode_zstd, decode_zstd), "ans-ctx": (encode_ans, decode_ans),
          "ans-wave": (encode_wave, decode_wave)}
ANS_CODERS = ("ans-ctx", "ans-wave")
DEFAULT_CODERS = ("ans-wave", "zstd")     # what the writer tries unless asked; ans-ctx decodes 10-20x slower


def ans_admissible(T, H, W, payload_len, coder="ans-ctx"):
    """The ANS coders' cost must be justified by the payload or the reader refuses the file: a payload
    byte stands for at most ANS_TOKENS_PER_BYTE tokens beyond ANS_FREE_TOKENS (ans-ctx decodes one token
    per coder call) and, for ans-wave, for at most WAVES_PER_BYTE waves beyond FREE_WAVES (one coder call
    each, whatever its size: a T x 1 x 1 grid is T waves of one token)."""
    return T * H * W <= ANS_TOKENS_PER_BYTE * payload_len + ANS_FREE_TOKENS and \
        (coder != "ans-wave" or W + H + 2 * T - 3 <= WAVES_PER_BYTE * payload_len + FREE_WAVES)


# ---------------------------------------------------------------- the file
def pack(tokens: np.ndarray, meta: dict, coder=None) -> bytes:
    """tokens (T, H, W) int -> the bytes of a version-1 .trl file (one payload: what the Kotlin and Swift
    readers read today and their spec cases pin; `write` writes version 2). meta: the header fields
    except grid/coder/planes_crc32.
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
    header = {k: v for k, v in meta.items() if k not in FILE_FIELDS or k == "frames"}
    header.update(grid=[T, H, W], planes_crc32=planes_crc32(pack_planes(tokens, bits), T, bits, H, W))
    payloads = {}
    for name in DEFAULT_CODERS if coder is None else (coder,):
        payload = CODERS[name][0](tokens, bits)
        if len(payload) <= max_payload(T, bits, H, W) and \
                (name not in ANS_CODERS or ans_admissible(T, H, W, len(payload), name)):
            payloads[name] = payload
    if not payloads:        # an ANS coder asked for, on a grid it codes too small for readers to accept
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


def _unpack_v1(data, where):
    """A version-1 file's bytes -> (tokens, header)."""
    hlen = struct.unpack_from("<I", data, 8)[0] if len(data) >= 24 else 0
    if len(data) < 24 or hlen > MAX_HEADER or 12 + hlen + 12 > len(data):
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
    if coder in ANS_CODERS and not ans_admissible(T, H, W, plen, coder):
        raise _bad(where, f"a {plen}-byte {coder} payload cannot hold a {T}x{H}x{W} grid")
    payload = memoryview(data)[start:start + plen]
    try:
        if coder == "zstd":
            tokens, raw = decode_zstd(payload, T, D, H, W)
        else:
            tokens = CODERS[coder][1](payload, T, D, H, W)
            raw = pack_planes(tokens, D) if "planes_crc32" in header else b""
    except _Corrupt as e:
        raise _bad(where, f"payload does not decode ({e})")
    except ValueError as e:       # the entropy coder refusing its input (e.g. a zero last word)
        raise _bad(where, f"payload does not decode ({e})")
    if "planes_crc32" in header and planes_crc32(raw, T, D, H, W) != header["planes_crc32"]:
        raise _bad(where, "the payload does not belong to this header (planes_crc32 differs)")
    return tokens, header


# ---------------------------------------------------------------- version 2: a stream of chunks
# The file a writer can append to while it encodes, and a reader can recover from when it was cut short:
#     file header: magic | version 2 | flags | reserved | header_len u32 | header JSON | crc32 u32
#     chunks:      'F' | coder u8 | n u16 | frames u32 | planes_crc32 u32 | payload_len u32 | payload | crc32
#     end chunk:   'E' | 0 u8 | 0 u16 | T u32 | frames u32 | chunks u32 | crc32
# Every crc32 is the CRC-32 of all the file's bytes before it, so a chunk's checksum also seals everything
# before it. A file is complete only when it ends with an end chunk whose totals match its chunks: a writer
# killed at any point leaves a file without one, which reads as incomplete, never as complete.
VERSION_STREAM = 2
CHUNK_FRAMES = 16             # latent frames per chunk: 64 video frames, about 2 s at 30 fps
MAX_CHUNKS = 1 << 16
MAX_CHUNK_SLACK = 64          # a chunk's payload <= its packed planes + 1/256 + 64 (zstd's bound; ans-wave's
#                               writer falls back to zstd beyond it)
CHUNK_CODERS = ("ans-wave", "zstd")     # a chunk's coder byte is 1 + its index here
FILE_FIELDS = ("grid", "grid_hw", "frames", "coder", "planes_crc32", "version", "complete", "chunks", "stopped")
REQUIRED_STREAM = ("tokenizer", "tokenizer_sha256", "grid_hw", "bits", "fps", "size")
_CHUNK = struct.Struct("<cBHIII")       # the 16 bytes before a chunk's payload (and an end chunk's crc32)
MAX_FILE_STREAM = 16 + MAX_HEADER + MAX_CHUNKS * (_CHUNK.size + 4 + MAX_CHUNK_SLACK) + \
    raw_length(MAX_TOKENS, MAX_BITS, 1, 1) * 257 // 256 + _CHUNK.size + 4


def max_chunk_payload(n, D, H, W):
    raw = raw_length(n, D, H, W)
    return raw + raw // 256 + MAX_CHUNK_SLACK


class _Budget:
    """The ANS cost bounds of ans_admissible over a file's ans-wave chunks so far: tokens, waves and
    payload bytes add up, the free allowance is counted once per file."""

    def __init__(self):
        self.tokens = self.waves = self.payload = 0

    def admits(self, n, H, W, payload_len):
        return ans_admissible(1, 1, self.tokens + n * H * W, self.payload + payload_len) and \
            self.waves + W + H + 2 * n - 3 <= WAVES_PER_BYTE * (self.payload + payload_len) + FREE_WAVES

    def spend(self, n, H, W, payload_len):
        self.tokens += n * H * W
        self.waves += W + H + 2 * n - 3
        self.payload += payload_len


class _Coding:
    """What chunks carry from one to the next, for writer and reader alike: the frame before, the ans-wave
    counts (learnt only from ans-wave chunks), the cost budget and the totals."""

    def __init__(self, H, W, D):
        self.H, self.W, self.D = H, W, D
        self.prev, self.model, self.budget = None, WaveModel(D), _Budget()
        self.T = self.frames = self.chunks = 0

    def crc(self, tokens):
        n = len(tokens)
        return planes_crc32(pack_planes(tokens, self.D), n, self.D, self.H, self.W)

    def done(self, tokens, frames):
        self.prev = tokens[-1].copy()
        self.T, self.frames, self.chunks = self.T + len(tokens), self.frames + frames, self.chunks + 1


def _encode_chunk(state, tokens, frames, coder):
    """(n, H, W) tokens of a chunk -> its bytes up to its crc32 (the coder: the smaller that readers admit
    of ans-wave and zstd, or the one asked for)."""
    n, H, W, D = *tokens.shape, state.D
    best = None
    for name in CHUNK_CODERS if coder is None else (coder,):
        model = WaveModel(D)
        model.set(state.model.counts.copy())
        payload = encode_wave(tokens, D, state.prev, model) if name == "ans-wave" else encode_zstd(tokens, D)
        ok = len(payload) <= max_chunk_payload(n, D, H, W) and \
            (name != "ans-wave" or state.budget.admits(n, H, W, len(payload)))
        if ok and (best is None or len(payload) < len(best[1])):
            best = name, payload, model
    if best is None:
        raise ValueError(f"the {coder} payload of this chunk would be refused by readers; use zstd")
    name, payload, model = best
    if name == "ans-wave":
        state.model = model
        state.budget.spend(n, H, W, len(payload))
    head = _CHUNK.pack(b"F", 1 + CHUNK_CODERS.index(name), n, frames, state.crc(tokens), len(payload))
    state.done(tokens, frames)
    return head + payload, name


def _stream_header(meta, H, W):
    """The version-2 header JSON of `meta` for a grid of H x W tokens, checked as readers check it."""
    header = {k: v for k, v in meta.items() if k not in FILE_FIELDS}
    header["grid_hw"] = [H, W]
    check_header(header, "cannot write a .trl", hint=False, required=REQUIRED_STREAM)
    hb = json.dumps(header, sort_keys=True, allow_nan=False).encode()
    if len(hb) > MAX_HEADER:
        raise ValueError(f"the header is {len(hb)} bytes, more than {MAX_HEADER}")
    return MAGIC + struct.pack("<BBHI", VERSION_STREAM, 0, 0, len(hb)) + hb


class TrlWriter:
    """Write a version-2 .trl while encoding: open, `append` latent frames as they come, `close`. Memory
    does not grow with length: a chunk of CHUNK_FRAMES latent frames at a time, the frame before it and the
    coder's counts.

    The file is written beside `path` (.NAME.PID.XXXXXXXX.trl) and, with stream=True, renamed over it as
    soon as its first chunk is on disk; every later chunk is appended and flushed, so the file at `path`
    is readable (trl.read(path, partial=True)) while it is being written. Until then `path` keeps its old
    file. Only `close` writes the end chunk that makes the file complete: a writer killed at any point
    leaves a readable prefix marked incomplete, never a file that reads as complete. With stream=False the
    file is renamed over `path` only by `close` (whole or not at all, as `write`). Leaving a `with` block by
    an exception keeps what was encoded (a prefix, incomplete) when stream=True, nothing otherwise.
    path=None writes into memory: `data` holds the file's bytes after `close`."""

    def __init__(self, path, meta, coder=None, chunk_frames=CHUNK_FRAMES, stream=True):
        if coder not in (None,) + CHUNK_CODERS:
            raise ValueError(f"coder {coder!r}: a version-2 .trl chunk is {' or '.join(CHUNK_CODERS)}")
        bits = meta.get("bits")
        if not _is_int(bits) or not 1 <= bits <= MAX_BITS:
            raise ValueError(f"bits {bits!r}: 1 to {MAX_BITS}")
        if not 1 <= chunk_frames < 1 << 16:
            raise ValueError(f"chunk_frames {chunk_frames}: 1 to 65535")
        _stream_header(meta, 1, 1)            # the header is checked now, not at the first chunk
        self.path, self.meta, self.coder, self.chunk_frames = path and Path(path), meta, coder, chunk_frames
        self.stream = stream and path is not None
        self.state, self.buffer, self.buffered, self.coders, self.bytes = None, [], 0, [], 0
        self.tmp = atomic_output(self.path, ".trl") if path else None
        self.file, self.crc, self.published, self.closed, self.data = None, 0, False, False, None

    # ------------------------------------------------------------ writing
    def append(self, tokens, frames):
        """Add latent frames (n, H, W) that stand for `frames` video frames (the first latent frame of a file
        stands for 1, every later one for 4; the last may stand for fewer)."""
        tokens = np.asarray(tokens)
        if tokens.ndim != 3 or not len(tokens):
            raise ValueError(f"latent frames must be (n, H, W), n >= 1, not {tokens.shape}")
        if tokens.min() < 0 or tokens.max() >= 1 << self.meta["bits"]:
            raise ValueError(f"tokens outside [0, 2^{self.meta['bits']})")
        n, H, W = tokens.shape
        if self.state is None:
            if not 1 <= H <= MAX_GRID_SIDE or not 1 <= W <= MAX_GRID_SIDE:
                raise ValueError(f"a {H}x{W} token frame: sides of 1 to {MAX_GRID_SIDE}")
            self._put(_stream_header(self.meta, H, W), seal=True)
            self.state = _Coding(H, W, self.meta["bits"])
        elif (H, W) != (self.state.H, self.state.W):
            raise ValueError(f"a {H}x{W} token frame in a file of {self.state.H}x{self.state.W}")
        if (self.state.T + self.buffered + n) * H * W > MAX_TOKENS or self.state.frames + frames > MAX_FRAMES:
            raise UserError(f"{self.path}: more than a .trl holds ({MAX_TOKENS} tokens); encode a shorter or "
                            f"smaller clip")
        self.buffer.append((tokens.astype(np.int32, copy=False), frames))
        self.buffered += n
        while self.buffered >= self.chunk_frames:
            self._chunk(self.chunk_frames)

    def _chunk(self, n):
        """Code the first n buffered latent frames (all if fewer) as one chunk. The writer changes only once
        the chunk is written: an exception (even Ctrl-C) leaves it as it was, ready to close or abort."""
        buffer, take, got, frames = list(self.buffer), [], 0, 0
        while buffer and got < n:
            tokens, f = buffer.pop(0)
            if got + len(tokens) > n:               # split a batch, its video frames as the format maps them
                t = self.state.T + got
                head = min(f, _frame_start(t + n - got) - _frame_start(t))
                buffer.insert(0, (tokens[n - got:], f - head))
                tokens, f = tokens[:n - got], head
            take.append(tokens)
            got, frames = got + len(tokens), frames + f
        if self.state.chunks >= MAX_CHUNKS:
            raise UserError(f"{self.path}: more than {MAX_CHUNKS} chunks; write larger chunks")
        state = copy.deepcopy(self.state)
        data, name = _encode_chunk(state, np.concatenate(take), frames, self.coder)
        self._put(data, seal=True)
        self.state, self.buffer, self.buffered = state, buffer, self.buffered - got
        if name not in self.coders:
            self.coders.append(name)
        if self.stream and not self.published:
            self._publish()

    def _put(self, data, seal=False):
        """Append to the file, then (seal) the crc32 of every byte before it; flushed, so readers see it."""
        if seal:
            data += struct.pack("<I", zlib.crc32(data, self.crc))
        if self.file is None:
            self.file = self._io(lambda: open(self.tmp, "wb")) if self.path else io.BytesIO()
        self._io(lambda: (self.file.write(data), self.file.flush()))
        self.crc, self.bytes = zlib.crc32(data, self.crc), self.bytes + len(data)

    def _io(self, fn):
        try:
            return fn()
        except OSError as e:
            raise os_error(e, self.path)

    def _publish(self):
        finish_output(self.tmp, self.path)       # fsync, then rename over the old file
        self.published = True

    def close(self):
        """Code what is buffered, write the end chunk, flush to disk, make it the file at `path` -> bytes."""
        if self.closed:
            return self.bytes
        if self.state is None:
            raise UserError(f"{self.path}: nothing to write (no latent frames)")
        while self.buffered:
            self._chunk(self.chunk_frames)
        if self.state.frames < 1:
            raise ValueError("a .trl stands for at least 1 video frame")
        self._put(_CHUNK.pack(b"E", 0, 0, self.state.T, self.state.frames, self.state.chunks), seal=True)
        if self.path is None:
            self.data = self.file.getvalue()
        elif self.published:
            self._io(lambda: os.fsync(self.file.fileno()))
        self.file.close()
        if self.path is not None and not self.published:
            self._publish()                     # fsync, rename
        self.closed = True
        return self.bytes

    def abort(self):
        """Stop without an end chunk: with stream=True what was appended stays at `path`, readable and marked
        incomplete; otherwise (or when no chunk was written) nothing is left and `path` is untouched."""
        if self.closed:
            return
        self.closed = True
        try:
            if self.stream and self.state is not None and self.buffered:
                self._chunk(self.buffered)
        finally:
            if self.file is not None:
                self.file.close()
            if self.tmp is not None and not self.published:
                self.tmp.unlink(missing_ok=True)

    def header(self):
        """The header a reader returns for what is written so far."""
        s = self.state
        return dict(_returned(self.meta, s.T if s else 0, s.H if s else 0, s.W if s else 0, s.frames if s else 0,
                              self.coders), version=VERSION_STREAM, complete=self.closed, chunks=s.chunks if s else 0)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            self.close()
        else:
            self.abort()


def _returned(meta, T, H, W, frames, coders):
    """The header a reader returns for a version-2 file: its JSON fields and those of a version-1 header."""
    header = {k: v for k, v in meta.items() if k not in FILE_FIELDS}
    header.update(grid=[T, H, W], frames=frames, coder="+".join(coders))
    return header


def _frame_start(t):
    """The first video frame of latent frame t: frame f is in latent frame 0 if f = 0, else 1 + (f - 1) div 4."""
    return 0 if t == 0 else 1 + 4 * (t - 1)


def _chunk_frames(frames, t0, t1, T):
    """Video frames of latent frames [t0, t1) of a T-frame grid that stands for `frames` video frames;
    whatever lies past the grid goes with its last latent frame."""
    end = frames if t1 == T else min(frames, _frame_start(t1))
    return max(0, end - min(frames, _frame_start(t0)))


class _Reader:
    """Bytes of a file in order, at most `limit` of them, with the CRC-32 of all read so far."""

    def __init__(self, f, head=b"", limit=MAX_FILE_STREAM):
        self.f, self.head, self.left, self.crc = f, head, limit, 0

    def take(self, n):
        """Up to n bytes (fewer only at the end of the file)."""
        n = min(n, self.left)
        data, self.head = self.head[:n], self.head[n:]
        while len(data) < n:
            more = self.f.read(n - len(data))
            if not more:
                break
            data += more
        self.left -= len(data)
        self.crc = zlib.crc32(data, self.crc)
        return data

    def sealed(self):
        """Read a crc32 field -> 'ok', 'short' (the file ends in it) or 'bad' (not the CRC of what came before)."""
        expected = self.crc
        field = self.take(4)
        return "short" if len(field) < 4 else "ok" if struct.unpack("<I", field)[0] == expected else "bad"


class _Stop(Exception):
    """Where a version-2 file stops being readable: why, and whether it was merely cut short."""

    def __init__(self, why, cut=False):
        super().__init__(why)
        self.cut = cut


def _read_stream(f, where, partial, head=b""):
    """A version-2 file -> (tokens, header). The file header must be whole and valid; then every chunk is
    checked (fields, sizes, checksum, cost bounds) before it is decoded. partial=False: anything but a
    complete file is an error; partial=True: the chunks up to the first that is missing, cut or bad."""
    r = _Reader(f, head)
    fixed = r.take(12)
    (hlen,) = struct.unpack_from("<I", fixed, 8) if len(fixed) == 12 else (MAX_HEADER + 1,)
    text = r.take(hlen) if hlen <= MAX_HEADER else b""
    if len(text) < hlen or r.sealed() != "ok":
        raise _bad(where, "truncated or corrupt version 2 header (length or checksum)")
    try:
        header = load_json(text, MAX_HEADER_DEPTH)
    except ValueError as e:
        raise _bad(where, f"corrupt version 2 header ({e})")
    check_header(header, where, required=REQUIRED_STREAM)
    (H, W), D = header["grid_hw"], header["bits"]
    state, parts, coders, complete, stopped = _Coding(H, W, D), [], [], False, None
    try:
        while True:
            part = _read_chunk(r, state, coders)
            if part is None:
                complete = True
                break
            parts.append(part)
    except _Stop as e:
        stopped = e
    tokens = np.concatenate(parts) if parts else np.zeros((0, H, W), np.int32)
    out = _returned(header, state.T, H, W, state.frames, coders)
    if not complete and not partial:
        got = f"{state.chunks} complete chunk{'' if state.chunks == 1 else 's'} ({state.T} latent frames, " \
              f"{state.frames} frames)"
        raise _bad(where, f"incomplete .trl: {stopped}; {got} can be read with `tokenreel decode --partial`",
                   hint=False)
    if partial:
        out.update(version=VERSION_STREAM, complete=complete, chunks=state.chunks)
        if not complete:
            out["stopped"] = str(stopped)
    return tokens, out


def _read_chunk(r, state, coders):
    """The next chunk's tokens, None after a valid end chunk, or _Stop."""
    k = state.chunks + 1
    head = r.take(_CHUNK.size)
    if len(head) < _CHUNK.size:
        raise _Stop("the file ends without an end chunk (cut short, or still being written)" if not head else
                    f"the file ends in chunk {k}", cut=True)
    kind, coder, n, frames, crc, plen = _CHUNK.unpack(head)
    if kind == b"E":
        check = r.sealed()
        if check != "ok":
            raise _Stop(f"the end chunk is {'cut short' if check == 'short' else 'corrupt (checksum)'}",
                        cut=check == "short")
        if (frames, crc, plen) != (state.T, state.frames, state.chunks) or coder or n or state.frames < 1:
            raise _Stop(f"the end chunk's totals ({frames} latent frames, {crc} frames, {plen} chunks) are not "
                        f"the file's")
        if r.take(1):
            raise _Stop("bytes after the end chunk")
        return None
    D, H, W = state.D, state.H, state.W
    if kind != b"F" or not 1 <= coder <= len(CHUNK_CODERS) or n < 1:
        raise _Stop(f"chunk {k} is corrupt (kind {kind!r}, coder {coder}, {n} latent frames)")
    name = CHUNK_CODERS[coder - 1]
    if k > MAX_CHUNKS or (state.T + n) * H * W > MAX_TOKENS or state.frames + frames > MAX_FRAMES:
        raise _Stop(f"chunk {k} takes the file past the limits ({MAX_CHUNKS} chunks, {MAX_TOKENS} tokens)")
    if plen > max_chunk_payload(n, D, H, W):
        raise _Stop(f"chunk {k}: a {plen}-byte payload is longer than any coder writes for {n}x{H}x{W} tokens")
    if name == "ans-wave" and not state.budget.admits(n, H, W, plen):
        raise _Stop(f"chunk {k}: a {plen}-byte ans-wave payload cannot hold {n}x{H}x{W} tokens")
    payload = r.take(plen)
    check = "short" if len(payload) < plen else r.sealed()
    if check != "ok":
        raise _Stop(f"the file ends in chunk {k}" if check == "short" else f"chunk {k} is corrupt (checksum)",
                    cut=check == "short")
    try:
        if name == "zstd":
            tokens, raw = decode_zstd(payload, n, D, H, W)
            ok = planes_crc32(raw, n, D, H, W) == crc
        else:
            tokens = decode_wave(payload, n, D, H, W, state.prev, state.model)
            state.budget.spend(n, H, W, plen)
            ok = state.crc(tokens) == crc
    except (_Corrupt, ValueError) as e:
        raise _Stop(f"chunk {k} does not decode ({e})")
    if not ok:
        raise _Stop(f"chunk {k} does not decode to its planes (planes_crc32 differs)")
    if name not in coders:
        coders.append(name)
    state.done(tokens, frames)
    return tokens



# ---------------------------------------------------------------- reading and writing files, either version
def unpack(data: bytes, where="token file", partial=False):
    """bytes -> (tokens (T, H, W) int32, header), checked in the order of docs/trl-format.md: nothing the
    header says sizes anything before it is validated, and the payload must justify what it decodes to.
    The header has the file's fields and grid, frames, coder. partial=True: a version-2 file cut short gives
    every complete chunk instead of an error, and the header says what was recovered: version, complete,
    chunks and, when incomplete, where it stops (`stopped`)."""
    if len(data) < 5 or data[:4] != MAGIC or data[4] == VERSION and len(data) < 24:
        raise _bad(where, "not a .trl token file (wrong magic bytes)")
    if data[4] == VERSION_STREAM:
        return _read_stream(io.BytesIO(data), where, partial)
    if data[4] != VERSION:
        raise _bad(where, f".trl version {data[4]} is not supported (this tokenreel reads versions {VERSION} and "
                          f"{VERSION_STREAM})")
    tokens, header = _unpack_v1(data, where)
    return tokens, dict(header, version=VERSION, complete=True, chunks=1) if partial else header


def read(path, partial=False):
    """The .trl at `path` -> (tokens, header), as unpack; a version-2 file is read chunk by chunk (memory:
    its tokens and one chunk), so one still being written can be read with partial=True."""
    path = Path(path)
    f, size = open_regular(path, ".trl token file")
    with f:
        limit = max(MAX_FILE, MAX_FILE_STREAM)
        if size > limit:
            raise UserError(f"{path}: {size} bytes, larger than any .trl token file ({limit} bytes at most)")
        try:
            head = f.read(5)
            if head[:4] == MAGIC and head[4:] == bytes([VERSION_STREAM]):
                return _read_stream(f, str(path), partial, head)
            data = head + f.read(MAX_FILE + 1 - len(head))
        except OSError as e:
            raise os_error(e, path)
    if len(data) > MAX_FILE:
        raise UserError(f"{path}: larger than any .trl token file of version {VERSION} ({MAX_FILE} bytes at most)")
    return unpack(data, str(path), partial)


def write(path, tokens, meta, coder=None):
    """Write tokens (T, H, W) as a version-2 .trl, whole or not at all (a temp file beside `path`, then a
    rename) -> bytes written. meta: the header fields (grid, coder and the other FILE_FIELDS are derived);
    meta["frames"]: the video frames the grid stands for. coder "ans-ctx" writes a version-1 file."""
    if coder == "ans-ctx":
        data = pack(tokens, meta, coder)
        write_atomic(path, data, ".trl")
        return len(data)
    return _write_stream(path, tokens, meta, coder).bytes


def pack_stream(tokens, meta, coder=None, chunk_frames=CHUNK_FRAMES) -> bytes:
    """The bytes of the version-2 .trl that `write` writes."""
    return _write_stream(None, tokens, meta, coder, chunk_frames).data


def _write_stream(path, tokens, meta, coder=None, chunk_frames=CHUNK_FRAMES):
    tokens = np.asarray(tokens)
    if tokens.ndim != 3 or not len(tokens):
        raise ValueError(f"tokens must be (T, H, W), T >= 1, not {tokens.shape}")
    T = len(tokens)
    frames = meta.get("frames", 1 + 4 * (T - 1))
    with TrlWriter(path, meta, coder, chunk_frames, stream=False) as w:
        for t0 in range(0, T, chunk_frames):
            t1 = min(T, t0 + chunk_frames)
            w.append(tokens[t0:t1], _chunk_frames(frames, t0, t1, T))
    return w


def payload_length(data: bytes) -> int:
    """Bytes of the coded token payload in a packed .trl (what bits-per-pixel figures count): a version-2
    file's chunk payloads together."""
    (hlen,) = struct.unpack_from("<I", data, 8)
    if data[4] != VERSION_STREAM:
        return struct.unpack_from("<Q", data, 12 + hlen)[0]
    at, total = 12 + hlen + 4, 0
    while at + _CHUNK.size <= len(data) and data[at:at + 1] == b"F":
        plen = _CHUNK.unpack_from(data, at)[-1]
        total, at = total + plen, at + _CHUNK.size + plen + 4
    return total
