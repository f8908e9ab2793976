"""`tokenreel verify`: exported artifacts vs the server model on a real clip, the edits on every backend,
localisation of a corrupted artifact, and the model cases for the app ports."""
import copy
import json
import shutil

import numpy as np
import pytest
import torch

from tokenreel.places import default_clip
from tokenreel.runtime import trl
from tokenreel.runtime.manifest import path_bytes, path_sha256
from tokenreel.runtime.sampler import maskgit_decode

from conftest import RUNNABLE, run_cli


def rehash(folder, file):
    """Record a changed artifact in the manifest, as a faulty exporter would have written it."""
    m = json.loads((folder / "manifest.json").read_text())
    for a in m["artifacts"].values():
        if a["file"] == file:
            a.update(bytes=path_bytes(folder / file), sha256=path_sha256(folder / file))
    (folder / "manifest.json").write_text(json.dumps(m))


def test_verify_passes_and_reports(exported, tmp_path):
    folder, tf = exported
    out = tmp_path / "report.json"
    r = run_cli("verify", folder, "--clips", default_clip(), "--transformer", tf, "--steps", "3", "--json", out)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(out.read_text())
    rows = {(row["format"], row["precision"]): row for row in report["rows"]}
    assert rows[("coreml", "fp32")]["status"] == "skipped" or rows[("coreml", "fp32")]["status"] == "pass"
    for fmt in RUNNABLE:
        f = rows[(fmt, "fp32")]["figures"]
        assert f["encoder.tokens_equal"] >= 0.999 and f["decoder.psnr_db"] >= 60 and f["transformer.top1_agree"] >= 0.999
        assert f["reframe.tokens_equal"] >= 0.999 and f["extend.tokens_equal"] >= 0.999
        assert rows[(fmt, "fp16")]["status"] == "pass"
    assert "| onnx | fp32 |" in r.stdout and "PASS" in r.stdout


def perturbed(weight):
    """One weight tensor with 20% noise (a uniform scale would be undone by the GroupNorm after it)."""
    rng = np.random.default_rng(0)
    return (weight + 0.2 * weight.std() * rng.standard_normal(weight.shape)).astype(weight.dtype)


def corrupt_onnx(folder, file):
    import onnx
    from onnx import numpy_helper
    model = onnx.load(str(folder / file))
    victim = next(i for i in model.graph.initializer if i.name == "encoder.blocks2.0.conv1.conv.weight")
    victim.CopyFrom(numpy_helper.from_array(perturbed(numpy_helper.to_array(victim)), victim.name))
    onnx.save(model, str(folder / file))


def corrupt_executorch(folder, file):
    from tokenreel.export import executorch
    from tokenreel.export.spec import tokenizer_specs
    from tokenreel.models.weights import DEFAULT_TOKENIZER, load_tokenizer
    tokenizer = copy.deepcopy(load_tokenizer(DEFAULT_TOKENIZER)[0])   # the loaded model is shared: copy it
    weight = tokenizer.encoder.blocks2[0].conv1.conv.weight
    weight.data = torch.from_numpy(perturbed(weight.detach().numpy()))
    encoder = tokenizer_specs(tokenizer, 64, 152)[0]
    executorch.export(encoder, folder / file)


@pytest.mark.parametrize("fmt,corrupt", [("onnx", corrupt_onnx), ("executorch", corrupt_executorch)])
def test_a_corrupted_artifact_fails_and_the_layer_is_named(exported, tmp_path, fmt, corrupt):
    folder, tf = exported
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    file = f"encoder_step_64x152.fp32.{'onnx' if fmt == 'onnx' else 'pte'}"
    corrupt(bad, file)
    rehash(bad, file)
    out = tmp_path / "report.json"
    r = run_cli("verify", bad, "--clips", default_clip(),
                "--formats", fmt, "--precision", "fp32", "--transformer", tf, "--steps", "2",
                "--json", out)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL" in r.stdout and "Traceback" not in r.stderr
    report = json.loads(out.read_text())
    loc = next(l for l in report["rows"][0]["localisation"] if l["artifact"] == file)
    assert "blocks2.0" in loc["first_divergence"]["module"], loc["first_divergence"]
    assert "first divergence at encoder.blocks2.0" in r.stdout


@pytest.mark.parametrize("fmt", RUNNABLE)
def test_edits_on_exported_backends_match_torch(exported, bikes, tmp_path, fmt):
    folder, tf = exported
    src = tmp_path / "src.trl"
    assert run_cli("encode", bikes, "-o", src, "--size", "64").returncode == 0
    tokens, header = trl.read(src)
    trl.write(src, tokens[:5], dict(header, frames=17))
    for edit, args in (("reframe", ["--aspect", "9:16"]), ("extend", ["--frames", "8"])):
        outs = {}
        for backend in ("torch", fmt):
            outs[backend] = tmp_path / f"{edit}-{backend}.trl"
            where = ["--transformer", tf] if backend == "torch" else ["--backend", fmt, "--models", folder]
            r = run_cli(edit, src, *args, "-o", outs[backend], "--steps", "3", "--seed", "11", *where)
            assert r.returncode == 0, r.stderr
        a, _ = trl.read(outs["torch"])
        b, _ = trl.read(outs[fmt])
        assert a.shape == b.shape and (a == b).mean() >= 0.999, edit


def test_write_golden(exported, model_cases):
    folder, g = exported[0], model_cases
    index = json.loads((g / "golden.json").read_text())["files"]
    assert {"sampler-v1.json", "tokens-zstd.trl"} <= {p.name for p in g.iterdir()}
    # the picks follow from the stored logits with the runtime's own sampler
    shape = index["transformer-logits.f32"]["shape"]
    logits = np.frombuffer((g / "transformer-logits.f32").read_bytes(), "<f4").reshape(shape)
    case = json.loads((g / "transformer-picks.json").read_text())
    known = np.array(case["known"], bool)
    picks = maskgit_decode(lambda _: logits, np.array(case["tokens_in"]), known, shape[0], 9, 512,
                           steps=case["steps"], seed=case["seed"])
    assert picks.tolist() == case["tokens_out"]
    # the encoder tokens follow from the stored frames on the exported encoder
    from tokenreel.backends import tokenizer_backend
    from tokenreel.runtime.tokenizing import encode_frames
    frames = np.frombuffer((g / "encoder-frames.u8").read_bytes(), np.uint8).reshape(index["encoder-frames.u8"]["shape"])
    tokens = encode_frames(tokenizer_backend("onnx", models=folder), iter(frames)).tokens
    assert tokens.tolist() == json.loads((g / "encoder-tokens.json").read_text())
