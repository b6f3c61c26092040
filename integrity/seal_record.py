"""The seal record: its fields, the text that is hashed and signed, and its row in the chain.

The signed text (format ``auditlens-seal-v1`` or ``-v2``) is one ``name=value`` line per
field of `canonical_seal_text`, in that order; ``seal_hash`` is SHA-256 of that text and the
next seal carries it as ``prev_seal_hash`` (the first seal carries 32 zero bytes).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from integrity.canonical import format_time
from integrity.seal_formats import SEAL_FORMAT, SEAL_FORMAT_V1
from sql.gateway import ScopedSession

ZERO_HASH = bytes(32)
_UNSIGNED = ("seal_hash", "signature", "format")  # the format is the text's first line
_XID_FIELDS = ("xid_from", "xid_to")


@dataclass(frozen=True)
class Seal:
    """One signed seal; `canonical()` is the exact text that is hashed and signed."""

    organization_id: str
    seal_seq: int
    sealed_at: datetime
    prev_seal_hash: bytes
    xid_from: int
    xid_to: int
    event_count: int
    merkle_root: bytes
    index_digest: bytes
    first_ingest_seq: int | None
    last_ingest_seq: int | None
    oldest_event: datetime | None
    newest_event: datetime | None
    key_id: str
    seal_hash: bytes
    signature: bytes
    format: str = SEAL_FORMAT

    def canonical(self) -> bytes:
        signed = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _UNSIGNED}
        return canonical_seal_text(**signed, fmt=self.format)

    def computed_hash(self) -> bytes:
        return hashlib.sha256(self.canonical()).digest()

    def to_json(self) -> dict[str, Any]:
        """A JSON object (seal files, export proofs): hashes hex, signature base64."""
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if isinstance(value, bytes):
                out[name] = base64.b64encode(value).decode() if name == "signature" else value.hex()
            elif isinstance(value, datetime):
                out[name] = format_time(value)
            else:
                out[name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Seal:
        """The inverse of `to_json`; raises ValueError naming the bad field."""
        try:
            return cls(
                organization_id=str(data["organization_id"]),
                seal_seq=int(data["seal_seq"]),
                sealed_at=_parse_time(data["sealed_at"]),
                prev_seal_hash=bytes.fromhex(data["prev_seal_hash"]),
                xid_from=int(data["xid_from"]),
                xid_to=int(data["xid_to"]),
                event_count=int(data["event_count"]),
                merkle_root=bytes.fromhex(data["merkle_root"]),
                index_digest=bytes.fromhex(data["index_digest"]),
                first_ingest_seq=_opt_int(data.get("first_ingest_seq")),
                last_ingest_seq=_opt_int(data.get("last_ingest_seq")),
                oldest_event=_opt_time(data.get("oldest_event")),
                newest_event=_opt_time(data.get("newest_event")),
                key_id=str(data["key_id"]),
                seal_hash=bytes.fromhex(data["seal_hash"]),
                signature=base64.b64decode(data["signature"], validate=True),
                format=str(data.get("format", SEAL_FORMAT_V1)),
            )
        except KeyError as exc:
            raise ValueError(f"seal is missing field {exc.args[0]}") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"seal has a malformed field: {exc}") from None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Seal:
        return cls(
            organization_id=row["organization_id"],
            seal_seq=int(row["seal_seq"]),
            sealed_at=row["sealed_at"],
            prev_seal_hash=bytes(row["prev_seal_hash"]),
            xid_from=int(row["xid_from"]),
            xid_to=int(row["xid_to"]),
            event_count=int(row["event_count"]),
            merkle_root=bytes(row["merkle_root"]),
            index_digest=bytes(row["index_digest"]),
            first_ingest_seq=_opt_int(row["first_ingest_seq"]),
            last_ingest_seq=_opt_int(row["last_ingest_seq"]),
            oldest_event=row["oldest_event"],
            newest_event=row["newest_event"],
            key_id=row["key_id"],
            seal_hash=bytes(row["seal_hash"]),
            signature=bytes(row["signature"]),
            format=row["format"],
        )


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _opt_time(value: Any) -> datetime | None:
    return None if value is None else _parse_time(str(value))


def canonical_seal_text(
    *,
    organization_id: str,
    seal_seq: int,
    sealed_at: datetime,
    prev_seal_hash: bytes,
    xid_from: int,
    xid_to: int,
    event_count: int,
    merkle_root: bytes,
    index_digest: bytes,
    first_ingest_seq: int | None,
    last_ingest_seq: int | None,
    oldest_event: datetime | None,
    newest_event: datetime | None,
    key_id: str,
    fmt: str = SEAL_FORMAT,
) -> bytes:
    """The signed text: the format name, then ``name=value`` lines (hashes lower-case hex,
    times as in the event format, integers decimal, a missing value as ``-``)."""

    def t(v: datetime | None) -> str:
        return "-" if v is None else format_time(v)

    def i(v: int | None) -> str:
        return "-" if v is None else str(v)

    lines = [
        fmt,
        f"organization_id={organization_id}",
        f"seal_seq={seal_seq}",
        f"sealed_at={t(sealed_at)}",
        f"prev_seal_hash={prev_seal_hash.hex()}",
        f"xid_from={xid_from}",
        f"xid_to={xid_to}",
        f"event_count={event_count}",
        f"merkle_root={merkle_root.hex()}",
        f"index_digest={index_digest.hex()}",
        f"first_ingest_seq={i(first_ingest_seq)}",
        f"last_ingest_seq={i(last_ingest_seq)}",
        f"oldest_event={t(oldest_event)}",
        f"newest_event={t(newest_event)}",
        f"key_id={key_id}",
    ]
    return ("\n".join(lines) + "\n").encode()


def last_seal(session: ScopedSession, org: str) -> Seal | None:
    """The head of `org`'s chain, or None before its first seal."""
    result = session.execute(
        "SELECT * FROM audit_seals WHERE organization_id = :org ORDER BY seal_seq DESC LIMIT 1",
        {"org": org},
    )
    return Seal.from_row(result.dicts()[0]) if result.rows else None


def insert_seal(session: ScopedSession, seal: Seal) -> None:
    """Append `seal` to its organisation's chain."""
    values = {k: (str(v) if k in _XID_FIELDS else v) for k, v in asdict(seal).items()}
    columns = ", ".join(values)
    placeholders = ", ".join(f"CAST(:{k} AS xid8)" if k in _XID_FIELDS else f":{k}" for k in values)
    session.execute(
        f"INSERT INTO audit_seals ({columns}) VALUES ({placeholders})",  # noqa: S608 - fixed names
        values,
    )
