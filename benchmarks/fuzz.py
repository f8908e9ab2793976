"""Structured fuzzing of the two readers of untrusted files: `.trl` token files (tokenreel/runtime/trl.py)
and export folders (tokenreel/runtime/manifest.py, tokenreel/backends/exported.py).

    .venv/bin/python benchmarks/fuzz.py --trl 200000 --manifest 10000 --seed 0 [--json report.json]
        [--save DIR] [--max-seconds 2] [--max-mib 256]

Every case is a seed file (real files the writer makes) with one structured mutation: header fields set
to hostile values, grids that do not fit their payload, pasted payloads, Zstandard frames that lie about
their size, ANS payloads that never end, raw byte flips with the checksum fixed up; manifests whose
`file` climbs out of the folder or is a link to a device, hostile shapes, names and geometry, models that
do not match their entry. The oracle: success or a UserError, within --max-seconds per case; the whole
run within --max-mib of peak memory (VmHWM). The report gives the counts per mutation, the worst time
and what made it, the peak memory and every other exception (saved under --save to replay).
"""
import argparse
import hashlib
import json
import math
import os
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tokenreel.errors import UserError  # noqa: E402
from tokenreel.runtime import manifest as manifest_io  # noqa: E402
from tokenreel.runtime import trl  # noqa: E402

HANG_SECONDS = 30            # a case still running after this is recorded as a hang and interrupted

HOSTILE = [None, True, False, 0, -1, 1, 2, 3, 17, 18, 24, 25, 255, 1023, 1024, 1025, 2 ** 23, 2 ** 23 + 1,
           2 ** 31, 2 ** 32, 2 ** 63, 2 ** 64, -2 ** 63, 10 ** 30, 0.5, 1e-300, 1e308, -0.0, 18.0, 25.0, "",
           "x", "zstd", "ans-ctx", "ans-wave", "18", "ab" * 32, "AB" * 32, "0" * 63, "\u2603" * 10, "x" * 5000,
           [], {},
           [1], [1, 1], [1, 1, 1], [0, 1, 1], [3, 6, 8], [-1, 6, 8], [3, 6.0, 8], [3, 6, 8, 1], [8192, 32, 32],
           [2 ** 23, 1, 1], [1, 1024, 1024], [1, 1025, 1], ["3", 6, 8], [True, 6, 8], [None], [[3, 6, 8]],
           {"a": 1}, [64, 48], [0, 0], [1e9, 1], [[]]]
RAW_JSON = [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"9" * 5000, b"[" * 5000 + b"]" * 5000,
            b"{\"a\":" * 3000 + b"1" + b"}" * 3000, b"\"\\ud800\"", b"1" + b"0" * 400, b"[1,2,3]"]


class Hang(BaseException):
    """Raised by the alarm in a case that runs past HANG_SECONDS (a BaseException: no handler swallows it)."""


def _alarm(signum, frame):
    raise Hang(f"still running after {HANG_SECONDS} s")


