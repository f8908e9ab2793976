"""The hostile `.trl` files every reader must refuse, written once for the three of them: tokenreel/runtime/trl.py
(tests/test_bad_trl.py), the Kotlin port (android_demo/core, TrlTest) and the Swift one (ios_demo/TokenreelKit,
TrlGoldenTests). Each is a small change to the golden files of tokenreel/runtime/golden.py, one fault each, with
the file checksum made right again where the fault is not the checksum itself (what a careless or hostile
writer produces). tests/golden/bad-trl/index.json says, per file, what is wrong, its class (the check of
docs/trl-format.md, "Limits for readers (all ports)", that refuses it) and a fragment every reader's one-line
error contains.

    .venv/bin/python tests/bad_trl_cases.py          # rewrite tests/golden/bad-trl (when a case is added)
"""
import json
import struct
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tokenreel.runtime import golden, trl  # noqa: E402

FOLDER = ROOT / "tests/golden/bad-trl"
ANS, ZSTD, WAVE = (golden.trl_cases()[f"tokens-{c}.trl"] for c in ("ans-ctx", "zstd", "ans-wave"))


def parts(data):
    """A .trl's (header dict, payload bytes)."""
    (hlen,) = struct.unpack_from("<I", data, 8)
    return json.loads(data[12:12 + hlen]), data[12 + hlen + 8:-4]


def container(header, payload, version=1):
    """A file around `header` (a dict, written as the writer writes it, or raw bytes) with a right checksum."""
    hb = header if isinstance(header, bytes) else json.dumps(header, sort_keys=True).encode()
    body = trl.MAGIC + struct.pack("<BBHI", version, 0, 0, len(hb)) + hb + struct.pack("<Q", len(payload)) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def with_crc(body):
    """`body` (a file less its checksum) with its checksum."""
    return body + struct.pack("<I", zlib.crc32(body))


def edited(base, drop=(), **fields):
    """`base` with header fields set (or dropped), the payload kept."""
    header, payload = parts(base)
    header.update(fields)
    for k in drop:
        header.pop(k)
    return container(header, payload)


def raw_header(base, text):
    """`base` with the header's JSON text replaced by `text` (bytes)."""
    return container(text, parts(base)[1])


def other_payload(coder="ans-ctx"):
    """The `coder` payload of another grid of the golden shape: decodes, but not to the golden header's planes."""
    tokens = golden.trl_tokens() ^ 1
    return parts(trl.pack(tokens, golden.TRL_META, coder))[1]


