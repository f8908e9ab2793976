"""Exports: phone op sets, XNNPACK delegation, Core ML structure, manifest with hashes, and the same tokens
and frames as the server model on a real clip."""
import json
import platform
import shutil

import numpy as np
import pytest
import torch

from tokenreel.backends import tokenizer_backend, transformer_backend
from tokenreel.errors import UserError
from tokenreel.export.spec import ExportSpec
from tokenreel.runtime import manifest as manifest_io
from tokenreel.runtime.tokenizing import decode_tokens
from tokenreel.runtime.edit import reframe_outpaint
from tokenreel.runtime.file_ops import encode_video

from conftest import FORMATS, RUNNABLE, run_cli


@pytest.fixture(scope="module")
def server_tokens(bikes):
    tokens, _ = encode_video(tokenizer_backend("torch"), bikes, 64, max_frames=17)
    return tokens


def test_manifest_describes_every_artifact(exported):
    folder, _ = exported
    m = manifest_io.read(folder)
    kinds = {(a["role"], a["format"], a["precision"]) for a in m["artifacts"].values()}
    assert kinds == {(r, f, p) for r in ("encoder_step", "decoder_step", "transformer") for f in FORMATS
                     for p in ("fp32", "fp16")}
    assert m["geometry"]["mask_id"] == 2 ** m["geometry"]["sub_bits"]
    for a in m["artifacts"].values():
        assert a["bytes"] > 0 and len(a["sha256"]) == 64 and (folder / a["file"]).exists()
        assert all(-1 not in i["shape"] for i in a["inputs"] + a["outputs"])  # static shapes
    enc = manifest_io.find(m, "encoder_step", "executorch", "fp32")
    assert enc["inputs"][0]["shape"] == [1, 4, 3, 64, 152] and len(enc["state"]) == len(enc["inputs"]) - 1
    assert manifest_io.find(m, "encoder_step", "executorch", "fp16")["inputs"][0]["dtype"] == "float16"
    assert manifest_io.find(m, "transformer", "coreml", "fp32")["inputs"][0]["dtype"] == "int32"


def test_phone_op_sets(exported):
    folder, _ = exported
    m = manifest_io.read(folder)
    onnx_ops = {"Add", "Concat", "Conv", "InstanceNormalization", "Mul", "Reshape", "Sigmoid", "Slice",
                "Transpose", "DepthToSpace", "MatMul", "Softmax", "Gather", "LayerNormalization", "Tanh", "Pow",
                "Div", "Sub", "Gemm", "Unsqueeze", "Squeeze", "Split", "Constant", "Expand", "Cast", "Erf",
                "Sqrt", "ReduceMean"}
    for a in m["artifacts"].values():
        assert not any("conv3d" in op.lower() or "convolution3d" in op.lower() for op in a["ops"]), a["file"]
        if a["format"] == "onnx":
            assert set(a["ops"]) <= onnx_ops, a["ops"]
        if a["format"] == "coreml":
            assert "conv" in a["ops"] or "einsum" in a["ops"]
            want = "float16" if a["precision"] == "fp16" else "float32"
            assert want in a["compute_dtypes"] and ("float16" in a["compute_dtypes"]) == (want == "float16")


def test_executorch_delegates_every_heavy_op(exported):
    from tokenreel.export.executorch import heavy_ops
    folder, _ = exported
    for a in manifest_io.read(folder)["artifacts"].values():
        if a["format"] == "executorch":
            d = a["delegation"]
            assert d["subgraphs"] >= 1 and not heavy_ops(d["portable"]), d
            assert heavy_ops(d["delegated"]), d   # the FLOPs are inside XNNPACK
            cost = d["cost"]   # measured by ExecuTorch's profiler at export
            assert cost["delegate_ms"] > 0 and 0 <= cost["portable_share"] < 1
            if a["role"] != "transformer" and a["precision"] == "fp32":
                assert cost["portable_share"] < 0.2, cost   # the group norms are cheap glue


def test_executorch_export_refuses_an_undelegated_heavy_op(tmp_path):
    from tokenreel.export import executorch
    conv3d = ExportSpec("conv3d", "encoder_step", torch.nn.Conv3d(3, 4, 3).eval(), (torch.zeros(1, 3, 4, 8, 8),),
                      ["x"], ["y"])
    with pytest.raises(UserError, match="convolution"):
        executorch.export(conv3d, tmp_path / "c.pte")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("fmt", RUNNABLE)
def test_exported_tokenizer_gives_the_server_tokens_and_frames(exported, bikes, server_tokens, fmt):
    folder, _ = exported
    tok = tokenizer_backend(fmt, models=folder)
    tokens, _ = encode_video(tok, bikes, 64, max_frames=17)
    assert tokens.shape == server_tokens.shape == (5, 8, 19) and (tokens == server_tokens).mean() >= 0.999
    ours = np.stack(list(decode_tokens(tok, server_tokens))).astype(np.float64)
    server = np.stack(list(decode_tokens(tokenizer_backend("torch"), server_tokens))).astype(np.float64)
    mse = np.mean((ours - server) ** 2)
    assert ours.shape == server.shape and (mse == 0 or 10 * np.log10(255 ** 2 / mse) >= 60)


@pytest.mark.parametrize("fmt", RUNNABLE)
def test_exported_fp16_stays_close(exported, bikes, server_tokens, fmt):
    tok = tokenizer_backend(fmt, models=exported[0], precision="fp16")
    tokens, _ = encode_video(tok, bikes, 64, max_frames=17)
    bits_equal = ((tokens[..., None] >> np.arange(18)) & 1) == ((server_tokens[..., None] >> np.arange(18)) & 1)
    assert bits_equal.mean() >= 0.99


