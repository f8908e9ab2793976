"""ONNX export: phone op set, manifest with hashes, and the same tokens as the server model on a real clip."""
import json

import numpy as np
import pytest
import torch

from tokenreel.backends import tokenizer_backend, transformer_backend
from tokenreel.errors import UserError
from tokenreel.export import export_models
from tokenreel.models.transformer import MaskedTransformer, TransformerConfig
from tokenreel.models.weights import save_weights
from tokenreel.runtime import manifest as manifest_io
from tokenreel.runtime.edit import reframe_outpaint
from tokenreel.runtime.pipeline import encode_video

from conftest import run_cli


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("export")
    tf = d / "transformer.safetensors"
    save_weights(MaskedTransformer(TransformerConfig(dim=32, layers=1, heads=2, window=(5, 8, 8))), tf, "test")
    export_models(d / "onnx", size=(64, 152), transformer_weights=tf, quiet=True)
    return d / "onnx", tf


def test_manifest_and_op_set(exported):
    folder, _ = exported
    m = manifest_io.read(folder)
    roles = {a["role"] for a in m["artifacts"].values()}
    assert roles == {"encoder_step", "decoder_step", "transformer"}
    phone_ops = {"Add", "Concat", "Conv", "InstanceNormalization", "Mul", "Reshape", "Sigmoid", "Slice",
                 "Transpose", "DepthToSpace", "MatMul", "Softmax", "Gather", "LayerNormalization", "Tanh", "Pow",
                 "Div", "Sub", "Gemm", "Unsqueeze", "Squeeze", "Split", "Constant", "Expand", "Cast", "Erf", "Sqrt",
                 "ReduceMean"}
    for a in m["artifacts"].values():
        assert "Conv3d" not in a["ops"] and set(a["ops"]) <= phone_ops, a["ops"]
        assert all(-1 not in i["shape"] for i in a["inputs"])  # static shapes
    enc = manifest_io.find(m, "encoder_step", "onnx", "fp32")
    assert enc["inputs"][0]["shape"] == [1, 4, 3, 64, 152] and len(enc["state"]) == len(enc["inputs"]) - 1


def test_onnx_gives_the_server_tokens_on_a_real_clip(exported, bikes):
    folder, tf_path = exported
    onnx_tok = tokenizer_backend("onnx", models=folder)
    torch_tok = tokenizer_backend("torch")
    a, _ = encode_video(onnx_tok, bikes, 64, max_frames=17, quiet=True)
    b, _ = encode_video(torch_tok, bikes, 64, max_frames=17, quiet=True)
    assert a.shape == b.shape == (5, 8, 19) and (a == b).mean() >= 0.999
    # an edit end to end: same seed, same picks
    onnx_tf = transformer_backend("onnx", tokenizer=onnx_tok, models=folder)
    torch_tf = transformer_backend("torch", tf_path, torch_tok)
    ra, _ = reframe_outpaint(onnx_tf, b, "9:16", steps=3, seed=5)
    rb, _ = reframe_outpaint(torch_tf, b, "9:16", steps=3, seed=5)
    assert (ra == rb).mean() >= 0.999


def test_changed_artifact_is_refused(exported, tmp_path):
    import shutil
    folder, _ = exported
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    m = json.loads((copy / "manifest.json").read_text())
    victim = copy / next(iter(m["artifacts"].values()))["file"]
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(UserError, match="changed since export"):
        manifest_io.read(copy)


def test_cli_onnx_backend(exported, bikes, tmp_path):
    folder, _ = exported
    out = tmp_path / "b.trl"
    r = run_cli("encode", bikes, "-o", out, "--size", "64", "--backend", "onnx", "--models", folder)
    assert r.returncode == 0, r.stderr
    r = run_cli("encode", bikes, "-o", out, "--backend", "onnx")
    assert r.returncode == 2 and "--models" in r.stderr
