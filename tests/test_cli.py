"""The commands a user runs, on a real clip, and every bad input: one line, non-zero exit, no output file."""
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tokenreel.runtime import trl
from tokenreel.runtime.video import read_video

from conftest import run_cli


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, bikes):
    out = tmp_path_factory.mktemp("enc") / "bikes.trl"
    r = run_cli("encode", bikes, "-o", out, "--size", "64")
    assert r.returncode == 0, r.stderr
    return out


def test_encode_decode_info_roundtrip(encoded, tmp_path, bikes):
    info = run_cli("info", encoded, "--json")
    header = json.loads(info.stdout)
    assert header["frames"] == 250 and header["size"] == [152, 64] and header["grid"] == [64, 8, 19]
    out = tmp_path / "bikes.mp4"
    r = run_cli("decode", encoded, "-o", out)
    assert r.returncode == 0, r.stderr
    video = read_video(out)
    assert video.frames.shape == (250, 64, 152, 3) and abs(video.info.fps - 25) < 0.01
    # a watchable reconstruction: far closer to the source than to a grey frame
    src = read_video(bikes, short_side=64, multiple=8).frames.astype(float)
    err = np.abs(video.frames.astype(float) - src).mean()
    assert err < 0.5 * np.abs(src - 128).mean()


def test_demo_reframes_extends_and_draws(tmp_path, exported, sample_dir):
    """The main job on a user's clip, on exported models (the test export: 64x152 frames, a tiny
    transformer). CI also runs the README's demo command itself, on the shipped models."""
    models, tf = exported
    out = tmp_path / "demo"
    clip = sample_dir / "bigbuckbunny.mp4"       # not the default clip: "your own clip"
    r = run_cli("demo", clip, "-o", out, "--models", models, "--precision", "fp32", "--transformer", tf,
                "--frames", "9", "--extend-seconds", "0.4", "--steps", "2")
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["bigbuckbunny.extended.mp4", "bigbuckbunny.reframed-9x16.mp4", "bigbuckbunny.side-by-side.png",
                     "bigbuckbunny.trl"]
    reframed = read_video(out / "bigbuckbunny.reframed-9x16.mp4").frames
    assert reframed.shape[0] == 9 and reframed.shape[2] == 152 and reframed.shape[1] > 152   # portrait
    fps = read_video(clip).info.fps
    assert read_video(out / "bigbuckbunny.extended.mp4").frames.shape[0] == 9 + round(0.4 * fps)
    for stage in ("encode", "reframe", "extend", "decode reframed"):
        assert stage in r.stdout
    picture = Image.open(out / "bigbuckbunny.side-by-side.png")
    assert picture.size[0] > 4 * 152 and picture.size[1] > 64 + reframed.shape[1] + 64


def assert_clean_failure(r, out=None, words=""):
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tokenreel: error:"), r.stderr
    assert "Traceback" not in r.stderr and words.lower() in lines[0].lower(), lines[0]
    if out is not None:
        assert not out.exists() and not [p for p in out.parent.iterdir() if p.name.startswith("." + out.name)]


def test_not_a_video(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 50)
    out = tmp_path / "o.trl"
    assert_clean_failure(run_cli("encode", bad, "-o", out), out, "not a readable video")


def test_missing_input(tmp_path):
    out = tmp_path / "o.trl"
    assert_clean_failure(run_cli("encode", tmp_path / "nope.mp4", "-o", out), out, "no such file")


