"""tokenreel: token-space video editing for phones. The Python API (docs/api.md):

    import tokenreel
    clip = tokenreel.encode("holiday.mp4", size=128)      # a token clip
    clip.reframe("9:16", seed=0).render("holiday-9x16.mp4")
    tokenreel.load("holiday.trl").trim(start=1).save("short.trl")

`import tokenreel` loads nothing heavy: the API (tokenreel.api) is imported on first use, and never torch.
"""
from .errors import UserError

_API = ("Clip", "Editor", "cat", "default_editor", "encode", "load")
__all__ = [*_API, "UserError"]


def __getattr__(name):
    if name in _API or name == "api":
        import importlib        # not `from . import api`: that asks this function for `api` again
        api = importlib.import_module(".api", __name__)
        return api if name == "api" else getattr(api, name)
    raise AttributeError(f"module 'tokenreel' has no attribute {name!r}")


def __dir__():
    return sorted(__all__ + ["api"])
