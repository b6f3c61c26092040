"""What the Integrity page shows, read in the organisation's reader session: the last seal,
the seals before it, what is not sealed yet, and the last verification with its findings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from sql.gateway import Database, check_org_id


@dataclass
class IntegrityStatus:
    last_seal: dict[str, Any] | None
    seal_count: int
    sealed_events: int
    unsealed_events: int  # exact up to UNSEALED_COUNT_CAP
    unsealed_over_cap: bool  # more than UNSEALED_COUNT_CAP events wait for a seal
    recent_seals: pd.DataFrame
    last_verification: dict[str, Any] | None
    findings: pd.DataFrame


FINDING_COLUMNS = ["kind", "seal_seq", "event_id", "detail"]
# Events past the last seal are counted up to this many: an organisation never sealed (a
# history just imported, say) would otherwise be counted whole on every page view, seconds
# at 10 million events; past the cap the page says "over 100,000", which is what matters.
UNSEALED_COUNT_CAP = 100_000


def integrity_status(db: Database, org: str, *, recent: int = 20) -> IntegrityStatus:
    """The organisation's sealing and verification state."""
    check_org_id(org)
    with db.org_session(org) as session:
        totals = session.execute(
            "SELECT count(*) AS seals, coalesce(sum(event_count), 0) AS events FROM org_audit_seals"
        ).dicts()[0]
        seals = session.frame(
            "SELECT seal_seq, sealed_at, event_count, first_ingest_seq, last_ingest_seq,"
            " oldest_event, newest_event, encode(merkle_root, 'hex') AS merkle_root,"
            " encode(seal_hash, 'hex') AS seal_hash, key_id"
            " FROM org_audit_seals ORDER BY seal_seq DESC LIMIT :n",
            {"n": recent},
        )
        last = seals.iloc[0].to_dict() if len(seals) else None
        xid_to = session.scalar(
            "SELECT xid_to::text FROM org_audit_seals ORDER BY seal_seq DESC LIMIT 1"
        )
        unsealed = session.scalar(
            "SELECT count(*) FROM (SELECT FROM org_audit_events"
            " WHERE ingest_xid >= CAST(coalesce(:xid, '0') AS xid8) LIMIT :cap) pending",
            {"xid": xid_to, "cap": UNSEALED_COUNT_CAP + 1},
        )
        verification = session.execute(
            "SELECT verification_id, started_at, finished_at, actor, range_from, range_to,"
            " key_ids, seals_checked, events_checked, pending_events, last_seal_seq, clean,"
            " problem_count, findings FROM org_audit_verifications"
            " ORDER BY verification_id DESC LIMIT 1"
        ).dicts()
    last_verification = verification[0] if verification else None
    findings = pd.DataFrame(
        (last_verification or {}).get("findings") or [], columns=FINDING_COLUMNS
    )
    if last_verification is not None:
        last_verification = {k: v for k, v in last_verification.items() if k != "findings"}
    return IntegrityStatus(
        last_seal=last,
        seal_count=int(totals["seals"]),
        sealed_events=int(totals["events"]),
        unsealed_events=min(int(unsealed or 0), UNSEALED_COUNT_CAP),
        unsealed_over_cap=int(unsealed or 0) > UNSEALED_COUNT_CAP,
        recent_seals=seals,
        last_verification=last_verification,
        findings=findings,
    )
