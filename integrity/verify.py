"""Verification: recompute every seal of an organisation and name what no longer matches.

For each seal (in order) it checks the seal itself (its hash, its Ed25519 signature under a
trusted public key, the chain to its predecessor, no gaps in the sequence, no seal that the
seal files or an earlier verification saw and the database no longer has), then the seal's
leaf index (it must hash to the signed Merkle root and index digest), then the events: the
entries recomputed from the stored rows of the seal's window must equal the sealed entries.
When they do not, every difference is named: an event modified, deleted (and not removed by
a recorded retention purge after its guarantee), or inserted (a forged row inside a sealed
window). Events received after the last seal are reported as pending, not as problems.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from integrity.keys import PublicKeys
from integrity.leaf_index import ENTRY_SIZE, root_and_digest, split_ids, unpack_entries
from integrity.leaf_scan import apply_scan_settings, scan_windows, stream_rows
from integrity.seal_files import read_seal_files
from integrity.seal_formats import SEAL_FORMATS, from_micros
from integrity.seal_record import ZERO_HASH, Seal
from sql.gateway import Database, ScopedSession, check_org_id

MAX_RECORDED_FINDINGS = 500

# One grouped scan serves at most this many sealed events (memory) and this many seals.
BATCH_EVENTS = 1_000_000
BATCH_SEALS = 10_000


@dataclass(frozen=True)
class Problem:
    """One thing that does not verify, naming the seal and, when known, the event."""

    kind: str
    seal_seq: int | None
    detail: str
    event_id: str | None = None

    def line(self) -> str:
        where = f"seal {self.seal_seq}" if self.seal_seq is not None else "store"
        who = f" event {self.event_id}" if self.event_id is not None else ""
        return f"{where}:{who} {self.kind.replace('_', ' ')}: {self.detail}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "seal_seq": self.seal_seq,
            "event_id": self.event_id,
            "detail": self.detail,
        }


@dataclass
class VerifyReport:
    organization_id: str
    started_at: datetime
    key_ids: list[str]
    seals_checked: int = 0
    events_checked: int = 0
    events_purged: int = 0
    pending_events: int = 0
    last_seal: Seal | None = None
    problems: list[Problem] = field(default_factory=list)
    range_from: datetime | None = None
    range_to: datetime | None = None

    @property
    def clean(self) -> bool:
        return not self.problems

    def add(self, kind: str, seal_seq: int | None, detail: str, event_id: str | None = None):
        self.problems.append(Problem(kind, seal_seq, detail, event_id))

    def by_seal(self) -> dict[int | None, Counter[str]]:
        out: dict[int | None, Counter[str]] = {}
        for p in self.problems:
            out.setdefault(p.seal_seq, Counter())[p.kind] += 1
        return out

    def summary(self) -> str:
        state = "clean" if self.clean else f"{len(self.problems)} problem(s)"
        last = f", last seal {self.last_seal.seal_seq}" if self.last_seal else ", no seal yet"
        return (
            f"{self.organization_id}: {state}; {self.seals_checked} seal(s),"
            f" {self.events_checked:,} event(s) checked, {self.events_purged:,} purged,"
            f" {self.pending_events:,} not yet sealed{last}"
        )


def _load_seals(session: ScopedSession, org: str) -> list[Seal]:
    result = session.execute(
        "SELECT * FROM audit_seals WHERE organization_id = :org ORDER BY seal_seq",
        {"org": org},
        max_rows=100_000_000,
    )
    seals = []
    for row in result.dicts():
        row["xid_from"], row["xid_to"] = int(row["xid_from"]), int(row["xid_to"])
        seals.append(Seal.from_row(row))
    return seals


def _check_seal(report: VerifyReport, seal: Seal, keys: PublicKeys) -> bool:
    """The seal's own integrity; False when it cannot be trusted."""
    ok = True
    if seal.format not in SEAL_FORMATS:
        report.add("seal_altered", seal.seal_seq, f"unknown seal format {seal.format!r}")
        return False
    if seal.computed_hash() != seal.seal_hash:
        report.add(
            "seal_altered", seal.seal_seq, "its fields no longer hash to its recorded seal hash"
        )
        ok = False
    reason = keys.verify(seal.key_id, seal.signature, seal.canonical())
    if reason is not None:
        report.add("seal_altered", seal.seal_seq, reason)
        ok = False
    return ok


