"""Model backends for the runtime. Each imports its own engine lazily, so the runtime stays torch-free."""


def tokenizer_backend(name="torch", weights=None):
    if name == "torch":
        from .torch_backend import TorchTokenizer
        return TorchTokenizer(weights)
    from ..errors import UserError
    raise UserError(f"unknown backend {name!r}; this version has: torch")
