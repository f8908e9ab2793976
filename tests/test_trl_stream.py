"""The version-2 .trl (docs/trl-format.md, "Version 2"): chunks a writer appends while it encodes, a reader
that recovers every complete chunk of a file cut short, a file that reads as complete only when it is."""
import json
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from tokenreel.errors import UserError
from tokenreel.runtime import trl

META = {"tokenizer": "t", "tokenizer_sha256": "ab" * 32, "bits": 18, "fps": 25.0, "size": [64, 48], "frames": 17}
GOLDEN = Path(__file__).parent / "golden"


def clip(T=9, H=6, W=8, bits=18, seed=0):
    """Tokens with the redundancy of real ones: a still part, a part that moves, noise."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2 ** bits, (H, W))
    tokens = np.stack([np.roll(base, t // 3, axis=1) for t in range(T)])
    tokens[:, H // 2:] ^= (rng.random((T, H - H // 2, W)) < 0.2) * rng.integers(0, 2 ** bits, (T, H - H // 2, W))
    return tokens.astype(np.int32)


def chunk_ends(data):
    """Byte offsets at which each frames chunk of a version-2 file ends (after its crc32)."""
    at = 12 + struct.unpack_from("<I", data, 8)[0] + 4
    ends = []
    while data[at:at + 1] == b"F":
        at += trl._CHUNK.size + trl._CHUNK.unpack_from(data, at)[-1] + 4
        ends.append(at)
    return ends


def frames_of(T):
    return 1 + 4 * (T - 1)


@pytest.mark.parametrize("T,H,W,bits,chunk", [(1, 1, 1, 1, 1), (9, 6, 8, 18, 4), (5, 3, 1, 24, 16), (17, 16, 28, 18, 16),
                                             (7, 2, 5, 7, 3)])
@pytest.mark.parametrize("coder", [None, "ans-wave", "zstd"])
def test_roundtrip(T, H, W, bits, chunk, coder):
    tokens = clip(T, H, W, bits)
    data = trl.pack_stream(tokens, dict(META, bits=bits, frames=frames_of(T)), coder, chunk)
    back, header = trl.unpack(data, partial=True)
    assert (back == tokens).all() and back.dtype == np.int32 and trl.unpack(data)[1]["grid"] == [T, H, W]
    assert header["grid"] == [T, H, W] and header["frames"] == frames_of(T) and header["complete"]
    assert header["chunks"] == -(-T // chunk) == len(chunk_ends(data)) and header["version"] == 2
    assert coder is None or header["coder"] == coder
    assert trl.payload_length(data) < len(data)


def test_chunks_carry_the_model_so_chunking_costs_little():
    """The counts and the frame before go from chunk to chunk: 16-frame chunks cost the chunk records
    (20 bytes each) and little else against one chunk."""
    tokens = clip(48, 16, 28)
    one = trl.payload_length(trl.pack_stream(tokens, META, "ans-wave", 48))
    three = trl.payload_length(trl.pack_stream(tokens, META, "ans-wave", 16))
    assert three <= one * 1.01 + 16


def test_frames_are_kept_and_split_by_latent_frame():
    tokens = clip(9)
    for frames in (1, 17, 33, 34, 40):
        back = trl.unpack(trl.pack_stream(tokens, dict(META, frames=frames), None, 4))[1]
        assert back["frames"] == frames
    data = trl.pack_stream(tokens, dict(META, frames=33), None, 4)   # chunks of frames 0-3, 4-7, 8
    assert [trl.unpack(data[:e], partial=True)[1]["frames"] for e in chunk_ends(data)] == [13, 29, 33]


def test_golden_stream_file():
    """The committed version-2 file pins the format byte for byte for the Kotlin and Swift readers (the
    tokens of the other golden files, chunks of 2 latent frames). TOKENREEL_WRITE_GOLDEN=1 rewrites it."""
    from tokenreel.runtime.spec_cases import TRL_META, trl_tokens
    data = trl.pack_stream(trl_tokens(), TRL_META, None, 2)
    path = GOLDEN / "tokens-v2.trl"
    if os.environ.get("TOKENREEL_WRITE_GOLDEN"):
        path.write_bytes(data)
    assert path.read_bytes() == data
    tokens, header = trl.unpack(data, partial=True)
    assert (tokens == np.array(json.loads((GOLDEN / "tokens.json").read_text()))).all()
    assert header["chunks"] == 2 and header["complete"] and header["frames"] == TRL_META["frames"]


# ---------------------------------------------------------------- cut short, corrupt, hostile
def test_a_file_cut_at_30_random_offsets_gives_every_complete_chunk():
    tokens = clip(24, 6, 8, seed=3)
    data = trl.pack_stream(tokens, dict(META, frames=frames_of(24)), None, 2)
    ends = chunk_ends(data)
    assert len(ends) == 12
    header_end = 12 + struct.unpack_from("<I", data, 8)[0] + 4
    rng = np.random.default_rng(30)
    for cut in sorted(rng.choice(len(data), 30, replace=False)):
        if cut < header_end:                    # no header, no grid to give: a clear error
            with pytest.raises(UserError, match="header|magic"):
                trl.unpack(data[:cut], partial=True)
            continue
        back, header = trl.unpack(data[:cut], partial=True)
        whole = sum(e <= cut for e in ends)
        assert header["chunks"] == whole and not header["complete"], cut
        assert back.shape == (2 * whole, 6, 8) and (back == tokens[:2 * whole]).all(), cut
        assert header["frames"] == (0 if not whole else frames_of(2 * whole)) and "stopped" in header
        with pytest.raises(UserError, match="incomplete"):
            trl.unpack(data[:cut])
    back, header = trl.unpack(data, partial=True)
    assert header["complete"] and (back == tokens).all()


def _patched(data, at, value):
    """data with the bytes at `at` replaced, every crc32 after them fixed up: what a buggy or hostile
    writer could produce (a reader cannot rely on the checksums alone)."""
    out = bytearray(data)
    out[at:at + len(value)] = value
    fields = [12 + struct.unpack_from("<I", out, 8)[0]]
    pos = fields[0] + 4
    while pos < len(out):
        kind = out[pos:pos + 1]
        pos += trl._CHUNK.size + (trl._CHUNK.unpack_from(out, pos)[-1] if kind == b"F" else 0)
        fields.append(pos)
        pos += 4
    for f in fields:
        if f + 4 <= len(out):
            out[f:f + 4] = struct.pack("<I", zlib.crc32(bytes(out[:f])))
    return bytes(out)


def test_a_corrupt_chunk_ends_what_can_be_read():
    tokens = clip(12)
    data = trl.pack_stream(tokens, META, None, 3)
    ends = chunk_ends(data)
    flipped = bytearray(data)
    flipped[ends[1] + trl._CHUNK.size + 2] ^= 0x40           # inside chunk 3's payload
    back, header = trl.unpack(bytes(flipped), partial=True)
    assert header["chunks"] == 2 and (back == tokens[:6]).all() and "chunk 3 is corrupt" in header["stopped"]
    with pytest.raises(UserError, match="chunk 3 is corrupt"):
        trl.unpack(bytes(flipped))


@pytest.mark.parametrize("field,value,words", [
    (1, b"\x09", "chunk 2 is corrupt"),                                  # coder byte
    (0, b"X", "chunk 2 is corrupt"),                                     # kind
    (2, struct.pack("<H", 0), "chunk 2 is corrupt"),                     # no latent frames
    (2, struct.pack("<H", 60000), "past the limits|longer than any|cannot hold"),
    (12, struct.pack("<I", 10 ** 9), "longer than any"),                # payload length
    (8, struct.pack("<I", 12345), "planes_crc32"),
])
def test_hostile_chunk_fields_stop_before_any_work(field, value, words):
    tokens = clip(8)
    data = trl.pack_stream(tokens, META, "ans-wave", 4)
    ends = chunk_ends(data)
    bad = _patched(data, ends[0] + field, value)
    t = time.perf_counter()
    back, header = trl.unpack(bad, partial=True)
    assert time.perf_counter() - t < 1
    assert header["chunks"] == 1 and (back == tokens[:4]).all() and not header["complete"]
    with pytest.raises(UserError, match=words):
        trl.unpack(bad)


def test_the_end_chunk_must_match_and_end_the_file():
    data = trl.pack_stream(clip(8), META, None, 4)
    end = chunk_ends(data)[-1]
    for at, value, words in ((end + 4, struct.pack("<I", 9), "totals"), (end + 8, struct.pack("<I", 1), "totals"),
                             (end + 12, struct.pack("<I", 3), "totals")):
        with pytest.raises(UserError, match=words):
            trl.unpack(_patched(data, at, value))
    with pytest.raises(UserError, match="after the end chunk"):
        trl.unpack(data + b"\0")
    with pytest.raises(UserError, match="end chunk is cut short"):
        trl.unpack(data[:-1])
    assert trl.unpack(data + b"\0", partial=True)[1]["chunks"] == 2


def test_a_tiny_ans_wave_chunk_cannot_claim_many_frames():
    """The cost bounds of version 1 hold over a file's ans-wave chunks together: a few bytes a chunk cannot
    stand for thousands of tokens (nor a thin grid for thousands of waves)."""
    for H, W, n in ((32, 32, 400), (1, 1, 4000)):
        meta = dict(META)
        writer = trl.TrlWriter(None, meta, "zstd")
        writer.append(np.zeros((1, H, W), np.int32), 1)
        writer.close()
        data = writer.data
        start = chunk_ends(data)[0]
        record = trl._CHUNK.pack(b"F", 1, n, 1, 0, 8) + b"\1\0\0\0\2\0\0\0"
        forged = data[:start] + record + b"\0\0\0\0"
        forged = _patched(forged, start, record)
        t = time.perf_counter()
        with pytest.raises(UserError, match="cannot hold"):
            trl.unpack(forged)
        assert time.perf_counter() - t < 0.5


def test_version_2_header_is_checked_as_a_schema():
    data = trl.pack_stream(clip(2), META)
    hlen = struct.unpack_from("<I", data, 8)[0]
    header = json.loads(data[12:12 + hlen])
    for key, value in (("grid_hw", [0, 8]), ("grid_hw", [6, 1025]), ("grid_hw", [6]), ("bits", 25), ("fps", None)):
        text = json.dumps(dict(header, **{key: value})).encode()
        body = data[:8] + struct.pack("<I", len(text)) + text
        body += struct.pack("<I", zlib.crc32(body))
        with pytest.raises(UserError, match=key):
            trl.unpack(body, partial=True)
    body = data[:8] + struct.pack("<I", 2) + b"{}"
    with pytest.raises(UserError, match="lacks"):
        trl.unpack(body + struct.pack("<I", zlib.crc32(body)))
    with pytest.raises(UserError, match="header"):
        trl.unpack(data[:12 + hlen], partial=True)       # nothing to recover without the header's checksum


# ---------------------------------------------------------------- the streaming writer
def test_the_file_is_readable_while_it_is_being_written(tmp_path):
    out = tmp_path / "rec.trl"
    trl.write(out, clip(3, seed=9), META)
    old = out.read_bytes()
    tokens = clip(10)
    w = trl.TrlWriter(out, META, chunk_frames=4)
    w.append(tokens[:1], 1)
    w.append(tokens[1:3], 8)
    assert out.read_bytes() == old                     # no chunk yet: the old file is still there
    w.append(tokens[3:5], 8)                           # the first chunk: the file is now the new one
    back, header = trl.read(out, partial=True)
    assert header["chunks"] == 1 and (back == tokens[:4]).all() and not header["complete"]
    with pytest.raises(UserError, match="incomplete"):
        trl.read(out)
    w.append(tokens[5:], 20)
    w.close()
    back, header = trl.read(out, partial=True)
    assert (back == tokens).all() and header["frames"] == 37 and header["complete"] and header["chunks"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.trl"]


def test_an_exception_keeps_the_prefix_when_streaming_and_nothing_otherwise(tmp_path):
    tokens = clip(10)
    out = tmp_path / "a.trl"
    with pytest.raises(RuntimeError):
        with trl.TrlWriter(out, META, chunk_frames=4) as w:
            w.append(tokens[:6], 21)
            raise RuntimeError("the camera went away")
    back, header = trl.read(out, partial=True)
    assert (back == tokens[:6]).all() and header["chunks"] == 2 and not header["complete"]
    assert header["frames"] == 21 and trl.unpack(out.read_bytes()[:chunk_ends(out.read_bytes())[0]],
                                                 partial=True)[1]["frames"] == 13
    out.write_bytes(b"the user's old file")
    with pytest.raises(RuntimeError):
        with trl.TrlWriter(out, META, chunk_frames=4, stream=False) as w:
            w.append(tokens, 37)
            raise RuntimeError("disk on fire")
    assert out.read_bytes() == b"the user's old file" and sorted(p.name for p in tmp_path.iterdir()) == ["a.trl"]


def test_writer_refuses_what_readers_refuse(tmp_path):
    w = trl.TrlWriter(tmp_path / "a.trl", META)
    with pytest.raises(ValueError, match="outside"):
        w.append(np.full((1, 2, 2), 2 ** 18), 1)
    w.append(np.zeros((1, 2, 2), np.int32), 1)
    with pytest.raises(ValueError, match="2x3"):
        w.append(np.zeros((1, 2, 3), np.int32), 4)
    with pytest.raises(UserError, match="more than a .trl holds"):
        w.append(np.zeros((trl.MAX_TOKENS // 4, 2, 2), np.int8), 4)
    w.abort()
    with pytest.raises(UserError, match="tokenizer_sha256"):
        trl.TrlWriter(tmp_path / "b.trl", dict(META, tokenizer_sha256="x"))
    with pytest.raises(ValueError, match="version-2"):
        trl.TrlWriter(tmp_path / "b.trl", META, "ans-ctx")
    assert not any(p.name.endswith(".trl") and p.name != "a.trl" for p in tmp_path.iterdir())


def test_ans_ctx_is_still_written_as_version_1_and_old_files_read(tmp_path):
    tokens = clip(4)
    trl.write(tmp_path / "a.trl", tokens, META, "ans-ctx")
    back, header = trl.read(tmp_path / "a.trl", partial=True)
    assert (back == tokens).all() and header["version"] == 1 and header["coder"] == "ans-ctx"
    for name in ("tokens-zstd.trl", "tokens-ans-ctx.trl", "tokens-ans-wave.trl"):
        assert trl.read(GOLDEN / name, partial=True)[1]["version"] == 1
    assert "version" not in trl.read(tmp_path / "a.trl")[1]       # a strict read: the file's header, as before


# ---------------------------------------------------------------- in a child process: memory, kill -9
CHILD = r"""
import os, sys, time
import numpy as np
from tokenreel.runtime import trl
mode, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
META = {"tokenizer": "t", "tokenizer_sha256": "ab" * 32, "bits": 18, "fps": 30.0, "size": [224, 128]}
rng = np.random.default_rng(0)
base = rng.integers(0, 2 ** 18, (16, 28)).astype(np.int32)

