"""Reading an export folder's manifest.json (torch-free; the writer is tokenreel/export/manifest.py).

Hostile folders: manifest.json is read as strict JSON of bounded size and depth and validated as a schema
(`check_manifest`) before anything reads it; every artifact's `file` must resolve inside the folder to a
regular file (or a package folder of regular files), its size must equal `bytes` before it is hashed, and
no more than `bytes` are ever read. Limits are in docs/export.md.
"""
import hashlib
import math
import os
import re
import stat
from pathlib import Path, PurePosixPath

from ..errors import UserError, load_json, open_regular, os_error, read_regular

SCHEMA_VERSION = 1
MAX_MANIFEST = 1 << 22            # bytes of manifest.json
MAX_DEPTH = 16                    # JSON nesting
MAX_ARTIFACTS = 256
MAX_TENSORS = 256                 # inputs or outputs of one artifact
MAX_DIMS = 8
MAX_ELEMENTS = 1 << 26            # of one input or output tensor (256 MiB of float32)
MAX_ARTIFACT_BYTES = 1 << 32
MAX_PACKAGE_FILES = 10000         # files in a package folder (a Core ML .mlpackage)
MAX_PACKAGE_DEPTH = 16
MAX_TEXT = 256                    # characters of a name, id, role, format, precision
DTYPES = ("float32", "float16", "int64", "int32")
_SHA256 = re.compile(r"[0-9a-f]{64}")


# ---------------------------------------------------------------- hashing, bounded
def _read_chunks(f, limit):
    left = limit
    while left > 0:
        chunk = f.read(min(1 << 20, left))
        if not chunk:
            return
        left -= len(chunk)
        yield chunk


def file_sha256(path, limit=None):
    """sha256 of a regular file, reading at most `limit` bytes (None: all of it; for trusted files)."""
    h = hashlib.sha256()
    if limit is None:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    f, _ = open_regular(path, "model file")
    with f:
        for chunk in _read_chunks(f, limit):
            h.update(chunk)
    return h.hexdigest()


def _package_files(path):
    """(relative posix path, path, size) of every file in a package folder, sorted; refuses symlinks, devices
    and FIFOs inside it, more than MAX_PACKAGE_FILES files or deeper than MAX_PACKAGE_DEPTH."""
    out, stack = [], [(Path(path), 0)]
    while stack:
        folder, depth = stack.pop()
        if depth > MAX_PACKAGE_DEPTH:
            raise UserError(f"{folder}: nested more than {MAX_PACKAGE_DEPTH} folders deep")
        with os.scandir(folder) as entries:
            for e in entries:
                st = e.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    stack.append((Path(e.path), depth + 1))
                elif stat.S_ISREG(st.st_mode):
                    out.append((Path(e.path).relative_to(path).as_posix(), Path(e.path), st.st_size))
                    if len(out) > MAX_PACKAGE_FILES:
                        raise UserError(f"{path}: more than {MAX_PACKAGE_FILES} files")
                else:
                    raise UserError(f"{e.path}: not a regular file or folder (a link, device or FIFO)")
    return sorted(out)


def path_sha256(path, limits=False):
    """sha256 of a file, or of a folder (a Core ML .mlpackage): its files' relative paths and hashes, sorted.
    limits: read no more of each file than its size said when it was listed (a file that grows is cut)."""
    path = Path(path)
    if not path.is_dir():
        return file_sha256(path, path.stat().st_size if limits else None)
    h = hashlib.sha256()
    for rel, f, size in _package_files(path):
        h.update(f"{rel}\0{file_sha256(f, size if limits else None)}\n".encode())
    return h.hexdigest()


def path_bytes(path):
    path = Path(path)
    return sum(size for _, _, size in _package_files(path)) if path.is_dir() else path.stat().st_size


# ---------------------------------------------------------------- the schema
def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _text(v, most=MAX_TEXT):
    return isinstance(v, str) and 0 < len(v) <= most


class _Schema:
    """Collects the first violation, with the JSON path where it is."""

    def __init__(self, where):
        self.where = where

    def fail(self, at, why):
        raise UserError(f"{self.where}: {at} {why}; re-export the folder with `tokenreel export`")

    def obj(self, v, at, required=(), optional=()):
        if not isinstance(v, dict):
            self.fail(at, "must be an object")
        missing = [k for k in required if k not in v]
        if missing:
            self.fail(at, f"lacks {', '.join(missing)}")
        return v

    def int(self, v, at, lo, hi):
        if not _is_int(v) or not lo <= v <= hi:
            self.fail(at, f"must be an integer from {lo} to {hi}")
        return v

    def text(self, v, at, most=MAX_TEXT):
        if not _text(v, most):
            self.fail(at, f"must be a string of 1 to {most} characters")
        return v

    def sha256(self, v, at):
        if not isinstance(v, str) or not _SHA256.fullmatch(v):
            self.fail(at, "must be 64 lowercase hex digits")
        return v

    def list(self, v, at, most):
        if not isinstance(v, list) or len(v) > most:
            self.fail(at, f"must be a list of at most {most} items")
        return v

    def ints(self, v, at, n, lo, hi):
        if not isinstance(v, list) or len(v) != n:
            self.fail(at, f"must be a list of {n} integers")
        return [self.int(x, f"{at}[{i}]", lo, hi) for i, x in enumerate(v)]


