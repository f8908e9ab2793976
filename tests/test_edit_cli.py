"""reframe / extend / eval edits from the command line, with a small untrained transformer standing in for
the shipped one (these tests check the plumbing and the errors; quality is `tokenreel eval edits`)."""
import json

import pytest
import torch

from tokenreel.models.transformer import MaskedTransformer, TransformerConfig
from tokenreel.models.weights import save_weights
from tokenreel.runtime import trl

from conftest import run_cli
from test_cli import assert_clean_failure


@pytest.fixture(scope="module")
def small_transformer(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tf") / "transformer.safetensors"
    save_weights(MaskedTransformer(TransformerConfig(dim=32, layers=1, heads=2, window=(5, 8, 8))), path, "test")
    return path


@pytest.fixture(scope="module")
def clip_trl(tmp_path_factory, bikes):
    out = tmp_path_factory.mktemp("trl") / "bikes.trl"
    assert run_cli("encode", bikes, "-o", out, "--size", "64").returncode == 0
    tokens, header = trl.read(out)
    short = out.with_name("short.trl")
    trl.write(short, tokens[:5], dict(header, frames=17))
    return short


def test_reframe_outpaint_and_crop(tmp_path, clip_trl, small_transformer):
    out = tmp_path / "portrait.trl"
    r = run_cli("reframe", clip_trl, "--aspect", "9:16", "-o", out, "--steps", "2", "--transformer",
                small_transformer)
    assert r.returncode == 0, r.stderr
    tokens, header = trl.read(out)
    assert tokens.shape == (5, 34, 19) and header["size"] == [152, 272]
    src, _ = trl.read(clip_trl)
    assert (tokens[:, 14:20] == src[:, 1:7]).all()  # the source is kept, centred (its margin rows regenerated)
    r = run_cli("reframe", clip_trl, "--aspect", "1:1", "--fit", "crop", "-o", tmp_path / "sq.mp4",
                "--preview", tmp_path / "sq.png")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "sq.mp4").exists() and (tmp_path / "sq.png").exists()


def test_extend_video(tmp_path, bikes, small_transformer):
    out = tmp_path / "longer.trl"
    r = run_cli("extend", bikes, "--frames", "20", "-o", out, "--size", "64", "--input-frames", "17",
                "--steps", "2", "--transformer", small_transformer)
    assert r.returncode == 0, r.stderr
    tokens, header = trl.read(out)
    assert tokens.shape == (10, 8, 19) and header["frames"] == 37


def test_extend_leaves_out_the_source_padding(tmp_path, bikes, small_transformer):
    """15 source frames fill 5 latent frames (17 positions, the last 2 repeats of frame 15): the video keeps
    the 15 real frames, then the 8 new ones."""
    out = tmp_path / "longer.mp4"
    r = run_cli("extend", bikes, "--frames", "8", "-o", out, "--size", "64", "--input-frames", "15",
                "--steps", "2", "--transformer", small_transformer)
    assert r.returncode == 0, r.stderr
    from tokenreel.runtime.video import read_video
    assert read_video(out).frames.shape[0] == 15 + 8


def test_exported_backend_crops_a_clip_of_another_shape(tmp_path, exported, sample_dir):
    """The export takes 152x64 frames; carphone is 176x144: scaled to cover and centre-cropped, not refused."""
    models, _ = exported
    out = tmp_path / "carphone.longer.mp4"
    r = run_cli("extend", sample_dir / "carphone_pristine.mp4", "--frames", "8", "-o", out, "--backend", "onnx",
                "--models", models, "--input-frames", "9", "--steps", "2")
    assert r.returncode == 0, r.stderr
    from tokenreel.runtime.video import read_video
    frames = read_video(out).frames
    assert frames.shape == (9 + 8, 64, 152, 3)


def test_eval_edits_runs(tmp_path, bikes, small_transformer):
    r = run_cli("eval", "edits", bikes, "--size", "64", "--steps", "2", "--transformer", small_transformer,
                "--json", tmp_path / "e.json")
    assert r.returncode == 0, r.stderr
    mean = json.loads((tmp_path / "e.json").read_text())["mean"]
    assert {"outpaint/model-revise", "outpaint/model-maskgit", "outpaint/replicate tokens", "outpaint/mirror tokens",
            "outpaint/replicate pixels", "outpaint/mirror pixels+tokenizer", "outpaint/ceiling",
            "extend/model-revise", "extend/model-maskgit", "extend/copy-last-latent",
            "extend/repeat-last+tokenizer", "extend/ceiling"} <= set(mean)
    # the ceiling is the tokenizer's own reconstruction: token baselines cannot beat it by much
    assert mean["outpaint/ceiling"]["psnr"] > mean["outpaint/replicate tokens"]["psnr"] - 1
    assert mean["outpaint/ceiling"]["sharpness"] == pytest.approx(1.0)
    # a frozen extension has no motion; the kept band is the source's own pixels through the writer
    assert mean["extend/repeat-last pixels"]["motion"] == 0 and mean["extend/copy-last-latent"]["motion"] < 0.6
    model = mean["outpaint/model-revise"]
    assert abs(model["kept"] - model["kept_writer_alone"]) < 0.5
    assert "extend/model-revise+source: " in r.stdout and "against repeat-last pixels" in r.stdout


@pytest.mark.parametrize("args,words", [
    (["reframe", "--aspect", "9x16"], "W:H"),
    (["reframe", "--aspect", "9:16", "--steps", "-1"], "--steps"),
    (["reframe", "--aspect", "9:16", "--sampler", "maskgit", "--steps", "0"], "--steps"),
    (["extend", "--frames", "0"], "--frames"),
    (["extend", "--frames", "999999"], "--frames"),
])
def test_edit_bad_options(tmp_path, clip_trl, small_transformer, args, words):
    out = tmp_path / "o.trl"
    r = run_cli(*args[:1], clip_trl, *args[1:], "-o", out, "--transformer", small_transformer)
    assert_clean_failure(r, out, words)


def test_eval_edits_averages_the_model_over_seeds(bikes, small_transformer):
    from tokenreel.backends.torch_backend import TorchTokenizer, TorchTransformer
    from tokenreel.eval.edits import evaluate_clip
    tok, tf = TorchTokenizer(), TorchTransformer(small_transformer)
    one = [evaluate_clip(tok, tf, bikes, size=64, steps=2, seed=s) for s in (3, 4)]
    both = evaluate_clip(tok, tf, bikes, size=64, steps=2, seed=3, seeds=2)
    for row in ("outpaint/model-maskgit", "extend/model-maskgit", "extend/model-revise"):
        assert both[row]["psnr"] == pytest.approx((one[0][row]["psnr"] + one[1][row]["psnr"]) / 2)
    assert both["extend/copy-last-latent"] == one[0]["extend/copy-last-latent"]     # baselines draw nothing
