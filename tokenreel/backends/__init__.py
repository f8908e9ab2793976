"""Model backends for the runtime. Each imports its own engine lazily, so the runtime stays torch-free."""
from ..errors import UserError

BACKENDS = ("torch",)


def tokenizer_backend(name="torch", weights=None):
    if name == "torch":
        from .torch_backend import TorchTokenizer
        return TorchTokenizer(weights)
    raise UserError(f"unknown backend {name!r}; this version has: {', '.join(BACKENDS)}")


def transformer_backend(name="torch", weights=None, tokenizer=None):
    """The transformer backend; with `tokenizer`, checks that both were trained on the same tokens."""
    if name != "torch":
        raise UserError(f"unknown backend {name!r}; this version has: {', '.join(BACKENDS)}")
    from .torch_backend import TorchTransformer
    tf = TorchTransformer(weights)
    if tokenizer is not None and tf.tokenizer_sha256 and tf.tokenizer_sha256 != tokenizer.tokenizer_sha256:
        raise UserError(f"the transformer was trained on tokens of tokenizer {tf.tokenizer_sha256[:12]}, "
                        f"not the loaded {tokenizer.tokenizer_sha256[:12]}; pass matching --weights")
    return tf
