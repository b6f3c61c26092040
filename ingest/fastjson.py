"""JSON decoding for the hot paths: orjson when it gives exactly what `json.loads` gives,
`json.loads` otherwise, so every accept/reject decision and every message stays the stdlib's.

orjson is several times faster, but differs from `json.loads` in a few places: it refuses
NaN/Infinity literals, numbers that overflow a double, lone surrogates, a UTF-8 BOM and other
encodings (all of which `json.loads` reads), and it turns integers beyond 64 bits into floats
(which would change the number). Anything orjson refuses is handed to `json.loads`, which
then accepts it or raises its own error; a line holding a run of 19 or more digits (an
integer that might not fit in 64 bits) goes to `json.loads` directly. A property test
(tests/ingest/test_fastjson.py) checks the two agree value for value.

One deliberate difference: an integer longer than Python's int-string conversion limit
(4,300 digits by default), which `json.loads` refuses for the whole document, comes back as
a `TooLongNumber`, so the one event holding it is rejected with its field named instead of
the whole body failing.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import orjson

# Every digit becomes "0" and everything else a space, so a run of 19 digits is a plain
# substring search (much faster than a regex over each line).
_DIGITS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_RUN = b"0" * 19


class TooLongNumber:
    """An integer with more digits than Python converts; the event model rejects it."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<{self.digits}-digit number>"


def _parse_int(text: str) -> int | TooLongNumber:
    limit = sys.get_int_max_str_digits()
    digits = len(text) - text.startswith("-")
    if limit and digits > limit:
        return TooLongNumber(digits)
    return int(text)


def loads(data: bytes) -> Any:
    """Decode one JSON document from bytes, as `json.loads(data)` would (but see TooLongNumber)."""
    if _RUN not in data.translate(_DIGITS):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data, parse_int=_parse_int)
