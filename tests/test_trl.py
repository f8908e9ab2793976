import struct
import zlib

import numpy as np
import pytest

from tokenreel.errors import UserError
from tokenreel.runtime import trl

META = {"tokenizer": "t", "tokenizer_sha256": "ab" * 32, "bits": 18, "fps": 25.0, "size": [64, 48], "frames": 17}


def grid(seed=0, T=5, H=6, W=8, bits=18):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 2 ** bits, (T, H, W))
    if T > 2:
        tokens[2:, :3] = tokens[1, :3]  # some temporal redundancy, as in real video
    return tokens


@pytest.mark.parametrize("coder", ["zstd", "ans-ctx"])
def test_roundtrip_each_coder(coder):
    tokens = grid()
    data = trl.pack(tokens, META, coder)
    back, header = trl.unpack(data)
    assert (back == tokens).all() and header["coder"] == coder and header["grid"] == [5, 6, 8]


def test_writer_keeps_the_smaller_payload():
    tokens = grid(1)
    sizes = {c: len(trl.pack(tokens, META, c)) for c in trl.CODERS}
    assert len(trl.pack(tokens, META)) == min(sizes.values())


def test_context_model_beats_raw_on_redundant_tokens():
    tokens = np.repeat(grid(2, T=1), 6, axis=0)
    tokens[1:] ^= (np.random.default_rng(3).random(tokens[1:].shape) < 0.05).astype(np.int64)  # a few bit flips
    raw_bits = tokens.size * 18
    assert 8 * trl.payload_length(trl.pack(tokens, META, "ans-ctx")) < 0.5 * raw_bits


def _expect_error(data, words):
    with pytest.raises(UserError, match=words):
        trl.unpack(data, "x.trl")


def test_truncated_and_bit_flipped_files_are_refused():
    data = trl.pack(grid(), META)
    _expect_error(data[: len(data) // 2], "checksum|truncated|length")
    _expect_error(data[:10], "magic|truncated")
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    _expect_error(bytes(flipped), "checksum")
    _expect_error(b"RIFF" + data[4:], "magic")


def _forge(header, payload=b""):
    """A file with a valid checksum around a hostile header: what a bad writer could produce."""
    hb = __import__("json").dumps(header).encode()
    body = trl.MAGIC + struct.pack("<BBHI", 1, 0, 0, len(hb)) + hb + struct.pack("<Q", len(payload)) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def test_header_fields_never_size_an_allocation():
    huge = dict(META, grid=[10 ** 6, 1000, 1000], coder="zstd")
    _expect_error(_forge(huge), "implausible")
    lying = dict(META, grid=[5, 6, 8], coder="zstd")
    _expect_error(_forge(lying, b"\x28\xb5\x2f\xfd" + b"\0" * 20), "payload")
    _expect_error(_forge(dict(META, grid=[5, 6, 8], coder="lzma")), "coder")
    _expect_error(_forge({"grid": [1, 1, 1]}), "lacks")
    newer = bytearray(trl.pack(grid(), META))
    newer[4] = 2
    _expect_error(bytes(newer[:-4]) + struct.pack("<I", zlib.crc32(bytes(newer[:-4]))), "version 2")


def test_atomic_write(tmp_path):
    out = tmp_path / "a.trl"
    trl.write(out, grid(), META)
    assert out.exists() and [p.name for p in tmp_path.iterdir()] == ["a.trl"]
    with pytest.raises(UserError, match="does not exist"):
        trl.write(tmp_path / "missing" / "a.trl", grid(), META)


def test_golden_token_files():
    """The committed .trl files pin both coders byte for byte, for the Kotlin and Swift readers."""
    import json
    from pathlib import Path
    from tokenreel.runtime.golden import trl_cases
    golden = Path(__file__).parent / "golden"
    tokens = np.array(json.loads((golden / "tokens.json").read_text()))
    for name, data in trl_cases().items():
        assert (golden / name).read_bytes() == data, name
        back, header = trl.unpack(data)
        assert (back == tokens).all() and header["coder"] in name
