"""`tokenreel encode` from every kind of input it reads while it writes: a file, a pipe (`-`) and a capture
device FORMAT:SPEC (here FFmpeg's lavfi, a synthetic source every PyAV has), with memory that does not grow
with length, a readable prefix while writing, one-line errors. The file's own streaming tests (cuts, kill -9
of a file encode, Ctrl-C of a file encode) are in test_trl_stream.py."""
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest

from tokenreel.errors import UserError
from tokenreel.runtime import trl

from test_cli import assert_clean_failure

TESTSRC = "lavfi:testsrc=size=16x16:rate=25"      # the smallest size encode takes (--size 16): 2x2 tokens
LONG = 10_000


def cli(*args, **kw):
    """`python -m tokenreel -q ARGS`; kw as subprocess.run's (input=bytes pipes them on stdin)."""
    return subprocess.run([sys.executable, "-m", "tokenreel", "-q", *map(str, args)], capture_output=True,
                          timeout=600, **kw)


def text(r):
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(), r.stderr.decode())


@pytest.fixture(scope="module")
def bikes_mkv(bikes, tmp_path_factory):
    """bikes.mp4's packets remuxed, unchanged, into Matroska: the MP4 keeps its index at the end, which a pipe
    cannot seek back from; the same frames in a container that streams."""
    out = tmp_path_factory.mktemp("mkv") / "bikes.mkv"
    with av.open(str(bikes)) as src, av.open(str(out), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:          # the demuxer's final empty packet
                packet.stream = stream
                dst.mux(packet)
    return out


def test_a_pipe_gives_the_tokens_of_the_file(tmp_path, bikes, bikes_mkv):
    """A real clip piped on stdin encodes to the very tokens and header of the file itself."""
    r = cli("encode", "-", "-o", tmp_path / "pipe.trl", "--size", "64", input=bikes_mkv.read_bytes())
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().startswith("stdin -> ")
    r = cli("encode", bikes, "-o", tmp_path / "file.trl", "--size", "64")
    assert r.returncode == 0, r.stderr.decode()
    piped, h_piped = trl.read(tmp_path / "pipe.trl")
    filed, h_file = trl.read(tmp_path / "file.trl")
    assert piped.shape == filed.shape == (64, 8, 19) and (piped == filed).all()
    assert h_piped == h_file and h_file["frames"] == 250 and h_file["fps"] == 25


def test_a_device_through_the_cli_and_the_api(tmp_path, backend):
    """A lavfi source: fps from the stream, frames as many as it gives; the API takes the same spelling and
    keeps no source to read back (a device cannot be read again)."""
    import tokenreel
    spec = f"{TESTSRC}:duration=2"
    r = text(cli("encode", spec, "-o", tmp_path / "dev.trl", "--size", "16"))
    assert r.returncode == 0, r.stderr
    tokens, header = trl.read(tmp_path / "dev.trl")
    assert header["frames"] == 50 and header["fps"] == 25 and header["source_size"] == [16, 16]
    assert tokens.shape == (14, 2, 2)
    clip = tokenreel.Editor(backend="torch", tokenizer=backend).encode(spec, size=16)
    assert (clip.tokens == tokens).all() and clip.frame_count == 50 and clip.source_frames() is None
    r = text(cli("encode", spec, "-o", tmp_path / "ten.trl", "--size", "16", "--frames", "10"))
    assert r.returncode == 0, r.stderr
    assert trl.read(tmp_path / "ten.trl")[1]["frames"] == 10


# The encode in a child that reports its OWN peak (VmHWM of /proc/self/status) when it is done: ru_maxrss
# of a child carries its parent's peak over fork and exec, and RUSAGE_CHILDREN is the largest child's.
PEAK = r"""
import runpy, sys
sys.argv = ["tokenreel", *sys.argv[1:]]
try:
    runpy.run_module("tokenreel", run_name="__main__")
except SystemExit as e:
    code = e.code
print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")))
sys.exit(code)
"""

# A synthetic video piped as a camera's recorder would: lavfi testsrc muxed frame by frame into NUT on stdout.
PRODUCER = r"""
import sys, av
src = av.open(sys.argv[1], format="lavfi")
out = av.open(sys.stdout.buffer, "w", format="nut")
stream = out.add_stream("rawvideo", rate=25)
stream.width, stream.height, stream.pix_fmt = 16, 16, "rgb24"
for i, frame in enumerate(src.decode(video=0)):
    if i == int(sys.argv[2]):
        break
    out.mux(stream.encode(frame.reformat(format="rgb24")))
out.mux(stream.encode())
out.close()
"""


def _encode_peak(tmp_path, how, frames):
    """(peak KiB, header) of `tokenreel encode` of `frames` synthetic frames, from a pipe or a device."""
    out = tmp_path / f"{how}-{frames}.trl"
    args = [sys.executable, "-c", PEAK, "-q", "encode", "-o", out, "--size", "16"]
    if how == "device":
        r = subprocess.run([*args, f"{TESTSRC}:duration={frames / 25}"], capture_output=True, text=True, timeout=600)
    else:
        producer = subprocess.Popen([sys.executable, "-c", PRODUCER, TESTSRC.split(":", 1)[1], str(frames)],
                                    stdout=subprocess.PIPE)
        r = subprocess.run([*args, "-"], stdin=producer.stdout, capture_output=True, text=True, timeout=600)
        producer.stdout.close()
        assert producer.wait(60) == 0
    assert r.returncode == 0, r.stderr
    return int(r.stdout.split()[-1]), trl.read(out)[1]


@pytest.mark.parametrize("how", ["pipe", "device"])
def test_10000_frames_keep_flat_memory(tmp_path, how):
    """10,000 synthetic frames (400 s at 25 fps) through the whole command, from a pipe or a device: the
    child's own peak is within 10% of its peak for 200 frames."""
    short, h_short = _encode_peak(tmp_path, how, 200)
    long, h_long = _encode_peak(tmp_path, how, LONG)
    assert h_short["frames"] == 200 and h_long["frames"] == LONG and h_long["grid"] == [2501, 2, 2]
    print(f"{how}: peak {short / 1024:.1f} MiB at 200 frames, {long / 1024:.1f} MiB at {LONG}")
    assert long <= 1.1 * short, (short, long)


def _temp_of(out, timeout=120):
    """The .OUT.PID.XXXXXXXX.trl that `tokenreel encode` is writing, once it holds a complete chunk."""
    end = time.time() + timeout
    while time.time() < end:
        for tmp in out.parent.glob(f".{out.name}.*.trl"):
            try:
                if trl.read(tmp, partial=True)[1]["chunks"] >= 1:
                    return tmp
            except UserError:
                pass                    # the header is not all there yet
        time.sleep(0.2)
    raise AssertionError("no chunk was written")


def test_a_recording_is_readable_while_written_and_when_killed(tmp_path):
    """An endless device: the file being written reads as the prefix of the same source encoded whole,
    marked incomplete; kill -9 leaves that prefix, never a complete file, and no output."""
    out = tmp_path / "rec.trl"
    p = subprocess.Popen([sys.executable, "-m", "tokenreel", "-q", "encode", TESTSRC, "-o", out, "--size", "16"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        tmp = _temp_of(out)
        during, h = trl.read(tmp, partial=True)
        assert not h["complete"]
    finally:
        p.kill()
        p.wait()
    after, h = trl.read(tmp, partial=True)
    assert not h["complete"] and len(after) >= len(during) and (after[:len(during)] == during).all()
    with pytest.raises(UserError, match="incomplete"):
        trl.read(tmp)
    assert not out.exists()
    r = text(cli("encode", TESTSRC, "-o", tmp_path / "whole.trl", "--size", "16", "--frames", h["frames"]))
    assert r.returncode == 0, r.stderr
    whole, _ = trl.read(tmp_path / "whole.trl")
    assert (whole[:len(after)] == after).all()       # testsrc is deterministic: the same frames, the same tokens


def test_ctrl_c_ends_a_recording_from_a_device(tmp_path):
    """SIGINT ends an endless device's encode with a complete file of the frames read so far."""
    out = tmp_path / "rec.trl"
    p = subprocess.Popen([sys.executable, "-m", "tokenreel", "-q", "encode", TESTSRC, "-o", out, "--size", "16"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _temp_of(out)
    p.send_signal(signal.SIGINT)
    stdout, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert "stopped by Ctrl-C" in stdout
    tokens, header = trl.read(out)              # a strict read: the file is complete
    assert header["frames"] >= 64 and tokens.shape[0] == 1 + (header["frames"] - 1 + 3) // 4
    assert not list(tmp_path.glob(".rec.trl.*"))


@pytest.mark.parametrize("source, stdin, words", [
    ("-", b"", "stdin: empty"),
    ("-", b"this is not a video\n" * 100, "stdin: not a readable video"),
    ("-", "bikes.mp4", "index at the end cannot be read from a pipe"),
    ("lavfx:testsrc", None, "'lavfx' is not an input format"),
    ("lavfi:nosuchsource", None, "cannot open the lavfi device"),
    ("fbdev:/dev/no-such-device", None, "cannot open the fbdev device"),
    ("lavfi:sine=duration=1", None, "holds no video stream"),
])
def test_bad_inputs_fail_in_one_line_and_leave_nothing(tmp_path, bikes, source, stdin, words):
    out = tmp_path / "o.trl"
    if stdin == "bikes.mp4":
        stdin = bikes.read_bytes()
    r = cli("encode", source, "-o", out, "--size", "16", input=stdin, **({} if stdin is not None else
                                                                        {"stdin": subprocess.DEVNULL}))
    assert_clean_failure(text(r), out, words)
    assert r.returncode == 2 and not list(tmp_path.iterdir())


def test_stdin_a_terminal_is_refused(tmp_path):
    """`-` with nothing piped in (stdin a terminal) would wait for ever: refused at once."""
    import os
    import pty
    leader, follower = pty.openpty()
    try:
        r = cli("encode", "-", "-o", tmp_path / "o.trl", stdin=follower)
    finally:
        os.close(leader)
        os.close(follower)
    assert_clean_failure(text(r), tmp_path / "o.trl", "stdin is a terminal")


def test_a_file_of_a_device_s_name_is_the_file(tmp_path, bikes_mkv):
    """FORMAT:SPEC names a device only when no file has that name."""
    clip = tmp_path / "lavfi:clip.mkv"
    clip.write_bytes(bikes_mkv.read_bytes())
    r = text(cli("encode", "lavfi:clip.mkv", "-o", "o.trl", "--size", "16", "--frames", "5", cwd=tmp_path))
    assert r.returncode == 0, r.stderr
    assert trl.read(tmp_path / "o.trl")[1]["source_size"] == [640, 272]
