"""Where tokenreel keeps what it can remake: decoded training clips, token caches, exported models of the
shipped weights (for `tokenreel demo` and `tokenreel bench`)."""
import time
from pathlib import Path

from .errors import UserError
from .logs import quiet_libraries
from .places import cache_dir
from .runtime import manifest as manifest_io
from .runtime.video import output_path

EXPORT_SIZE = (128, 224)      # H, W: the default export; 16:9 at the tokenizer's 128 px


def _code_sha256():
    """A hash of the code that shapes an export (models, export, quantization): a change re-exports."""
    import hashlib
    root = Path(__file__).parent
    h = hashlib.sha256()
    for folder in ("models", "export", "quantization"):
        for f in sorted((root / folder).glob("*.py")) + sorted((root / folder).glob("*.json")):
            h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def cached_models(fmt, precision, quiet=False):
    """An export folder of the shipped weights in `fmt` at `precision`, exported on first use and keyed by
    the weights' sha256. -> (folder, seconds spent exporting)."""
    from .models.weights import DEFAULT_TOKENIZER, DEFAULT_TRANSFORMER
    key = manifest_io.file_sha256(DEFAULT_TOKENIZER)[:12] + "-" + manifest_io.file_sha256(DEFAULT_TRANSFORMER)[:12] \
        + "-" + _code_sha256()[:8]
    stem = f"{fmt}-{precision}-{EXPORT_SIZE[0]}x{EXPORT_SIZE[1]}-"
    folder = cache_dir() / "models" / (stem + key)
    if (folder / "manifest.json").is_file():
        return folder, 0.0
    try:
        from .export import export_models
        quiet_libraries()
    except ImportError:
        raise UserError("exporting the demo models needs torch: pip install 'tokenreel[export]', or pass "
                        "--models DIR made by `tokenreel export`")
    if not quiet:
        print(f"exporting the shipped models to {fmt} {precision} once (cached in {folder})")
    t = time.perf_counter()
    folder.parent.mkdir(parents=True, exist_ok=True)
    # a temp folder .NAME.PID.XXXXXXXX beside it, renamed when whole (a killed run's is swept next time)
    with output_path(folder, folder=True) as tmp:
        export_models(tmp, formats=(fmt,), precisions=(precision,), size=EXPORT_SIZE, quiet=quiet)
    _sweep_superseded(folder, stem)
    return folder, time.perf_counter() - t


def _sweep_superseded(folder, stem):
    """Remove the other exports named `stem`KEY (this format, precision and size, made for other weights or
    code): an update re-exports under a new key, and the old folders (tens of MB each) would stay for good."""
    import shutil
    for old in folder.parent.glob(stem + "*"):
        if old != folder and (old / "manifest.json").is_file():
            shutil.rmtree(old, ignore_errors=True)
