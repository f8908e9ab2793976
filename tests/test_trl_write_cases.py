"""tests/golden/trl-write-cases.json, the version-2 files the Kotlin and Swift writers must write byte for byte
(android_demo/core TrlWriterTest, ios_demo/TokenreelKit TrlWriterTests), is what Python's TrlWriter writes
today (`python tests/trl_write_cases.py` rewrites it)."""
from trl_write_cases import PATH, text


def test_committed_write_cases_are_the_generators():
    assert PATH.read_text() == text()
