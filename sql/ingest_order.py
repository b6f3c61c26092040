"""Reading rows in ingest order without skipping or repeating any while others insert.

A position is (xid, seq): the inserting transaction's id (xid8) and a sequence number taken
at insert. Rows are read in that order, after a position, and only below the oldest running
transaction of this database, `auditlens_oldest_running()`: every transaction below it has
ended, so no row can later appear behind a position once a reader has moved past it. (The
server-wide `pg_snapshot_xmin(pg_current_snapshot())` would let a long transaction in any
other database hold every reader back.) The
sequence alone is not safe: it hands each session a block of numbers, and a transaction can
commit after another that took higher ones. Streaming's cursors and the read API's pages
both read this way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sql.gateway import ScopedSession

# The oldest transaction still running in this database when the statement's snapshot was
# taken (one of another database cannot write here, so it never holds a reader back).
OLDEST_RUNNING = "auditlens_oldest_running()"
# A bound read once (`oldest_running`) and bound as :c_bound, for readers that need its value.
BOUND_PARAMETER = "CAST(:c_bound AS xid8)"


@dataclass(frozen=True, order=True)
class Position:
    """A place in ingest order: rows after it are (xid, seq) > (self.xid, self.seq)."""

    xid: int
    seq: int

    def params(self) -> dict[str, Any]:
        """The parameters `after` binds: :c_xid and :c_seq."""
        return {"c_xid": str(self.xid), "c_seq": self.seq}


def after(xid_column: str, seq_column: str, *, bound: str | None = OLDEST_RUNNING) -> str:
    """The WHERE fragment: rows after the position bound as :c_xid/:c_seq and, unless `bound`
    is None, below `bound` (an SQL expression: OLDEST_RUNNING or BOUND_PARAMETER).

    The columns are the caller's fixed names, never input. A row comparison, so the rows come
    straight off an (organization_id, xid, seq) index in order."""
    clause = f"({xid_column}, {seq_column}) > (CAST(:c_xid AS xid8), CAST(:c_seq AS bigint))"
    if bound is not None:
        clause += f" AND {xid_column} < {bound}"
    return clause


def oldest_running(session: ScopedSession) -> int:
    """The oldest running transaction now. Every transaction below it has ended, so a later
    statement (whose snapshot is newer) sees all their rows: bound it as :c_bound."""
    return int(session.scalar(f"SELECT {OLDEST_RUNNING}::text"))


def caught_up(bound: int) -> Position:
    """The position after every row below `bound` and before every row at or above it
    (sequence numbers start at 1): where a reader that has read all rows below `bound` is."""
    return Position(bound, 0)
