"""An export's files are written whole or not at all (tokenreel/export/files.py over runtime/video.py's atomic
write): unique temp names beside the target, and a failed export leaves no temp file, nor a half-written
target, whichever converter failed."""
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from tokenreel.errors import UserError
from tokenreel.export import files
from tokenreel.export import manifest as manifest_io

from conftest import identity_model


def listing(folder):
    return sorted(os.listdir(folder))


def test_output_renames_on_success_and_removes_on_failure(tmp_path):
    target = tmp_path / "m.onnx"
    with files.output(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".m.onnx.") and tmp.suffix == ".onnx"
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and listing(tmp_path) == ["m.onnx"]
    with pytest.raises(RuntimeError), files.output(target) as tmp:
        tmp.write_bytes(b"half")
        tmp.with_suffix(".tmp.onnx").write_bytes(b"x")      # what a quantizer derives from the name it is given
        raise RuntimeError("the converter failed")
    assert target.read_bytes() == b"new" and listing(tmp_path) == ["m.onnx"]


def test_two_writers_of_one_path_get_different_temp_names(tmp_path):
    with files.output(tmp_path / "m.pte") as a, files.output(tmp_path / "m.pte") as b:
        assert a != b
        a.write_bytes(b"a")
        b.write_bytes(b"b")
    assert listing(tmp_path) == ["m.pte"] and (tmp_path / "m.pte").read_bytes() == b"a"   # the last to finish


def test_a_folder_output_replaces_the_old_folder(tmp_path):
    target = tmp_path / "m.mlpackage"
    (target / "old").mkdir(parents=True)
    with pytest.raises(RuntimeError), files.output(target, folder=True) as tmp:
        assert tmp.name.endswith(".mlpackage") and not tmp.exists()     # the converter makes it
        (tmp / "Data").mkdir(parents=True)
        raise RuntimeError("coremltools failed")
    assert listing(tmp_path) == ["m.mlpackage"] and listing(target) == ["old"]
    with files.output(target, folder=True) as tmp:
        (tmp / "Data").mkdir(parents=True)
    assert listing(tmp_path) == ["m.mlpackage"] and listing(target) == ["Data"]


def _fake_exporter(monkeypatch, saved):
    """torch.onnx.export stood in for: its program saves `saved` (bytes, or a model) where it is told."""
    import onnx
    import torch

    def save(path):
        if isinstance(saved, bytes):
            open(path, "wb").write(saved)
        else:
            onnx.save(saved, path)
    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: SimpleNamespace(save=save))


ARTIFACT = SimpleNamespace(module=None, inputs=(), input_names=["x"], output_names=["y"], role="encoder_step")


def test_onnx_export_writes_the_target_only(tmp_path, monkeypatch):
    from tokenreel.export import onnx as onnx_export
    _fake_exporter(monkeypatch, identity_model())
    info = onnx_export.export(ARTIFACT, tmp_path / "enc.fp32.onnx")
    assert info["ops"] == ["Identity"] and listing(tmp_path) == ["enc.fp32.onnx"]


def test_failed_onnx_exports_leave_no_temp_file(tmp_path, monkeypatch):
    from tokenreel.export import onnx as onnx_export
    from tokenreel.quantization import recipe
    _fake_exporter(monkeypatch, b"not a model")           # the graph fails to load back
    with pytest.raises(Exception):
        onnx_export.export(ARTIFACT, tmp_path / "enc.fp32.onnx")
    assert listing(tmp_path) == []

    _fake_exporter(monkeypatch, identity_model())
    monkeypatch.setattr(recipe, "onnx_nodes", lambda *a, **k: [])
    failing_quantizer(monkeypatch)
    with pytest.raises(UserError, match="calibration failed"):
        onnx_export.export(ARTIFACT, tmp_path / "enc.int8.onnx", "int8", calibration=[])
    assert listing(tmp_path) == []                        # neither the fp32 graph nor any temp is left


def failing_quantizer(monkeypatch):
    """ONNX Runtime's quantizer stood in for: it writes half its output and a derived file, then fails."""
    import shutil

    import onnxruntime.quantization as ortq
    from onnxruntime.quantization import shape_inference

    def quantize_static(model_input, model_output, *a, **k):
        assert ".tmp" not in model_output and Path(model_output).name.startswith(".")   # a unique temp name
        Path(model_output).write_bytes(b"half")
        Path(model_output + ".data").write_bytes(b"external data")
        raise UserError("calibration failed")
    monkeypatch.setattr(shape_inference, "quant_pre_process", lambda src, dst, **k: shutil.copy(src, dst))
    monkeypatch.setattr(ortq, "quantize_static", quantize_static)


def test_manifest_is_written_atomically(tmp_path):
    manifest_io.write(tmp_path, {"schema_version": 1})
    assert listing(tmp_path) == ["manifest.json"]
    with pytest.raises(TypeError):
        manifest_io.write(tmp_path, {"schema_version": object()})
    assert listing(tmp_path) == ["manifest.json"] and (tmp_path / "manifest.json").read_text() == \
        '{\n "schema_version": 1\n}'


def test_a_real_export_leaves_only_its_artifacts(exported):
    """Every format and precision of the test export (conftest.exported): no temp file or folder beside them."""
    folder, _ = exported
    assert [name for name in listing(folder) if name.startswith(".") or ".tmp" in name] == []


def test_exporting_into_a_folder_adds_to_what_is_there(tmp_path):
    """A second export of the same weights keeps the first one's artifacts in the manifest (an fp16 export
    after an fp32 one: both load); one of other weights, or a file changed since, drops them."""
    import torch
    from tokenreel.export import export_models
    from tokenreel.models.transformer import MaskedTransformer, TransformerConfig
    from tokenreel.models.weights import save_weights
    from tokenreel.runtime import manifest as exported
    torch.manual_seed(0)
    tf = tmp_path / "tf.safetensors"
    save_weights(MaskedTransformer(TransformerConfig(dim=32, layers=1, heads=2, window=(5, 8, 8))), tf, "test")
    out = tmp_path / "models"

    def kinds():
        return sorted((a["role"], a["precision"]) for a in exported.read(out)["artifacts"].values())
    export_models(out, precisions=("fp32",), size=(64, 152), transformer_weights=tf, quiet=True, roles=["transformer"])
    export_models(out, precisions=("fp16",), size=(64, 152), transformer_weights=tf, quiet=True, roles=["transformer"])
    assert kinds() == [("transformer", "fp16"), ("transformer", "fp32")]
    (out / exported.find(exported.read(out), "transformer", "onnx", "fp16")["file"]).write_bytes(b"changed")
    export_models(out, precisions=("fp32",), size=(64, 152), transformer_weights=tf, quiet=True, roles=["transformer"])
    assert kinds() == [("transformer", "fp32")]
    other = tmp_path / "other.safetensors"
    save_weights(MaskedTransformer(TransformerConfig(dim=32, layers=1, heads=2, window=(5, 8, 8))), other, "other")
    export_models(out, precisions=("fp16",), size=(64, 152), transformer_weights=other, quiet=True,
                  roles=["transformer"])
    assert kinds() == [("transformer", "fp16")]