class Run:
    """Counts, the worst case and the failures of one family of cases."""

    def __init__(self, name, max_seconds, save):
        self.name, self.max_seconds, self.save = name, max_seconds, save
        self.cases, self.ok, self.refused, self.slow = 0, 0, 0, 0
        self.per_mutation, self.failures = {}, []
        self.worst = (0.0, None)

    def case(self, mutation, fn, payload_for_save):
        self.cases += 1
        signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
        t = time.perf_counter()
        outcome = "ok"
        try:
            fn()
            self.ok += 1
        except UserError:
            self.refused += 1
            outcome = "refused"
        except (Exception, Hang) as e:          # noqa: BLE001 - the oracle: anything else is a finding
            outcome = "exception"
            tb = traceback.extract_tb(e.__traceback__)[-1]
            self.failures.append({"mutation": mutation, "error": f"{e.__class__.__name__}: {str(e)[:300]}",
                                  "at": f"{Path(tb.filename).name}:{tb.lineno}"})
            if self.save:
                folder = Path(self.save) / self.name
                folder.mkdir(parents=True, exist_ok=True)
                payload_for_save(folder / f"case-{self.cases:07d}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        dt = time.perf_counter() - t
        if dt > self.max_seconds:
            self.slow += 1
            self.failures.append({"mutation": mutation, "error": f"took {dt:.2f} s", "at": ""})
        if dt > self.worst[0]:
            self.worst = (dt, mutation)
        counts = self.per_mutation.setdefault(mutation.split(":")[0], {"ok": 0, "refused": 0, "exception": 0})
        counts[outcome] += 1

    def report(self, seconds):
        return {"cases": self.cases, "ok": self.ok, "refused": self.refused,
                "exceptions": sum(1 for f in self.failures if not f["error"].startswith("took")),
                "over_time": self.slow, "worst_seconds": round(self.worst[0], 4), "worst_mutation": self.worst[1],
                "seconds": round(seconds, 1), "rate_per_second": round(self.cases / max(seconds, 1e-9), 1),
                "per_mutation": self.per_mutation, "failures": self.failures[:50]}


# ---------------------------------------------------------------- .trl
META = {"tokenizer": "fuzz", "tokenizer_sha256": "ab" * 32, "fps": 25.0, "size": [64, 48], "frames": 9,
        "source_size": [64, 48], "resize": "none"}


def forge(header, payload, version=1, flags=0, reserved=0, hlen=None, plen=None, fix_crc=True):
    """The bytes of a .trl around any header (dict or raw JSON bytes) and payload."""
    hb = header if isinstance(header, bytes) else json.dumps(header, sort_keys=True).encode()
    body = trl.MAGIC + struct.pack("<BBHI", version & 0xFF, flags & 0xFF, reserved & 0xFFFF,
                                   (len(hb) if hlen is None else hlen) & 0xFFFFFFFF) + hb + \
        struct.pack("<Q", (len(payload) if plen is None else plen) & (2 ** 64 - 1)) + payload
    return body + struct.pack("<I", zlib.crc32(body) if fix_crc else 0)


def fix_crc(data):
    return data[:-4] + struct.pack("<I", zlib.crc32(data[:-4])) if len(data) >= 4 else data


class TrlSeed:
    def __init__(self, data):
        self.data = data
        (hlen,) = struct.unpack_from("<I", data, 8)
        self.header = json.loads(data[12:12 + hlen])
        self.stream = data[4] == trl.VERSION_STREAM
        self.payload = data[12 + hlen + 8:-4]
        self.chunks = stream_records(data) if self.stream else []


def stream_records(data):
    """(start, end) of each record after a version-2 file's header (chunks, then the end chunk), each
    ending after its crc32; what the file holds past them is left out."""
    at, out = 12 + struct.unpack_from("<I", data, 8)[0] + 4, []
    while at + trl._CHUNK.size + 4 <= len(data):
        kind = data[at:at + 1]
        end = at + trl._CHUNK.size + (trl._CHUNK.unpack_from(data, at)[-1] if kind == b"F" else 0) + 4
        if kind not in (b"F", b"E") or end > len(data):
            break
        out.append((at, end))
        at = end
    return out


def fix_stream_crcs(data):
    """Every crc32 of a version-2 file set to the CRC of the bytes before it, as a hostile writer would."""
    out = bytearray(data)
    at = 12 + struct.unpack_from("<I", out, 8)[0] if len(out) >= 12 else len(out)
    fields = [at]
    for _, end in stream_records(bytes(out)):
        fields.append(end - 4)
    for f in fields:
        if f + 4 <= len(out):
            out[f:f + 4] = struct.pack("<I", zlib.crc32(bytes(out[:f])))
    return bytes(out)


def trl_seeds():
    """The golden files of every coder, and packed grids of other shapes and widths (1, 7 and 24 bits)."""
    golden = ROOT / "tests" / "golden"
    seeds = [TrlSeed((golden / f"tokens-{c}.trl").read_bytes()) for c in trl.CODERS]
    rng = np.random.default_rng(12345)
    for T, H, W, D in ((1, 1, 1, 1), (2, 3, 5, 7), (5, 4, 4, 24), (1, 1, 40, 18), (9, 2, 2, 18), (3, 16, 28, 18)):
        tokens = rng.integers(0, 2 ** D, (T, H, W))
        tokens[1:, : H // 2] = tokens[0, : H // 2]
        for coder in trl.CODERS:
            seeds.append(TrlSeed(trl.pack(tokens, dict(META, bits=D), coder)))
    seeds.append(TrlSeed(trl.pack(np.zeros((4, 8, 8), int), dict(META, bits=18), "zstd")))   # very compressible
    # version 2: the golden file, chunks of 1 to 16 latent frames, either chunk coder, a near-still grid
    seeds.append(TrlSeed((golden / "tokens-v2.trl").read_bytes()))
    for T, H, W, D, chunk in ((6, 3, 5, 7, 2), (9, 4, 4, 18, 4), (3, 16, 28, 18, 1), (20, 2, 3, 24, 16)):
        tokens = rng.integers(0, 2 ** D, (T, H, W))
        tokens[1:, : H // 2] = tokens[0, : H // 2]
        for coder in (None, "zstd"):
            seeds.append(TrlSeed(trl.pack_stream(tokens, dict(META, bits=D), coder, chunk)))
    seeds.append(TrlSeed(trl.pack_stream(np.zeros((12, 8, 8), int), dict(META, bits=18), None, 3)))
    return seeds


def _zstd(data, **kw):
    import zstandard
    return zstandard.ZstdCompressor(**kw).compress(data)


def _grid(rng):
    """A grid near the limits: some small, some at or just past MAX_TOKENS / MAX_GRID_SIDE."""
    kind = rng.integers(0, 4)
    if kind == 0:
        return [int(v) for v in rng.integers(1, 9, 3)]
    if kind == 1:
        side = int(rng.choice([1, 2, 1023, 1024, 1025]))
        return [int(rng.integers(1, 9)), side, int(rng.choice([1, 3, 1024, 1025]))]
    if kind == 2:
        T = int(rng.choice([trl.MAX_TOKENS // 1024, trl.MAX_TOKENS // 1024 + 1, trl.MAX_TOKENS]))
        return [T, 32, 32] if T <= trl.MAX_TOKENS // 1024 + 1 else [T, 1, 1]
    return [int(rng.integers(1, 2 ** 20)), int(rng.integers(1, 2048)), int(rng.integers(1, 2048))]


def _set(header, key, value):
    h = dict(header)
    h[key] = value
    return h


def mutate_stream(rng, s, seeds):
    """A structured mutation of a version-2 file: -> (name, bytes), every checksum fixed up unless cut."""
    data, recs = s.data, s.chunks
    frames = [r for r in recs if data[r[0]:r[0] + 1] == b"F"]
    i = int(rng.integers(len(frames)))
    a, b = frames[i]
    kind = rng.integers(0, 9)
    if kind == 0:
        return "stream_cut", data[:int(rng.integers(0, len(data)))]
    if kind == 1:
        out = bytearray(data)
        out[int(rng.integers(a, b - 4))] ^= 1 << int(rng.integers(8))
        return "stream_flip", fix_stream_crcs(bytes(out))
    if kind == 2:
        fields = {"kind": (0, "c"), "coder": (1, "B"), "n": (2, "H"), "frames": (4, "I"), "planes_crc32": (8, "I"),
                  "payload_len": (12, "I")}
        name = list(fields)[rng.integers(len(fields))]
        off, fmt = fields[name]
        bits = {"c": 8, "B": 8, "H": 16, "I": 32}[fmt]
        value = int(rng.choice([0, 1, 2, 3, 69, 255, 2 ** bits - 1, int(rng.integers(0, 2 ** bits))])) % 2 ** bits
        out = bytearray(data)
        out[a + off:a + off + struct.calcsize(fmt)] = bytes([value]) if fmt == "c" else struct.pack("<" + fmt, value)
        return f"stream_field:{name}", fix_stream_crcs(bytes(out))
    if kind == 3:
        return "stream_drop", fix_stream_crcs(data[:a] + data[b:])
    if kind == 4:
        return "stream_dup", fix_stream_crcs(data[:b] + data[a:b] + data[b:])
    if kind == 5 and len(frames) > 1:
        c, d = frames[(i + 1) % len(frames)]
        (a, b), (c, d) = sorted([(a, b), (c, d)])
        return "stream_swap", fix_stream_crcs(data[:a] + data[c:d] + data[b:c] + data[a:b] + data[d:])
    if kind == 6 and recs and data[recs[-1][0]:recs[-1][0] + 1] == b"E":
        e = recs[-1][0]
        out = bytearray(data)
        off = int(rng.choice([4, 8, 12]))
        out[e + off:e + off + 4] = struct.pack("<I", int(rng.integers(0, 2 ** 32)))
        return "stream_end", fix_stream_crcs(bytes(out))
    if kind == 7:
        other = [o for o in seeds if o.stream and o is not s]
        o = other[rng.integers(len(other))]
        oa, ob = [r for r in o.chunks if o.data[r[0]:r[0] + 1] == b"F"][0]
        return "stream_paste", fix_stream_crcs(data[:a] + o.data[oa:ob] + data[b:])
    key = ["grid_hw", "bits", "fps", "size", "tokenizer_sha256"][rng.integers(5)]
    value = HOSTILE[rng.integers(len(HOSTILE))]
    text = json.dumps(_set(s.header, key, value), sort_keys=True).encode()
    start = 12 + struct.unpack_from("<I", data, 8)[0]
    return f"stream_header:{key}", fix_stream_crcs(data[:8] + struct.pack("<I", len(text)) + text + data[start:])


def mutate_trl(rng, seeds):
    """-> (mutation name, bytes)."""
    s = seeds[rng.integers(len(seeds))]
    if s.stream and rng.random() < 0.7:
        return mutate_stream(rng, s, seeds)
    h, p = s.header, s.payload
    keys = list(trl.REQUIRED) + ["planes_crc32", "source_size", "resize"]
    op = rng.integers(0, 20) if not s.stream else int(rng.choice([9, 10, 16]))    # byte-level only
    if op == 0:
        key = keys[rng.integers(len(keys))]
        value = HOSTILE[rng.integers(len(HOSTILE))]
        return f"field:{key}", forge(_set(h, key, value), p)
    if op == 1:
        key = keys[rng.integers(len(keys))]
        return f"delete:{key}", forge({k: v for k, v in h.items() if k != key}, p)
    if op == 2:
        raw = RAW_JSON[rng.integers(len(RAW_JSON))]
        key = keys[rng.integers(len(keys))]
        text = json.dumps(_set(h, key, "@@"), sort_keys=True).encode().replace(b'"@@"', raw)
        return f"raw_value:{key}", forge(text, p)
    if op == 3:
        text = bytearray(json.dumps(h, sort_keys=True).encode())
        kind = rng.integers(0, 7)
        if kind == 0 and text:
            text[rng.integers(len(text))] = int(rng.integers(0, 256))
        elif kind == 1:
            text = text[: rng.integers(0, len(text) + 1)]
        elif kind == 2:
            text = b"\xef\xbb\xbf" + text
        elif kind == 3:
            text = text[:-1] + b', "bits": 7}'                                  # a repeated key
        elif kind == 4:
            text = bytes(text) + b" garbage"
        elif kind == 5:
            text = json.dumps(list(h.items())).encode()                         # not an object
        else:
            text = text[:-1] + b', "x": ' + b"[" * int(rng.integers(5, 3000)) + b"]" * 0 + b"}"
        return f"header_text:{kind}", forge(bytes(text), p)
    if op == 4:
        grid = _grid(rng)
        return "grid_only", forge(_set(h, "grid", grid), p)
    if op == 5 and rng.random() < 0.1:          # a consistent zstd file for a big grid: the decode-cost constant
        grid = _grid(rng)
        D = int(rng.choice([1, 18, 24]))
        n = grid[0] * grid[1] * grid[2] * D
        if n > 24 * trl.MAX_TOKENS:
            return "grid_zstd:too_big", forge(dict(h, grid=grid, bits=D, coder="zstd"), _zstd(b"\0" * 64))
        raw = bytes((n + 7) // 8)
        header = dict(h, grid=grid, bits=D, coder="zstd", planes_crc32=trl.planes_crc32(raw, grid[0], D, *grid[1:]))
        if rng.random() < 0.3:
            header.pop("planes_crc32")
        return "grid_zstd:consistent", forge(header, _zstd(raw, level=1))
    if op == 6:
        flat = [o for o in seeds if not o.stream]
        other = flat[rng.integers(len(flat))]
        return "paste_payload", forge(dict(h, coder=other.header["coder"]), other.payload)
    if op == 7:
        other = [c for c in trl.CODERS if c != h["coder"]]
        return "coder_swap", forge(_set(h, "coder", other[rng.integers(len(other))]), p)
    if op == 8:
        if h["coder"] == "zstd":
            raw_len = trl.raw_length(*h["grid"][:1], h["bits"], *h["grid"][1:])
            import zstandard
            raw = zstandard.ZstdDecompressor().decompress(p)
            kind = rng.integers(0, 8)
            variants = [
                lambda: _zstd(raw, write_content_size=False),
                lambda: _zstd(raw + b"\0"),
                lambda: _zstd(raw[:-1]) if raw_len > 1 else _zstd(b""),
                lambda: p + p,
                lambda: p + b"\0\0\0\0",
                lambda: b"\x50\x2a\x4d\x18\x04\x00\x00\x00abcd" + p,            # a skippable frame first
                lambda: _zstd(raw, write_checksum=True)[:-1] + b"\0",
                lambda: _zstd(bytes(raw[:-1]) + bytes([raw[-1] | 1])),             # padding bits set
            ]
            return f"zstd_frame:{kind}", forge(h, variants[kind]())
        kind = rng.integers(0, 6)
        words = np.frombuffer(p, "<u4")
        variants = [
            lambda: rng.integers(0, 2 ** 32, int(rng.integers(0, 64)), dtype=np.uint64).astype("<u4").tobytes(),
            lambda: p + struct.pack("<I", int(rng.integers(1, 2 ** 32))),
            lambda: p[4:],
            lambda: p[:-4] + b"\0\0\0\0",
            lambda: p + b"\0",
            lambda: words[::-1].tobytes(),
        ]
        return f"ans_words:{kind}", forge(h, variants[kind]())
    if op == 9:
        data = bytearray(s.data)
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(len(data)))
            data[i] ^= 1 << int(rng.integers(8))
        data = bytes(data)
        return "bit_flip", (fix_stream_crcs if s.stream else fix_crc)(data) if rng.random() < 0.9 else data
    if op == 10:
        data = s.data
        cut = int(rng.integers(0, len(data)))
        out = data[:cut] if rng.random() < 0.5 else data + bytes(rng.integers(0, 256, int(rng.integers(1, 64)),
                                                                              dtype=np.uint8))
        return "truncate_extend", fix_crc(out) if rng.random() < 0.5 else out
    if op == 11:
        field = rng.integers(0, 2)
        value = int(rng.choice([0, 1, len(p) - 1, len(p) + 1, 2 ** 16, 2 ** 16 + 1, 2 ** 31, 2 ** 32 - 1, 2 ** 63]))
        if field == 0:
            return "header_len", forge(h, p, hlen=value)
        return "payload_len", forge(h, p, plen=value)
    if op == 12:
        return "version_flags", forge(h, p, version=int(rng.integers(0, 256)), flags=int(rng.integers(0, 256)),
                                      reserved=int(rng.integers(0, 65536)))
    if op == 13:
        n = int(rng.choice([0, 1, 3, 4, 8, 100, 1000]))
        return "payload_random", forge(h, rng.integers(0, 256, n, dtype=np.uint8).tobytes())
    if op == 14:
        crc = h.get("planes_crc32", 0)
        return "planes_crc32", forge(_set(h, "planes_crc32", int((crc + int(rng.integers(1, 2 ** 32))) % 2 ** 32)), p)
    if op == 15:
        # an ANS coder's header over a big grid with a small payload: the "decodes for hours" case
        grid = _grid(rng) if rng.random() < 0.7 else [int(rng.integers(1, 40000)), 1, int(rng.integers(1, 4))]
        coder = trl.ANS_CODERS[rng.integers(len(trl.ANS_CODERS))]     # (thin grids: ans-wave's many waves)
        return "ans_big_grid", forge(dict(h, grid=grid, coder=coder), p if h["coder"] in trl.ANS_CODERS else
                                     rng.integers(1, 2 ** 32, 16, dtype=np.uint64).astype("<u4").tobytes())
    if op == 16:
        data = bytearray(s.data)
        i = int(rng.integers(0, len(data)))
        data[i:i] = rng.integers(0, 256, int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
        return "insert_bytes", fix_crc(bytes(data))
    if op == 17:
        return "bits", forge(_set(h, "bits", int(rng.integers(0, 30))), p)
    if op == 18:
        extra = {"nested": {"a": [1, {"b": [2, [3]]}]}, "huge": "y" * int(rng.integers(0, 70000))}
        key = list(extra)[rng.integers(len(extra))]
        return f"unknown_key:{key}", forge(_set(h, key, extra[key]), p)
    return "seed", s.data


def check_trl(data):
    """Read strictly; a version-2 file that is refused is read again with partial=True (what recovery
    returns must hold too)."""
    try:
        tokens, header = trl.unpack(data, "fuzz.trl")
    except UserError:
        if data[4:5] != bytes([trl.VERSION_STREAM]):
            raise
        tokens, header = trl.unpack(data, "fuzz.trl", partial=True)
        assert not header["complete"] and header["stopped"], "a refused file recovered as complete"
    T, H, W = header["grid"]
    assert tokens.shape == (T, H, W) and tokens.dtype == np.int32, "decoded grid differs from its header"
    assert tokens.size == 0 or (tokens.min() >= 0 and tokens.max() < 1 << header["bits"]), "tokens out of range"


def fuzz_trl(n, rng, run):
    seeds = trl_seeds()
    for _ in range(n):
        name, data = mutate_trl(rng, seeds)
        run.case(name, lambda: check_trl(data), lambda base: base.with_suffix(".trl").write_bytes(data))


# ---------------------------------------------------------------- export folders
GEOMETRY = {"bits": 18, "spatial": 8, "group": 4, "frame_size": [16, 8], "window": [2, 1, 2], "splits": 2,
            "sub_bits": 9, "mask_id": 512}
ROLES = {
    "encoder_step": ([("frames", [1, 4, 3, 8, 16], "float32"), ("state_in_0", [1, 2, 2, 2], "float32")],
                     [("latent", [1, 1, 18, 1, 2], "float32"), ("state_out_0", [1, 2, 2, 2], "float32")]),
    "decoder_step": ([("latent", [1, 1, 18, 1, 2], "float32"), ("state_in_0", [1, 3, 1, 2], "float32")],
                     [("frames", [1, 4, 3, 8, 16], "float32"), ("state_out_0", [1, 3, 1, 2], "float32")]),
    "transformer": ([("sub_tokens", [1, 2, 4], "int64")], [("logits", [1, 2, 4, 512], "float32")]),
}


def onnx_model(inputs, outputs):
    """A tiny ONNX model with exactly these inputs and outputs: state_out_i = state_in_i, the rest zeros."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    types = {"float32": TensorProto.FLOAT, "int64": TensorProto.INT64}
    names = [n for n, _, _ in inputs]
    nodes = []
    for n, shape, _ in outputs:
        src = n.replace("state_out", "state_in")
        if src != n and src in names:
            nodes.append(helper.make_node("Identity", [src], [n]))
        else:
            nodes.append(helper.make_node("Constant", [], [n],
                                          value=numpy_helper.from_array(np.zeros(shape, np.float32), n + "_v")))
    graph = helper.make_graph(nodes, "fuzz", [helper.make_tensor_value_info(n, types[d], s) for n, s, d in inputs],
                              [helper.make_tensor_value_info(n, types[d], s) for n, s, d in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return model.SerializeToString()


def _entry(file, fmt, role, inputs, outputs, data_path):
    return {"file": file, "format": fmt, "role": role, "precision": "fp32",
            "inputs": [{"name": n, "shape": s, "dtype": d} for n, s, d in inputs],
            "outputs": [{"name": n, "shape": s, "dtype": d} for n, s, d in outputs],
            "state": [{"input": n, "output": n.replace("state_in", "state_out")} for n, _, _ in inputs
                      if n.startswith("state_in")],
            "ops": ["Identity", "Constant"], "bytes": manifest_io.path_bytes(data_path),
            "sha256": manifest_io.path_sha256(data_path), "export_seconds": 0.1}


def make_export(folder, with_onnx):
    """A small but complete export folder: three ONNX models (real ones when onnx is installed) and a Core ML
    package folder, with the manifest tokenreel export would write for them."""
    folder.mkdir(parents=True, exist_ok=True)
    artifacts = {}
    for role, (inputs, outputs) in ROLES.items():
        name = f"{role}.fp32.onnx"
        data = onnx_model(inputs, outputs) if with_onnx else hashlib.sha256(role.encode()).digest() * 8
        (folder / name).write_bytes(data)
        artifacts[name] = _entry(name, "onnx", role, inputs, outputs, folder / name)
    pkg = folder / "transformer.fp32.mlpackage"
    (pkg / "Data" / "weights").mkdir(parents=True, exist_ok=True)
    (pkg / "Manifest.json").write_text("{}")
    (pkg / "Data" / "weights" / "weight.bin").write_bytes(b"\1" * 100)
    inputs, outputs = ROLES["transformer"]
    artifacts[pkg.name] = _entry(pkg.name, "coreml", "transformer", [(n, s, "int32") for n, s, _ in inputs],
                                 outputs, pkg)
    manifest = {"schema_version": 1, "geometry": GEOMETRY,
                "weights": {"tokenizer": {"id": "fuzz-tokenizer", "sha256": "ab" * 32},
                            "transformer": {"id": "fuzz-transformer", "sha256": "cd" * 32}},
                "sampler": "tokenreel-sampler-v1", "min_versions": {"onnxruntime": "1.17", "onnx_opset": 18},
                "artifacts": artifacts}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def _paths(value, at=()):
    """Every path into a JSON value."""
    yield at
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, at + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, at + (i,))


def _put(root, at, value, delete=False):
    node = root
    for k in at[:-1]:
        node = node[k]
    if delete:
        del node[at[-1]]
    else:
        node[at[-1]] = value


def _rehash(entry, path):
    """Make the entry's bytes and sha256 match `path` (what a careful attacker does)."""
    try:
        if not (path.is_file() or path.is_dir()) or path.is_dir() and path.resolve() == Path("/"):
            return
        entry["bytes"] = manifest_io.path_bytes(path)
        entry["sha256"] = manifest_io.path_sha256(path)
    except (OSError, ValueError, UserError):
        pass


def mutate_manifest(rng, base, work, outside):
    """Apply one mutation to the export folder `work` (a fresh copy of the seed) -> mutation name."""
    m = json.loads(json.dumps(base))
    arts = list(m["artifacts"])
    name = arts[rng.integers(len(arts))]
    entry = m["artifacts"][name]
    op = rng.integers(0, 14)
    label = "seed"
    if op == 0:
        paths = [p for p in _paths(m) if p]
        at = paths[rng.integers(len(paths))]
        _put(m, at, HOSTILE[rng.integers(len(HOSTILE))])
        label = "value:" + "/".join(str(k) for k in at[:3] if not isinstance(k, int))
    elif op == 1:
        paths = [p for p in _paths(m) if p and isinstance(p[-1], str)]
        at = paths[rng.integers(len(paths))]
        _put(m, at, None, delete=True)
        label = "delete:" + "/".join(str(k) for k in at[:3] if not isinstance(k, int))
    elif op == 2:
        target = [str(outside), "../outside.bin", f"../{work.name}/{entry['file']}", "/dev/zero", "", ".", "..",
                  "a/../../x", "x\\..\\y", "a\0b", "x" * 2000, "sub/", "./" + entry["file"], "~/x",
                  "encoder_step.fp32.onnx/..", "transformer.fp32.mlpackage/Data"][rng.integers(16)]
        entry["file"] = target
        if rng.random() < 0.7:
            _rehash(entry, work / target if not os.path.isabs(target) else Path(target))
        label = "file_path"
    elif op == 3:
        kind = rng.integers(0, 6)
        f = work / entry["file"]
        if f.is_dir():
            shutil.rmtree(f)
        else:
            f.unlink()
        if kind == 0:
            f.symlink_to(outside)                           # same bytes as an artifact: only the place differs
            _rehash(entry, outside)
        elif kind == 1:
            f.symlink_to("/dev/zero")
            entry["bytes"] = int(rng.choice([1, 4096, 2 ** 32]))
        elif kind == 2:
            os.mkfifo(f)
        elif kind == 3:
            f.symlink_to(f.name)                            # a loop
        elif kind == 4:
            f.mkdir()
        else:
            f.symlink_to(work / arts[(arts.index(name) + 1) % len(arts)])   # another artifact, inside
            _rehash(entry, f)
        label = f"file_kind:{kind}"
    elif op == 4:
        pkg = work / "transformer.fp32.mlpackage"
        kind = rng.integers(0, 4)
        if kind == 0:
            (pkg / "link").symlink_to("/dev/zero")
        elif kind == 1:
            os.mkfifo(pkg / "fifo")
        elif kind == 2:
            deep = pkg
            for _ in range(20):
                deep = deep / "d"
            deep.mkdir(parents=True)
            (deep / "f").write_bytes(b"x")
        else:
            (pkg / "Data" / "weights" / "weight.bin").write_bytes(b"\2" * 100)   # same size, other bytes
        if rng.random() < 0.5:
            _rehash(m["artifacts"]["transformer.fp32.mlpackage"], pkg)
        label = f"package:{kind}"
    elif op == 5:
        tensors = entry["inputs" if rng.random() < 0.5 else "outputs"]
        t = tensors[rng.integers(len(tensors))]
        t["shape"] = [[2 ** 30], [2 ** 13, 2 ** 13, 2 ** 13], [0], [-1], [1.5], [], [1] * 20, "x",
                      [2 ** 26], [4096, 4096, 4]][rng.integers(10)]
        label = "shape"
    elif op == 6:
        tensors = entry["inputs" if rng.random() < 0.5 else "outputs"]
        t = tensors[rng.integers(len(tensors))]
        kind = rng.integers(0, 4)
        if kind == 0:
            t["name"] = t["name"] + "_renamed"
        elif kind == 1:
            tensors.reverse()
        elif kind == 2:
            tensors.append(dict(t))
        else:
            t["dtype"] = ["bfloat16", "float64", "int8", "", 3, "int32", "float16"][rng.integers(7)]
        label = f"tensor:{kind}"
    elif op == 7:
        entry["state"] = [[], [{"input": "frames", "output": "latent"}], [{"input": "nope", "output": "x"}],
                          "x", [{"input": "state_in_0"}]][rng.integers(5)]
        label = "state"
    elif op == 8:
        key = list(GEOMETRY)[rng.integers(len(GEOMETRY))]
        m["geometry"][key] = HOSTILE[rng.integers(len(HOSTILE))] if rng.random() < 0.5 else \
            [17, 8, 4, [8, 8], [24, 8], [16, 16], [2, 2, 2], 3, 6, 513, 256, 2 ** 18][rng.integers(12)]
        label = f"geometry:{key}"
    elif op == 9:
        # another artifact's model under this entry, with matching bytes and sha256: only its interface differs
        other = m["artifacts"][arts[(arts.index(name) + 1) % 3]]
        entry["file"], entry["bytes"], entry["sha256"] = other["file"], other["bytes"], other["sha256"]
        label = "swap_model"
    elif op == 10:
        entry["bytes"] = HOSTILE[rng.integers(len(HOSTILE))] if rng.random() < 0.5 else entry["bytes"] + 1
        label = "bytes"
    elif op == 11:
        entry["sha256"] = HOSTILE[rng.integers(len(HOSTILE))]
        label = "sha256"
    elif op == 12:
        f = work / arts[rng.integers(3)]
        f.write_bytes(rng.integers(0, 256, int(rng.integers(1, 600)), dtype=np.uint8).tobytes())
        if rng.random() < 0.8:
            _rehash(m["artifacts"][f.name], f)                  # a damaged model with a matching manifest
        label = "damaged_model"
    text = json.dumps(m, indent=1).encode()
    if op == 13:
        kind = rng.integers(0, 7)
        t = bytearray(text)
        if kind == 0:
            for _ in range(int(rng.integers(1, 5))):
                t[rng.integers(len(t))] = int(rng.integers(0, 256))
        elif kind == 1:
            t = t[: rng.integers(0, len(t))]
        elif kind == 2:
            t = bytearray(text.replace(b'"bits": 18', b'"bits": ' + RAW_JSON[rng.integers(len(RAW_JSON))], 1))
        elif kind == 3:
            t = bytearray(text.replace(b'"schema_version": 1,', b'"schema_version": 1, "schema_version": 1,'))
        elif kind == 4:
            t = bytearray(b"[" * 100000 + b"]" * 100000)
        elif kind == 5:
            t = bytearray(text[:-1] + b', "pad": "' + b"x" * (manifest_io.MAX_MANIFEST + 10) + b'"}')
        else:
            t = bytearray(text.replace(b'"fuzz-tokenizer"', b'"\xff\xfe"'))
        text = bytes(t)
        label = f"manifest_text:{kind}"
    (work / "manifest.json").write_bytes(text)
    return label


def use_export(folder, engines):
    """What a loader does with the folder: read the manifest; with ONNX Runtime, load each model and run
    one call of it as the runtime would."""
    m = manifest_io.read(folder)
    for role in ROLES:
        manifest_io.find(m, role, "onnx", "fp32")
    if not engines:
        return
    from tokenreel.backends.exported import ExportedTokenizer, ExportedTransformer
    tok = ExportedTokenizer(folder, "onnx", "fp32", threads=1)
    w, h = tok.frame_size
    tok.encode_step(np.zeros((tok.group, 3, h, w), np.float32), None)
    tok.decode_step(np.ones((1, tok.bits, h // tok.spatial, w // tok.spatial), np.float32), None)
    tf = ExportedTransformer(folder, "onnx", "fp32", threads=1)
    tf.logits(np.full((tf.splits, int(np.prod(tf.window))), tf.mask_id, np.int64))


def fuzz_manifest(n, rng, run):
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        engines = True
    except ImportError:
        engines = False
    with tempfile.TemporaryDirectory(prefix="tokenreel-fuzz-") as tmp:
        tmp = Path(tmp)
        seed = tmp / "seed"
        base = make_export(seed, engines)
        outside = tmp / "outside.bin"
        shutil.copy(seed / "encoder_step.fp32.onnx", outside)
        use_export(seed, engines)                    # the seed itself must load
        for i in range(n):
            work = tmp / "work"
            if work.exists():
                shutil.rmtree(work)
            shutil.copytree(seed, work, symlinks=True)
            label = mutate_manifest(rng, base, work, outside)
            run.case(label, lambda: use_export(work, engines),
                     lambda dest: shutil.copytree(work, dest, symlinks=True, ignore_dangling_symlinks=True,
                                                  copy_function=_copy_regular))
    return engines


def _copy_regular(src, dst):
    if Path(src).is_file():
        shutil.copy2(src, dst)


def peak_mib():
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trl", type=int, default=2000, help=".trl mutations")
    p.add_argument("--manifest", type=int, default=200, help="export-folder mutations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-seconds", type=float, default=2.0, help="the time bound per case")
    p.add_argument("--max-mib", type=float, default=256, help="the bound on the run's peak memory (VmHWM)")
    p.add_argument("--json", help="also write the report here")
    p.add_argument("--save", help="save every failing input under this folder")
    args = p.parse_args(argv)
    signal.signal(signal.SIGALRM, _alarm)
    rng = np.random.default_rng(args.seed)
    report = {"command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
              "seed": args.seed, "limits": {"max_seconds": args.max_seconds, "max_mib": args.max_mib}}
    t = time.perf_counter()
    run = Run("trl", args.max_seconds, args.save)
    fuzz_trl(args.trl, rng, run)
    report["trl"] = run.report(time.perf_counter() - t)
    t = time.perf_counter()
    run = Run("manifest", args.max_seconds, args.save)
    report["manifest_engines"] = fuzz_manifest(args.manifest, rng, run)
    report["manifest"] = run.report(time.perf_counter() - t)
    report["peak_mib"] = round(peak_mib(), 1)
    report["pass"] = all(report[k]["exceptions"] == 0 and report[k]["over_time"] == 0 for k in ("trl", "manifest")) \
        and report["peak_mib"] <= args.max_mib
    text = json.dumps(report, indent=1)
    if args.json:
        Path(args.json).write_text(text + "\n")
    for k in ("trl", "manifest"):
        r = report[k]
        print(f"{k:9} {r['cases']:8} cases: {r['ok']} ok, {r['refused']} refused, {r['exceptions']} other "
              f"exceptions, {r['over_time']} over {args.max_seconds} s; worst {r['worst_seconds']:.3f} s "
              f"({r['worst_mutation']}); {r['rate_per_second']}/s")
        for f in r["failures"][:10]:
            print(f"    {f['mutation']}: {f['error']} {f['at']}")
    print(f"peak memory (VmHWM) {report['peak_mib']} MiB; {'pass' if report['pass'] else 'FAIL'}")
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
