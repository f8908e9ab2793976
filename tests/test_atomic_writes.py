"""Every writer outside export goes through runtime/video.py's one atomic write (write_atomic, or output_path
for a library that writes a path itself): a failure leaves no temp file and the previous output intact, and a
killed writer's temps (files and folders) are swept when the name is written again (issue 17)."""
import errno
import importlib.util
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tokenreel.errors import UserError
from tokenreel.runtime import video

from conftest import identity_model

ROOT = Path(__file__).resolve().parents[1]


def listing(folder):
    return sorted(os.listdir(folder))


def disk_full(monkeypatch):
    """Every atomic write fails at its fsync (after the temp file was written in full), as on a full disk."""
    def fsync(path):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(video, "_fsync", fsync)


# one writer per case: (folder, monkeypatch) -> the path it wrote; each stubs what it does not need to run

def write_pack(folder, monkeypatch):
    import torch
    from tokenreel.training import pack
    monkeypatch.setattr(pack, "training_split", lambda d: ([], [], []))
    monkeypatch.setattr(pack, "validation_windows", lambda val: torch.zeros(1, 17, 3, 4, 4))
    pack.pack(folder, folder / "data.pack", budget_mib=1)
    return folder / "data.pack"


def write_plot(folder, monkeypatch):
    from tokenreel.eval.plot import rate_distortion
    rate_distortion([{"bpp": 0.1, "psnr": 30.0, "x264_points": [[0.05, 28.0], [0.2, 33.0]]}], folder / "rd.png")
    return folder / "rd.png"


def write_preview(folder, monkeypatch):
    from tokenreel.runtime.preview import side_by_side
    side_by_side([("clip", np.zeros((3, 8, 8, 3), np.uint8))], folder / "preview.png")
    return folder / "preview.png"


def write_benchmarks(folder, monkeypatch):
    """BENCHMARKS.md and its --json: both written whole, or both left as they were."""
    spec = importlib.util.spec_from_file_location("benchmarks_script", ROOT / "benchmarks" / "benchmarks.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(script.bench, "run", lambda *a, **k: {"rate_distortion": {"clips": []}})
    monkeypatch.setattr(script.bench, "markdown", lambda results: "tables\n")
    monkeypatch.setattr(script, "rate_distortion", lambda rows, path: None)
    script.main(["--out", str(folder / "BENCHMARKS.md"), "--runs", "1", "--json", str(folder / "bench.json")])
    return folder / "BENCHMARKS.md"


def write_recipe(folder, monkeypatch):
    from tokenreel.backends import torch_backend
    from tokenreel.export import spec
    from tokenreel.models import weights
    from tokenreel.quantization import calibration, sensitivity
    monkeypatch.setattr(torch_backend, "TorchTokenizer", lambda: SimpleNamespace(model=None))
    monkeypatch.setattr(weights, "DEFAULT_TRANSFORMER", folder / "no-transformer")
    monkeypatch.setattr(calibration, "calibration_set", lambda *a, **k: {})
    monkeypatch.setattr(spec, "tokenizer_specs", lambda *a: [])
    sensitivity.main(["--out", str(folder / "recipe.json")])
    return folder / "recipe.json"


def write_w4(folder, monkeypatch):
    import onnx
    from tokenreel.quantization import weight_only
    onnx.save(identity_model(), str(folder / ".input"))      # no Linear MatMul: written as it is
    weight_only.quantize(folder / ".input", folder / "m.w4.onnx")
    return folder / "m.w4.onnx"


def write_int8(folder, monkeypatch):
    import shutil

    import onnx
    import onnxruntime.quantization as ortq
    from onnxruntime.quantization import shape_inference
    from tokenreel.quantization import onnx_int8
    onnx.save(identity_model(), str(folder / ".input"))
    monkeypatch.setattr(shape_inference, "quant_pre_process", lambda src, dst, **k: shutil.copy(src, dst))
    monkeypatch.setattr(ortq, "quantize_static", lambda src, dst, *a, **k: shutil.copy(src, dst))
    onnx_int8.quantize(folder / ".input", folder / "m.int8.onnx", [])
    return folder / "m.int8.onnx"


def write_checkpoint(folder, monkeypatch):
    import torch
    from tokenreel.training import checkpoint
    model, ema = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(model.parameters())
    checkpoint.save_training(folder / "run", model, ema, opt, {"step": 7})
    return folder / "run" / "state.json"


WRITERS = [write_pack, write_plot, write_preview, write_benchmarks, write_recipe, write_w4, write_int8,
           write_checkpoint]


@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: w.__name__[6:])
def test_a_failed_write_leaves_no_temp_and_the_old_output(writer, tmp_path, monkeypatch):
    def contents():     # every path under the folder (a temp folder too), with the bytes of each file
        return {p: p.is_file() and p.read_bytes() for p in tmp_path.rglob("*") if p.name != ".input"}
    out = writer(tmp_path, monkeypatch)
    assert out.is_file() and not [p for p in contents() if p.name.startswith(".")]
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~video._umask())      # the user's umask, not 0600
    before = contents()
    disk_full(monkeypatch)
    with pytest.raises(UserError, match="the disk is full"):
        writer(tmp_path, monkeypatch)
    assert contents() == before                          # nothing new, nothing half-written, nothing lost


