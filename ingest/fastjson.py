"""JSON decoding for the hot paths: orjson when it gives exactly what `json.loads` gives,
`json.loads` otherwise, so every accept/reject decision and every message stays the stdlib's.

orjson is several times faster, but differs from `json.loads` in a few places: it refuses
NaN/Infinity literals, numbers that overflow a double, lone surrogates, a UTF-8 BOM and other
encodings (all of which `json.loads` reads), and it turns integers beyond 64 bits into floats
(which would change the number). Anything orjson refuses is handed to `json.loads`, which
then accepts it or raises its own error; a line holding a run of 19 or more digits (an
integer that might not fit in 64 bits) goes to `json.loads` directly. A property test
(tests/ingest/test_fastjson.py) checks the two agree value for value.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Every digit becomes "0" and everything else a space, so a run of 19 digits is a plain
# substring search (much faster than a regex over each line).
_DIGITS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_RUN = b"0" * 19


def loads(data: bytes) -> Any:
    """Decode one JSON document from bytes, exactly as `json.loads(data)` would."""
    if _RUN not in data.translate(_DIGITS):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)
