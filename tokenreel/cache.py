"""Where tokenreel keeps what it can remake: decoded training clips, token caches, exported demo models."""
import os
from pathlib import Path


def cache_dir():
    return Path(os.environ.get("TOKENREEL_CACHE", Path.home() / ".cache" / "tokenreel"))
