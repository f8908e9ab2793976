import json
import struct
import zlib

import numpy as np
import pytest

from conftest import run_cli
from tokenreel.errors import UserError
from tokenreel.runtime import trl

META = {"tokenizer": "t", "tokenizer_sha256": "ab" * 32, "bits": 18, "fps": 25.0, "size": [64, 48], "frames": 17}


def grid(seed=0, T=5, H=6, W=8, bits=18):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 2 ** bits, (T, H, W))
    if T > 2:
        tokens[2:, :3] = tokens[1, :3]  # some temporal redundancy, as in real video
    return tokens


@pytest.mark.parametrize("coder", list(trl.CODERS))
def test_roundtrip_each_coder(coder):
    tokens = grid()
    data = trl.pack(tokens, META, coder)
    back, header = trl.unpack(data)
    assert (back == tokens).all() and header["coder"] == coder and header["grid"] == [5, 6, 8]


def test_writer_keeps_the_smaller_payload():
    """Of the coders it tries unless asked (ans-wave and zstd: ans-ctx decodes 10-20x slower)."""
    tokens = grid(1)
    sizes = {c: len(trl.pack(tokens, META, c)) for c in trl.DEFAULT_CODERS}
    assert len(trl.pack(tokens, META)) == min(sizes.values())
    assert trl.unpack(trl.pack(tokens, META))[1]["coder"] in trl.DEFAULT_CODERS


@pytest.mark.parametrize("coder", trl.ANS_CODERS)
def test_context_model_beats_raw_on_redundant_tokens(coder):
    tokens = np.repeat(grid(2, T=1), 6, axis=0)
    tokens[1:] ^= (np.random.default_rng(3).random(tokens[1:].shape) < 0.05).astype(np.int64)  # a few bit flips
    raw_bits = tokens.size * 18
    assert 8 * trl.payload_length(trl.pack(tokens, META, coder)) < 0.5 * raw_bits


def _expect_error(data, words):
    with pytest.raises(UserError, match=words):
        trl.unpack(data, "x.trl")


