"""The resource catalogue as people use it: every resource of an organisation (described or
only seen in the data) with its level, confirmed or suggested; finding a resource by name;
importing entries from a file. The command line and the dashboard share these.

Suggestions: an undescribed resource gets the level its id's words suggest
(`sql.resource_names`); one whose name says nothing but that few people touch
(FEW_PEOPLE_SHARE of the organisation's active users or fewer, over LOOKBACK_DAYS) is
suggested `confidential`. A suggestion is never stored; a confirmed entry always wins.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from sql.catalogue import (
    AUDIT_RESOURCE_ID,
    AUDIT_RESOURCE_TYPE,
    FIELDS,
    CatalogueError,
    Entry,
    SetOutcome,
    checked_entry,
    entries,
    set_entries,
)
from sql.event_store import record_event
from sql.gateway import Database
from sql.read_model import ReadModel
from sql.resource_names import name_words, suggest_from_name
from sql.vocabulary import IMPORT_RESOURCE_CATALOGUE

LOOKBACK_DAYS = 90
# "Few people": at most this share of the organisation's active users (and at most
# FEW_PEOPLE_MAX), on a resource with enough events to be a store people read, in an
# organisation big enough for a share to mean something.
FEW_PEOPLE_SHARE = 0.05
FEW_PEOPLE_MAX = 10
FEW_PEOPLE_MIN_EVENTS = 100
FEW_PEOPLE_MIN_USERS = 20
# A resource that is a person's account is touched by that person alone: not a sign of
# sensitive data.
PERSON_RESOURCE_TYPES = frozenset({"user"})
MAX_RESOURCES = 10_000
MAX_TYPED = 512

COLUMNS = [
    "resource_id",
    "display_name",
    "resource_type",
    "sensitivity",
    "status",
    "tags",
    "owner_team",
    "reason",
    "users",
    "events",
    "confirmed_by",
    "confirmed_at",
]


def label(resource_id: str, display_name: str | None) -> str:
    """`Payment logs — source_payment_logs`, or the id alone when it has no name."""
    if display_name and display_name != resource_id:
        return f"{display_name} — {resource_id}"
    return resource_id


def resources_in_data(
    db: Database,
    org: str,
    start: datetime,
    end: datetime,
    *,
    distinct_users: bool = True,
) -> pd.DataFrame:
    """resource_id, resource_type, events and (with `distinct_users`) users of every
    resource with events in [start, end) (the read model's per-resource counts; a resource
    with several types keeps its busiest type and the largest user count among them)."""
    frame = ReadModel(db).top_resources(
        org, start, end, n=MAX_RESOURCES, distinct_users=distinct_users
    )
    columns = ["resource_id", "resource_type", "events", "users"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    if not distinct_users:
        frame = frame.assign(distinct_users=0)
    frame = frame.sort_values("events", ascending=False, kind="stable")
    grouped = frame.groupby("resource_id", sort=False)
    return pd.DataFrame(
        {
            "resource_type": grouped["resource_type"].first(),
            "events": grouped["events"].sum(),
            "users": grouped["distinct_users"].max(),
        }
    ).reset_index()[columns]


def _lookback(now: datetime | None) -> tuple[datetime, datetime]:
    end = (now or datetime.now(UTC)).astimezone(UTC) + timedelta(minutes=1)
    return end - timedelta(days=LOOKBACK_DAYS), end


@dataclass(frozen=True)
class Suggestion:
    level: str
    tags: tuple[str, ...]
    reason: str


def suggest(
    resource_id: str,
    resource_type: str | None = None,
    *,
    users: int | None = None,
    events: int | None = None,
    org_users: int | None = None,
) -> Suggestion | None:
    """What an undescribed resource probably is: from its name, else from how few touch it."""
    named = suggest_from_name(resource_id)
    few = _few_people(resource_type, users, events, org_users)
    if named is not None:
        reason = named.reason + (f"; {few}" if few else "")
        return Suggestion(named.level, named.tags, reason)
    if few:
        return Suggestion("confidential", (), few)
    return None


def _few_people(
    resource_type: str | None, users: int | None, events: int | None, org_users: int | None
) -> str | None:
    if users is None or events is None or org_users is None or users < 1:
        return None
    if resource_type in PERSON_RESOURCE_TYPES or org_users < FEW_PEOPLE_MIN_USERS:
        return None
    if events < FEW_PEOPLE_MIN_EVENTS:
        return None
    if users > min(FEW_PEOPLE_MAX, org_users * FEW_PEOPLE_SHARE):
        return None
    return f"only {users} of {org_users} active people touched it in {LOOKBACK_DAYS} days"


def catalogue_frame(
    db: Database, org: str, *, with_data: bool = True, now: datetime | None = None
) -> pd.DataFrame:
    """Every resource of the organisation, one row each (COLUMNS): confirmed entries, then
    resources seen in the data with their suggestion (status `suggested`) or none
    (status `undescribed`). Busiest first within each status."""
    confirmed = entries(db, org)
    start, end = _lookback(now)
    data = resources_in_data(db, org, start, end) if with_data else None
    org_users = None
    if data is not None and not data.empty:
        org_users = int(ReadModel(db).totals(org, start, end)["users"])
    seen: dict[str, tuple[str | None, int, int]] = {}
    if data is not None:
        for rid, rtype, events, users in data[
            ["resource_id", "resource_type", "events", "users"]
        ].itertuples(index=False):
            seen[str(rid)] = (
                None if pd.isna(rtype) else str(rtype),
                int(events),
                int(users),
            )
    rows: list[dict[str, Any]] = []
    for rid, entry in confirmed.items():
        _rtype, events, users = seen.get(rid, (None, 0, 0))
        rows.append(
            {
                **_entry_row(entry),
                "status": "confirmed",
                "reason": "",
                "users": users,
                "events": events,
            }
        )
    for rid, (rtype, events, users) in seen.items():
        if rid in confirmed:
            continue
        found = suggest(rid, rtype, users=users, events=events, org_users=org_users)
        rows.append(
            {
                "resource_id": rid,
                "display_name": None,
                "resource_type": rtype,
                "sensitivity": found.level if found else None,
                "status": "suggested" if found else "undescribed",
                "tags": ", ".join(found.tags) if found else "",
                "owner_team": None,
                "reason": found.reason if found else "",
                "users": users,
                "events": events,
                "confirmed_by": None,
                "confirmed_at": None,
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    order = {"confirmed": 0, "suggested": 1, "undescribed": 2}
    frame = frame.assign(_o=frame["status"].map(order)).sort_values(
        ["_o", "events", "resource_id"], ascending=[True, False, True], kind="stable"
    )
    return frame.drop(columns="_o").reset_index(drop=True)


def _entry_row(entry: Entry) -> dict[str, Any]:
    return {
        "resource_id": entry.resource_id,
        "display_name": entry.display_name,
        "resource_type": entry.resource_type,
        "sensitivity": entry.sensitivity,
        "tags": ", ".join(entry.tags),
        "owner_team": entry.owner_team,
        "confirmed_by": entry.confirmed_by,
        "confirmed_at": entry.confirmed_at,
    }


# Finding a resource by what someone typed.


@dataclass(frozen=True)
class Known:
    """A resource that exists: described in the catalogue or seen in the data."""

    resource_id: str
    display_name: str | None

    @property
    def label(self) -> str:
        return label(self.resource_id, self.display_name)


def known_resources(
    db: Database, org: str, start: datetime | None = None, end: datetime | None = None
) -> list[Known]:
    """Every resource that exists for the organisation, by label: described in the catalogue
    or with events in [start, end) (default: the last LOOKBACK_DAYS)."""
    if start is None or end is None:
        start, end = _lookback(None)
    confirmed = entries(db, org)
    data = resources_in_data(db, org, start, end, distinct_users=False)
    ids = set(confirmed) | {str(r) for r in data["resource_id"]}
    known = [Known(rid, confirmed[rid].display_name if rid in confirmed else None) for rid in ids]
    return sorted(known, key=lambda k: (k.label.lower(), k.resource_id))


@dataclass(frozen=True)
class Match:
    """What a typed text names: one resource (`exact`), else the near matches (maybe none)."""

    exact: Known | None
    near: tuple[Known, ...]


def find_resource(text: str, known: Iterable[Known], *, limit: int = 5) -> Match:
    """The resource `text` names: its id, or its display name (any case); else up to `limit`
    existing resources whose words contain the text's words, then similar spellings."""
    typed = text.strip()
    pool = list(known)
    for k in pool:
        if k.resource_id == typed:
            return Match(k, ())
    if len(typed) > MAX_TYPED:
        # Similar-spelling search is quadratic in the text's length: a text this long is
        # an id or nothing.
        return Match(None, ())
    lowered = typed.lower()
    same = [
        k
        for k in pool
        if k.resource_id.lower() == lowered or (k.display_name or "").lower() == lowered
    ]
    if len(same) == 1:
        return Match(same[0], ())
    if not typed:
        return Match(None, ())
    words = set(name_words(typed))
    near: list[Known] = list(same)
    if words:
        # Those holding every typed word, the ones with fewest other words first
        # ("payment": `Payment logs` before `Retention of payment-logs`).
        covering: list[tuple[int, Known]] = []
        for k in pool:
            names = [set(name_words(k.resource_id)), set(name_words(k.display_name or ""))]
            if words <= names[0] | names[1] and k not in near:
                extra = (
                    min(len(n - words) for n in names if words <= n)
                    if any(words <= n for n in names)
                    else 99
                )
                covering.append((extra, k))
        near.extend(k for _extra, k in sorted(covering, key=lambda c: c[0]))
    by_text = {k.resource_id.lower(): k for k in pool}
    by_text.update({(k.display_name or "").lower(): k for k in pool if k.display_name})
    for close in difflib.get_close_matches(lowered, list(by_text), n=limit, cutoff=0.6):
        if by_text[close] not in near:
            near.append(by_text[close])
    return Match(None, tuple(near[:limit]))


