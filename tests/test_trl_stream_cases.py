"""tests/golden/trl-stream-cases.json, the version-2 files and cuts the Kotlin and Swift readers are tested
against (android_demo/core TrlStreamTest, ios_demo/TokenreelKit TrlStreamTests), is what Python's reader says
of them today (`python tests/trl_stream_cases.py` rewrites it)."""
from trl_stream_cases import PATH, text


def test_committed_stream_cases_are_the_generators():
    assert PATH.read_text() == text()
