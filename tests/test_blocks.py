"""Each building block on each runtime against torch: the causal temporal conv as 2-D taps with explicit
state, the per-frame norm, attention, the sub-token heads (ONNX Runtime and ExecuTorch run them here;
Core ML converts and passes its structural check), and LFQ's sign and bit packing (the runtime's numpy
twin against the model's torch code)."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from tokenreel.backends.exported import ENGINES
from tokenreel.export.manifest import tensor_spec
from tokenreel.export.spec import ExportSpec
from tokenreel.models.tokenizer import CausalConv, Tokenizer, TokenizerConfig, frame_norm, per_frame
from tokenreel.models.transformer import Attention, TransformerConfig
from tokenreel.runtime.tokens import bits_of, latents_of, quantize, tokens_of


class ConvStep(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = CausalConv(8, 12, 3, taps=3)

    def forward(self, x, state):
        return self.conv(x, state)


class FrameNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = frame_norm(16, 4)
        nn.init.normal_(self.norm.weight)
        nn.init.normal_(self.norm.bias)

    def forward(self, x):
        return per_frame(self.norm, x)


def blocks():
    torch.manual_seed(0)
    cfg = TransformerConfig(dim=64, heads=4)
    return [
        ExportSpec("causal_conv", "block", ConvStep().eval(), (torch.randn(1, 4, 8, 16, 24), torch.randn(1, 2, 8, 16, 24)),
                 ["x", "state_in"], ["y", "state_out"]),
        ExportSpec("frame_norm", "block", FrameNorm().eval(), (torch.randn(1, 4, 16, 8, 12) * 3 + 1,), ["x"], ["y"]),
        ExportSpec("attention", "block", Attention(cfg).eval(), (torch.randn(1, 80, 64),), ["x"], ["y"]),
        ExportSpec("head", "block", nn.Linear(64, 512).eval(), (torch.randn(1, 80, 64),), ["x"], ["y"]),
    ]


@pytest.mark.parametrize("fmt", ["onnx", "executorch"])
@pytest.mark.parametrize("block", blocks(), ids=lambda a: a.name)
def test_block_runs_like_torch(block, fmt, tmp_path):
    import importlib
    path = tmp_path / f"{block.name}.{'onnx' if fmt == 'onnx' else 'pte'}"
    importlib.import_module(f"tokenreel.export.{fmt}").export(block, path)
    with torch.no_grad():
        outs = block.module(*block.inputs)
    entry = {"inputs": tensor_spec(block.input_names, block.inputs),
             "outputs": tensor_spec(block.output_names, outs if isinstance(outs, tuple) else (outs,))}
    got = ENGINES[fmt](path, entry).run({n: x.numpy() for n, x in zip(block.input_names, block.inputs)})
    with torch.no_grad():
        want = block.module(*block.inputs)
    want = want if isinstance(want, tuple) else (want,)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("block", blocks(), ids=lambda a: a.name)
def test_block_converts_to_coreml(block):
    from tokenreel.export import coreml
    d = coreml.check(coreml.convert(block, "fp16"), block, "fp16")
    assert not any("conv3d" in op for op in d["ops"])
    assert [o["shape"] for o in d["inputs"]] == [list(x.shape) for x in block.inputs]


def test_lfq_sign_and_bit_packing_match_torch():
    torch.manual_seed(0)
    tokenizer = Tokenizer(TokenizerConfig())
    z = torch.randn(1, 3, 18, 4, 5)
    z[0, 0, :, 0, 0] = 0.0          # the sign of exact zeros is part of the spec: bit 1
    z[0, 0, :, 0, 1] = -0.0
    want = tokenizer.quantizer.tokens(z)[0].numpy()
    got = quantize(z[0].numpy())
    assert (got == want).all() and got[0, 0, 0] == (1 << 18) - 1
    assert (tokens_of(bits_of(got, 18)) == got).all()
    latents = tokenizer.quantizer.latents(torch.from_numpy(want)[None].long())[0].numpy()
    assert np.array_equal(latents_of(got, 18), latents)