def _check_chain(report: VerifyReport, seals: Sequence[Seal]) -> None:
    previous: Seal | None = None
    for seal in seals:
        expected = previous.seal_seq + 1 if previous else 1
        if seal.seal_seq > expected:
            missing = (
                f"seal {expected}"
                if seal.seal_seq == expected + 1
                else f"seals {expected}..{seal.seal_seq - 1}"
            )
            report.add("seal_missing", expected, f"{missing} missing before seal {seal.seal_seq}")
        elif previous is not None or seal.seal_seq == 1:
            want = previous.computed_hash() if previous else ZERO_HASH
            if seal.prev_seal_hash != want:
                report.add(
                    "chain_break",
                    seal.seal_seq,
                    f"previous-seal hash {seal.prev_seal_hash.hex()[:16]}... does not match"
                    f" seal {expected - 1 if previous else 0} ({want.hex()[:16]}...)",
                )
            want_xid = previous.xid_to if previous else 0
            if seal.xid_from != want_xid:
                report.add(
                    "chain_break",
                    seal.seal_seq,
                    f"window starts at xid {seal.xid_from}, the previous seal ended at {want_xid}",
                )
        previous = seal


def _check_external(
    report: VerifyReport,
    session: ScopedSession,
    org: str,
    seals: Sequence[Seal],
    keys: PublicKeys,
    seal_dir: Path | None,
) -> None:
    """Seals the database no longer has: from WORM seal files and earlier verifications."""
    by_seq = {s.seal_seq: s for s in seals}
    last_seq = seals[-1].seal_seq if seals else 0
    if seal_dir is not None:
        for path, parsed in read_seal_files(seal_dir, org):
            if isinstance(parsed, str):
                report.add("seal_file_unreadable", None, f"{path}: {parsed}")
                continue
            if keys.verify(parsed.key_id, parsed.signature, parsed.canonical()) is not None:
                report.add("seal_file_unreadable", parsed.seal_seq, f"{path}: bad signature")
                continue
            stored = by_seq.get(parsed.seal_seq)
            if stored is None:
                report.add(
                    "seal_missing",
                    parsed.seal_seq,
                    f"in the seal files ({path.name}) but not in the database",
                )
            elif stored.seal_hash != parsed.seal_hash or stored.canonical() != parsed.canonical():
                report.add(
                    "seal_altered", parsed.seal_seq, f"differs from its seal file {path.name}"
                )
    previous = session.execute(
        "SELECT verification_id, finished_at, last_seal_seq, last_seal_hash"
        " FROM audit_verifications WHERE organization_id = :org AND last_seal_seq IS NOT NULL"
        " ORDER BY last_seal_seq DESC LIMIT 1",
        {"org": org},
    ).dicts()
    if previous:
        seen = previous[0]
        seen_seq = int(seen["last_seal_seq"])
        when = f"verification #{seen['verification_id']} at {seen['finished_at']:%Y-%m-%d %H:%M}"
        if seen_seq > last_seq:
            gone = (
                f"seal {seen_seq}"
                if seen_seq == last_seq + 1
                else (f"seals {last_seq + 1}..{seen_seq}")
            )
            report.add("seal_missing", last_seq + 1, f"{gone} seen by {when} no longer exist")
        elif seen_seq in by_seq and by_seq[seen_seq].seal_hash != bytes(seen["last_seal_hash"]):
            report.add("seal_altered", seen_seq, f"differs from the seal {when} saw")


def _in_range(seal: Seal, start_of_period: datetime | None, start, end) -> bool:
    if start is not None and seal.sealed_at < start:
        return False
    return not (end is not None and start_of_period is not None and start_of_period > end)


