"""`ingest.fastjson.loads` must give exactly what `json.loads` gives: the same value (types,
float bits, key order) or the same error, for every line a producer can send."""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import fastjson
from tests.ingest.hostile import hostile_events, mostly_valid_events


def same(a: Any, b: Any) -> bool:
    """Strict equality: same types, same float bits (NaN equals NaN), same key order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a.hex() == b.hex()
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def outcome(loads: Any, data: bytes) -> tuple[str, Any]:
    try:
        return "value", loads(data)
    except Exception as exc:  # the error type and message must match too
        return "error", (type(exc), str(exc))


def check(data: bytes) -> None:
    fast, slow = outcome(fastjson.loads, data), outcome(json.loads, data)
    assert fast[0] == slow[0], (data, fast, slow)
    if fast[0] == "value":
        assert same(fast[1], slow[1]), (data, fast, slow)
    else:
        assert fast[1] == slow[1]


def encodings(value: Any) -> st.SearchStrategy[bytes]:
    """The ways a producer may have written `value`: compact or spaced, ASCII-escaped or not."""
    texts = []
    for ascii_only in (True, False):
        for separators in ((",", ":"), (", ", ": ")):
            with contextlib.suppress(ValueError, TypeError, RecursionError):
                texts.append(json.dumps(value, ensure_ascii=ascii_only, separators=separators))
    if not texts:
        return st.just(b"{}")
    return st.sampled_from(texts).map(lambda t: t.encode("utf-8", "surrogatepass"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(hostile_events(), mostly_valid_events()).flatmap(encodings))
def test_hostile_corpus_decodes_as_the_stdlib_does(data: bytes):
    check(data)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=60),
        st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.lists(
            st.sampled_from(
                [
                    b"{",
                    b"}",
                    b"[",
                    b"]",
                    b'"a"',
                    b":",
                    b",",
                    b"1",
                    b"-0",
                    b"1e400",
                    b"NaN",
                    b"Infinity",
                    b"12345678901234567890",
                    b"9223372036854775808",
                    b"1.5e-320",
                    b'"\\ud800"',
                    b'"\\u0000"',
                    b"\xef\xbb\xbf",
                    b" ",
                    b"\x00",
                    b"true",
                    b"null",
                    b"0.1",
                    b"1E5",
                    b'"\xed\xa0\x80"',
                    b'"\xff"',
                ]
            ),
            max_size=12,
        ).map(b"".join),
    )
)
def test_arbitrary_bytes_decode_as_the_stdlib_does(data: bytes):
    check(data)


@pytest.mark.parametrize(
    "data",
    [
        b"99999999999999999999",  # orjson would make this a float
        b'{"n": 18446744073709551616}',
        b'{"n": -9223372036854775809}',
        b'{"a": 1e400}',
        b"NaN",
        b'"\\ud800"',
        b"\xef\xbb\xbf{}",
        b'{"a": 1, "a": 2, "b": 3}',
        b'{"x": 0.30000000000000004, "y": 5e-324, "z": 1.7976931348623157e308}',
        b"[" * 2000 + b"]" * 2000,
        b'{"a": "\xed\xa0\x80"}',
        "\ufeff{}".encode("utf-16"),
    ],
)
def test_known_differences_between_orjson_and_the_stdlib(data: bytes):
    check(data)
