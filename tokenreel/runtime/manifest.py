"""Reading an export folder's manifest.json (torch-free; the writer is tokenreel/export/manifest.py)."""
import hashlib
import json
from pathlib import Path

from ..errors import UserError

SCHEMA_VERSION = 1


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def path_sha256(path):
    """sha256 of a file, or of a folder (a Core ML .mlpackage): its files' relative paths and hashes, sorted."""
    path = Path(path)
    if not path.is_dir():
        return file_sha256(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(path).as_posix()}\0{file_sha256(f)}\n".encode())
    return h.hexdigest()


def path_bytes(path):
    path = Path(path)
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def read(folder, verify=True):
    """Load DIR/manifest.json; with `verify`, refuse any artifact whose size or sha256 differs."""
    folder = Path(folder)
    path = folder / "manifest.json"
    if not path.is_file():
        raise UserError(f"{folder}: no manifest.json; make the folder with `tokenreel export -o {folder}`")
    try:
        manifest = json.loads(path.read_text())
        version = manifest["schema_version"]
    except (ValueError, KeyError) as e:
        raise UserError(f"{path}: not a tokenreel export manifest ({e.__class__.__name__})")
    if version != SCHEMA_VERSION:
        raise UserError(f"{path}: schema version {version}; this tokenreel reads {SCHEMA_VERSION}")
    if verify:
        for a in manifest["artifacts"].values():
            f = folder / a["file"]
            if not f.exists() or path_bytes(f) != a["bytes"] or path_sha256(f) != a["sha256"]:
                raise UserError(f"{f}: missing or changed since export (sha256 differs from the manifest); "
                                f"re-export the folder")
    return manifest


def find(manifest, role, fmt, precision):
    """The one artifact of this role, format and precision, or a clear error."""
    for a in manifest["artifacts"].values():
        if (a["role"], a["format"], a["precision"]) == (role, fmt, precision):
            return a
    raise UserError(f"the export has no {fmt} {precision} {role}; export it with "
                    f"`tokenreel export --formats {fmt} --precision {precision}`")
