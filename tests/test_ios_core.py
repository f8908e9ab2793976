"""The iOS port's Swift package (ios_demo/TokenreelKit) against the spec and model cases, as test_android_core.py
tests the Kotlin one: `swift build` and `swift test` of TokenreelCore (TokenreelCoreML compiles to nothing
where Core ML is absent) with the spec cases of tests/golden (sampler, .trl files), the model cases of verify, the
manifest of a real export, the zstd bit planes as Python packs them and the edit cases of
tests/edit_cases.py (the same file the Kotlin tests read). Needs a Swift toolchain (`swift` on PATH, or
/opt/swift/usr/bin/swift); skipped without one. A first build takes about a minute on 2 cores."""
import json
import os
import re
import shutil
import struct
import subprocess
import time

import pytest

from conftest import ROOT
from edit_cases import edit_cases

PACKAGE = ROOT / "ios_demo/TokenreelKit"
BUILD = PACKAGE / ".build"      # git-ignored (ios_demo/TokenreelKit/.gitignore)


def find_swift():
    """The Swift toolchain's driver, or None: `swift` on PATH (if it is Swift's, not OpenStack's), else
    where the swift.org Linux tarballs are usually unpacked."""
    for candidate in (shutil.which("swift"), "/opt/swift/usr/bin/swift", "/usr/share/swift/usr/bin/swift"):
        if candidate and os.access(candidate, os.X_OK):
            r = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=120)
            if "Swift version" in r.stdout + r.stderr:
                return candidate
    return None


def zstd_raw(path):
    """The payload of a zstd .trl, decompressed by Python's zstandard (the bit planes Python packed)."""
    import zstandard
    data = path.read_bytes()
    (hlen,) = struct.unpack_from("<I", data, 8)
    return zstandard.ZstdDecompressor().decompress(data[12 + hlen + 8:-4])


def run(args, env):
    t = time.monotonic()
    r = subprocess.run(args, cwd=PACKAGE, capture_output=True, text=True, env=env, timeout=900)
    return r, time.monotonic() - t


def test_ios_core(exported, model_cases, tmp_path, capsys):
    swift = find_swift()
    if swift is None:
        pytest.skip("no Swift toolchain (`swift` not on PATH, none in /opt/swift): install one from swift.org "
                    "to build and test ios_demo/TokenreelKit")
    folder, _ = exported
    cases = tmp_path / "edit-cases.json"
    cases.write_text(json.dumps(edit_cases()))
    raw = tmp_path / "tokens-zstd.planes"
    raw.write_bytes(zstd_raw(ROOT / "tests/golden/tokens-zstd.trl"))
    env = dict(os.environ, PATH=f"{os.path.dirname(swift)}{os.pathsep}{os.environ.get('PATH', '')}",
               TOKENREEL_GOLDEN=str(ROOT / "tests/golden"), TOKENREEL_VERIFY_GOLDEN=str(model_cases),
               TOKENREEL_EDIT_CASES=str(cases), TOKENREEL_EXPORT_DIR=str(folder), TOKENREEL_ZSTD_RAW=str(raw))
    common = ["-c", "debug", "--build-path", str(BUILD)]
    build, build_s = run([swift, "build", *common, "--build-tests"], env)
    assert build.returncode == 0, "swift build failed:\n" + (build.stdout + build.stderr)[-8000:]
    test, test_s = run([swift, "test", *common, "--skip-build"], env)
    out = test.stdout + test.stderr
    summary = re.search(r"Test Suite 'All tests' (passed|failed).*?\n\s*(Executed (\d+) tests?, with "
                        r"(?:(\d+) tests? skipped and )?(\d+) failures?[^\n]*)", out)
    line = summary.group(2) if summary else "no XCTest summary"
    with capsys.disabled():
        print(f"\nTokenreelKit (Swift): {line}; swift build {build_s:.0f} s, swift test {test_s:.0f} s")
    assert test.returncode == 0 and summary and summary.group(1) == "passed", f"{line}\n" + out[-8000:]
    # every test of the core ran: none skipped for want of a golden file (only Core ML's, on a Mac)
    skipped = [name for name in re.findall(r"Test Case '(.*?)' skipped", out) if "CoreMLGoldenTests" not in name]
    assert not skipped, f"{line}; skipped: {skipped}\n" + out[-4000:]
    declared = sum(len(re.findall(r"^\s*func test\w*\(", f.read_text(), re.M))
                   for f in (PACKAGE / "Tests/TokenreelCoreTests").glob("*.swift"))
    assert int(summary.group(3)) >= declared, f"{line}, but TokenreelCoreTests declares {declared} tests"