def verify_organization(
    db: Database,
    org: str,
    keys: PublicKeys,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    seal_dir: Path | None = None,
    actor: str = "system:auditlens",
    record: bool = True,
) -> VerifyReport:
    """Verify `org`'s seals (those sealed within [start, end] for the event checks)."""
    check_org_id(org)
    report = VerifyReport(
        org, datetime.now(UTC), sorted(keys.by_id), range_from=start, range_to=end
    )
    with db.admin(timeout_ms=24 * 3600 * 1000) as session:
        apply_scan_settings(session)
        seals = _load_seals(session, org)
        trusted = {s.seal_seq: _check_seal(report, s, keys) for s in seals}
        _check_chain(report, seals)
        _check_external(report, session, org, seals, keys, seal_dir)
        report.last_seal = seals[-1] if seals else None
        chosen: list[Seal] = []
        period_start: datetime | None = None
        for s in seals:
            if _in_range(s, period_start, start, end):
                chosen.append(s)
            period_start = s.sealed_at
        report.seals_checked = len(chosen)
        _check_events(report, session, org, chosen, trusted)
        _check_gaps_and_pending(report, session, org, seals)
    if record:
        record_verification(db, report, actor)
    return report


def _stored_leaves(
    session: ScopedSession, org: str, seqs: list[int]
) -> dict[int, tuple[bytes, bytes]]:
    stored: dict[int, tuple[bytearray, bytearray]] = {}
    if not seqs:
        return {}
    for seal_seq, entries, ids in stream_rows(
        session,
        "SELECT seal_seq, entries, event_ids FROM audit_seal_leaves"
        " WHERE organization_id = :org AND seal_seq = ANY(CAST(:seqs AS bigint[]))"
        " ORDER BY seal_seq, chunk_no",
        {"org": org, "seqs": seqs},
    ):
        blob, names = stored.setdefault(int(seal_seq), (bytearray(), bytearray()))
        blob += bytes(entries)
        names += bytes(ids)
    return {k: (bytes(v[0]), bytes(v[1])) for k, v in stored.items()}


def _batches(seals: Sequence[Seal]) -> list[list[Seal]]:
    """Consecutive seals of one format whose windows follow each other, bounded in size:
    each batch is one grouped scan. A seal whose window is out of order (only an altered
    seal's can be) gets a batch of its own."""
    batches: list[list[Seal]] = []
    events = 0
    for seal in seals:
        batch = batches[-1] if batches else None
        fits = (
            batch is not None
            and seal.format == batch[-1].format
            and seal.xid_from >= max(s.xid_to for s in batch[-1:])
            and len(batch) < BATCH_SEALS
            and events + seal.event_count <= BATCH_EVENTS
        )
        if batch is not None and fits:
            batch.append(seal)
            events += seal.event_count
        else:
            batches.append([seal])
            events = seal.event_count
    return batches


def _recompute(
    session: ScopedSession, org: str, batch: Sequence[Seal]
) -> dict[int, tuple[int, bytes, bytes]]:
    """seal_seq -> (events, entries, ids) recomputed from the rows stored now."""
    bounds: list[int] = []
    bucket_of: dict[int, int] = {}
    for seal in batch:
        if seal.xid_to <= seal.xid_from:
            continue  # an empty (or nonsensical) window holds no event
        if not bounds or bounds[-1] != seal.xid_from:
            bounds.append(seal.xid_from)
        bounds.append(seal.xid_to)
        bucket_of[len(bounds) - 1] = seal.seal_seq
    parts: dict[int, tuple[int, list[bytes], list[bytes]]] = {}
    if bounds:
        for part in scan_windows(session, org, batch[0].format, bounds):
            seq = bucket_of.get(part.bucket)
            if seq is None:
                continue  # between two windows: `_check_gaps_and_pending` counts these
            n, entries, ids = parts.setdefault(seq, (0, [], []))
            entries.append(part.entries)
            ids.append(part.ids)
            parts[seq] = (n + part.count, entries, ids)
    return {seq: (n, b"".join(e), b"".join(i)) for seq, (n, e, i) in parts.items()}


def _index_matches(
    batch: Sequence[Seal], stored: dict[int, tuple[bytes, bytes]], trusted: dict[int, bool]
) -> dict[int, bool]:
    """Per trusted seal: does its stored leaf index hash to its signed root and digest?"""
    out: dict[int, bool] = {}
    for seal in batch:
        if not trusted.get(seal.seal_seq, False):
            continue
        entries, ids = stored.get(seal.seal_seq, (b"", b""))
        out[seal.seal_seq] = root_and_digest(entries, ids) == (seal.merkle_root, seal.index_digest)
    return out