def test_truncated_and_bit_flipped_files_are_refused():
    data = trl.pack(grid(), META)
    _expect_error(data[: len(data) // 2], "checksum|truncated|length")
    _expect_error(data[:10], "magic|truncated")
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    _expect_error(bytes(flipped), "checksum")
    _expect_error(b"RIFF" + data[4:], "magic")


def _forge(header, payload=b""):
    """A file with a valid checksum around a hostile header: what a bad writer could produce."""
    hb = __import__("json").dumps(header).encode()
    body = trl.MAGIC + struct.pack("<BBHI", 1, 0, 0, len(hb)) + hb + struct.pack("<Q", len(payload)) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def test_header_fields_never_size_an_allocation():
    huge = dict(META, grid=[10 ** 6, 1000, 1000], coder="zstd")
    _expect_error(_forge(huge), "grid")
    lying = dict(META, grid=[5, 6, 8], coder="zstd")
    _expect_error(_forge(lying, b"\x28\xb5\x2f\xfd" + b"\0" * 20), "payload")
    _expect_error(_forge(dict(META, grid=[5, 6, 8], coder="lzma")), "coder")
    _expect_error(_forge({"grid": [1, 1, 1]}), "lacks")
    newer = bytearray(trl.pack(grid(), META))
    newer[4] = 3
    _expect_error(bytes(newer[:-4]) + struct.pack("<I", zlib.crc32(bytes(newer[:-4]))), "version 3")


def test_atomic_write(tmp_path):
    out = tmp_path / "a.trl"
    trl.write(out, grid(), META)
    assert out.exists() and [p.name for p in tmp_path.iterdir()] == ["a.trl"]
    with pytest.raises(UserError, match="does not exist"):
        trl.write(tmp_path / "missing" / "a.trl", grid(), META)


def test_golden_token_files():
    """The committed .trl files pin both coders byte for byte, for the Kotlin and Swift readers."""
    import json
    from pathlib import Path
    from tokenreel.runtime.spec_cases import trl_cases
    golden = Path(__file__).parent / "golden"
    tokens = np.array(json.loads((golden / "tokens.json").read_text()))
    for name, data in trl_cases().items():
        assert (golden / name).read_bytes() == data, name
        back, header = trl.unpack(data)
        assert (back == tokens).all() and header["coder"] in name


# ---------------------------------------------------------------- hostile files (docs/trl-format.md, "Limits")
def _reference_ans(tokens, D):
    """The context model as the format page states it, token by token (the pre-vectorised writer): the
    vectorised encoder must give the same bytes."""
    import constriction
    T, H, W = tokens.shape
    planes = np.moveaxis((tokens[..., None] >> np.arange(D)) & 1, -1, 1)
    counts = np.ones((D, trl.CONTEXTS, 2), np.int64)
    symbols, probs = [], []
    for t in range(T):
        for y in range(H):
            for x in range(W):
                def b(tt, yy, xx):
                    return planes[tt, :, yy, xx] if 0 <= yy and 0 <= xx < W else np.zeros(D, np.int64)
                ctx = 8 * b(t, y, x - 1) + 4 * b(t, y - 1, x - 1) + 2 * b(t, y - 1, x) + b(t, y - 1, x + 1)
                ctx = ctx + 32 if t == 0 else ctx + 16 * b(t - 1, y, x)
                c = counts[np.arange(D), ctx]
                k = np.clip((c[:, 1] * 4096 + (c[:, 0] + c[:, 1]) // 2) // (c[:, 0] + c[:, 1]), 1, 4095)
                symbols.append(planes[t, :, y, x])
                probs.append(k / 4096)
                counts[np.arange(D), ctx, planes[t, :, y, x]] += 1
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(np.concatenate(symbols).astype(np.int32), constriction.stream.model.Bernoulli(perfect=False),
                         np.concatenate(probs))
    return coder.get_compressed().astype("<u4").tobytes()


def _reference_wave(tokens, D):
    """ans-wave as the format page states it, symbol by symbol: waves w = x + y + 2t; in a wave by
    increasing x + y, then y; a position's D bits plane 0 first; the counts learn after each wave. The
    vectorised encoder must give the same bytes (this is the loop a port writes)."""
    import constriction
    T, H, W = tokens.shape
    counts = np.ones((D, trl.WAVE_CONTEXTS, 2), np.int64)

    def bit(t, y, x, i):
        return int(tokens[t, y, x]) >> i & 1 if 0 <= y and 0 <= x < W else 0
    symbols, probs = [], []
    for w in range(W + H + 2 * T - 3):
        seen = []
        for d in range(W + H - 1):
            if (w - d) % 2 or not 0 <= (w - d) // 2 < T:
                continue
            t = (w - d) // 2
            for y in range(H):
                x = d - y
                if not 0 <= x < W:
                    continue
                for i in range(D):
                    s = 4 * bit(t, y, x - 1, i) + 2 * bit(t, y - 1, x - 1, i) + bit(t, y - 1, x, i)
                    ctx = 32 + s if t == 0 else s + 8 * bit(t - 1, y, x, i) + 16 * bit(t - 1, y, x + 1, i)
                    c0, c1 = counts[i, ctx]
                    k = min(max((c1 * 4096 + (c0 + c1) // 2) // (c0 + c1), 1), 4095)
                    symbols.append(bit(t, y, x, i))
                    probs.append(k / 4096)
                    seen.append((i, ctx, symbols[-1]))
        for i, ctx, b in seen:
            counts[i, ctx, b] += 1
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(np.array(symbols, np.int32), constriction.stream.model.Bernoulli(perfect=False),
                         np.array(probs))
    return coder.get_compressed().astype("<u4").tobytes()


@pytest.mark.parametrize("shape,bits", [((1, 1, 1), 1), ((2, 3, 5), 7), ((4, 1, 9), 18), ((3, 5, 1), 24),
                                        ((5, 6, 8), 18), ((7, 2, 3), 3)])
@pytest.mark.parametrize("coder", trl.ANS_CODERS)
def test_vectorised_coders_match_the_reference(shape, bits, coder):
    rng = np.random.default_rng(sum(shape) + bits)
    tokens = rng.integers(0, 2 ** bits, shape)
    tokens[1:, : shape[1] // 2] = tokens[0, : shape[1] // 2]
    encode, decode = trl.CODERS[coder]
    payload = encode(tokens.astype(np.int32), bits)
    assert payload == {"ans-ctx": _reference_ans, "ans-wave": _reference_wave}[coder](tokens, bits)
    assert (decode(payload, *shape[:1], bits, *shape[1:]) == tokens).all()
    raw = trl.pack_planes(tokens.astype(np.int32), bits)
    assert raw == np.packbits(np.moveaxis((tokens[..., None] >> np.arange(bits)) & 1, -1, 1).reshape(-1)).tobytes()
    assert (trl.unpack_planes(raw, *shape[:1], bits, *shape[1:]) == tokens).all()


def test_wave_coder_groups_and_carried_state():
    """Encoding in several memory groups gives the bytes of one; a run after a frame with a model's counts
    decodes with the same frame and counts, which both end as the encoder's."""
    tokens, thin = grid_of([6, 7, 9], 18, 4), grid_of([5, 1, 1], 18, 4)      # thin: every other wave empty
    one, one_thin = trl.encode_wave(tokens, 18), trl.encode_wave(thin, 18)
    old = trl._WAVE_GROUP_BITS
    trl._WAVE_GROUP_BITS = 500
    try:
        assert len(trl._wave_groups(trl._WaveRun(6, 7, 9, 18))) > 5 and trl.encode_wave(tokens, 18) == one
        assert trl.encode_wave(thin, 18) == one_thin and (trl.decode_wave(one_thin, 5, 18, 1, 1) == thin).all()
    finally:
        trl._WAVE_GROUP_BITS = old
    a, b = trl.WaveModel(18), trl.WaveModel(18)
    trl.decode_wave(trl.encode_wave(tokens[:2], 18, None, a), 2, 18, 7, 9, None, b)
    payload = trl.encode_wave(tokens[2:], 18, tokens[1], a)
    assert (trl.decode_wave(payload, 4, 18, 7, 9, tokens[1], b) == tokens[2:]).all()
    assert (a.counts == b.counts).all() and a.counts.sum() == 2 * 18 * trl.WAVE_CONTEXTS + tokens.size * 18


def test_wave_decoder_makes_one_coder_call_per_wave(monkeypatch):
    """The point of ans-wave: W + H + 2T - 3 vectorised calls for a grid, not one per token."""
    calls = []
    real = trl._ans_coder

    class Counting:
        def __init__(self, coder):
            self.coder = coder

        def decode(self, *a):
            calls.append(1)
            return self.coder.decode(*a)

        def is_empty(self):
            return self.coder.is_empty()
    monkeypatch.setattr(trl, "_ans_coder", lambda *a: Counting(real(*a)))
    tokens = grid_of([5, 16, 28], 18)
    assert (trl.decode_wave(trl.encode_wave(tokens, 18), 5, 18, 16, 28) == tokens).all()
    assert len(calls) == 28 + 16 + 2 * 5 - 3


def _zstd(raw, **kw):
    import zstandard
    return zstandard.ZstdCompressor(**kw).compress(raw)


def _consistent(grid, bits, raw=None, **kw):
    raw = bytes(trl.raw_length(grid[0], bits, grid[1], grid[2])) if raw is None else raw
    return _forge(dict(META, grid=grid, bits=bits, coder="zstd",
                       planes_crc32=trl.planes_crc32(raw, grid[0], bits, grid[1], grid[2])), _zstd(raw, **kw))


def test_grids_above_the_limits_are_refused_before_allocating():
    T = trl.MAX_TOKENS // 1024
    _expect_error(_consistent([T + 1, 32, 32], 1), "grid")
    _expect_error(_forge(dict(META, grid=[1, 1025, 1], coder="zstd")), "grid")
    _expect_error(_forge(dict(META, grid=[2 ** 26, 1, 1], coder="zstd")), "grid")


def test_a_zstd_bomb_within_the_limits_costs_the_documented_constant():
    """The largest grid a header may state, as a 1 KB file of zeros: decoded within bytes per token."""
    import time
    import tracemalloc
    data = _consistent([trl.MAX_TOKENS // 1024, 32, 32], trl.MAX_BITS, level=1)
    assert len(data) < 4096
    tracemalloc.start()
    t = time.perf_counter()
    tokens, _ = trl.unpack(data)
    seconds = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert tokens.shape == (trl.MAX_TOKENS // 1024, 32, 32) and not tokens.any()
    assert peak < 100 * 2 ** 20, f"{peak / 2 ** 20:.0f} MiB"            # 32 MiB tokens + 24 MiB planes + chunks
    assert seconds < 5


def test_zstd_frames_must_declare_exactly_the_grid():
    grid, bits = [3, 6, 8], 18
    raw = trl.pack_planes(grid_tokens := grid_of(grid, bits), bits)
    assert (trl.unpack(_consistent(grid, bits, raw))[0] == grid_tokens).all()
    header = dict(META, grid=grid, bits=bits, coder="zstd")
    _expect_error(_forge(header, _zstd(raw, write_content_size=False)), "content size")
    _expect_error(_forge(header, _zstd(raw + b"\0")), "content size")
    _expect_error(_forge(header, _zstd(raw) + b"\0\0\0\0"), "unused data|payload")
    _expect_error(_forge(header, _zstd(raw) + _zstd(raw)), "unused data|payload")
    padded = grid_of([1, 1, 3], 3)      # 9 bits: 7 padding bits in the last byte
    raw = bytearray(trl.pack_planes(padded, 3))
    raw[-1] |= 1
    _expect_error(_forge(dict(META, grid=[1, 1, 3], bits=3, coder="zstd"), _zstd(bytes(raw))), "padding")


def grid_of(grid, bits, seed=0):
    return np.random.default_rng(seed).integers(0, 2 ** bits, grid).astype(np.int32)


@pytest.mark.parametrize("coder", trl.ANS_CODERS)
def test_ans_payloads_must_justify_their_grid(coder):
    """A few hundred bytes cannot stand for millions of tokens (the 'decodes for hours' file)."""
    import time
    header = dict(META, grid=[2000, 32, 32], coder=coder)
    t = time.perf_counter()
    _expect_error(_forge(header, np.arange(1, 400, dtype="<u4").tobytes()), "cannot hold")
    assert time.perf_counter() - t < 0.5
    # the bound in the format page: at most 16 tokens per payload byte beyond ANS_FREE_TOKENS
    assert trl.ans_admissible(1, 1, trl.ANS_FREE_TOKENS, 0) and not trl.ans_admissible(1, 1, trl.ANS_FREE_TOKENS + 1, 0)
    assert trl.ans_admissible(1, 1, trl.ANS_FREE_TOKENS + 16, 1) and not trl.ans_admissible(1, 16, 1025, 0)
    # the writer never writes what readers refuse: a grid too redundant for ans-ctx goes to zstd
    still = np.zeros((100, 16, 16), np.int32)
    assert trl.unpack(trl.pack(still, META))[1]["coder"] == "zstd"
    with pytest.raises(ValueError, match="refused"):
        trl.pack(still, META, coder)


@pytest.mark.parametrize("coder", trl.ANS_CODERS)
def test_ans_decoding_must_end_exactly_at_the_payload_end(coder):
    tokens = grid_of([2, 4, 4], 18)
    data = trl.pack(tokens, META, coder)
    header, payload = json.loads(data[12:12 + struct.unpack_from("<I", data, 8)[0]]), data[-4 - trl.payload_length(data):-4]
    _expect_error(_forge(header, payload + struct.pack("<I", 12345)), "more than the grid|planes_crc32")
    smaller = dict(header, grid=[1, 4, 4])
    smaller.pop("planes_crc32")
    _expect_error(_forge(smaller, payload), "more than the grid")
    _expect_error(_forge(header, payload[:-4] + b"\0\0\0\0"), "zero word|decode")
    _expect_error(_forge(header, payload + b"\0"), "32-bit words")


def test_a_payload_under_another_header_is_refused():
    a, b = grid_of([3, 6, 8], 18, 1), grid_of([3, 6, 8], 18, 2)
    for coder in trl.CODERS:
        da, db = trl.pack(a, META, coder), trl.pack(b, META, coder)
        header = json.loads(da[12:12 + struct.unpack_from("<I", da, 8)[0]])
        _expect_error(_forge(header, db[-4 - trl.payload_length(db):-4]), "does not belong|more than the grid")
    # the same grid read as another shape of the same size
    data = trl.pack(a, META, "zstd")
    header = json.loads(data[12:12 + struct.unpack_from("<I", data, 8)[0]])
    _expect_error(_forge(dict(header, grid=[3, 8, 6]), data[-4 - trl.payload_length(data):-4]), "does not belong")


def test_files_without_planes_crc32_still_read():
    """Files of earlier writers have no planes_crc32: they read as before."""
    tokens = grid_of([3, 6, 8], 18)
    for coder in trl.CODERS:
        data = trl.pack(tokens, META, coder)
        header = json.loads(data[12:12 + struct.unpack_from("<I", data, 8)[0]])
        header.pop("planes_crc32")
        back, h = trl.unpack(_forge(header, data[-4 - trl.payload_length(data):-4]))
        assert (back == tokens).all() and "planes_crc32" not in h


def test_pack_recomputes_planes_crc32_from_the_grid_it_writes():
    stale = dict(META, planes_crc32=1, grid=[9, 9, 9], coder="ans-ctx")
    back, header = trl.unpack(trl.pack(grid_of([2, 3, 4], 18), stale))
    assert header["grid"] == [2, 3, 4] and header["planes_crc32"] != 1


HOSTILE_FIELDS = [
    ("grid", [3, 6.0, 8]), ("grid", [True, 6, 8]), ("grid", [3, 6]), ("grid", "3x6x8"), ("grid", [0, 6, 8]),
    ("bits", 18.0), ("bits", True), ("bits", 0), ("bits", 25), ("bits", "18"),
    ("coder", ["zstd"]), ("coder", {"a": 1}), ("coder", None),
    ("fps", 0), ("fps", -1), ("fps", "25"), ("fps", 10 ** 400), ("fps", None),
    ("frames", 0), ("frames", 17.5), ("frames", -3), ("frames", 2 ** 63),
    ("size", [64]), ("size", [0, 48]), ("size", [64.0, 48]), ("size", "64x48"),
    ("tokenizer_sha256", 12), ("tokenizer_sha256", "AB" * 32), ("tokenizer_sha256", "ab"),
    ("tokenizer", ""), ("tokenizer", ["t"]), ("source_size", [1, 2, 3]), ("resize", 5), ("planes_crc32", -1),
    ("planes_crc32", 2 ** 32), ("planes_crc32", "1"),
]


@pytest.mark.parametrize("key,value", HOSTILE_FIELDS)
def test_every_header_field_is_checked_by_type_and_range(key, value):
    data = trl.pack(grid_of([3, 6, 8], 18), META, "zstd")
    header = json.loads(data[12:12 + struct.unpack_from("<I", data, 8)[0]])
    _expect_error(_forge(dict(header, **{key: value}), data[-4 - trl.payload_length(data):-4]), repr(key)[1:-1])


@pytest.mark.parametrize("text,words", [
    (b'{"bits": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested"),
    (b'{"bits": 18, "fps": Infinity}', "Infinity"),
    (b'{"bits": 18, "fps": NaN}', "NaN"),
    (b'{"bits": 18, "fps": 1e400}', "out of range"),
    (b'{"bits": 18, "bits": 7}', "repeats"),
    (b'{"x": "\xff"}', "utf-8|decode"),
    (b'[1, 2, 3]', "not a JSON object"),
    (b'\xef\xbb\xbf{}', "BOM|Unexpected|Expecting"),
    (b'{"x": ' + b"[" * 20 + b"]" * 20 + b"}", "nested"),
])
def test_header_json_is_strict(text, words):
    _expect_error(_forge(text), words)


def _forge(header, payload=b""):  # noqa: F811 - raw JSON bytes as well as dicts
    hb = header if isinstance(header, bytes) else json.dumps(header).encode()
    body = trl.MAGIC + struct.pack("<BBHI", 1, 0, 0, len(hb)) + hb + struct.pack("<Q", len(payload)) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def test_payload_length_beyond_what_a_coder_writes_is_refused():
    header = dict(META, grid=[1, 1, 1], coder="zstd")
    _expect_error(_forge(header, b"\0" * 5000), "longer than any coder")


# ---------------------------------------------------------------- files
def test_read_refuses_what_is_not_a_regular_file(tmp_path):
    import os
    fifo = tmp_path / "pipe.trl"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="not a regular file"):
        trl.read(fifo)                          # opened without blocking: no writer needed
    (tmp_path / "dev.trl").symlink_to("/dev/zero")
    with pytest.raises(UserError, match="not a regular file"):
        trl.read(tmp_path / "dev.trl")
    with pytest.raises(UserError, match="not a regular file"):
        trl.read(tmp_path)
    with pytest.raises(UserError, match="no such file"):
        trl.read(tmp_path / "missing.trl")
    big = tmp_path / "big.trl"
    with open(big, "wb") as f:
        f.truncate(trl.MAX_FILE + 1)            # sparse: nothing is read
    with pytest.raises(UserError, match="larger than any"):
        trl.read(big)


def test_unreadable_file_is_one_line(tmp_path, monkeypatch):
    import errno
    import os
    path = tmp_path / "a.trl"
    trl.write(path, grid(), META)
    real_open = os.open

    def denied(p, *a, **k):
        if str(p) == str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(p))
        return real_open(p, *a, **k)
    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(UserError, match="permission denied"):
        trl.read(path)


@pytest.mark.parametrize("code,words", [(28, "disk is full"), (27, "too large")])
def test_write_errors_are_one_line_and_leave_nothing(tmp_path, monkeypatch, code, words):
    import builtins
    out = tmp_path / "a.trl"
    out.write_bytes(b"the user's old file")
    real_open = builtins.open

    def failing(p, mode="r", *a, **k):
        f = real_open(p, mode, *a, **k)
        if "w" in mode and str(p).startswith(str(tmp_path / ".a.trl.")):
            f.close()
            raise OSError(code, "simulated", str(p))
        return f
    monkeypatch.setattr(builtins, "open", failing)
    with pytest.raises(UserError, match=words):
        trl.write(out, grid(), META)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["a.trl"] and out.read_bytes() == b"the user's old file"


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_outputs_get_the_users_umask(tmp_path, umask):
    import os
    old = os.umask(umask)
    try:
        trl.write(tmp_path / "a.trl", grid(), META)
    finally:
        os.umask(old)
    assert (tmp_path / "a.trl").stat().st_mode & 0o777 == 0o666 & ~umask


def test_temp_files_of_killed_writers_are_swept(tmp_path):
    import os
    import subprocess
    import sys
    import time
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    old = time.time() - 7200
    names = {f".a.trl.{dead}.abcdefgh.trl": False,          # a killed writer's: removed
             f".a.trl.{os.getpid()}.abcdefgh.trl": True,    # a live writer's (this process): kept
             ".a.trl.k2j4h5g6.trl": False,                  # an older tokenreel's, pid-less, an hour old: removed
             ".a.trl.notes.txt": True,                      # not a temp file's name: kept
             f".b.trl.{dead}.abcdefgh.trl": True}           # another output's: kept
    for n in names:
        (tmp_path / n).write_bytes(b"x")
        os.utime(tmp_path / n, (old, old))
    fresh = tmp_path / f".a.trl.{dead}.zzzzzzzz.trl"         # dead but touched just now: kept for now
    fresh.write_bytes(b"x")
    trl.write(tmp_path / "a.trl", grid(), META)
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {"a.trl", fresh.name} | {n for n, keep in names.items() if keep}


def test_cli_info_on_hostile_files_is_one_line(tmp_path):
    bad = tmp_path / "bad.trl"
    data = trl.pack(grid(), META, "zstd")
    header = json.loads(data[12:12 + struct.unpack_from("<I", data, 8)[0]])
    for value in ([["x"]], 0, 10 ** 400):
        bad.write_bytes(_forge(dict(header, frames=value), data[-4 - trl.payload_length(data):-4]))
        r = run_cli("info", bad)
        assert r.returncode == 2
        assert r.stderr.startswith("tokenreel: error: ") and r.stderr.count("\n") == 1 and "frames" in r.stderr
    r = run_cli("info", tmp_path)
    assert r.returncode == 2 and "not a regular file" in r.stderr
