"""The promises, checked after the soak has stopped and everything spooled was drained."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from integrity.keys import PublicKeys, SigningKey
from integrity.verify import verify_organization
from sql.gateway import Database
from tests.soak.ledger import Ledger
from tests.soak.workload import DOOMED_BACKS, EXPIRED_FAMILY, ORGS, month_start, org_of

SHOWN = 10  # problems of one kind listed by id; the rest are counted


def _listed(what: str, ids: list[str]) -> str:
    more = f" (and {len(ids) - SHOWN} more)" if len(ids) > SHOWN else ""
    return f"{len(ids)} {what}: {', '.join(sorted(ids)[:SHOWN])}{more}"


def check_acknowledged(db: Database, acked: dict[str, str], ledger: Ledger) -> dict[str, int]:
    """Every acknowledged event is stored exactly once, under its own organisation."""
    ids = sorted(acked)
    stored: dict[str, list[str]] = {}
    with db.admin() as session:
        for start in range(0, len(ids), 20_000):
            rows = session.execute(
                "SELECT id, organization_id FROM audit_events WHERE id = ANY(:ids)",
                {"ids": ids[start : start + 20_000]},
                max_rows=1_000_000,
            ).rows
            for event_id, org in rows:
                stored.setdefault(event_id, []).append(org)
    lost = [i for i in ids if i not in stored]
    twice = [i for i, orgs in stored.items() if len(orgs) > 1]
    misfiled = [i for i, orgs in stored.items() if any(o != acked[i] for o in orgs)]
    if lost:
        ledger.problem(_listed("acknowledged events lost", lost))
    if twice:
        ledger.problem(_listed("acknowledged events stored more than once", twice))
    if misfiled:
        ledger.problem(_listed("acknowledged events stored under another organisation", misfiled))
    return {"acknowledged": len(ids), "stored": len(stored), "lost": len(lost)}


def check_retention(
    db: Database, as_of: datetime, seeded_expired: int, ledger: Ledger
) -> dict[str, int]:
    """Nothing expired is left, the doomed months' partitions are gone, and the purges
    recorded at least every expired event the soak stored (more when one was re-offered
    after an unknown outcome and stored again after a purge)."""
    with db.admin() as session:
        left = session.scalar(
            "SELECT count(*) FROM audit_events WHERE retention_guaranteed_until < :as_of",
            {"as_of": as_of},
        )
        partitioned = session.scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table"
            " WHERE partrelid = 'audit_events'::regclass)"
        )
        doomed_left = []
        for back in DOOMED_BACKS:
            name = f"audit_events_{month_start(back):%Y_%m}"
            if session.scalar("SELECT to_regclass(:n) IS NOT NULL", {"n": name}):
                doomed_left.append(name)
        recorded = session.scalar(
            "SELECT coalesce(sum(removed_count), 0) FROM audit_purges"
            " WHERE event_type = :family AND organization_id = ANY(:orgs)",
            {"family": EXPIRED_FAMILY, "orgs": list(ORGS)},
        )
        kept_removed = session.scalar(
            "SELECT coalesce(sum(removed_count), 0) FROM audit_purges"
            " WHERE event_type <> :family AND organization_id = ANY(:orgs)",
            {"family": EXPIRED_FAMILY, "orgs": list(ORGS)},
        )
    if left:
        ledger.problem(f"{left} expired events are still stored after the final purge")
    if partitioned and doomed_left:
        ledger.problem(f"expired-only partitions not dropped: {', '.join(doomed_left)}")
    if recorded < seeded_expired:
        ledger.problem(
            f"the purges recorded {recorded} expired events removed, but {seeded_expired}"
            " were stored and none is left: some went without a record"
        )
    if kept_removed:
        ledger.problem(f"the purges removed {kept_removed} events of families still kept")
    return {"expired stored": seeded_expired, "purged (recorded)": int(recorded)}


def check_verify(db: Database, key: SigningKey, ledger: Ledger) -> dict[str, int]:
    keys = PublicKeys({key.key_id: key.public})
    checked = 0
    for org in ORGS:
        report = verify_organization(db, org, keys, actor="soak:verify")
        checked += report.events_checked
        if not report.clean:
            lines = [p.line() for p in report.problems[:SHOWN]]
            ledger.problem(f"verify {report.summary()}: " + "; ".join(lines))
        if report.pending_events:
            ledger.problem(f"verify {org}: {report.pending_events} events left unsealed")
    return {"events verified": checked}


def check_exports(db: Database, ledger: Ledger) -> dict[str, int]:
    """Every export whose bytes reached the soak is in audit_exports: one that completed with
    its rows and SHA-256; one that failed after handing out bytes either finalised with what
    it handed out, as not completed, or (the database was gone when it ended) started and
    never ended. Bytes without any record are a problem."""
    with db.admin() as session:
        rows = session.execute(
            "SELECT export_id, organization_id, sha256, row_count, completed,"
            " ended_at IS NOT NULL FROM audit_exports WHERE organization_id = ANY(:orgs)",
            {"orgs": list(ORGS)},
            max_rows=1_000_000,
        ).rows
    by_id = {r[0]: r for r in rows}
    recorded = unfinished = 0
    for seen in ledger.exports:
        row = by_id.get(seen.export_id) if seen.export_id is not None else None
        if row is None:
            ledger.problem(
                f"an export of {seen.org} handed out {seen.rows} rows"
                f" (SHA-256 {seen.sha256[:16]}...) and is not in audit_exports;"
                f" the export failed with: {seen.failure or 'nothing'}"
            )
            continue
        _id, org, sha256, row_count, completed, ended = row
        if org != seen.org:
            ledger.problem(f"export {seen.export_id} of {seen.org} is recorded for {org}")
            continue
        if seen.failure and not ended:
            unfinished += 1  # begun on record, its outcome unknown: the database was gone
            continue
        expected = (seen.sha256, seen.rows, not seen.failure, True)
        if (sha256, row_count, completed, ended) != expected:
            ledger.problem(f"export {seen.export_id} is not recorded as it was made: {row}")
            continue
        recorded += 1
    return {
        "exports made": len(ledger.exports),
        "exports recorded": recorded,
        "exports started, never ended": unfinished,
    }


def check_isolation(db: Database, ledger: Ledger) -> dict[str, int]:
    """AuditLens's own events that sessions saw belong to the session's organisation."""
    seen = ledger.unprefixed_seen
    with db.admin() as session:
        rows = session.execute(
            "SELECT id, organization_id FROM audit_events WHERE id = ANY(:ids)",
            {"ids": sorted(seen)},
            max_rows=1_000_000,
        ).rows
    owners: dict[str, set[str]] = {}
    for event_id, org in rows:
        owners.setdefault(event_id, set()).add(org)
    for event_id, org in seen.items():
        if owners.get(event_id, {org}) != {org}:
            ledger.problem(f"a session of {org} saw event {event_id} of {owners[event_id]}")
    return {"rows seen by sessions": ledger.counts["rows_seen"] + ledger.counts["export_rows"]}


def acknowledged_by_producers(ack_ids: list[str]) -> dict[str, str]:
    out = {}
    for event_id in ack_ids:
        org = org_of(event_id)
        if org is not None:
            out[event_id] = org
    return out


def counted(counts: Counter[str], *names: str) -> dict[str, Any]:
    return {name: counts[name] for name in names}
