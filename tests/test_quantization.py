"""int8 exports: calibrated on a real clip, a third of fp32's size or less, and within the int8
thresholds of `tokenreel verify` on the tokenizer (the transformer here is a small untrained stand-in,
whose near-uniform logits say nothing about quantization; the shipped one is checked in the notes)."""
import json

import pytest

from tokenreel.export import export_models
from tokenreel.quantization import recipe
from tokenreel.quantization.sensitivity import decide
from tokenreel.runtime import manifest as manifest_io

from conftest import run_cli


@pytest.fixture(scope="module")
def int8(exported, bikes, tmp_path_factory):
    _, tf = exported
    folder = tmp_path_factory.mktemp("int8") / "models"
    export_models(folder, formats=("onnx", "executorch", "coreml"), precisions=("int8",), size=(64, 152),
                  transformer_weights=tf, quiet=True, calibration_clips=[bikes])
    return folder, tf


def test_int8_artifacts_are_small_and_described(int8, exported):
    fp32 = {(a["role"], a["format"]): a for a in manifest_io.read(exported[0])["artifacts"].values()
            if a["precision"] == "fp32"}
    for a in manifest_io.read(int8[0])["artifacts"].values():
        assert a["precision"] == "int8"
        if a["role"] != "transformer":   # the stand-in transformer is too small for a size claim
            assert a["bytes"] <= fp32[(a["role"], a["format"])]["bytes"] / 3, a["file"]
        if a["format"] == "onnx":
            assert {"QuantizeLinear", "DequantizeLinear"} <= set(a["ops"])
        if a["format"] == "coreml":
            assert any(op.startswith("constexpr_") for op in a["ops"]) and "float16" in a["compute_dtypes"]
        if a["format"] in ("onnx", "executorch"):   # the recipe's layers that this model has
            assert set(a["kept_float"]) <= set(recipe.kept_float(a["role"]))
        if a["format"] == "onnx" and a["role"] == "decoder_step":
            assert a["kept_float"] == recipe.kept_float("decoder_step")


def test_int8_tokenizer_meets_the_verify_thresholds(int8, tmp_path):
    folder, tf = int8
    out = tmp_path / "r.json"
    run_cli("verify", folder, "--transformer", tf, "--steps", "2", "--json", out)
    for row in json.loads(out.read_text())["rows"]:
        if row["status"] == "skipped":
            continue
        f = row["figures"]
        assert f["encoder.bits_equal"] >= 0.98 and f["decoder.psnr_db"] >= 35, (row["format"], f)
        assert f["tokenizer.truth_drop_db"] <= 0.5, (row["format"], f)


def test_recipe_rule():
    s = {"a": 40.0, "b": 41.0, "c": 39.0, "d": 12.0, "e": 20.0, "f": 25.0}
    assert decide(s) == ["d", "e"]              # far below the median (32), worst first
    weights = {"a": 30, "b": 30, "c": 30, "d": 6, "e": 3, "f": 1}
    assert decide(s, weights, 100) == ["e"]     # d alone would hold 6% of the weights: over the budget
    assert decide({"a": 40.0, "b": 38.0}) == []  # nothing far below the median: all int8
