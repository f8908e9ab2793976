"""tests/golden/clip-cases.json, the crop / trim / cat results the Kotlin and Swift Clip must give (android_demo/core
ClipTest, ios_demo/TokenreelKit ClipTests), is what the Python API gives today (`python tests/clip_cases.py`
rewrites it)."""
from clip_cases import PATH, text


def test_committed_clip_cases_are_the_generators():
    assert PATH.read_text() == text()