def test_truncated_video(tmp_path, bikes):
    data = bikes.read_bytes()
    for name, cut in [("head.mp4", data[: len(data) // 3]), ("tail.mp4", data[:64] + data[len(data) // 2:])]:
        bad = tmp_path / name
        bad.write_bytes(cut)
        out = tmp_path / f"{name}.trl"
        assert_clean_failure(run_cli("encode", bad, "-o", out), out)


def test_video_without_frames(tmp_path):
    """A video stream that decodes to no frame (moov first, the frame data cut off), and a file with none."""
    import av
    full = tmp_path / "full.mp4"
    with av.open(str(full), "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        for i in range(3):
            c.mux(s.encode(av.VideoFrame.from_ndarray(np.full((64, 64, 3), 60 * i, np.uint8), format="rgb24")))
        c.mux(s.encode())
    data = full.read_bytes()
    zero = tmp_path / "zero.mp4"
    zero.write_bytes(data[:data.find(b"mdat") + 4])
    out = tmp_path / "o.trl"
    assert_clean_failure(run_cli("encode", zero, "-o", out), out, "no decodable video frames")
    empty = tmp_path / "empty.mp4"
    with av.open(str(empty), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        c.start_encoding()
    assert_clean_failure(run_cli("encode", empty, "-o", out), out, "no video stream")


def test_frames_beyond_the_size_limit(tmp_path):
    folder = tmp_path / "huge"
    folder.mkdir()
    Image.new("RGB", (9000, 8)).save(folder / "0001.png")
    out = tmp_path / "o.trl"
    assert_clean_failure(run_cli("encode", folder, "-o", out), out, "8192px limit")


def test_bad_size_option(tmp_path, bikes):
    out = tmp_path / "o.trl"
    assert_clean_failure(run_cli("encode", bikes, "-o", out, "--size", "4"), out, "--size")


def test_unwritable_outputs(tmp_path, bikes, encoded):
    assert_clean_failure(run_cli("encode", bikes, "-o", tmp_path / "no" / "dir" / "o.trl"), None, "does not exist")
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert_clean_failure(run_cli("decode", encoded, "-o", afile / "o.mp4"), None, "does not exist")


def test_outputs_that_would_destroy_something(tmp_path, bikes, encoded):
    """-o onto the input, onto a folder, or with an extension the command does not write: refused first."""
    before = encoded.read_bytes()
    (tmp_path / "adir.mp4").mkdir()
    for args in (["reframe", encoded, "--aspect", "9:16", "--fit", "crop", "-o", encoded],
                 ["encode", bikes, "-o", tmp_path / "o.mp4"], ["decode", encoded, "-o", tmp_path / "o.trl"],
                 ["decode", encoded, "-o", tmp_path / "adir.mp4"]):
        r = run_cli(*args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert encoded.read_bytes() == before
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.trl").exists()
    copy = tmp_path / "same.mp4"
    copy.write_bytes(open(bikes, "rb").read())
    r = run_cli("reframe", copy, "--aspect", "1:1", "--fit", "crop", "-o", copy)
    assert r.returncode == 2 and "destroy the input" in r.stderr and copy.read_bytes() == open(bikes, "rb").read()


def test_damaged_token_files(tmp_path, encoded):
    data = encoded.read_bytes()
    cases = {"truncated.trl": data[: len(data) - 100], "flipped.trl": bytearray(data), "text.trl": b"hello"}
    cases["flipped.trl"][len(data) // 2] ^= 0x04
    for name, blob in cases.items():
        p = tmp_path / name
        p.write_bytes(bytes(blob))
        out = tmp_path / f"{name}.mp4"
        assert_clean_failure(run_cli("decode", p, "-o", out), out)
        assert_clean_failure(run_cli("info", p))


def test_token_file_from_another_tokenizer(tmp_path, encoded):
    tokens, header = trl.read(encoded)
    other = tmp_path / "other.trl"
    trl.write(other, tokens, dict(header, tokenizer="someone-else", tokenizer_sha256="0" * 64))
    out = tmp_path / "o.mp4"
    assert_clean_failure(run_cli("decode", other, "-o", out), out, "made by tokenizer someone-else")


def test_peak_memory_does_not_grow_with_length(tmp_path, bikes):
    """Encoding streams: peak RSS for 169 frames stays within 10% of that for 17 frames. The child's own peak
    (VmHWM): ru_maxrss would carry pytest's peak over fork and exec, and could not fail."""
    code = ("import sys; from tokenreel.backends import tokenizer_backend; "
            "from tokenreel.runtime.file_ops import encode_video; b=tokenizer_backend(); "
            "encode_video(b, sys.argv[1], 128, max_frames=int(sys.argv[2])); "
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    peaks = {n: int(subprocess.run([sys.executable, "-c", code, str(bikes), str(n)], capture_output=True,
                                   text=True, check=True).stdout) for n in (17, 169)}
    assert peaks[169] <= 1.1 * peaks[17], peaks


def test_bench_prints_every_table(tmp_path, exported):
    """`tokenreel bench` on the test export (one config, one run: this checks the tables, not the speed)."""
    models, _ = exported
    r = run_cli("bench", "--models", models, "--configs", "onnx:fp32", "--runs", "1", "--no-rate-distortion",
                "--json", tmp_path / "b.json")
    assert r.returncode == 0, r.stderr
    for title in ("Encoder and decoder", "Transformer", "Parallel vs autoregressive", "Token space vs pixel",
                  "Compute utilisation", "Targets"):
        assert f"## {title}" in r.stdout
    figures = json.loads((tmp_path / "b.json").read_text())
    assert figures["tokenizer"]["onnx fp32"]["encode_fps"] > 0 and figures["edits"]["samplers"]["revise"]["reframe_calls"] > 0
    assert figures["edits"]["long"]["reframe_s_per_s"] > 0 and figures["int8_peak_gops"] > 0
    assert figures["stream"]["170"]["frames"] == 170