def _safe_file(s, v, at):
    """A relative POSIX path that cannot climb out of the folder: no absolute path, no '..', no '\\' or NUL."""
    s.text(v, at, 1024)
    p = PurePosixPath(v)
    if p.is_absolute() or "\\" in v or "\0" in v or any(part in ("..", "") for part in v.split("/")) \
            or p.as_posix() == ".":
        s.fail(at, f"{v!r} must be a plain relative path inside the export folder")


def _tensors(s, v, at):
    s.list(v, at, MAX_TENSORS)
    names = set()
    for i, t in enumerate(v):
        ta = f"{at}[{i}]"
        s.obj(t, ta, ("name", "shape", "dtype"))
        names.add(s.text(t["name"], f"{ta}.name"))
        shape = s.list(t["shape"], f"{ta}.shape", MAX_DIMS)
        for j, d in enumerate(shape):
            s.int(d, f"{ta}.shape[{j}]", 1, MAX_ELEMENTS)
        if math.prod(shape) > MAX_ELEMENTS:
            s.fail(f"{ta}.shape", f"has more than {MAX_ELEMENTS} elements")
        if t["dtype"] not in DTYPES:
            s.fail(f"{ta}.dtype", f"must be one of {', '.join(DTYPES)}")
    if len(names) != len(v):
        s.fail(at, "repeats a tensor name")
    return names


def _artifact(s, a, at):
    s.obj(a, at, ("file", "format", "role", "precision", "inputs", "outputs", "bytes", "sha256"))
    _safe_file(s, a["file"], f"{at}.file")
    for k in ("format", "role", "precision"):
        s.text(a[k], f"{at}.{k}", 64)
    ins, outs = _tensors(s, a["inputs"], f"{at}.inputs"), _tensors(s, a["outputs"], f"{at}.outputs")
    for i, pair in enumerate(s.list(a.get("state", []), f"{at}.state", MAX_TENSORS)):
        s.obj(pair, f"{at}.state[{i}]", ("input", "output"))
        if not isinstance(pair["input"], str) or not isinstance(pair["output"], str) or \
                pair["input"] not in ins or pair["output"] not in outs:
            s.fail(f"{at}.state[{i}]", "must name one of the artifact's inputs and one of its outputs")
    s.int(a["bytes"], f"{at}.bytes", 1, MAX_ARTIFACT_BYTES)
    s.sha256(a["sha256"], f"{at}.sha256")
    if "ops" in a:
        for i, op in enumerate(s.list(a["ops"], f"{at}.ops", 1 << 16)):
            s.text(op, f"{at}.ops[{i}]")
    if "export_seconds" in a and not (isinstance(a["export_seconds"], (int, float)) and
                                      not isinstance(a["export_seconds"], bool) and a["export_seconds"] >= 0):
        s.fail(f"{at}.export_seconds", "must be a number of seconds")


