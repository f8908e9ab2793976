"""`eval tokenizer`'s held-still measures, on the shipped tokenizer and a real clip."""
import numpy as np

from tokenreel.eval.tokenizer import boundary_pulse, evaluate, held_still, table
from tokenreel.metrics import motion
from tokenreel.runtime.tokenizing import decode_tokens, encode_frames
from tokenreel.runtime.video import read_video


def test_held_still_measures_what_it_says(backend, bikes):
    frame = read_video(bikes, short_side=64, multiple=8, max_frames=1).frames[0]
    r = held_still(backend, frame, 17, 25.0)
    still = np.repeat(frame[None], 17, axis=0)
    enc = encode_frames(backend, iter(still))
    t = enc.tokens.reshape(len(enc.tokens), -1)
    assert r["still_repeat_first"] == (t[1] == t[0]).mean()
    assert r["still_repeat_min"] == min((a == b).mean() for a, b in zip(t[1:], t[:-1]))
    rec = np.stack(list(decode_tokens(backend, enc.tokens, enc.frames)))
    assert np.isclose(r["still_change_mean"], motion(rec))
    assert r["still_change_max"] >= r["still_change_mean"] > 0 or r["still_change_max"] == 0
    assert 0 < r["still_bpp"]


def test_table_reports_the_still_and_sharpness(backend, bikes):
    rows, summary = evaluate(backend, [bikes], size=64, frames=9, with_codecs=False)
    assert 0 < summary["sharpness"] < 2
    assert summary["still_bpp_share"] == rows[0]["still_bpp"] / rows[0]["bpp"]
    text = table(rows, summary)
    assert "held still" in text and "| bikes.mp4 |" in text


def test_boundary_pulse_sees_a_jump_every_group_and_nothing_in_a_ramp():
    ramp = np.repeat(np.arange(17, dtype=np.uint8)[:, None, None, None] * 3, 4, 1).repeat(4, 2).repeat(3, 3)
    assert boundary_pulse(ramp, 4) == 0
    pulsing = ramp.copy()
    pulsing[1::4] += 10                          # the first frame of every group is off by 10 grey levels
    assert boundary_pulse(pulsing, 4) > 5
