"""Compression of old raw events on TimescaleDB with the Timescale license (columnstore).

AuditLens compresses itself, after each refresh (`sql.rollup.refresh`), rather than through
a TimescaleDB policy: its background jobs run as the table's owner, and auditlens_owner
cannot log in by design. Chunks whose every event is older than AUDITLENS_COMPRESS_AFTER_DAYS
are compressed once every event in them is rolled up (below the watermark: the read model
never looks for events past it in compressed batches); a late event or a purge that writes to
one leaves it partly compressed, and the next run after the late event is rolled up
compresses it again. Compressing by hand (`compress_chunk`) or by a TimescaleDB policy skips
that check: a late event compressed before its refresh is missing from the read model's
answers until that refresh. Elsewhere (plain PostgreSQL, the Apache edition) it does nothing.
"""

from __future__ import annotations

from sql.gateway import Database
from sql.settings import positive_int_env

COMPRESS_AFTER_DAYS_ENV = "AUDITLENS_COMPRESS_AFTER_DAYS"
# Late events older than a month are rare (backfills); they still land, uncompressed, in
# their chunk until the next run. The dashboard's raw reads are mostly of recent days.
DEFAULT_COMPRESS_AFTER_DAYS = 30
# Serialises compression runs, which run outside the refresh's transaction: two at once
# would compress the same chunk twice.
COMPRESSION_LOCK = 0x434F4D50


def compress_after_days() -> int:
    """Days after which a chunk is compressed (AUDITLENS_COMPRESS_AFTER_DAYS, default 30)."""
    return positive_int_env(COMPRESS_AFTER_DAYS_ENV, DEFAULT_COMPRESS_AFTER_DAYS)


def compress_old_chunks(db: Database, *, days: int | None = None, wait: bool = True) -> int | None:
    """Compress the chunks older than `days` (default: the setting); returns how many, or None
    when another run holds the lock and `wait` is false. In its own autocommit transaction:
    each chunk's compression locks it, and the refresh's transaction must not hold that."""
    if not db.capabilities.compression:
        return 0
    older = compress_after_days() if days is None else days
    with db.raw_connection() as conn:
        previous = conn.autocommit
        conn.rollback()
        conn.autocommit = True
        try:
            if wait:
                conn.execute("SELECT pg_advisory_lock(%s)", (COMPRESSION_LOCK,))
            else:
                row = conn.execute(
                    "SELECT pg_try_advisory_lock(%s)", (COMPRESSION_LOCK,)
                ).fetchone()
                if not (row and row[0]):
                    return None
            try:
                row = conn.execute(
                    "SELECT audit_compress_chunks(make_interval(days => %s))", (older,)
                ).fetchone()
                return int(row[0]) if row else 0
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (COMPRESSION_LOCK,))
        finally:
            conn.autocommit = previous