def cases():
    """name -> (bytes, class, what is wrong, a fragment of every reader's error)."""
    header, ans_payload = parts(ANS)
    wave_header, wave_payload = parts(WAVE)
    unbound = {k: v for k, v in header.items() if k != "planes_crc32"}
    zstd_payload = parts(ZSTD)[1]
    flipped = bytearray(ANS)
    flipped[len(ANS) // 2] ^= 0x10
    deep = b"[" * 9 + b"]" * 9
    import zstandard
    raw = trl.pack_planes(golden.trl_tokens(), 18)
    unsized = zstandard.ZstdCompressor(level=19, write_content_size=False).compress(raw)
    out = {
        # the container
        "magic.trl": (b"RIFF" + ANS[4:], "magic", "the magic bytes are RIFF", "wrong magic"),
        "short.trl": (ANS[:20], "magic", "20 bytes: shorter than any .trl (24)", "wrong magic"),
        "version-2.trl": (with_crc(ANS[:4] + b"\x02" + ANS[5:-4]), "version", "version byte 2", "version 2"),
        "truncated-header.trl": (ANS[:60], "truncated", "cut inside the header", "truncated or corrupt header"),
        "header-length-huge.trl": (with_crc(ANS[:8] + struct.pack("<I", 0xFFFFFFFF) + ANS[12:-4]), "truncated",
                                   "header_len 2^32 - 1", "truncated or corrupt header"),
        "checksum.trl": (bytes(flipped), "checksum", "one bit flipped in the middle", "checksum mismatch"),
        "truncated.trl": (ANS[:len(ANS) * 2 // 3], "checksum", "cut at two thirds", "checksum mismatch"),
        "trailing-garbage.trl": (ANS + b"\0garbage", "checksum", "8 bytes after the checksum",
                                 "checksum mismatch"),
        "trailing-garbage-crc.trl": (with_crc(ANS[:-4] + b"garbage!"), "trailing",
                                     "8 bytes between the payload and a fresh checksum",
                                     "payload length does not match the file size"),
        # the header's JSON
        "header-not-json.trl": (raw_header(ANS, b"{\"grid\": [3, 6, 8"), "header-json", "the header is not JSON",
                                "corrupt header"),
        "header-not-object.trl": (raw_header(ANS, b"[3, 6, 8]"), "header-json", "the header is a JSON list",
                                  "corrupt header"),
        "header-deep.trl": (edited(ANS, extra=json.loads(deep)), "header-json",
                            "an extra field nested 10 deep (the limit is 8)", "corrupt header"),
        "header-very-deep.trl": (raw_header(ANS, b"[" * 5000 + b"]" * 5000), "header-json",
                                 "a header of 5,000 nested lists", "corrupt header"),
        "header-infinity.trl": (raw_header(ANS, json.dumps(dict(header, fps=float("inf")), sort_keys=True).encode()),
                                "header-json", "fps is Infinity (not JSON)", "corrupt header"),
        "header-1e999.trl": (raw_header(ANS, json.dumps(header, sort_keys=True).replace("25.0", "1e999").encode()),
                             "header-json", "fps is 1e999 (a number no double holds)", "corrupt header"),
        "header-repeated-key.trl": (raw_header(ANS, json.dumps(header, sort_keys=True).replace(
                                        '{"bits": 18', '{"bits": 18, "bits": 18').encode()),
                                    "header-json", "the key bits twice", "corrupt header"),
        "header-bad-utf8.trl": (raw_header(ANS, json.dumps(header, sort_keys=True).encode().replace(
                                    b'"golden"', b'"gold\xffen"')), "header-json",
                                "the tokenizer name is not UTF-8", "corrupt header"),
        # the header's fields (check_header's schema)
        "missing-coder.trl": (edited(ANS, drop=["coder"]), "header-schema", "no coder", "header lacks coder"),
        "coder-list.trl": (edited(ANS, coder=["ans-ctx"]), "header-schema", "coder is a list",
                           "header field 'coder'"),
        "coder-unknown.trl": (edited(ANS, coder="lzma"), "header-schema", "coder lzma", "header field 'coder'"),
        "frames-string.trl": (edited(ANS, frames="9"), "header-schema", "frames is a string",
                              "header field 'frames'"),
        "bits-float.trl": (edited(ANS, bits=18.0), "header-schema", "bits is 18.0, a float",
                           "header field 'bits'"),
        "bits-range.trl": (edited(ANS, bits=25), "header-schema", "bits 25 (at most 24)", "header field 'bits'"),
        "grid-bool.trl": (edited(ANS, grid=[True, 6, 8]), "header-schema", "T is true",
                          "header field 'grid'"),
        "grid-side.trl": (edited(ANS, grid=[1, 2048, 4]), "header-schema", "H 2048 (at most 1024)",
                          "header field 'grid'"),
        "grid-tokens.trl": (edited(ANS, grid=[9, 1024, 1024]), "header-schema",
                            "9x1024x1024: over the 2^23-token limit", "header field 'grid'"),
        "grid-huge-int.trl": (edited(ANS, grid=[2 ** 70, 6, 8]), "header-schema", "T is 2^70",
                              "header field 'grid'"),
        "sha256-short.trl": (edited(ANS, tokenizer_sha256="ab"), "header-schema", "tokenizer_sha256 is 2 digits",
                             "header field 'tokenizer_sha256'"),
        "tokenizer-long.trl": (edited(ANS, tokenizer="t" * 257), "header-schema", "a tokenizer of 257 characters",
                               "header field 'tokenizer'"),
        "fps-zero.trl": (edited(ANS, fps=0), "header-schema", "fps 0", "header field 'fps'"),
        "size-negative.trl": (edited(ANS, size=[-64, 48]), "header-schema", "a negative width",
                              "header field 'size'"),
        "planes-crc32-negative.trl": (edited(ANS, planes_crc32=-1), "header-schema", "planes_crc32 -1",
                                      "header field 'planes_crc32'"),
        # the payload must justify the grid before it is decoded, and decode to exactly it
        "payload-too-long.trl": (container(dict(unbound, grid=[1, 1, 1], bits=1), b"\1\0\0\0" * 1100), "limits",
                                 "4400 payload bytes for one 1-bit token", "longer than any coder writes"),
        "zstd-declared-size.trl": (edited(ZSTD, drop=["planes_crc32"], grid=[2, 6, 8]), "zstd-size",
                                   "a frame of 324 bytes under a grid that packs to 216", "declares 324 content size"),
        "zstd-no-size.trl": (container(parts(ZSTD)[0], unsized), "zstd-size",
                             "a frame that does not declare its content size",
                             "content size; the grid needs 324 bytes"),
        "zstd-trailing.trl": (container(parts(ZSTD)[0], zstd_payload + b"\0\0\0"), "zstd-size",
                              "3 bytes after the Zstandard frame", "payload does not decode"),
        "ans-too-short.trl": (edited(ANS, drop=["planes_crc32"], grid=[6, 64, 64]), "ans-cost",
                              "304 payload bytes for 24,576 tokens (over 16 a byte beyond 16,384)",
                              "ans-ctx payload cannot hold"),
        "ans-not-at-end.trl": (edited(ANS, drop=["planes_crc32"], grid=[2, 6, 8]), "ans-end",
                               "the 3-frame payload under a 2-frame grid", "holds more than the grid"),
        "ans-extra-words.trl": (container(header, b"\1\0\0\0" * 2 + ans_payload), "ans-end",
                                "two words before the payload (the coder's stack bottom)",
                                "holds more than the grid"),
        "ans-odd-length.trl": (container(header, ans_payload + b"\1"), "ans-end",
                               "a payload that is not whole 32-bit words", "payload does not decode"),
        "ans-runs-out.trl": (edited(ANS, grid=[4, 6, 8]), "planes-crc32",
                             "the 3-frame payload under a 4-frame grid (the coder empties early)",
                             "planes_crc32 differs"),
        "planes-crc32.trl": (container(header, other_payload()), "planes-crc32",
                             "another grid's payload under this header", "planes_crc32 differs"),
        # ans-wave: both cost bounds before decoding (tokens, and waves: one coder call each), the same ends
        "ans-wave-too-short.trl": (edited(WAVE, drop=["planes_crc32"], grid=[6, 64, 64]), "ans-cost",
                                   "308 payload bytes for 24,576 tokens (over 16 a byte beyond 16,384)",
                                   "ans-wave payload cannot hold"),
        "ans-wave-waves.trl": (edited(WAVE, drop=["planes_crc32"], grid=[1000, 1, 1]), "ans-cost",
                               "308 payload bytes for 1,999 waves (over 1 a byte beyond 1,024; its 1,000 tokens "
                               "are within the token bound)", "ans-wave payload cannot hold"),
        "ans-wave-not-at-end.trl": (edited(WAVE, drop=["planes_crc32"], grid=[2, 6, 8]), "ans-end",
                                    "the 3-frame payload under a 2-frame grid", "holds more than the grid"),
        "ans-wave-extra-words.trl": (container(wave_header, b"\1\0\0\0" * 2 + wave_payload), "ans-end",
                                     "two words before the payload (the coder's stack bottom)",
                                     "holds more than the grid"),
        "ans-wave-zero-word.trl": (container(wave_header, wave_payload + b"\0" * 4), "ans-end",
                                   "a zero word after the payload (the stack's top; no coder ends in one)",
                                   "payload does not decode"),
        "ans-wave-planes-crc32.trl": (container(wave_header, other_payload("ans-wave")), "planes-crc32",
                                      "another grid's ans-wave payload under this header", "planes_crc32 differs"),
    }
    return out


def write(folder=FOLDER):
    """Write the files and index.json; -> the index."""
    folder.mkdir(parents=True, exist_ok=True)
    index = {}
    for name, (data, klass, wrong, error) in sorted(cases().items()):
        (folder / name).write_bytes(data)
        index[name] = {"class": klass, "wrong": wrong, "error": error}
    (folder / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    return index


if __name__ == "__main__":
    print(f"{len(write())} files in {FOLDER.relative_to(ROOT)}")
