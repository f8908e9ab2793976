"""A tokenizer whose causal start replicates the first frame (tokenizer v2) runs on the exported step models,
whose states start at zeros: the runtime feeds the first input `start_calls` times first (the manifest's
geometry says how many), and gets the server model's tokens and frames."""
from dataclasses import replace

import numpy as np
import pytest

from tokenreel.backends import tokenizer_backend
from tokenreel.runtime import manifest as manifest_io
from tokenreel.runtime.tokenizing import decode_tokens
from tokenreel.runtime.file_ops import encode_video


@pytest.fixture(scope="module")
def replicate_export(tmp_path_factory):
    from tokenreel.export import export_models
    from tokenreel.models.tokenizer import Tokenizer
    from tokenreel.models.weights import load_tokenizer, save_weights
    shipped, _ = load_tokenizer()
    model = Tokenizer(replace(shipped.cfg, causal_start="replicate"))
    model.load_state_dict(shipped.state_dict())
    d = tmp_path_factory.mktemp("replicate")
    weights = d / "tokenizer.safetensors"
    save_weights(model, weights, "test-replicate")
    export_models(d / "models", formats=("onnx",), precisions=("fp32",), size=(64, 152),
                  tokenizer_weights=weights, roles=("encoder_step", "decoder_step"), quiet=True)
    return d / "models", weights


def test_manifest_says_how_many_start_calls(replicate_export):
    g = manifest_io.read(replicate_export[0])["geometry"]
    assert g["start_calls"] == {"encoder_step": 6, "decoder_step": 10}   # 3 and 5 causal convs of 3 taps


def test_exported_steps_give_the_server_replicate_start(replicate_export, bikes):
    folder, weights = replicate_export
    server = tokenizer_backend("torch", weights)
    exported = tokenizer_backend("onnx", models=folder)
    want, _ = encode_video(server, bikes, 64, max_frames=17)
    got, _ = encode_video(exported, bikes, 64, max_frames=17)
    assert got.shape == want.shape and (got == want).mean() >= 0.999
    ours = np.stack(list(decode_tokens(exported, want))).astype(np.float64)
    theirs = np.stack(list(decode_tokens(server, want))).astype(np.float64)
    mse = np.mean((ours - theirs) ** 2)
    assert mse == 0 or 10 * np.log10(255 ** 2 / mse) >= 60

    # without the warm-up calls the zero states show: the first latent frames come out different
    exported.encoder.start_calls = 0
    cold, _ = encode_video(exported, bikes, 64, max_frames=17)
    assert (cold[0] == want[0]).mean() < 0.9
