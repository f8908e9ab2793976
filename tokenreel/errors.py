"""User-facing errors: the CLI prints them as one line and exits non-zero, without a traceback. Also the
checked reading of user files that raises them: regular files only, bounded sizes, strict JSON."""
import errno
import json
import math
import os
import stat


class UserError(Exception):
    """Something wrong with the user's input or environment; the message says what and what to do."""


_OS_HINTS = {
    errno.ENOSPC: "the disk is full; free some space or choose another output folder",
    errno.EDQUOT: "the disk quota is used up; free some space or choose another output folder",
    errno.EFBIG: "the file is too large for this file system; choose another output folder",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "the file system is read-only; choose another output folder",
    errno.EIO: "input/output error: the disk or file is damaged",
    errno.ENOENT: "no such file or folder",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.EMFILE: "too many open files",
}


def os_error(e: OSError, path=None) -> UserError:
    """The one-line UserError for an OSError on a user's file: which file, what happened (disk full, file
    too large, unreadable, ...)."""
    where = path if path is not None else (e.filename if e.filename is not None else "tokenreel")
    why = _OS_HINTS.get(e.errno) or e.strerror or e.__class__.__name__
    return UserError(f"{where}: {why}")


def open_regular(path, what="file"):
    """(binary file object, size) of the regular file `path`, or a one-line UserError: not a regular file
    (a folder, a FIFO or a device: opened without blocking, so a FIFO cannot hang it), unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise os_error(e, path)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UserError(f"{path}: not a regular file; give a {what}")
        f = os.fdopen(fd, "rb")
    except BaseException as e:
        os.close(fd)
        raise os_error(e, path) if isinstance(e, OSError) else e
    return f, st.st_size


def read_regular(path, limit, what="file"):
    """The bytes of the regular file `path` (open_regular), at most `limit` of them, or a one-line
    UserError. Reads at most limit + 1 bytes whatever the file claims."""
    f, size = open_regular(path, what)
    with f:
        if size > limit:
            raise UserError(f"{path}: {size} bytes, larger than any {what} ({limit} bytes at most)")
        try:
            data = f.read(limit + 1)
        except OSError as e:
            raise os_error(e, path)
    if len(data) > limit:
        raise UserError(f"{path}: larger than any {what} ({limit} bytes at most)")
    return data


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs):
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("an object repeats a key")
    return obj


def load_json(data: bytes, max_depth):
    """Strict JSON from untrusted bytes: UTF-8, no NaN / Infinity or out-of-range numbers, no repeated keys,
    at most `max_depth` nested arrays / objects. Anything else is a ValueError (json.JSONDecodeError,
    UnicodeDecodeError or one of these), never a RecursionError."""
    text = bytes(data).decode("utf-8")
    try:
        value = json.loads(text, parse_float=_finite_float, parse_constant=_no_constant,
                           object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ValueError(f"nested more than {max_depth} deep")
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (dict, list)):
            if depth > max_depth:
                raise ValueError(f"nested more than {max_depth} deep")
            stack.extend((c, depth + 1) for c in (v.values() if isinstance(v, dict) else v))
    return value
