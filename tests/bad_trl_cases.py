"""The hostile `.trl` files every reader must refuse, written once for the three of them: tokenreel/runtime/trl.py
(tests/test_bad_trl.py), the Kotlin port (android_demo/core, TrlTest) and the Swift one (ios_demo/TokenreelKit,
TrlGoldenTests). Each is a small change to the spec cases of tokenreel/runtime/spec_cases.py, one fault each, with
the file checksum made right again where the fault is not the checksum itself (what a careless or hostile
writer produces). tests/golden/bad-trl/index.json says, per file, what is wrong, its class (the check of
docs/trl-format.md, "Limits for readers (all ports)", that refuses it), a fragment every reader's one-line
error contains and, for a version-2 file, what a partial read recovers ("partial": the complete chunks before
the fault and why it stopped, as trl.read(path, partial=True) says; null where it refuses the file too).

    .venv/bin/python tests/bad_trl_cases.py          # rewrite tests/golden/bad-trl (when a case is added)
"""
import json
import struct
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from tokenreel.errors import UserError  # noqa: E402
from tokenreel.runtime import spec_cases, trl  # noqa: E402

FOLDER = ROOT / "tests/golden/bad-trl"
ANS, ZSTD, WAVE = (spec_cases.trl_cases()[f"tokens-{c}.trl"] for c in ("ans-ctx", "zstd", "ans-wave"))
V2 = trl.pack_stream(spec_cases.trl_tokens(), spec_cases.TRL_META, None, 2)     # tests/golden/tokens-v2.trl: 2 chunks


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


def v2_records(data):
    """[(kind, start, end)] of a version-2 file's records (the header's, then every chunk's; end: after its
    crc32), as far as the file goes."""
    hend = 12 + struct.unpack_from("<I", data, 8)[0] + 4
    out, at = [("H", 0, hend)], hend
    while at + trl._CHUNK.size <= len(data):
        kind = data[at:at + 1]
        end = at + trl._CHUNK.size + (trl._CHUNK.unpack_from(data, at)[-1] if kind == b"F" else 0) + 4
        out.append((kind.decode("latin-1"), at, end))
        at = end
    return out


def resealed(data):
    """A version-2 file with every crc32 made right again (each the CRC-32 of all the bytes before it)."""
    out = bytearray(data)
    for _, _, end in v2_records(out):
        if end <= len(out):
            out[end - 4:end] = struct.pack("<I", zlib.crc32(bytes(out[:end - 4])))
    return bytes(out)


def v2_patched(data, record, offset, value):
    """`data` with the bytes at `offset` of its record `record` (0: the file header, 1: the first chunk, ...)
    replaced by `value`, the checksums made right again."""
    out = bytearray(data)
    at = v2_records(data)[record][1] + offset
    out[at:at + len(value)] = value
    return resealed(bytes(out))


def v2_header(data, drop=(), **fields):
    """A version-2 file with header fields set (or dropped), the chunks kept, the checksums made right."""
    (hlen,) = struct.unpack_from("<I", data, 8)
    header = json.loads(data[12:12 + hlen])
    header.update(fields)
    for k in drop:
        header.pop(k)
    hb = json.dumps(header, sort_keys=True).encode()
    return resealed(data[:8] + struct.pack("<I", len(hb)) + hb + data[12 + hlen:])


def v2_flipped(data, record, offset):
    """A bit flipped at `offset` of a record, its checksum left as it was."""
    out = bytearray(data)
    out[v2_records(data)[record][1] + offset] ^= 0x10
    return bytes(out)


def v2_budget():
    """1 x 1 tokens of 1 bit: a real ans-wave chunk of 500 latent frames (999 waves, within its own bound), then
    one that claims 500 more with a 4-byte payload: within the bound alone (999 <= 4 + 1024), over it summed with
    the first (1998 waves for a few bytes), so refused before it is decoded."""
    w = trl.TrlWriter(None, dict(spec_cases.TRL_META, bits=1, frames=1997, size=[8, 8]), "ans-wave", 500)
    w.append(np.zeros((500, 1, 1), np.int32), 1997)
    w.close()
    first = w.data[:v2_records(w.data)[1][2]]
    return resealed(first + trl._CHUNK.pack(b"F", 1, 500, 2000, 0, 4) + b"\1\0\0\0" + b"\0" * 4)


