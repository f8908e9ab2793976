"""Export folders from hostile hands: manifest.json validated as a schema, artifacts only inside their
folder and only regular files, hashing bounded by the declared bytes, models that must match their entry
(docs/export.md, "Limits"). The folders are the small ones benchmarks/fuzz.py builds: real ONNX models when
onnx and onnxruntime are installed."""
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from tokenreel.errors import UserError
from tokenreel.runtime import manifest as manifest_io

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import fuzz  # noqa: E402
from conftest import run_cli  # noqa: E402

try:
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401
    ENGINES = True
except ImportError:
    ENGINES = False


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export") / "models"
    return folder, fuzz.make_export(folder, ENGINES)


@pytest.fixture
def export(seed, tmp_path):
    folder, manifest = seed
    copy = tmp_path / "models"
    shutil.copytree(folder, copy)
    return copy, json.loads(json.dumps(manifest))


def _write(folder, manifest):
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _refused(folder, words):
    with pytest.raises(UserError, match=words):
        fuzz.use_export(folder, ENGINES)


def test_the_seed_folder_loads_and_runs(export):
    folder, _ = export
    fuzz.use_export(folder, ENGINES)


@pytest.mark.parametrize("file", ["/etc/passwd", "../outside.bin", "a/../../x", "x\\..\\y", "", ".", "..", "sub/",
                                  "a//b", "a\0b"])
def test_a_file_must_be_a_plain_relative_path(export, file):
    folder, m = export
    m["artifacts"]["encoder_step.fp32.onnx"]["file"] = file
    _write(folder, m)
    _refused(folder, "file")


def test_a_link_out_of_the_folder_is_refused_even_with_a_matching_hash(export, tmp_path):
    folder, m = export
    outside = tmp_path / "elsewhere.onnx"
    shutil.copy(folder / "encoder_step.fp32.onnx", outside)
    (folder / "encoder_step.fp32.onnx").unlink()
    (folder / "encoder_step.fp32.onnx").symlink_to(outside)
    _refused(folder, "outside the export folder")
    (folder / "encoder_step.fp32.onnx").unlink()
    (folder / "encoder_step.fp32.onnx").symlink_to("encoder_step.fp32.onnx")       # a loop
    _refused(folder, "cannot be resolved|outside|missing")


def test_devices_and_fifos_are_never_read(export):
    """bytes: 0 and a link to an endless device hung the hash; a FIFO blocked the open."""
    folder, m = export
    f = folder / "encoder_step.fp32.onnx"
    f.unlink()
    os.mkfifo(f)
    _refused(folder, "not a regular file")
    f.unlink()
    m["artifacts"]["encoder_step.fp32.onnx"]["bytes"] = 0
    _write(folder, m)
    f.symlink_to("/dev/zero")
    _refused(folder, "bytes")
    m["artifacts"]["encoder_step.fp32.onnx"]["bytes"] = 4096
    _write(folder, m)
    _refused(folder, "outside the export folder")


def test_package_folders_hold_only_regular_files(export):
    folder, m = export
    pkg = folder / "transformer.fp32.mlpackage"
    (pkg / "link").symlink_to("/dev/zero")
    _refused(folder, "not a regular file or folder")
    (pkg / "link").unlink()
    os.mkfifo(pkg / "fifo")
    _refused(folder, "not a regular file or folder")


def test_hashing_reads_no_more_than_the_declared_bytes(export, monkeypatch):
    folder, m = export
    read = []
    real = manifest_io._read_chunks

    def counting(f, limit):
        for chunk in real(f, limit):
            read.append(len(chunk))
            yield chunk
    monkeypatch.setattr(manifest_io, "_read_chunks", counting)
    f = folder / "encoder_step.fp32.onnx"
    with open(f, "ab") as out:
        out.write(b"\0" * (4 << 20))                    # grown: refused by its size, before any hashing
    _refused(folder, "changed since export")
    assert sum(read) == 0
    fresh = folder.parent / "fresh"
    declared = sum(a["bytes"] for a in fuzz.make_export(fresh, ENGINES)["artifacts"].values())
    manifest_io.read(fresh)
    assert sum(read) == declared


BAD_MANIFESTS = [
    (("schema_version",), 2, "schema version"),
    (("schema_version",), True, "schema version"),
    (("geometry", "bits"), 18.0, "geometry.bits"),
    (("geometry", "bits"), 10 ** 400, "geometry.bits"),
    (("geometry", "frame_size"), [16], "frame_size"),
    (("geometry", "frame_size"), [17, 8], "multiple of spatial"),
    (("geometry", "window"), [1024, 1024, 1024], "65536 tokens"),
    (("geometry", "splits"), 3, "splits x sub_bits"),
    (("geometry", "mask_id"), 5, "mask_id"),
    (("weights", "tokenizer", "sha256"), 5, "sha256"),
    (("weights", "tokenizer"), ["x"], "must be an object"),
    (("artifacts",), [], "must be an object"),
    (("artifacts", "encoder_step.fp32.onnx", "inputs"), "x", "inputs"),
    (("artifacts", "encoder_step.fp32.onnx", "inputs", 1, "shape"), [2 ** 30], "shape"),
    (("artifacts", "encoder_step.fp32.onnx", "inputs", 1, "shape"), [4096, 4096, 8], "elements"),
    (("artifacts", "encoder_step.fp32.onnx", "inputs", 1, "shape"), [1.5], "shape"),
    (("artifacts", "encoder_step.fp32.onnx", "inputs", 1, "dtype"), "float64", "dtype"),
    (("artifacts", "encoder_step.fp32.onnx", "inputs", 1, "name"), ["x"], "name"),
    (("artifacts", "encoder_step.fp32.onnx", "state"), [{"input": ["x"], "output": 1}], "state"),
    (("artifacts", "encoder_step.fp32.onnx", "bytes"), 0, "bytes"),
    (("artifacts", "encoder_step.fp32.onnx", "bytes"), "12", "bytes"),
    (("artifacts", "encoder_step.fp32.onnx", "role"), None, "role"),
    (("artifacts", "encoder_step.fp32.onnx", "export_seconds"), "slow", "export_seconds"),
]