@pytest.mark.parametrize("fmt", RUNNABLE)
def test_exported_transformer_makes_the_server_edit(exported, server_tokens, fmt):
    folder, tf_path = exported
    exported_tf = transformer_backend(fmt, tokenizer=tokenizer_backend(fmt, models=folder), models=folder)
    server_tf = transformer_backend("torch", tf_path, tokenizer_backend("torch"))
    ra, _ = reframe_outpaint(exported_tf, server_tokens, "9:16", steps=3, seed=5)
    rb, _ = reframe_outpaint(server_tf, server_tokens, "9:16", steps=3, seed=5)
    assert (ra == rb).mean() >= 0.999


def test_onnx_transformer_runs_fused_kernels_with_the_files_logits(exported):
    """The ONNX backend swaps ORT's fused attention and GELU into the exported fp32 transformer (not fp16's);
    the file keeps the standard ops, and the fused graph gives its logits."""
    import onnx
    import onnxruntime as ort
    from tokenreel.backends.onnx_fusions import fuse_transformer
    folder, _ = exported
    m = manifest_io.read(folder)
    fp32 = transformer_backend("onnx", tokenizer=tokenizer_backend("onnx", models=folder), models=folder,
                               precision="fp32")
    assert fp32.model.engine.fused
    fp16 = transformer_backend("onnx", tokenizer=tokenizer_backend("onnx", models=folder), models=folder,
                               precision="fp16")
    assert not fp16.model.engine.fused
    path = folder / manifest_io.find(m, "transformer", "onnx", "fp32")["file"]
    model = onnx.load(str(path))
    assert {n.op_type for n in model.graph.node} & {"MultiHeadAttention", "FastGelu"} == set()
    assert fuse_transformer(model) == 2          # one layer: its attention and its GELU
    ops = {n.op_type for n in model.graph.node}
    assert {"MultiHeadAttention", "FastGelu"} <= ops and not {"Softmax", "Tanh"} & ops
    rng = np.random.default_rng(0)
    sub = rng.integers(0, fp32.mask_id + 1, size=(fp32.splits, int(np.prod(fp32.window))))
    plain = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = plain.run(None, {"sub_tokens": sub[None].astype(np.int64)})[0][0]
    got = fp32.logits(sub)
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


def test_fusion_refuses_a_graph_it_does_not_know(exported, tmp_path):
    """Another attention scale is not the exported pattern: the fusion refuses it and leaves the graph as it
    was; a graph without the exporter's module scopes has nothing to fuse, and the backend runs the file."""
    import onnx
    from onnx import numpy_helper
    from tokenreel.backends.exported import OnnxEngine
    from tokenreel.backends.onnx_fusions import fuse_transformer
    folder, _ = exported
    entry = manifest_io.find(manifest_io.read(folder), "transformer", "onnx", "fp32")
    model = onnx.load(str(folder / entry["file"]))
    mul = next(n for n in model.graph.node if n.op_type == "Mul" and n.name.startswith("node_mul")
               and "attn" in str(n.metadata_props))
    scale = next(i for i in model.graph.initializer if i.name in mul.input)
    scale.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(scale) * 2, scale.name))
    before = model.SerializeToString()
    with pytest.raises(ValueError, match="scale"):
        fuse_transformer(model)
    assert model.SerializeToString() == before
    model = onnx.load(str(folder / entry["file"]))
    for n in model.graph.node:
        del n.metadata_props[:]
    assert fuse_transformer(model) == 0
    plain = tmp_path / "plain.onnx"
    onnx.save(model, str(plain))
    assert not OnnxEngine(plain, entry).fused


@pytest.mark.skipif(platform.system() != "Darwin", reason="Core ML predictions need macOS (coremltools)")
def test_coreml_predicts_the_server_tokens(exported, bikes, server_tokens):
    tok = tokenizer_backend("coreml", models=exported[0])
    tokens, _ = encode_video(tok, bikes, 64, max_frames=17)
    assert (tokens == server_tokens).mean() >= 0.999


def test_coreml_backend_off_macos_is_a_clear_error(exported):
    if platform.system() == "Darwin":
        pytest.skip("this machine runs Core ML")
    with pytest.raises(UserError, match="needs macOS"):
        tokenizer_backend("coreml", models=exported[0])


@pytest.mark.parametrize("fmt", FORMATS)
def test_changed_artifact_is_refused(exported, tmp_path, fmt):
    folder, _ = exported
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    m = json.loads((copy / "manifest.json").read_text())
    victim = copy / next(a for a in m["artifacts"].values() if a["format"] == fmt)["file"]
    if victim.is_dir():   # an .mlpackage: change its weights file
        victim = max((f for f in victim.rglob("*") if f.is_file()), key=lambda f: f.stat().st_size)
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(UserError, match="changed since export"):
        manifest_io.read(copy)


def test_cli_exported_backends(exported, bikes, tmp_path):
    folder, _ = exported
    out = tmp_path / "b.trl"
    for fmt in RUNNABLE:
        r = run_cli("encode", bikes, "-o", out, "--size", "64", "--backend", fmt, "--models", folder)
        assert r.returncode == 0, r.stderr
    r = run_cli("encode", bikes, "-o", out, "--backend", "onnx")
    assert r.returncode == 2 and "--models" in r.stderr
    r = run_cli("export", "-o", tmp_path / "x", "--formats", "tflite")
    assert r.returncode == 2 and "tflite" in r.stderr and "Traceback" not in r.stderr