def v2_payload(data, record, payload):
    """A version-2 file with a chunk's payload replaced (payload_len too), the checksums made right."""
    _, start, end = v2_records(data)[record]
    head = bytearray(data[start:start + trl._CHUNK.size])
    head[12:16] = struct.pack("<I", len(payload))
    return resealed(data[:start] + bytes(head) + payload + b"\0" * 4 + data[end:])


def other_payload(coder="ans-ctx"):
    """The `coder` payload of another grid of the golden shape: decodes, but not to the golden header's planes."""
    tokens = spec_cases.trl_tokens() ^ 1
    return parts(trl.pack(tokens, spec_cases.TRL_META, coder))[1]


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
    raw = trl.pack_planes(spec_cases.trl_tokens(), 18)
    unsized = zstandard.ZstdCompressor(level=19, write_content_size=False).compress(raw)
    out = {
        # the container
        "magic.trl": (b"RIFF" + ANS[4:], "magic", "the magic bytes are RIFF", "wrong magic"),
        "short.trl": (ANS[:20], "magic", "20 bytes: shorter than any .trl (24)", "wrong magic"),
        "version-3.trl": (with_crc(ANS[:4] + b"\x03" + ANS[5:-4]), "version", "version byte 3",
                          "version 3 is not supported"),
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
        # version 2 (tokens-v2.trl: a file header, 2 ans-wave chunks, an end chunk): every record checked before it
        # is used; a strict read refuses what a partial read recovers (index.json's "partial")
        "v2-header-checksum.trl": (v2_flipped(V2, 0, 40), "v2-header", "a bit flipped in the file header",
                                   "truncated or corrupt version 2 header"),
        "v2-header-cut.trl": (V2[:100], "v2-header", "cut inside the file header (nothing to recover)",
                              "truncated or corrupt version 2 header"),
        "v2-header-grid-hw.trl": (v2_header(V2, drop=["grid_hw"]), "header-schema", "no grid_hw",
                                  "header lacks grid_hw"),
        "v2-header-grid-hw-range.trl": (v2_header(V2, grid_hw=[6, 1025]), "header-schema", "grid_hw [6, 1025]",
                                        "header field 'grid_hw'"),
        "v2-chunk-checksum.trl": (v2_flipped(V2, 2, 30), "v2-chunk", "a bit flipped in chunk 2's payload",
                                  "chunk 2 is corrupt (checksum)"),
        "v2-chunk-coder.trl": (v2_patched(V2, 1, 1, b"\3"), "v2-chunk", "chunk 1's coder byte is 3",
                               "chunk 1 is corrupt (kind b'F', coder 3, 2 latent frames)"),
        "v2-chunk-kind.trl": (v2_patched(V2, 2, 0, b"\0"), "v2-chunk", "chunk 2's kind byte is 0",
                              "chunk 2 is corrupt (kind b'\\x00', coder 1, 1 latent frames)"),
        "v2-chunk-frames.trl": (v2_patched(V2, 1, 2, struct.pack("<H", 60000)), "ans-cost",
                                "chunk 1 claims 60,000 latent frames (2.9 M tokens) for its 212 bytes",
                                "chunk 1: a 212-byte ans-wave payload cannot hold 60000x6x8 tokens"),
        "v2-chunk-budget.trl": (v2_budget(), "ans-cost",
                                "chunk 2 within the ans-wave bound alone, over it with chunk 1 (1,998 waves)",
                                "chunk 2: a 4-byte ans-wave payload cannot hold 500x1x1 tokens"),
        "v2-chunk-tokens.trl": (v2_patched(v2_header(V2, grid_hw=[1024, 1024], size=[8192, 8192]), 1, 2,
                                           struct.pack("<H", 9)), "limits",
                                "1024 x 1024 token frames, chunk 1 claims 9 of them (over 2^23 tokens)",
                                "chunk 1 takes the file past the limits"),
        "v2-chunk-payload-long.trl": (v2_patched(V2, 1, 12, struct.pack("<I", 10 ** 9)), "limits",
                                      "chunk 1's payload_len is 10^9", "payload is longer than any coder writes"),
        "v2-chunk-planes-crc32.trl": (v2_patched(V2, 2, 8, struct.pack("<I", 12345)), "planes-crc32",
                                      "chunk 2's planes_crc32 is another", "planes_crc32 differs"),
        "v2-chunk-more-frames.trl": (v2_patched(V2, 2, 2, struct.pack("<H", 2)), "ans-end",
                                     "chunk 2 claims 2 latent frames for the payload of 1",
                                     "chunk 2 does not decode (the ans-wave payload holds more than the grid"),
        "v2-chunk-not-at-end.trl": (v2_payload(V2, 2, b"\1\0\0\0" + V2[v2_records(V2)[2][1] + 16:
                                                                         v2_records(V2)[2][2] - 4]), "ans-end",
                                    "a word before chunk 2's payload (the coder's stack bottom)",
                                    "chunk 2 does not decode (the ans-wave payload holds more than the grid"),
        "v2-zstd-declared-size.trl": (v2_patched(trl.pack_stream(spec_cases.trl_tokens(), spec_cases.TRL_META, "zstd", 2), 1,
                                                 2, struct.pack("<H", 3)), "zstd-size",
                                      "a zstd chunk of 2 latent frames (216 bytes of planes) that claims 3",
                                      "declares 216 content size; the grid needs 324 bytes"),
        "v2-end-totals.trl": (v2_patched(V2, 3, 4, struct.pack("<I", 4)), "v2-end", "the end chunk says 4 latent frames",
                              "the end chunk's totals (4 latent frames, 9 frames, 2 chunks) are not the file's"),
        "v2-end-chunks.trl": (v2_patched(V2, 3, 12, struct.pack("<I", 1)), "v2-end", "the end chunk says 1 chunk",
                              "the end chunk's totals (3 latent frames, 9 frames, 1 chunks) are not the file's"),
        "v2-end-checksum.trl": (v2_flipped(V2, 3, 17), "v2-end", "a bit flipped in the end chunk's checksum",
                                "the end chunk is corrupt (checksum)"),
        "v2-end-cut.trl": (V2[:-1], "v2-incomplete", "the end chunk's last byte cut",
                           "incomplete .trl: the end chunk is cut short; 2 complete chunks"),
        "v2-no-end.trl": (V2[:-20], "v2-incomplete", "no end chunk (a writer killed after chunk 2)",
                          "incomplete .trl: the file ends without an end chunk"),
        "v2-cut-in-chunk.trl": (V2[:v2_records(V2)[2][1] + 50], "v2-incomplete", "cut inside chunk 2's payload",
                                "incomplete .trl: the file ends in chunk 2; 1 complete chunk (2 latent frames, "
                                "5 frames)"),
        "v2-after-end.trl": (V2 + b"\0", "trailing", "a byte after the end chunk", "bytes after the end chunk"),
    }
    return out


def partial_read(data):
    """What a partial read recovers: {"chunks", "stopped"} (stopped null: the file is complete), or None when it
    refuses the file too (a version-1 file, a version-2 file whose own header is bad)."""
    try:
        _, header = trl.unpack(data, partial=True)
    except UserError:
        return None
    return {"chunks": header["chunks"], "stopped": header.get("stopped")}


def write(folder=FOLDER):
    """Write the files and index.json; -> the index."""
    folder.mkdir(parents=True, exist_ok=True)
    index = {}
    for name, (data, klass, wrong, error) in sorted(cases().items()):
        (folder / name).write_bytes(data)
        index[name] = {"class": klass, "wrong": wrong, "error": error, "partial": partial_read(data)}
    (folder / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    return index


if __name__ == "__main__":
    print(f"{len(write())} files in {FOLDER.relative_to(ROOT)}")
