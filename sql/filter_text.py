"""How an `EventFilter` is written back as words and as query text: quoting that reads back
to the same term, and times in the syntax's own forms (a range's end inclusive)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, time, timedelta

SEPARATORS = frozenset(" \t\r\n")
ONE_MICROSECOND = timedelta(microseconds=1)
ONE_DAY = timedelta(days=1)


def or_list(values: Iterable[str]) -> str:
    quoted = [json.dumps(v, ensure_ascii=False) for v in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def words_time(moment: datetime) -> str:
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + " UTC"


def _needs_quotes(value: str, *, qualifier: bool) -> bool:
    if any(c in SEPARATORS or c in '"\\' for c in value):
        return True
    if qualifier:
        return False
    # A bare text term must not read as a qualifier, a quoted string or a negation.
    return ":" in value or value.startswith("-")


def quote_term(value: str, *, qualifier: bool) -> str:
    if not _needs_quotes(value, qualifier=qualifier):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _is_midnight(moment: datetime) -> bool:
    return moment.timetz().replace(tzinfo=None) == time(0)


def _moment_text(moment: datetime) -> str:
    if _is_midnight(moment):
        return moment.date().isoformat()
    spec = "microseconds" if moment.microsecond else "seconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _end_text(end: datetime) -> str:
    """An exclusive end written as the inclusive end the syntax uses."""
    if _is_midnight(end):
        return (end - ONE_DAY).date().isoformat()
    last = end - ONE_MICROSECOND
    spec = "microseconds" if last.microsecond else "seconds"
    return last.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def created_query(start: datetime | None, end: datetime | None) -> str:
    if start is not None and end is not None:
        return f"{_moment_text(start)}..{_end_text(end)}"
    if start is not None:
        return f">={_moment_text(start)}"
    if end is not None:
        return f"<={_end_text(end)}"
    return ""