@pytest.mark.parametrize("at,value,words", BAD_MANIFESTS)
def test_every_field_is_checked_by_type_and_range(export, at, value, words):
    folder, m = export
    fuzz._put(m, at, value)
    _write(folder, m)
    with pytest.raises(UserError, match=words):
        manifest_io.read(folder)


@pytest.mark.parametrize("at", [("geometry",), ("weights",), ("artifacts", "encoder_step.fp32.onnx", "sha256"),
                                ("artifacts", "encoder_step.fp32.onnx", "inputs", 0, "shape"),
                                ("geometry", "mask_id")])
def test_missing_keys_are_one_line(export, at):
    folder, m = export
    fuzz._put(m, at, None, delete=True)
    _write(folder, m)
    with pytest.raises(UserError, match="lacks"):
        manifest_io.read(folder)


@pytest.mark.parametrize("text,words", [
    (b"[" * 100000 + b"]" * 100000, "nested"),
    (b'{"schema_version": 1, "schema_version": 1}', "repeats"),
    (b'{"schema_version": NaN}', "NaN"),
    (b'{"schema_version": 1e999}', "out of range"),
    (b'{"schema_version": "\xff"}', "utf-8"),
    (b"[1]", "must be an object"),
])
def test_manifest_json_is_strict(export, text, words):
    folder, _ = export
    (folder / "manifest.json").write_bytes(text)
    with pytest.raises(UserError, match=words):
        manifest_io.read(folder)


def test_a_huge_manifest_is_refused_unread(export):
    folder, _ = export
    with open(folder / "manifest.json", "wb") as f:
        f.truncate(manifest_io.MAX_MANIFEST + 1)
    with pytest.raises(UserError, match="larger than any"):
        manifest_io.read(folder)


@pytest.mark.skipif(not ENGINES, reason="needs onnx and onnxruntime")
@pytest.mark.parametrize("change,words", [
    (lambda e: (e["inputs"][1].update(name="state_in_9"), e["state"][0].update(input="state_in_9")),
     "'state_in_0' where the entry has 'state_in_9'"),
    (lambda e: e["inputs"][0].update(name="pixels"), "'frames' where the entry has 'pixels'"),
    (lambda e: e["inputs"][1].update(shape=[1, 2, 2, 3]), "shape|pair up"),
    (lambda e: e["inputs"][0].update(dtype="float16"), "float32"),
    (lambda e: e["outputs"].pop(), "outputs|pair up"),
    (lambda e: e["state"].clear(), "pair up"),
])
def test_a_model_must_match_its_entry(export, change, words):
    folder, m = export
    change(m["artifacts"]["encoder_step.fp32.onnx"])
    _write(folder, m)
    _refused(folder, words)


@pytest.mark.skipif(not ENGINES, reason="needs onnx and onnxruntime")
def test_another_role_s_model_or_a_damaged_one_is_refused(export):
    folder, m = export
    enc = m["artifacts"]["encoder_step.fp32.onnx"]
    dec = m["artifacts"]["decoder_step.fp32.onnx"]
    enc.update(file=dec["file"], bytes=dec["bytes"], sha256=dec["sha256"])
    _write(folder, m)
    _refused(folder, "differ from its manifest entry|geometry implies")
    folder2 = folder.parent / "damaged"
    m2 = fuzz.make_export(folder2, ENGINES)
    (folder2 / "encoder_step.fp32.onnx").write_bytes(b"not a model")
    fuzz._rehash(m2["artifacts"]["encoder_step.fp32.onnx"], folder2 / "encoder_step.fp32.onnx")
    _write(folder2, m2)
    _refused(folder2, "not a loadable ONNX model")


def test_the_geometry_must_fit_the_models(export):
    folder, m = export
    m["geometry"]["frame_size"] = [24, 8]
    _write(folder, m)
    _refused(folder, "geometry implies")


def test_cli_on_a_hostile_folder_is_one_line(export, tmp_path):
    folder, m = export
    m["artifacts"]["encoder_step.fp32.onnx"]["file"] = "/etc/passwd"
    _write(folder, m)
    video = tmp_path / "in.trl"
    r = run_cli("decode", video, "-o", tmp_path / "out.mp4", "--backend", "onnx", "--models", folder)
    assert r.returncode == 2
    assert r.stderr.startswith("tokenreel: error: ") and r.stderr.count("\n") == 1 and "/etc/passwd" in r.stderr


def test_state_shapes_are_bounded_before_anything_is_allocated(export):
    folder, m = export
    for e in m["artifacts"].values():
        for t in e["inputs"]:
            assert np.prod(t["shape"]) <= manifest_io.MAX_ELEMENTS
    m["artifacts"]["encoder_step.fp32.onnx"]["inputs"][1]["shape"] = [2 ** 20, 2 ** 20]
    _write(folder, m)
    with pytest.raises(UserError, match="elements"):
        manifest_io.read(folder)


def test_start_calls_cases_for_the_ports_are_what_python_says():
    """tests/golden/manifest-start-calls.json (read by the Kotlin and Swift manifest tests) is regenerated
    from check_manifest: a change to the schema shows here before the ports drift."""
    from manifest_cases import text
    assert (Path(__file__).parent / "golden" / "manifest-start-calls.json").read_text() == text()