def test_checkpoint_files_keep_their_names_and_format(tmp_path):
    import torch
    from safetensors.torch import load_file
    from tokenreel.training import checkpoint
    torch.manual_seed(0)
    model, ema = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    run = tmp_path / "run"
    run.mkdir()
    for name in checkpoint.LEGACY_TEMPS:                 # a killed save of an older tokenreel
        (run / name).write_bytes(b"old temp")
        os.utime(run / name, (time.time() - 7200,) * 2)
    (run / "ema.tmp").touch()                            # fresh: maybe an older writer still at it
    checkpoint.save_training(run, model, ema, opt, {"step": 3, "best": 1.5})
    assert listing(run) == ["ema.safetensors", "ema.tmp", "model.safetensors", "optim.safetensors", "state.json"]
    assert (run / "state.json").read_text() == json.dumps({"step": 3, "best": 1.5}, indent=1)
    assert set(load_file(str(run / "model.safetensors"))) == {"weight", "bias"}
    m2, e2 = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    o2 = torch.optim.AdamW(m2.parameters())
    assert checkpoint.load_training(run, m2, e2, o2) == {"step": 3, "best": 1.5}
    assert torch.equal(m2.weight, model.weight) and o2.state_dict()["state"].keys() == opt.state_dict()["state"].keys()


def test_a_failing_library_write_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    import torch
    from tokenreel.training import checkpoint
    model, ema = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(model.parameters())
    checkpoint.save_training(tmp_path, model, ema, opt, {"step": 1})
    optim = (tmp_path / "optim.safetensors").read_bytes()
    real = checkpoint.save_file

    def save_file(tensors, path, metadata=None):
        if metadata:                    # the optimizer state: the file system gives up half way through
            Path(path).write_bytes(b"half")
            raise OSError(errno.EFBIG, "File too large")
        real(tensors, path, metadata=metadata)
    monkeypatch.setattr(checkpoint, "save_file", save_file)
    with pytest.raises(OSError, match="too large"):
        checkpoint.save_training(tmp_path, model, ema, opt, {"step": 2})
    assert listing(tmp_path) == ["ema.safetensors", "model.safetensors", "optim.safetensors", "state.json"]
    assert (tmp_path / "optim.safetensors").read_bytes() == optim
    assert json.loads((tmp_path / "state.json").read_text()) == {"step": 1}     # still the old step


