"""Token-file operations of the Python API (tokenreel.Clip.crop / trim / cat, tokenreel.cat) on the golden
.trl, for the ports' Clip (android_demo/core ClipTest, ios_demo/TokenreelKit ClipTests), which must give the
same tokens, header, name and one-line errors. Each case is a chain of steps from a source clip: `golden`,
tests/golden/tokens-v2.trl as read (9 frames in 3 latent frames), or `padded`, the same tokens standing for 7
frames (the last group filled by repeating its last frame, which cat must keep). A source is named by its
key, not its path, so that the names are the same everywhere. tests/test_clip_cases.py checks that the
committed file is what this writes.

    .venv/bin/python tests/clip_cases.py        # rewrite tests/golden/clip-cases.json
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tokenreel  # noqa: E402

PATH = ROOT / "tests/golden/clip-cases.json"
SOURCES = {"golden": {"file": "tokens-v2.trl"}, "padded": {"file": "tokens-v2.trl", "frames": 7}}

# name -> steps: {"op": "crop" | "trim", and its keyword arguments} or {"op": "cat", "clips": [[source, steps], ...]}
CASES = {
    "crop-whole": ("golden", [{"op": "crop"}]),
    "crop-left-top": ("golden", [{"op": "crop", "left": 8, "top": 8}]),
    "crop-rounds-to-tokens": ("golden", [{"op": "crop", "left": 12, "top": 3, "width": 40, "height": 30}]),
    "crop-half-rounds-up": ("golden", [{"op": "crop", "left": 4, "width": 24}]),
    "crop-narrower-than-a-token": ("golden", [{"op": "crop", "width": 3}]),
    "crop-outside": ("golden", [{"op": "crop", "left": 64}]),
    "trim-start": ("golden", [{"op": "trim", "start": 0.2}]),
    "trim-end": ("golden", [{"op": "trim", "end": 0.2}]),
    "trim-halves-to-even": ("golden", [{"op": "trim", "start": 0.1, "end": 0.3}]),
    "trim-padded-end": ("padded", [{"op": "trim", "start": 0.2}]),
    "trim-past-the-end": ("golden", [{"op": "trim", "start": 1}]),
    "trim-negative": ("golden", [{"op": "trim", "start": -0.5}]),
    "trim-end-before-start": ("golden", [{"op": "trim", "start": 0.2, "end": 0.1}]),
    "trim-then-crop": ("golden", [{"op": "trim", "start": 0.2}, {"op": "crop", "left": 8, "width": 32}]),
    "cat-itself": ("golden", [{"op": "cat", "clips": [["golden", []]]}]),
    "cat-trims": ("golden", [{"op": "trim", "end": 0.2}, {"op": "cat", "clips": [["golden", [{"op": "trim", "start": 0.2}]]]}]),
    "cat-keeps-padding": ("padded", [{"op": "cat", "clips": [["golden", []], ["padded", []]]}]),
    "cat-other-size": ("golden", [{"op": "cat", "clips": [["golden", [{"op": "crop", "left": 8}]]]}]),
}


def source(key):
    s = SOURCES[key]
    clip = tokenreel.load(ROOT / "tests/golden" / s["file"])
    return tokenreel.Clip(clip.tokens, dict(clip.header, frames=s.get("frames", clip.frame_count)), name=key)


def apply(key, steps):
    clip = source(key)
    for step in steps:
        args = {k: v for k, v in step.items() if k != "op"}
        if step["op"] == "cat":
            clip = clip.cat(*(apply(k, s) for k, s in args["clips"]))
        else:
            clip = getattr(clip, step["op"])(**args)
    return clip


def result(key, steps):
    try:
        clip = apply(key, steps)
    except tokenreel.UserError as e:
        return {"error": str(e)}
    return {"name": clip.name, "header": clip.header,
            "tokens": {"shape": list(clip.grid), "data": clip.tokens.reshape(-1).astype(int).tolist()}}


def text():
    """The cases as JSON, a case on a line of its own."""
    about = ("tokenreel.Clip's crop, trim and cat (tokenreel/api.py) on tests/golden's .trl: start from `sources` "
             "[source] (the file read, `frames` set where given, named by its key), apply `steps` in order (crop "
             "and trim with the keyword arguments given, cat with each of `clips`, a [source, steps] pair), and get "
             "`name`, `header` and `tokens`, or the one-line `error`. Written by tests/clip_cases.py.")
    cases = [json.dumps(dict(case=name, source=key, steps=steps, **result(key, steps)))
             for name, (key, steps) in CASES.items()]
    return ('{"about": ' + json.dumps(about) + ',\n"sources": ' + json.dumps(SOURCES) + ',\n"cases": [\n'
            + ",\n".join(cases) + "\n]}\n")


if __name__ == "__main__":
    PATH.write_text(text())
    print(f"wrote {PATH.relative_to(ROOT)}")