def _check_events(
    report: VerifyReport,
    session: ScopedSession,
    org: str,
    seals: list[Seal],
    trusted: dict[int, bool],
) -> None:
    if not seals:
        return
    # seq -> (seal, guarantee, leaf, id) of sealed entries whose window no longer matches
    sealed_diff: dict[int, tuple[int, int, bytes, str]] = {}
    current_diff: list[tuple[int, int, bytes, str, int]] = []
    # The stored indexes' Merkle roots are hashed in Python while PostgreSQL recomputes the
    # events' entries: the two overlap on two cores.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="auditlens-verify") as pool:
        for batch in _batches(seals):
            stored = _stored_leaves(session, org, [s.seal_seq for s in batch])
            matches = pool.submit(_index_matches, batch, stored, trusted)
            current = _recompute(session, org, batch)
            index_matches = matches.result()
            for seal in batch:
                n, entries, ids = current.get(seal.seal_seq, (0, b"", b""))
                _check_window(
                    report,
                    seal,
                    n,
                    entries,
                    ids,
                    stored.get(seal.seal_seq, (b"", b"")),
                    index_matches.get(seal.seal_seq),
                    sealed_diff,
                    current_diff,
                )
    _classify(report, session, org, {s.seal_seq: s for s in seals}, sealed_diff, current_diff)


def _check_window(
    report: VerifyReport,
    seal: Seal,
    n: int,
    entries: bytes,
    ids: bytes,
    stored: tuple[bytes, bytes],
    index_ok: bool | None,
    sealed_diff: dict[int, tuple[int, int, bytes, str]],
    current_diff: list[tuple[int, int, bytes, str, int]],
) -> None:
    report.events_checked += n
    stored_entries, stored_ids = stored
    if index_ok is False:
        report.add(
            "seal_leaves_altered",
            seal.seal_seq,
            "the stored leaf index no longer matches the signed root and digest"
            f" ({len(stored_entries) // ENTRY_SIZE} stored leaves,"
            f" {seal.event_count} sealed)",
        )
    if index_ok:
        if entries == stored_entries and ids == stored_ids:
            return
        for (seq, guarantee, leaf), event_id in zip(
            unpack_entries(stored_entries), split_ids(stored_ids), strict=True
        ):
            sealed_diff[seq] = (seal.seal_seq, guarantee, leaf, event_id)
        for (seq, guarantee, leaf), event_id in zip(
            unpack_entries(entries), split_ids(ids), strict=True
        ):
            current_diff.append((seq, guarantee, leaf, event_id, seal.seal_seq))
        return
    # Without a trustworthy index only the signed root and count can be compared.
    root, _ = root_and_digest(entries, ids)
    if root != seal.merkle_root or n != seal.event_count:
        report.add(
            "events_mismatch",
            seal.seal_seq,
            f"the {n} stored events of this window do not match the signed root over"
            f" {seal.event_count} events; single events cannot be named because the"
            " seal's leaf index is not trustworthy",
        )


def _classify(
    report: VerifyReport,
    session: ScopedSession,
    org: str,
    seals: dict[int, Seal],
    sealed: dict[int, tuple[int, int, bytes, str]],
    current: list[tuple[int, int, bytes, str, int]],
) -> None:
    matched: set[int] = set()
    for seq, _guarantee, leaf, event_id, window in current:
        entry = sealed.get(seq)
        if entry is None or seq in matched:
            report.add(
                "event_inserted",
                window,
                f"ingest_seq {seq} is in this seal's window but was never sealed",
                event_id,
            )
            continue
        matched.add(seq)
        seal_seq, _, sealed_leaf, sealed_id = entry
        named = event_id if event_id == sealed_id else f"{sealed_id} (now id {event_id})"
        if sealed_leaf != leaf:
            report.add(
                "event_modified",
                seal_seq,
                f"ingest_seq {seq}: its content no longer hashes to the sealed leaf",
                named,
            )
        elif window != seal_seq:
            report.add(
                "event_modified",
                seal_seq,
                f"ingest_seq {seq}: its ingest_xid moved it into seal {window}'s window",
                named,
            )
    gone = [seq for seq in sealed if seq not in matched]
    if not gone:
        return
    purges: dict[int, datetime] = {}
    result = session.execute(
        "SELECT ingest_seq, min(purged_at) FROM audit_purged_events"
        " WHERE organization_id = :org AND ingest_seq = ANY(CAST(:seqs AS bigint[]))"
        " GROUP BY ingest_seq",
        {"org": org, "seqs": gone},
        max_rows=len(gone) + 1,
    )
    purges = {int(seq): at for seq, at in result.rows}
    for seq in sorted(gone):
        seal_seq, guarantee, _, event_id = sealed[seq]
        purged_at = purges.get(seq)
        guaranteed_until = from_micros(guarantee, seals[seal_seq].format)
        if purged_at is None:
            report.add("event_deleted", seal_seq, f"ingest_seq {seq} is gone", event_id)
        elif purged_at <= guaranteed_until:
            report.add(
                "event_deleted",
                seal_seq,
                f"ingest_seq {seq}: a purge record dated {purged_at:%Y-%m-%d %H:%M} claims it,"
                f" but it was guaranteed until {guaranteed_until:%Y-%m-%d %H:%M}",
                event_id,
            )
        else:
            report.events_purged += 1


