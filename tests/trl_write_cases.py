"""Version-2 .trl files as Python's TrlWriter writes them, for the ports' writers (android_demo/core
TrlWriterTest, ios_demo/TokenreelKit TrlWriterTests), which must write the same bytes: for every case the
tokens, the header fields given, the coder asked for (null: the smaller of ans-wave and zstd a chunk), the
chunk size, the `append` calls ([latent frames, video frames] each, some splitting across chunks), the bytes
written, and `zstd`: the packed planes of every chunk -> Python's Zstandard payload for them (the ports'
tests have no Zstandard compressor: they replay these, so that the writer's choice of coder is tested too).
tests/test_trl_write_cases.py checks that the committed file is what this writes.

    .venv/bin/python tests/trl_write_cases.py        # rewrite tests/golden/trl-write-cases.json
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

from tokenreel.runtime import spec_cases, trl  # noqa: E402
from trl_stream_cases import moving  # noqa: E402

PATH = ROOT / "tests/golden/trl-write-cases.json"


def appends_of(T, frames, chunk):
    """The append calls of trl.write: chunk by chunk, each with the video frames it stands for."""
    return [[min(T, t0 + chunk) - t0, trl._chunk_frames(frames, t0, min(T, t0 + chunk), T)]
            for t0 in range(0, T, chunk)]


def cases():
    """name -> (tokens, meta, coder, chunk_frames, appends, what it is)."""
    tokens, meta = spec_cases.trl_tokens(), spec_cases.TRL_META
    mixed_meta = dict(spec_cases.TRL_META, bits=7, frames=23, size=[40, 24])
    thin_meta = dict(spec_cases.TRL_META, bits=24, frames=18, size=[8, 32])
    mixed, thin = moving(7, 3, 5, 7, 21), moving(6, 4, 1, 24, 22)
    noise = np.random.default_rng(5).integers(0, 1 << 24, (4, 4, 4)).astype(np.int32)
    noise_meta = dict(spec_cases.TRL_META, bits=24, frames=13, size=[32, 32])
    still = np.zeros((600, 1, 1), np.int32)
    still_meta = dict(spec_cases.TRL_META, bits=1, frames=2397, size=[8, 8])
    return {
        "golden": (tokens, meta, None, trl.CHUNK_FRAMES, appends_of(3, 9, trl.CHUNK_FRAMES),
                   "golden.trl_tokens() as trl.write writes it: one chunk"),
        "golden-ans-wave": (tokens, meta, "ans-wave", trl.CHUNK_FRAMES, appends_of(3, 9, trl.CHUNK_FRAMES),
                            "the same, ans-wave asked for (what a port without Zstandard writes)"),
        "tokens-v2": (tokens, meta, None, 2, appends_of(3, 9, 2), "tests/golden/tokens-v2.trl: chunks of 2"),
        "mixed": (mixed, mixed_meta, None, 2, [[3, 9], [1, 4], [3, 10]],
                  "7 x 3 x 5 tokens of 7 bits, 23 frames, chunks of 2 from appends of 3, 1 and 3 latent frames "
                  "(split across chunks, their frames as the format maps them); each chunk's coder the smaller"),
        "thin": (thin, thin_meta, None, 1, appends_of(6, 18, 1),
                 "6 x 4 x 1 tokens of 24 bits, 18 frames, a chunk a latent frame; each chunk's coder the smaller"),
        "noise": (noise, noise_meta, None, 3, [[4, 13]],
                  "4 x 4 x 4 random tokens of 24 bits in one append, chunks of 3: zstd is the smaller for the first"),
        "still": (still, still_meta, None, 300, appends_of(600, 2397, 300),
                  "600 x 1 x 1 zeros of 1 bit, chunks of 300: the second ans-wave chunk would take the file's "
                  "ans-wave chunks past their cost bound (a wave a byte), so it is zstd"),
    }


def written(tokens, meta, coder, chunk, appends):
    w = trl.TrlWriter(None, meta, coder, chunk)
    t = 0
    for n, frames in appends:
        w.append(tokens[t:t + n], frames)
        t += n
    w.close()
    return w.data


def zstd_payloads(tokens, meta, chunk, appends):
    """Packed planes hex -> Python's zstd payload hex for each chunk the writer makes (chunks of `chunk` latent
    frames from the start: the writer's chunks, whatever the appends)."""
    D = meta["bits"]
    return {trl.pack_planes(tokens[t0:t0 + chunk], D).hex(): trl.encode_zstd(tokens[t0:t0 + chunk], D).hex()
            for t0 in range(0, len(tokens), chunk)}


def write_cases():
    out = []
    for name, (tokens, meta, coder, chunk, appends, about) in cases().items():
        data = written(tokens, meta, coder, chunk, appends)
        back, header = trl.unpack(data)
        assert (back == tokens).all(), name
        out.append({"name": name, "about": about, "meta": meta, "coder": coder, "chunk_frames": chunk,
                    "appends": appends, "coders": header["coder"],
                    "tokens": {"shape": list(tokens.shape), "data": tokens.reshape(-1).astype(int).tolist()},
                    "hex": data.hex(), "zstd": zstd_payloads(tokens, meta, chunk, appends)})
    assert bytes.fromhex(out[2]["hex"]) == (ROOT / "tests/golden/tokens-v2.trl").read_bytes()
    return {"about": "Version-2 .trl files written by tokenreel/runtime/trl.py's TrlWriter(None, meta, coder, "
                     "chunk_frames): `append(tokens, frames)` for each of `appends` ([latent frames, video frames]) "
                     "in order, then `close()`, gives the bytes `hex`; `coders`: the chunks' coders. `zstd`: packed "
                     "planes hex -> the Zstandard payload Python writes for them, for test compressors. Written "
                     "by tests/trl_write_cases.py.",
            "files": out}


def text():
    """The cases as JSON, a case on a line of its own."""
    cases = write_cases()
    return '{"about": ' + json.dumps(cases["about"]) + ',\n"files": [\n' + \
        ",\n".join(json.dumps(f) for f in cases["files"]) + "\n]}\n"


if __name__ == "__main__":
    PATH.write_text(text())
    print(f"wrote {PATH.relative_to(ROOT)}")
