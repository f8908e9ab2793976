import torch

from tokenreel.models.transformer import MaskedTransformer, TransformerConfig


def test_fused_kernels_matches_the_exported_form():
    """Training runs SDPA, exports run explicit matmul + softmax: both must give the same logits."""
    torch.manual_seed(0)
    model = MaskedTransformer(TransformerConfig(window=(2, 4, 4), dim=64, layers=2, heads=4)).eval()
    sub_tokens = torch.randint(0, model.cfg.vocab + 1, (2, model.cfg.splits, model.cfg.tokens))
    with torch.no_grad():
        explicit = model(sub_tokens)
        fused = model.fused_kernels(True)(sub_tokens)
    assert torch.allclose(explicit, fused, atol=1e-5), (explicit - fused).abs().max()


def test_neural_engine_layout_matches_the_server_model():
    from tokenreel.models.transformer_ane import MaskedTransformerANE
    torch.manual_seed(0)
    model = MaskedTransformer(TransformerConfig(window=(2, 4, 4), dim=64, layers=2, heads=4)).eval()
    for p in model.parameters():   # non-trivial norms and biases, so a wrong reshape cannot hide
        p.data += 0.05 * torch.randn_like(p)
    sub_tokens = torch.randint(0, model.cfg.vocab + 1, (2, model.cfg.splits, model.cfg.tokens))
    with torch.no_grad():
        assert torch.allclose(model(sub_tokens), MaskedTransformerANE(model).eval()(sub_tokens), atol=1e-4)
