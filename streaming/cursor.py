"""A destination's position in ingest order: what to send next, and moving past it.

Events are read in (ingest_xid, ingest_seq) order and only below the oldest running
transaction (the bound the rollup refresh and sealing use; see `sql.ingest_order`): every
transaction below it has ended, so no event can later appear behind the cursor. The cursor
moves only in `acknowledge`, after the receiver took the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sql.gateway import Database
from sql.ingest_order import Position, after
from streaming.destinations import COLUMNS, Destination, from_row
from streaming.formats import NATIVE_FIELDS, NATIVE_SELECT, stored_event

# Events read (and sent) at a time: fewer round trips per event than 1,000 by half, while a batch
# of events with the largest details (64 KB) still fits in memory.
BATCH = 2000
_SEQ = NATIVE_FIELDS.index("ingest_seq")
# Set in the transaction that reads a batch. Right after a bulk import the table's statistics
# are stale, and the planner then read and sorted every event after the cursor for each batch;
# the walk of the (organization_id, ingest_xid, ingest_seq) index stops after `limit` rows
# whatever they say. JIT off: where a sort cannot be avoided (TimescaleDB's security-barrier
# view) the disabled sort's cost crosses jit_above_cost, and compiling took seconds per batch.
INDEX_WALK = (
    "SELECT set_config('enable_sort', 'off', true), set_config('enable_bitmapscan', 'off', true),"
    " set_config('jit', 'off', true)"
)


@dataclass(frozen=True)
class Batch:
    """Events to send (those the filter and backfill want) and the position after them.

    `end` is the last event read, wanted or not: acknowledging moves the cursor past the
    events the filter left out too, so they are not read again."""

    events: list[dict[str, Any]]
    end: tuple[int, int] | None


def pending_query(
    db: Database, destination: Destination, *, limit: int = BATCH
) -> tuple[str, dict[str, Any]]:
    """The SQL (and its parameters) that reads the next batch after `destination`'s cursor."""
    # A SIEM gets the whole audit trail: who used AuditLens (searches, exports, settings)
    # is evidence too, so the organisation's events and the meta-audit both stream.
    where, params = destination.event_filter.sql_for(db, whole_trail=True)
    wanted = f"({where})"
    if destination.backfill_from is not None:
        wanted += (
            " AND (event_time >= :bf_from OR (ingest_xid, ingest_seq)"
            " > (CAST(:bf_xid AS xid8), :bf_seq))"
        )
        params.update(
            bf_from=destination.backfill_from,
            bf_xid=str(destination.backfill_until_xid),
            bf_seq=destination.backfill_until_seq,
        )
    params.update(Position(destination.cursor_xid, destination.cursor_seq).params(), limit=limit)
    # The columns are the fixed NATIVE_SELECT and the filter's SQL binds every value. The
    # function reads the batch straight from the (organization_id, ingest_xid, ingest_seq)
    # index, on every flavour (see the streaming migration), after the position and below
    # the oldest running transaction as `after` would.
    sql = (
        f"SELECT {NATIVE_SELECT}, {wanted} AS wanted, ingest_xid::text AS ingest_xid_text"  # noqa: S608
        " FROM auditlens_events_after(CAST(:c_xid AS xid8), CAST(:c_seq AS bigint), :limit)"
        " ORDER BY ingest_xid, ingest_seq"
    )
    return sql, params


def pending(db: Database, destination: Destination, *, limit: int = BATCH) -> Batch:
    """The next events after `destination`'s cursor, in ingest order, at most `limit` read."""
    sql, params = pending_query(db, destination, limit=limit)
    with db.org_session(destination.organization_id) as session:
        session.execute(INDEX_WALK)
        rows = session.execute(sql, params).rows
    if not rows:
        return Batch([], None)
    # The row's last columns: wanted, then the transaction id.
    end = (int(rows[-1][-1]), int(rows[-1][_SEQ]))
    return Batch([stored_event(row) for row in rows if row[-2]], end)


def acknowledge(db: Database, destination: Destination, batch: Batch) -> Destination | None:
    """The receiver took `batch`: move the cursor past it and count it as a success. The
    destination as it is after that; None when it changed meanwhile (removed, or its cursor
    moved by a backfill) and was left as it was."""
    if batch.end is None:
        return destination
    xid, seq = batch.end
    with db.admin() as session:
        # Only forward, and only from the position the batch was read at: a backfill asked for
        # meanwhile (cursor reset) must not be overwritten.
        rows = session.execute(
            "UPDATE stream_destinations SET cursor_xid = CAST(:xid AS xid8), cursor_seq = :seq,"  # noqa: S608 - fixed columns
            " events_sent = events_sent + :sent, consecutive_failures = 0,"
            " last_success_at = now(), next_attempt_at = NULL,"
            " state = CASE WHEN state = 'failing' THEN 'active' ELSE state END,"
            " backfill_from = CASE WHEN (CAST(:xid AS xid8), CAST(:seq AS bigint))"
            "   >= (backfill_until_xid, backfill_until_seq) THEN NULL ELSE backfill_from END,"
            " backfill_until_xid = CASE WHEN (CAST(:xid AS xid8), CAST(:seq AS bigint))"
            "   >= (backfill_until_xid, backfill_until_seq) THEN NULL ELSE backfill_until_xid END,"
            " backfill_until_seq = CASE WHEN (CAST(:xid AS xid8), CAST(:seq AS bigint))"
            "   >= (backfill_until_xid, backfill_until_seq) THEN NULL ELSE backfill_until_seq END"
            " WHERE organization_id = :org AND name = :name"
            "   AND cursor_xid = CAST(:old_xid AS xid8) AND cursor_seq = :old_seq"
            f" RETURNING {COLUMNS}",
            {
                "xid": str(xid),
                "seq": seq,
                "sent": len(batch.events),
                "org": destination.organization_id,
                "name": destination.name,
                "old_xid": str(destination.cursor_xid),
                "old_seq": destination.cursor_seq,
            },
        ).rows
    return from_row(rows[0]) if rows else None


