"""Sealing: per organisation, everything received since the previous seal, signed and chained.

A seal covers the events whose inserting transaction id (`ingest_xid`) lies in
[xid_from, xid_to): xid_from is the previous seal's xid_to (0 for the first seal) and xid_to
is `pg_snapshot_xmin(pg_current_snapshot())` when sealing, the oldest transaction still
running. Every transaction below it has ended, so its events are all visible now and none
can appear later: each event is sealed exactly once, a transaction still in flight is sealed
by a later seal, and a period without events still gets a seal (it proves the silence).

Inside a seal the leaves are in `ingest_seq` order (`integrity.leaf_index`); the signed text
and the chain are `integrity.seal_record`'s, the seal files `integrity.seal_files`'s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from integrity.keys import SigningKey
from integrity.leaf_index import IndexBuilder
from integrity.leaf_scan import apply_scan_settings, scan_window
from integrity.seal_files import write_seal_file
from integrity.seal_formats import SEAL_FORMAT, seal_format
from integrity.seal_record import ZERO_HASH, Seal, canonical_seal_text, insert_seal, last_seal
from sql.gateway import Database, ScopedSession, check_org_id


def _lock_org(session: ScopedSession, org: str) -> None:
    # Two sealers of one organisation would race for the same seal_seq; the second waits.
    session.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('auditlens.seal:' || :org, 0))",
        {"org": org},
    )


def seal_organization(
    db: Database,
    org: str,
    key: SigningKey,
    *,
    seal_dir: Path | None = None,
    fmt: str = SEAL_FORMAT,
) -> Seal:
    """Seal everything `org` received since its previous seal (possibly nothing).

    `fmt` exists to write seals as an older version did (tests of stores sealed before v2)."""
    check_org_id(org)
    seal_format(fmt)
    with db.admin() as session:
        _lock_org(session, org)
        apply_scan_settings(session)
        prev = last_seal(session, org)
        row = session.execute(
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xid_to,"
            " clock_timestamp() AS sealed_at"
        ).dicts()[0]
        xid_from = prev.xid_to if prev else 0
        xid_to = int(row["xid_to"])
        seal_seq = (prev.seal_seq + 1) if prev else 1
        parts: list[tuple[bytes, bytes]] = []
        scan = scan_window(session, org, xid_from, xid_to, lambda e, i: parts.append((e, i)), fmt)
        # The server writes the leaves while this thread hashes the tree: the insert waits on
        # the server with the GIL released, so the two overlap instead of adding up. The
        # connection is the storing thread's alone until it is done.
        with ThreadPoolExecutor(1, thread_name_prefix="auditlens-seal-leaves") as pool:
            stored = pool.submit(_store_leaves, session, org, seal_seq, parts)
            builder = IndexBuilder()
            for entries, ids in parts:
                builder.add(entries, ids)
            root, digest = builder.finish()
            stored.result()
        fields: dict[str, Any] = {
            "organization_id": org,
            "seal_seq": seal_seq,
            "sealed_at": row["sealed_at"],
            "prev_seal_hash": prev.seal_hash if prev else ZERO_HASH,
            "xid_from": xid_from,
            "xid_to": xid_to,
            "event_count": scan.count,
            "merkle_root": root,
            "index_digest": digest,
            "first_ingest_seq": scan.first_seq,
            "last_ingest_seq": scan.last_seq,
            "oldest_event": scan.oldest,
            "newest_event": scan.newest,
            "key_id": key.key_id,
        }
        text = canonical_seal_text(**fields, fmt=fmt)
        seal = Seal(
            **fields,
            seal_hash=hashlib.sha256(text).digest(),
            signature=key.sign(text),
            format=fmt,
        )
        insert_seal(session, seal)
    if seal_dir is not None:
        write_seal_file(seal, seal_dir)
    return seal


def _store_leaves(
    session: ScopedSession, org: str, seal_seq: int, chunks: list[tuple[bytes, bytes]]
) -> None:
    if not chunks:
        return
    # Through the driver with binary parameters: megabytes of hashes then travel as they are
    # instead of hex-escaped and parsed back (the same transaction: one connection).
    sql = (
        "INSERT INTO audit_seal_leaves (organization_id, seal_seq, chunk_no, entries,"
        " event_ids) VALUES (%s, %s, %s, %b, %b)"
    )
    with session.raw_connection(sql) as driver, driver.cursor() as cursor:
        cursor.executemany(
            sql,
            [
                (org, seal_seq, chunk_no, entries, ids)
                for chunk_no, (entries, ids) in enumerate(chunks)
            ],
        )


def organizations(db: Database) -> list[str]:
    with db.admin() as session:
        result = session.execute(
            "SELECT organization_id FROM organizations ORDER BY organization_id",
            max_rows=1_000_000,
        )
    return [r[0] for r in result.rows]


def seal_all(
    db: Database,
    key: SigningKey,
    *,
    orgs: Sequence[str] | None = None,
    seal_dir: Path | None = None,
) -> list[Seal]:
    """One seal for each organisation (all known ones unless `orgs` is given)."""
    return [
        seal_organization(db, org, key, seal_dir=seal_dir)
        for org in (orgs if orgs is not None else organizations(db))
    ]