def latent(t):
    # a slowly changing scene: each latent frame a few tokens away from the one before (deterministic)
    r = np.random.default_rng(t)
    frame = np.roll(base, t // 8, axis=1).copy()
    frame[r.integers(0, 16, 40), r.integers(0, 28, 40)] = r.integers(0, 2 ** 18, 40)
    return frame[None]

def peak_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

if mode == "memory":            # n video frames: 1 + 4 (T - 1), through the writer as a camera would give them
    T = 1 + (n - 1) // 4
    with trl.TrlWriter(out, META) as w:
        for t in range(T):
            w.append(latent(t), 1 if t == 0 else 4)
            if t == 160:            # ten chunks in: the writer's steady state
                early = peak_mib()
    print(early, peak_mib(), T)
elif mode == "forever":         # append until killed, a chunk every latent frame
    w = trl.TrlWriter(out, META, chunk_frames=1)
    print("started", flush=True)
    t = 0
    while True:
        w.append(latent(t), 1 if t == 0 else 4)
        t += 1
elif mode == "files":           # write complete files one after the other until killed
    print("started", flush=True)
    for i in range(n):
        with trl.TrlWriter(os.path.join(out, f"{i}.trl"), META, chunk_frames=2) as w:
            for t in range(5):
                w.append(latent(t), 1 if t == 0 else 4)
"""


def _child(*args):
    return [sys.executable, "-c", CHILD, *map(str, args)]


def _latent(t):
    ns = {}
    exec(CHILD.split("if mode ==")[0].replace("mode, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])", ""), ns)
    return ns["latent"](t)


def test_a_10000_frame_stream_keeps_flat_memory(tmp_path):
    """The child's own peak (VmHWM of its /proc/self/status, not ru_maxrss, which a child inherits from its
    parent) after 10,000 frames is within 8 MiB of its peak after the first 641 (ten chunks)."""
    r = subprocess.run(_child("memory", tmp_path / "long.trl", 10_000), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    early, peak, T = (float(v) for v in r.stdout.split())
    assert peak - early < 8, (early, peak)
    back, header = trl.read(tmp_path / "long.trl")
    assert back.shape == (int(T), 16, 28) and header["frames"] == 10_000 - 3 and header["grid"] == [int(T), 16, 28]
    assert (back[-1] == _latent(int(T) - 1)[0]).all()


def test_kill_9_while_writing_never_leaves_a_file_that_reads_as_complete(tmp_path):
    out = tmp_path / "rec.trl"
    old_tokens = clip(2, 16, 28)
    trl.write(out, old_tokens, META)
    rng = np.random.default_rng(9)
    expected = np.concatenate([_latent(t) for t in range(3000)])
    for trial in range(8):
        p = subprocess.Popen(_child("forever", out, 0), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert p.stdout.readline().startswith(b"started")
        time.sleep(float(rng.uniform(0, 0.4)))
        p.kill()
        p.wait()
        try:
            back, header = trl.read(out)            # complete: only the old file can be
            assert (back == old_tokens).all(), trial
            continue
        except UserError as e:
            assert "incomplete" in str(e), (trial, e)
        back, header = trl.read(out, partial=True)
        assert not header["complete"] and header["chunks"] >= 1
        assert (back == expected[:len(back)]).all(), trial
    tmp = [p.name for p in tmp_path.iterdir() if p.name != "rec.trl"]
    assert all(n.startswith(".rec.trl.") for n in tmp)          # temp files of the killed writers, swept later


def test_kill_9_between_and_inside_closes(tmp_path):
    """Files written whole one after another, the writer killed at a random moment: every file is complete
    and exactly right, or reads as incomplete, or is not there yet."""
    expected = np.concatenate([_latent(t) for t in range(5)])
    rng = np.random.default_rng(4)
    for trial in range(4):
        folder = tmp_path / str(trial)
        folder.mkdir()
        p = subprocess.Popen(_child("files", folder, 10_000), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert p.stdout.readline().startswith(b"started")
        time.sleep(float(rng.uniform(0.2, 1.0)))
        p.kill()
        p.wait()
        complete = incomplete = 0
        for f in (f for f in folder.glob("*.trl") if not f.name.startswith(".")):    # not temp files
            try:
                back, header = trl.read(f)
                assert (back == expected).all() and header["frames"] == 17
                complete += 1
            except UserError as e:
                assert "incomplete" in str(e), e
                incomplete += 1
        assert complete >= 1 and incomplete <= 1, (complete, incomplete)


# ---------------------------------------------------------------- the command line
def _tokenizer_meta(backend, frames):
    return {"tokenizer": backend.tokenizer_id, "tokenizer_sha256": backend.tokenizer_sha256, "bits": backend.bits,
            "fps": 25.0, "frames": frames, "size": [152, 64]}


def test_info_and_decode_partial_on_a_cut_file(tmp_path, backend):
    """`info` describes the complete chunks of a file cut short and exits 2 (not a whole file); `decode`
    refuses it; `decode --partial` decodes what is there."""
    from conftest import run_cli
    from tokenreel.runtime.video import read_video
    tokens = clip(20, 8, 19, seed=5)
    data = trl.pack_stream(tokens, _tokenizer_meta(backend, frames_of(20)))
    cut = tmp_path / "cut.trl"
    cut.write_bytes(data[:chunk_ends(data)[0] + 10])
    r = run_cli("info", cut, "--json")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "incomplete" in r.stderr
    info = json.loads(r.stdout)
    assert info["complete"] is False and info["chunks"] == 1 and info["grid"] == [16, 8, 19] and info["frames"] == 61
    out = tmp_path / "cut.mp4"
    r = run_cli("decode", cut, "-o", out)
    assert r.returncode == 2 and "decode --partial" in r.stderr and not out.exists()
    r = run_cli("decode", "--partial", cut, "-o", out)
    assert r.returncode == 0, r.stderr
    assert read_video(out).frames.shape == (61, 64, 152, 3)


def _cli(*args):
    return [sys.executable, "-m", "tokenreel", "-q", *map(str, args)]


def test_kill_9_during_encode_leaves_the_old_file_or_a_complete_new_one(tmp_path, bikes):
    """`tokenreel encode` writes beside the output and renames at the end: killed at any moment, the
    output is the old file or the whole new one, and the file it was writing reads as incomplete."""
    out = tmp_path / "bikes.trl"
    old = clip(2, 8, 19)
    trl.write(out, old, META)
    rng = np.random.default_rng(7)
    for delay in (*rng.uniform(2, 9, 3), 60):
        p = subprocess.Popen(_cli("encode", bikes, "-o", out, "--size", "64"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            p.wait(delay)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        back, header = trl.read(out)
        assert back.shape == old.shape and (back == old).all() or header["frames"] == 250 and \
            header["grid"] == [64, 8, 19], delay
        for f in tmp_path.glob(".bikes.trl.*"):
            with pytest.raises(UserError, match="incomplete|magic|header"):
                trl.read(f)
    assert header["frames"] == 250        # the last run was left to finish


def test_ctrl_c_during_encode_finishes_the_file(tmp_path, bikes):
    """Stopping a recording: SIGINT ends the encode with a complete file of the frames read so far."""
    import signal
    out = tmp_path / "bikes.trl"
    p = subprocess.Popen(_cli("encode", bikes, "-o", out, "--size", "64"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(6)
    p.send_signal(signal.SIGINT)
    stdout, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    back, header = trl.read(out)                # a strict read: the file is complete
    assert back.shape[0] == 1 + (header["frames"] - 1 + 3) // 4
    assert header["frames"] == 250 or "stopped by Ctrl-C" in stdout and 0 < header["frames"] < 250, stdout
