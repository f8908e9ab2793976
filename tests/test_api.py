"""The Python API (tokenreel/api.py): docs/api.md's examples run as written without torch, and the token-file
operations (crop, trim, cat) keep the grid, the header and the decoded frames as documented."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tokenreel
from tokenreel.runtime import trl

from conftest import ROOT, run_cli
from test_cli import assert_clean_failure

HOLIDAY_FRAMES = 33        # 9 latent frames: enough for trim(start=1) at 25 fps


def docs_code():
    """The python blocks of docs/api.md, in order."""
    text = (ROOT / "docs" / "api.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)
    assert len(blocks) >= 3, "docs/api.md lost its examples"
    return "\n".join(blocks)


@pytest.fixture(scope="module")
def docs_folder(tmp_path_factory, bikes):
    """What docs/api.md's examples expect in their folder: holiday.mp4 (a real clip) and build/ (an ONNX int8
    export of the shipped tokenizer and a small untrained transformer, at 64x152)."""
    import torch
    from tokenreel.export import export_models
    from tokenreel.models.transformer import MaskedTransformer, TransformerConfig
    from tokenreel.models.weights import save_weights
    from tokenreel.runtime.video import read_video, write_video
    folder = tmp_path_factory.mktemp("docs")
    video = read_video(bikes, max_frames=HOLIDAY_FRAMES)
    write_video(folder / "holiday.mp4", video.frames, video.info.fps)
    torch.manual_seed(0)
    tf = folder / "transformer.safetensors"
    save_weights(MaskedTransformer(TransformerConfig(dim=32, layers=1, heads=2, window=(5, 8, 8))), tf, "test")
    export_models(folder / "build", formats=("onnx",), precisions=("int8",), size=(64, 152),
                  transformer_weights=tf, quiet=True, calibration_clips=[str(folder / "holiday.mp4")])
    return folder


def test_docs_examples_run_without_torch(docs_folder):
    code = docs_code() + "\nimport sys\nassert 'torch' not in sys.modules, 'the API imported torch'\n"
    r = subprocess.run([sys.executable, "-c", code], cwd=docs_folder, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("holiday.trl", "holiday-9x16.mp4", "holiday-9x16.png", "short.trl"):
        assert (docs_folder / name).is_file(), name
    trl.read(docs_folder / "short.trl")      # a valid file
    assert "cat: clip 2" in r.stdout         # the refusal, printed as one line


def test_import_is_light():
    """`import tokenreel` loads neither numpy nor PyAV nor torch; the API comes on first use."""
    code = ("import sys; import tokenreel\n"
            "assert not {'numpy', 'av', 'torch'} & set(sys.modules), sorted(sys.modules)\n"
            "assert tokenreel.Clip is tokenreel.api.Clip and 'torch' not in sys.modules\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- token-file operations, no model
def synthetic(T=9, H=6, W=10, frames=None, fps=25.0, sha="a" * 64, seed=0):
    rng = np.random.default_rng(seed)
    header = {"tokenizer": "test", "tokenizer_sha256": sha, "bits": 18, "fps": fps,
              "frames": frames or tokenreel.api.frames_of_latents(T), "size": [8 * W, 8 * H],
              "source_size": [640, 272], "resize": "short side scaled, sides rounded to 8"}
    return tokenreel.Clip(rng.integers(0, 1 << 18, (T, H, W)), header, name="synthetic")


def test_crop_maps_pixels_to_token_boundaries():
    clip = synthetic()
    out = clip.crop(left=20, top=8, width=40)        # x 20..60 px -> tokens 3..8 (halves round up), y 1..6
    assert (out.tokens == clip.tokens[:, 1:, 3:8]).all()
    assert out.size == (40, 40) and out.frame_count == clip.frame_count and out.parent is clip
    for box in ({"left": -16}, {"width": 3}, {"left": 80}, {"top": 40, "height": 16}):
        with pytest.raises(tokenreel.UserError, match="crop"):
            clip.crop(**box)


def test_trim_cuts_at_latent_frames():
    """9 latent frames, 33 frames at 25 fps (4 frames = 0.16 s): the cut nearest to each time."""
    clip = synthetic()
    cases = {(0.0, None): (0, 9, 33), (0.16, None): (1, 9, 29), (0.2, None): (1, 9, 29),   # 5 frames: cut at 4
             (0.3, None): (2, 9, 25), (0.0, 0.21): (0, 2, 5), (0.16, 0.37): (1, 3, 5), (1.28, None): (8, 9, 1)}
    for (start, end), (s, e, frames) in cases.items():
        out = clip.trim(start, end)
        assert (out.tokens == clip.tokens[s:e]).all() and out.frame_count == frames, (start, end)
    padded = synthetic(frames=31)                    # the last group holds 2 real frames and 2 repeats
    assert padded.trim(0.16).frame_count == 27
    for start, end in ((1.5, None), (0.5, 0.3), (-1, None)):
        with pytest.raises(tokenreel.UserError, match="trim"):
            clip.trim(start, end)


def test_cat_joins_and_refuses_other_clips():
    a, b = synthetic(T=3, frames=8), synthetic(T=4, frames=12, seed=1)    # padded: 9 and 13 frame positions
    out = tokenreel.cat(a, b)
    assert (out.tokens == np.concatenate([a.tokens, b.tokens])).all()
    # a's 9 positions (its repeat kept), b's first latent frame as a group of 4, b's other 11 real frames
    assert out.frame_count == 9 + 4 + 11 and out.header["size"] == a.header["size"]
    assert tokenreel.cat(a).frame_count == 8
    for other, words in ((synthetic(sha="b" * 64), "tokenizer"), (synthetic(W=12), "size"),
                         (synthetic(fps=30.0), "fps")):
        with pytest.raises(tokenreel.UserError, match=words):
            a.cat(other)


def test_saved_operations_are_valid_files(tmp_path):
    clip = synthetic()
    for name, out in {"crop": clip.crop(width=48), "trim": clip.trim(0.3), "cat": clip.cat(clip)}.items():
        path = tmp_path / f"{name}.trl"
        out.save(path)
        tokens, header = trl.read(path)
        loaded = tokenreel.load(path)
        assert (tokens == out.tokens).all() and header["size"] == [8 * tokens.shape[2], 8 * tokens.shape[1]]
        assert loaded.header == out.header and loaded.editor is None
    with pytest.raises(tokenreel.UserError, match=".trl"):
        clip.save(tmp_path / "tokens.mp4")


def test_crop_trim_cat_commands(tmp_path):
    a, b = tmp_path / "a.trl", tmp_path / "b.trl"
    synthetic().save(a)
    synthetic(W=12).save(b)
    r = run_cli("trim", a, "-o", tmp_path / "t.trl", "--start", "0.16", "--end", "0.37")
    assert r.returncode == 0, r.stderr
    assert trl.read(tmp_path / "t.trl")[0].shape == (2, 6, 10)
    r = run_cli("crop", a, "-o", tmp_path / "c.trl", "--left", "8", "--width", "16", "--height", "16")
    assert r.returncode == 0, r.stderr
    assert trl.read(tmp_path / "c.trl")[1]["size"] == [16, 16]
    r = run_cli("cat", a, tmp_path / "t.trl", a, "-o", tmp_path / "aa.trl")
    assert r.returncode == 0, r.stderr
    assert trl.read(tmp_path / "aa.trl")[0].shape == (20, 6, 10)
    out = tmp_path / "ab.trl"
    assert_clean_failure(run_cli("cat", a, b, "-o", out), out, "size")
    assert_clean_failure(run_cli("trim", a, "-o", out, "--start", "9"), out, "keeps no latent frame")
    assert_clean_failure(run_cli("crop", a, "-o", a, "--width", "8"), None, "destroy the input")


# ---------------------------------------------------------------- through the decoder
def test_end_cuts_decode_exactly(docs_folder):
    """The decoder is causal: the frames before a cut decode as in the untouched clip (docs/api.md)."""
    editor = tokenreel.Editor("onnx", docs_folder / "build", "int8")
    clip = editor.encode(docs_folder / "holiday.mp4")
    whole = np.stack(list(clip.frames()))
    head = clip.trim(end=17 / clip.fps)
    assert head.grid[0] == 5 and (np.stack(list(head.frames())) == whole[:17]).all()
    joined = np.stack(list(head.cat(clip).frames()))
    assert len(joined) == 17 + 4 + HOLIDAY_FRAMES - 1 and (joined[:17] == whole[:17]).all()
    tail = np.stack(list(clip.trim(start=8 / clip.fps).frames()))
    assert len(tail) == HOLIDAY_FRAMES - 8 and np.abs(tail.astype(int) - whole[8:]).max() > 1   # the state differs


def test_model_edits_refuse_another_tokenizer(docs_folder, tmp_path):
    clip = synthetic(sha="b" * 64)
    editor = tokenreel.Editor("onnx", docs_folder / "build", "int8")
    clip.editor = editor
    for edit in (lambda: clip.reframe("9:16"), lambda: clip.extend(seconds=1), lambda: clip.render(tmp_path / "x.mp4")):
        with pytest.raises(tokenreel.UserError, match="made by tokenizer"):
            edit()
    assert not (tmp_path / "x.mp4").exists()
