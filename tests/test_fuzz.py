"""A short fixed-seed run of the structured fuzzer (benchmarks/fuzz.py) over `.trl` headers and payloads
and export manifests. The oracle: every case ends in success or a UserError, within a time bound, and the
run's peak memory stays within the bound. It runs in a fresh interpreter so that VmHWM is the fuzzer's
own; long runs: `benchmarks/fuzz.py --trl 200000 --manifest 10000`."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_fuzz_short_run(tmp_path):
    report = tmp_path / "fuzz.json"
    # 4 s per case: the bound of the long run is 2 s; this machine may be shared with a training job
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fuzz.py"), "--trl", "3000", "--manifest", "300",
                        "--seed", "7", "--max-seconds", "4", "--max-mib", "256", "--json", str(report),
                        "--save", str(tmp_path / "failures")], capture_output=True, text=True, timeout=600)
    assert report.exists(), r.stderr[-2000:]
    rep = json.loads(report.read_text())
    for kind in ("trl", "manifest"):
        assert rep[kind]["exceptions"] == 0, (kind, rep[kind]["failures"])
        assert rep[kind]["over_time"] == 0, (kind, rep[kind]["failures"])
    assert rep["trl"]["cases"] == 3000 and rep["manifest"]["cases"] == 300
    assert rep["trl"]["ok"] > 100 and rep["trl"]["refused"] > 1000          # both outcomes are exercised
    assert rep["manifest"]["ok"] > 5 and rep["manifest"]["refused"] > 100
    assert rep["peak_mib"] < 256, rep["peak_mib"]
    assert r.returncode == 0 and rep["pass"], r.stdout[-2000:]
