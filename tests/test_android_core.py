"""The Android app's plain Kotlin module (android_demo/core) against the spec cases (the sampler, the .trl
coder), the model cases of `verify --write-golden`, the manifest of a real export and the edits' windows and
seeds (tests/edit_cases.py: the Python runtime's reframe/extend on a fake transformer, shared with the Swift
port's tests). Needs kotlinc and junit4 (setup.sh installs them); compiling with kotlinc 1.3 takes about a
minute."""
import json
import os
import re
import shutil
import subprocess

from conftest import ROOT
from edit_cases import edit_cases


def test_android_core(exported, model_cases, tmp_path, capsys):
    assert shutil.which("kotlinc") and shutil.which("java"), \
        "kotlinc not found: run setup.sh (apt-get install kotlin junit4) to test android_demo/core"
    folder, _ = exported
    g = model_cases
    cases = tmp_path / "edit-cases.json"
    cases.write_text(json.dumps(edit_cases()))
    env = dict(os.environ, TOKENREEL_EDIT_CASES=str(cases), TOKENREEL_EXPORT_DIR=str(folder))
    r = subprocess.run(["bash", str(ROOT / "android_demo/core/test.sh"), str(ROOT / "tests/golden"), str(g)],
                       capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    summary = re.search(r"OK \(\d+ tests?\)", r.stdout)
    assert summary, r.stdout[-3000:]
    with capsys.disabled():
        print(f"\nandroid_demo/core (Kotlin, JUnit4): {summary.group(0)}")
