"""The golden hostile .trl files (tests/golden/bad-trl, written by tests/bad_trl_cases.py) against the Python
reader: each is refused with a one-line UserError naming the check, quickly; the committed files are what the
generator writes. The Kotlin and Swift readers are tested against the same files (test_android_core.py,
test_ios_core.py)."""
import json
import re
import time

import pytest

from bad_trl_cases import FOLDER, write
from tokenreel.errors import UserError
from tokenreel.runtime import trl

INDEX = json.loads((FOLDER / "index.json").read_text())


@pytest.mark.parametrize("name", sorted(INDEX))
def test_refused_with_one_line(name):
    case = INDEX[name]
    t = time.monotonic()
    with pytest.raises(UserError) as e:
        trl.read(FOLDER / name)
    message = str(e.value)
    assert case["error"] in message and "\n" not in message and message.startswith(str(FOLDER / name))
    assert time.monotonic() - t < 2, f"{name} took {time.monotonic() - t:.1f} s to refuse"


@pytest.mark.parametrize("name", sorted(INDEX))
def test_partial_read_recovers_the_complete_chunks(name):
    """index.json's "partial": what trl.read(path, partial=True) recovers of a version-2 file (the chunks before
    the fault, and why it stopped), or null where it refuses the file too (version 1, a bad file header)."""
    case = INDEX[name]
    if case["partial"] is None:
        with pytest.raises(UserError, match="^" + re.escape(str(FOLDER / name))):
            trl.read(FOLDER / name, partial=True)
        return
    tokens, header = trl.read(FOLDER / name, partial=True)
    assert header["chunks"] == case["partial"]["chunks"] and header.get("stopped") == case["partial"]["stopped"]
    assert not header["complete"] and len(tokens) == header["grid"][0]
    with pytest.raises(UserError, match=re.escape(f"incomplete .trl: {header['stopped']}; {header['chunks']} complete")):
        trl.read(FOLDER / name)


def test_every_class_of_fault_is_covered():
    classes = {c["class"] for c in INDEX.values()}
    assert classes == {"magic", "version", "truncated", "checksum", "trailing", "header-json", "header-schema",
                       "limits", "zstd-size", "ans-cost", "ans-end", "planes-crc32",
                       "v2-header", "v2-chunk", "v2-end", "v2-incomplete"}


def test_committed_files_are_the_generators(tmp_path):
    """Regenerating gives the committed bytes (run `python tests/bad_trl_cases.py` after changing a case)."""
    index = write(tmp_path)
    assert index == INDEX
    assert sorted(p.name for p in FOLDER.iterdir()) == sorted([*index, "index.json"])
    for name in index:
        assert (tmp_path / name).read_bytes() == (FOLDER / name).read_bytes(), name
