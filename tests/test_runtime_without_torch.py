"""The runtime must not import torch: phones and app builders use it without."""
import subprocess
import sys


def test_runtime_imports_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import tokenreel.runtime.trl, tokenreel.runtime.codec, tokenreel.runtime.pipeline, "
            "tokenreel.runtime.video, tokenreel.runtime.preview, tokenreel.runtime.tokens, "
            "tokenreel.runtime.edit, tokenreel.runtime.sampler, tokenreel.runtime.manifest, "
            "tokenreel.backends.exported\n"
            "assert sys.modules['torch'] is None\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