def test_a_failed_cache_write_leaves_no_cache_file(tmp_path, monkeypatch):
    from tokenreel.training import data
    monkeypatch.setenv("TOKENREEL_CACHE", str(tmp_path))
    monkeypatch.setattr(data, "read_video",
                        lambda *a, **k: SimpleNamespace(frames=np.arange(96, dtype=np.uint8).reshape(2, 4, 4, 3)))
    with monkeypatch.context() as m:
        disk_full(m)
        with pytest.raises(UserError, match="the disk is full"):
            data.load_cached(tmp_path / "clip.mp4", 4, 2)
    assert listing(tmp_path / "frames") == []
    frames = data.load_cached(tmp_path / "clip.mp4", 4, 2)
    [cached] = (tmp_path / "frames").iterdir()
    assert cached.name.startswith("clip-") and np.array_equal(np.load(cached), frames)


def test_the_export_cache_folder_is_written_whole(tmp_path, monkeypatch):
    import tokenreel.export as export
    from tokenreel import cache
    monkeypatch.setenv("TOKENREEL_CACHE", str(tmp_path))

    def failing(folder, **k):
        Path(folder).mkdir(parents=True)
        (Path(folder) / "enc.onnx").write_bytes(b"half")
        raise UserError("export failed")
    monkeypatch.setattr(export, "export_models", failing)
    with pytest.raises(UserError, match="export failed"):
        cache.cached_models("onnx", "fp32", quiet=True)
    assert listing(tmp_path / "models") == []

    def works(folder, **k):
        Path(folder).mkdir(parents=True)
        (Path(folder) / "manifest.json").write_text("{}")
    monkeypatch.setattr(export, "export_models", works)
    folder, _ = cache.cached_models("onnx", "fp32", quiet=True)
    assert listing(tmp_path / "models") == [folder.name] and listing(folder) == ["manifest.json"]


def test_an_export_for_other_weights_or_code_is_swept_when_remade(tmp_path, monkeypatch):
    import tokenreel.export as export
    from tokenreel import cache
    monkeypatch.setenv("TOKENREEL_CACHE", str(tmp_path))
    models = tmp_path / "models"
    stale = ["onnx-fp32-128x224-aaaaaaaaaaaa-bbbbbbbbbbbb-cccccccc"]
    kept = ["onnx-int8-128x224-aaaaaaaaaaaa-bbbbbbbbbbbb-cccccccc",      # another precision
            "onnx-fp32-64x64-aaaaaaaaaaaa-bbbbbbbbbbbb-cccccccc"]        # another size
    for name in stale + kept:
        (models / name).mkdir(parents=True)
        (models / name / "manifest.json").write_text("{}")

    def works(folder, **k):
        Path(folder).mkdir(parents=True)
        (Path(folder) / "manifest.json").write_text("{}")
    monkeypatch.setattr(export, "export_models", works)
    folder, _ = cache.cached_models("onnx", "fp32", quiet=True)
    assert listing(models) == sorted(kept + [folder.name])


def test_killed_writers_temp_files_and_folders_are_swept(tmp_path):
    dead = 2 ** 22 + 12345                               # above the default pid_max: no such process
    old = time.time() - 2 * video.STALE_SECONDS
    targets = {"model.safetensors": False, "m.mlpackage": True, "onnx-fp32-128x224-key": True}   # -> folder?
    stale = [f".model.safetensors.{dead}.abcd_123.safetensors", f".m.mlpackage.{dead}.abcdefgh.mlpackage",
             f".onnx-fp32-128x224-key.{dead}.k2j4h5g6"]
    kept = [f".model.safetensors.{os.getpid()}.zzzzzzzz.safetensors",     # a live writer's
            f".m.mlpackage.{dead}.abcdefgh.mlpackage.Data"]             # not a name of ours
    for name in stale + kept:
        if name.endswith("safetensors"):
            (tmp_path / name).write_bytes(b"x")
        else:
            (tmp_path / name / "Data").mkdir(parents=True)
        os.utime(tmp_path / name, (old, old))
    for target, folder in targets.items():
        with video.output_path(tmp_path / target, folder=folder) as tmp:
            tmp.mkdir() if folder else tmp.write_bytes(b"new")
    assert listing(tmp_path) == sorted(kept + list(targets))
