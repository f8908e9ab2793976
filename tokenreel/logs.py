"""Quiet the converters' and runtimes' own logs.

They warn about their internals (optional CUDA kernels, torchvision ops, deprecations) that a user can do
nothing about; the commands print what matters. torch resets its loggers' levels when it is imported, so
this runs again after the first torch import."""
import logging

LIBRARY_LOGGERS = ("torchao", "torch.utils._pytree", "torch.onnx", "torch._export", "coremltools", "executorch")


def quiet_libraries():
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