def _check_gaps_and_pending(
    report: VerifyReport, session: ScopedSession, org: str, seals: list[Seal]
) -> None:
    previous: Seal | None = None
    for seal in seals:
        low = previous.xid_to if previous else 0
        if seal.xid_from > low:
            n = session.scalar(
                "SELECT count(*) FROM audit_events WHERE organization_id = :org"
                " AND ingest_xid >= CAST(:lo AS xid8) AND ingest_xid < CAST(:hi AS xid8)",
                {"org": org, "lo": str(low), "hi": str(seal.xid_from)},
            )
            report.add(
                "events_unsealed",
                seal.seal_seq,
                f"{n} stored event(s) fall between this seal and its predecessor's window",
            )
        previous = seal
    # A seal covers transaction ids below its own snapshot's xmin, so a row whose ingest_xid
    # no transaction has had yet (the server sets it; only a forger can) is never sealed:
    # a problem, not a pending event.
    unsealable = session.execute(
        "SELECT id, ingest_xid::text FROM audit_events WHERE organization_id = :org"
        " AND ingest_xid >= pg_snapshot_xmax(pg_current_snapshot()) ORDER BY ingest_xid, id",
        {"org": org},
        max_rows=MAX_RECORDED_FINDINGS,
    ).rows
    for event_id, xid in unsealable:
        report.add(
            "event_unsealable",
            None,
            f"ingest_xid {xid} is no transaction's yet: no seal can ever cover it",
            event_id,
        )
    report.pending_events = int(
        session.scalar(
            "SELECT count(*) FROM audit_events WHERE organization_id = :org"
            " AND ingest_xid >= CAST(:lo AS xid8)"
            " AND ingest_xid < pg_snapshot_xmax(pg_current_snapshot())",
            {"org": org, "lo": str(previous.xid_to if previous else 0)},
        )
    )


def record_verification(db: Database, report: VerifyReport, actor: str) -> int:
    """Append the run to audit_verifications (the Integrity page shows the last one)."""
    findings = [p.to_json() for p in report.problems[:MAX_RECORDED_FINDINGS]]
    with db.admin() as session:
        return int(
            session.scalar(
                "INSERT INTO audit_verifications (organization_id, started_at, actor,"
                " range_from, range_to, key_ids, seals_checked, events_checked,"
                " pending_events, last_seal_seq, last_seal_hash, clean, problem_count, findings)"
                " VALUES (:org, :started, :actor, :rfrom, :rto, :keys, :seals, :events,"
                " :pending, :last_seq, :last_hash, :clean, :problems, CAST(:findings AS jsonb))"
                " RETURNING verification_id",
                {
                    "org": report.organization_id,
                    "started": report.started_at,
                    "actor": actor,
                    "rfrom": report.range_from,
                    "rto": report.range_to,
                    "keys": report.key_ids,
                    "seals": report.seals_checked,
                    "events": report.events_checked,
                    "pending": report.pending_events,
                    "last_seq": report.last_seal.seal_seq if report.last_seal else None,
                    "last_hash": report.last_seal.seal_hash if report.last_seal else None,
                    "clean": report.clean,
                    "problems": len(report.problems),
                    "findings": json.dumps(findings),
                },
            )
        )