def record_failure(
    db: Database, destination: Destination, error: str, *, failing_after: int, max_backoff: float
) -> None:
    """A send failed: count it, back off, and after `failing_after` in a row mark it failing."""
    with db.admin() as session:
        session.execute(
            "UPDATE stream_destinations SET consecutive_failures = consecutive_failures + 1,"
            " failures_total = failures_total + 1, last_error = :error, last_error_at = now(),"
            " next_attempt_at = now() + make_interval(secs => least(:max_backoff,"
            "   0.5 * power(2, least(consecutive_failures, 20)))),"
            " state = CASE WHEN state = 'active' AND consecutive_failures + 1 >= :failing_after"
            "   THEN 'failing' ELSE state END"
            " WHERE organization_id = :org AND name = :name",
            {
                "error": error[:2000],
                "max_backoff": max_backoff,
                "failing_after": failing_after,
                "org": destination.organization_id,
                "name": destination.name,
            },
        )


def pending_findings(db: Database, destination: Destination, *, limit: int = BATCH) -> Batch:
    """The next findings after the destination's finding cursor, in the order they were made."""
    with db.org_session(destination.organization_id) as session:
        rows = session.execute(
            # after() builds its clause from these fixed column names; values are bound.
            "SELECT f.*, o.finding_xid::text AS finding_xid_text, o.finding_seq"  # noqa: S608
            " FROM stream_finding_order o JOIN org_findings f"
            "   ON f.organization_id = o.organization_id AND f.finding_id = o.finding_id"
            f" WHERE {after('o.finding_xid', 'o.finding_seq')}"
            " ORDER BY o.finding_xid, o.finding_seq LIMIT :limit",
            {
                **Position(destination.finding_cursor_xid, destination.finding_cursor_seq).params(),
                "limit": limit,
            },
        ).dicts()
    if not rows:
        return Batch([], None)
    end = (int(rows[-1]["finding_xid_text"]), int(rows[-1]["finding_seq"]))
    for row in rows:
        del row["finding_xid_text"], row["finding_seq"]
    return Batch(rows, end)


def acknowledge_findings(
    db: Database, destination: Destination, batch: Batch
) -> Destination | None:
    """The receiver took these findings: move the finding cursor past them. The destination
    after that, or None (as for `acknowledge`)."""
    if batch.end is None:
        return destination
    xid, seq = batch.end
    with db.admin() as session:
        rows = session.execute(
            "UPDATE stream_destinations SET finding_cursor_xid = CAST(:xid AS xid8),"  # noqa: S608 - fixed columns
            " finding_cursor_seq = :seq, findings_sent = findings_sent + :sent,"
            " consecutive_failures = 0, last_success_at = now(), next_attempt_at = NULL,"
            " state = CASE WHEN state = 'failing' THEN 'active' ELSE state END"
            " WHERE organization_id = :org AND name = :name"
            "   AND finding_cursor_xid = CAST(:old_xid AS xid8) AND finding_cursor_seq = :old_seq"
            f" RETURNING {COLUMNS}",
            {
                "xid": str(xid),
                "seq": seq,
                "sent": len(batch.events),
                "org": destination.organization_id,
                "name": destination.name,
                "old_xid": str(destination.finding_cursor_xid),
                "old_seq": destination.finding_cursor_seq,
            },
        ).rows
    return from_row(rows[0]) if rows else None


@dataclass(frozen=True)
class Health:
    """How far behind a destination is, and how its sends went."""

    name: str
    state: str
    lag_events: int
    lag_seconds: float
    events_sent: int
    consecutive_failures: int
    failures_total: int
    last_success_at: Any
    last_error: str | None
    last_error_at: Any


def health(db: Database, destination: Destination) -> Health:
    """Lag counts the organisation's stored events after the cursor (filter aside)."""
    with db.org_session(destination.organization_id) as session:
        row = session.execute(
            "SELECT count(*) AS n,"  # noqa: S608
            " coalesce(extract(epoch FROM now() - min(received_at)), 0)::float8 AS secs"
            f" FROM org_audit_events WHERE {after('ingest_xid', 'ingest_seq', bound=None)}",
            Position(destination.cursor_xid, destination.cursor_seq).params(),
        ).dicts()[0]
    d = destination
    return Health(
        d.name,
        d.state,
        int(row["n"]),
        float(row["secs"]),
        d.events_sent,
        d.consecutive_failures,
        d.failures_total,
        d.last_success_at,
        d.last_error,
        d.last_error_at,
    )
