"""Model backends for the runtime. Each imports its own engine lazily, so the runtime stays torch-free:
`torch` is the PyTorch server model; `onnx`, `executorch` and `coreml` run an export folder
(`tokenreel export`) in ONNX Runtime, ExecuTorch (XNNPACK) or Core ML (macOS)."""
from ..errors import UserError
from ..precisions import DEFAULT

BACKENDS = ("torch", "onnx", "executorch", "coreml")


def _check(name, models):
    if name not in BACKENDS:
        raise UserError(f"unknown backend {name!r}; choose from: {', '.join(BACKENDS)}")
    if name != "torch" and models is None:
        raise UserError(f"--backend {name} runs exported models: pass --models DIR (made by `tokenreel export`)")


def tokenizer_backend(name="torch", weights=None, models=None, precision=DEFAULT):
    _check(name, models)
    if name != "torch":
        from .exported import ExportedTokenizer
        return ExportedTokenizer(models, name, precision)
    from .torch_backend import TorchTokenizer
    return TorchTokenizer(weights)


def transformer_backend(name="torch", weights=None, tokenizer=None, models=None, precision=DEFAULT):
    """The transformer backend; with `tokenizer`, checks that both were trained on the same tokens."""
    _check(name, models)
    if name != "torch":
        from .exported import ExportedTransformer
        tf = ExportedTransformer(models, name, precision)
    else:
        from .torch_backend import TorchTransformer
        tf = TorchTransformer(weights)
    if tokenizer is not None and tf.tokenizer_sha256 and tf.tokenizer_sha256 != tokenizer.tokenizer_sha256:
        raise UserError(f"the transformer was trained on tokens of tokenizer {tf.tokenizer_sha256[:12]}, "
                        f"not the loaded {tokenizer.tokenizer_sha256[:12]}; pass matching weights")
    return tf