# Import from a file.


@dataclass(frozen=True)
class ImportOutcome:
    stored: SetOutcome
    errors: tuple[str, ...]  # one line each: "line 4: sensitivity: must be one of ..."
    read: int


def parse_file(path: Path) -> tuple[list[tuple[str, Entry]], list[str]]:
    """Entries of a CSV (header row) or JSON (a list of objects, or one object per line) file,
    each with where it was (`line 3`, `item 2`), and one error line per bad record."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{path}: cannot read: {exc}") from None
    start = raw.lstrip()[:1]
    if path.suffix.lower() == ".csv" or (
        path.suffix.lower() not in (".json", ".jsonl", ".ndjson") and start not in ("[", "{")
    ):
        records = list(_csv_records(raw))
    elif start == "[" or (start == "{" and "\n" in raw.strip() and _one_document(raw)):
        try:
            items = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise CatalogueError(f"{path}: line {exc.lineno}: not JSON: {exc.msg}") from None
        items = items if isinstance(items, list) else [items]
        records = [(f"item {i}", item) for i, item in enumerate(items, start=1)]
    else:
        records = list(_json_lines(raw))
    good: list[tuple[str, Entry]] = []
    errors: list[str] = []
    first_seen: dict[str, str] = {}
    for where, record in records:
        if isinstance(record, _Refused):
            errors.append(f"{where}: {record}")
            continue
        try:
            entry = _record_entry(record)
        except CatalogueError as exc:
            errors.append(f"{where}: {exc}")
            continue
        if entry.resource_id in first_seen:
            errors.append(
                f"{where}: resource_id: {entry.resource_id!r} is already on "
                f"{first_seen[entry.resource_id]}"
            )
            continue
        first_seen[entry.resource_id] = where
        good.append((where, entry))
    return good, errors


def _one_document(raw: str) -> bool:
    """Whether a file starting with `{` over several lines is one (pretty-printed) object."""
    try:
        json.loads(raw)
    except json.JSONDecodeError:
        return False
    return True


class _Refused(str):
    """Why a record could not even be read (not JSON, a short CSV row)."""


def _record_entry(record: Any) -> Entry:
    if not isinstance(record, Mapping):
        raise CatalogueError(f"must be an object with {', '.join(FIELDS)}")
    unknown = sorted(str(k) for k in record if k not in FIELDS)
    if unknown:
        # The name is the file's text: quoted, so a newline or escape in it shows as one.
        raise CatalogueError(f"{unknown[0]!r}: unknown field (known: {', '.join(FIELDS)})")
    return checked_entry(
        record.get("resource_id"),
        record.get("sensitivity"),
        display_name=record.get("display_name"),
        resource_type=record.get("resource_type"),
        tags=record.get("tags"),
        owner_team=record.get("owner_team"),
    )


def _csv_records(raw: str) -> Iterable[tuple[str, Any]]:
    reader = csv.reader(io.StringIO(raw, newline=""))
    header: list[str] | None = None
    for row in reader:
        line = f"line {reader.line_num}"
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [c.strip().lower() for c in row]
            unknown = [c for c in header if c not in FIELDS]
            if unknown or "resource_id" not in header or "sensitivity" not in header:
                what = (
                    f"{unknown[0]!r}: unknown column"
                    if unknown
                    else "resource_id and sensitivity columns are required"
                )
                yield line, _Refused(f"header: {what} (columns: {', '.join(FIELDS)})")
                return
            continue
        if len(row) != len(header):
            yield line, _Refused(f"has {len(row)} fields, the header has {len(header)}")
            continue
        yield line, {k: (v if v.strip() else None) for k, v in zip(header, row, strict=True)}


def _json_lines(raw: str) -> Iterable[tuple[str, Any]]:
    for number, text in enumerate(raw.splitlines(), start=1):
        if not text.strip():
            continue
        try:
            yield f"line {number}", json.loads(text)
        except json.JSONDecodeError as exc:
            yield f"line {number}", _Refused(f"not JSON: {exc.msg}")


def import_file(
    db: Database, org: str, path: Path, *, actor: str, actor_email: str | None = None
) -> ImportOutcome:
    """Store every good record of a file (bad ones are reported, one line each, and do not
    stop the good ones), and record the import itself as an event."""
    good, errors = parse_file(path)
    stored = set_entries(
        db,
        org,
        [e for _w, e in good],
        actor=actor,
        via=f"import {path.name}",
        actor_email=actor_email,
    )
    with db.admin() as session:
        record_event(
            session,
            organization_id=org,
            action=IMPORT_RESOURCE_CATALOGUE,
            user_id=actor,
            user_email=actor_email,
            resource_type=AUDIT_RESOURCE_TYPE,
            resource_id=AUDIT_RESOURCE_ID,
            details={
                "file": path.name,
                "records": len(good) + len(errors),
                "added": len(stored.added),
                "changed": len(stored.changed),
                "unchanged": len(stored.unchanged),
                "rejected": len(errors),
                "errors": list(errors[:20]),
            },
        )
    return ImportOutcome(stored, tuple(errors), len(good) + len(errors))