def check_manifest(m, where="manifest.json"):
    """Validate a parsed manifest as the schema of docs/export.md (types, ranges, lengths, the geometry's
    consistency); the one place manifest fields are checked. Unknown keys are ignored."""
    s = _Schema(where)
    s.obj(m, "the manifest", ("schema_version",))
    if m["schema_version"] != SCHEMA_VERSION or not _is_int(m["schema_version"]):
        raise UserError(f"{where}: schema version {str(m['schema_version'])[:20]}; this tokenreel reads "
                        f"{SCHEMA_VERSION}")
    s.obj(m, "the manifest", ("geometry", "weights", "artifacts"))
    g = s.obj(m["geometry"], "geometry", ("bits", "spatial", "group", "frame_size"))
    bits = s.int(g["bits"], "geometry.bits", 1, 24)
    spatial = s.int(g["spatial"], "geometry.spatial", 1, 64)
    s.int(g["group"], "geometry.group", 1, 64)
    for i, v in enumerate(s.ints(g["frame_size"], "geometry.frame_size", 2, spatial, 8192)):
        if v % spatial:
            s.fail(f"geometry.frame_size[{i}]", f"must be a multiple of spatial ({spatial})")
    if "start_calls" in g:
        calls = s.obj(g["start_calls"], "geometry.start_calls", ("encoder_step", "decoder_step"))
        for role in ("encoder_step", "decoder_step"):
            s.int(calls[role], f"geometry.start_calls.{role}", 0, 64)
    transformer = ("window", "splits", "sub_bits", "mask_id")
    if any(k in g for k in transformer):
        s.obj(g, "geometry", transformer)
        window = s.ints(g["window"], "geometry.window", 3, 1, 1024)
        if math.prod(window) > 1 << 16:
            s.fail("geometry.window", "holds more than 65536 tokens")
        splits = s.int(g["splits"], "geometry.splits", 1, bits)
        sub_bits = s.int(g["sub_bits"], "geometry.sub_bits", 1, bits)
        if splits * sub_bits != bits:
            s.fail("geometry", f"splits x sub_bits must be bits ({bits})")
        if g["mask_id"] != 1 << sub_bits or not _is_int(g["mask_id"]):
            s.fail("geometry.mask_id", f"must be 2^sub_bits ({1 << sub_bits})")
    w = s.obj(m["weights"], "weights", ("tokenizer",) + (("transformer",) if "window" in g else ()))
    for k in ("tokenizer", "transformer"):
        if k in w:
            s.obj(w[k], f"weights.{k}", ("id", "sha256"))
            s.text(w[k]["id"], f"weights.{k}.id")
            s.sha256(w[k]["sha256"], f"weights.{k}.sha256")
    if "sampler" in m:
        s.text(m["sampler"], "sampler")
    arts = s.obj(m["artifacts"], "artifacts")
    if len(arts) > MAX_ARTIFACTS:
        s.fail("artifacts", f"holds more than {MAX_ARTIFACTS} entries")
    for name, a in arts.items():
        _artifact(s, a, f"artifacts[{name[:60]!r}]")
    return m


# ---------------------------------------------------------------- reading a folder
def artifact_path(folder, entry):
    """The artifact's file, resolved (links followed): refused unless it lies inside the export folder."""
    folder = Path(folder)
    target = folder / entry["file"]
    try:
        real, root = target.resolve(), folder.resolve()
    except (OSError, RuntimeError) as e:       # a symlink loop
        raise UserError(f"{target}: cannot be resolved ({e.__class__.__name__}); re-export the folder")
    if not real.is_relative_to(root) or real == root:
        raise UserError(f"{target}: lies outside the export folder {folder}; re-export the folder")
    return real


def verify_entry(folder, entry):
    """Refuse an artifact whose file is missing, or whose size or sha256 differs from its entry."""
    f = artifact_path(folder, entry)
    changed = UserError(f"{folder / entry['file']}: missing or changed since export (size or sha256 differs "
                        f"from the manifest); re-export the folder")
    try:
        st = f.stat()
        if stat.S_ISDIR(st.st_mode):
            files = _package_files(f)
            if sum(size for _, _, size in files) != entry["bytes"]:
                raise changed
        elif not stat.S_ISREG(st.st_mode):
            raise UserError(f"{folder / entry['file']}: not a regular file; re-export the folder")
        elif st.st_size != entry["bytes"]:
            raise changed
        digest = path_sha256(f, limits=True) if stat.S_ISDIR(st.st_mode) else file_sha256(f, entry["bytes"])
        if digest != entry["sha256"]:
            raise changed
    except FileNotFoundError:
        raise changed
    except OSError as e:
        raise os_error(e, folder / entry["file"])


def read(folder, verify=True):
    """Load DIR/manifest.json, validated; with `verify`, refuse any artifact whose size or sha256 differs."""
    folder = Path(folder)
    path = folder / "manifest.json"
    if not path.is_file():
        raise UserError(f"{folder}: no manifest.json; make the folder with `tokenreel export -o {folder}`")
    try:
        manifest = load_json(read_regular(path, MAX_MANIFEST, "manifest.json"), MAX_DEPTH)
    except ValueError as e:
        raise UserError(f"{path}: not a tokenreel export manifest ({e}); re-export the folder")
    check_manifest(manifest, str(path))
    if verify:
        for a in manifest["artifacts"].values():
            verify_entry(folder, a)
    return manifest


def find(manifest, role, fmt, precision):
    """The one artifact of this role, format and precision, or a clear error."""
    for a in manifest["artifacts"].values():
        if (a["role"], a["format"], a["precision"]) == (role, fmt, precision):
            return a
    raise UserError(f"the export has no {fmt} {precision} {role}; export it with "
                    f"`tokenreel export --formats {fmt} --precision {precision}`")
