"""The runtime must not import torch: phones and app builders use it without."""
import subprocess
import sys


def test_runtime_imports_without_torch():
    """Every module of tokenreel.runtime (found by walking the package, so new ones are covered) and the
    exported-model backends import with torch made unimportable."""
    code = ("import importlib, pkgutil, sys; sys.modules['torch'] = None\n"
            "import tokenreel.runtime as rt\n"
            "names = [m.name for m in pkgutil.iter_modules(rt.__path__, 'tokenreel.runtime.')]\n"
            "assert 'tokenreel.runtime.composite' in names and len(names) > 10, names\n"
            "for n in names + ['tokenreel.backends.exported']: importlib.import_module(n)\n"
            "assert sys.modules['torch'] is None\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
