"""geometry.start_calls cases for the ports' manifest tests, with what Python's check_manifest says of each
(its exact one-line error, or the start_calls it accepts); tests/test_manifest.py checks the committed file.

    .venv/bin/python tests/manifest_cases.py tests/golden/manifest-start-calls.json
"""
import json
import sys

from tokenreel.errors import UserError, load_json
from tokenreel.runtime.manifest import check_manifest

BASE = ('{"schema_version": 1,\n'
        ' "geometry": {"bits": 18, "spatial": 8, "group": 4, "frame_size": [224, 128]__START_CALLS__},\n'
        ' "weights": {"tokenizer": {"id": "tok-v2", "sha256": "' + "ab" * 32 + '"}},\n'
        ' "sampler": "tokenreel-sampler-v1", "artifacts": {}}\n')
VALUES = [None, '{"encoder_step": 6, "decoder_step": 10}', '{"encoder_step": 0, "decoder_step": 64}',
          '{"decoder_step": 3, "encoder_step": -0, "transformer": 9}',
          'null', '[6, 10]', '6', '"6"', '{}', '{"encoder_step": 6}', '{"decoder_step": 10}',
          '{"encoder_step": -1, "decoder_step": 10}', '{"encoder_step": 6, "decoder_step": 65}',
          '{"encoder_step": 6.0, "decoder_step": 10}', '{"encoder_step": 6, "decoder_step": 1e1}',
          '{"encoder_step": true, "decoder_step": 10}', '{"encoder_step": "6", "decoder_step": 10}',
          '{"encoder_step": null, "decoder_step": 10}', '{"encoder_step": 6, "decoder_step": [10]}',
          '{"encoder_step": 100000000000000000000000, "decoder_step": 10}',
          '{"encoder_step": 99, "decoder_step": -5}']


def case(value):
    extra = "" if value is None else f', "start_calls": {value}'
    m = load_json(BASE.replace("__START_CALLS__", extra).encode(), 16)
    try:
        g = check_manifest(m)["geometry"]
    except UserError as e:
        return {"geometry_extra": extra, "error": str(e)}
    calls = g.get("start_calls")
    return {"geometry_extra": extra, "error": None,
            "start_calls": None if calls is None else {k: calls[k] for k in ("encoder_step", "decoder_step")}}


def start_calls_cases():
    return {"about": "geometry.start_calls cases (docs/export.md): the manifest is `manifest` with __START_CALLS__ "
                     "replaced by a case's `geometry_extra`; `error` is the one-line error tokenreel/runtime/manifest.py "
                     "check_manifest gives it (where = manifest.json), else `start_calls` is what it reads (null: "
                     "absent, no warm-up calls). Written from Python's check_manifest; read by the Kotlin and Swift "
                     "ports' manifest tests.",
            "manifest": BASE, "cases": [case(v) for v in VALUES]}


def text():
    return json.dumps(start_calls_cases(), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    open(sys.argv[1], "w").write(text())
