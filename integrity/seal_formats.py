"""Seal formats: which canonical event format a seal's leaves hash, and how its entries
store each event's retention guarantee. A seal names its format; old formats stay readable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from integrity.canonical import FORMAT as EVENT_FORMAT_V1
from integrity.canonical import FORMAT_V2 as EVENT_FORMAT_V2
from integrity.canonical import PG_EPOCH

SEAL_FORMAT_V1 = "auditlens-seal-v1"
SEAL_FORMAT_V2 = "auditlens-seal-v2"
SEAL_FORMAT = SEAL_FORMAT_V2  # what new seals are written in
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SealFormat:
    """What a seal format fixes: its events' canonical format and how entries store the
    retention guarantee (v1: µs since 1970 through a numeric; v2: PostgreSQL's binary
    timestamp, µs since 2000, which costs nothing to produce)."""

    name: str
    event_format: str
    guarantee_epoch: datetime
    guarantee_sql: str


SEAL_FORMATS: dict[str, SealFormat] = {
    SEAL_FORMAT_V1: SealFormat(
        SEAL_FORMAT_V1,
        EVENT_FORMAT_V1,
        _EPOCH,
        "int8send((extract(epoch FROM e.retention_guaranteed_until) * 1000000)::bigint)",
    ),
    SEAL_FORMAT_V2: SealFormat(
        SEAL_FORMAT_V2,
        EVENT_FORMAT_V2,
        PG_EPOCH,
        "timestamptz_send(e.retention_guaranteed_until)",
    ),
}


def seal_format(name: str) -> SealFormat:
    """The format a seal names; ValueError for one this version does not know."""
    try:
        return SEAL_FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown seal format {name!r}") from None


def from_micros(value: int, fmt: str = SEAL_FORMAT_V1) -> datetime:
    """The retention guarantee an entry of seal format `fmt` stores as `value`."""
    return seal_format(fmt).guarantee_epoch + timedelta(microseconds=value)
