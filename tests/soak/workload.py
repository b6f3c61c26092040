"""What the soak sends: event shapes, the months it dates them into, the shared round state.

Two kinds of month matter to the purge. A *contested* month gets expired `login` events
(90 days) from the seeder and, at the same time, unexpired `config_change` events (the soak
organisations keep those for 36,500 days) from the producers, so the purge keeps meeting
partitions that hold only expired rows while an insert of an unexpired one is in flight
(most surely in each round's *bulk* month, which a slow bulk writer alone fills: see
`actors.seeder`). A *doomed* month only ever gets expired events: the purge must drop its
partition.
"""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ORGS = ("soak_org_a", "soak_org_b")
KEPT_FAMILY = "config_change"  # kept for KEPT_DAYS by the soak organisations' policy
KEPT_DAYS = 36_500
EXPIRED_FAMILY = "login"  # 90 days by default: expired in every month below
FIRST_CONTESTED_BACK = 6  # months before the current one
CONTESTED_CYCLE = 600  # months; then they are reused (1970 is the model's lower bound)
DOOMED_BACKS = (640, 641, 642)
USERS_PER_ORG = 8


def month_start(months_back: int, now: datetime | None = None) -> datetime:
    """The first instant (UTC) of the month `months_back` months before `now`'s."""
    now = now or datetime.now(UTC)
    index = now.year * 12 + (now.month - 1) - months_back
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def contested_backs(round_no: int, per_round: int) -> list[int]:
    """The months (as months back) a round contests: fresh ones until the cycle wraps."""
    return [
        FIRST_CONTESTED_BACK + (round_no * per_round + j) % CONTESTED_CYCLE
        for j in range(per_round)
    ]


def user_of(org: str, k: int) -> str:
    return f"user_{org}_{k % USERS_PER_ORG}"


def event(
    rng: random.Random, org: str, event_id: str, *, month: datetime | None = None
) -> dict[str, Any]:
    """A valid wire event of `org`: recent log access, or (with `month`) a kept config change
    dated inside that month."""
    user = user_of(org, rng.randrange(USERS_PER_ORG))
    base: dict[str, Any] = {
        "id": event_id,
        "organization_id": org,
        "user_id": user,
        "user_email": f"{user}@example.test",
        "ip_address": f"10.{ORGS.index(org)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        "session_id": f"sess_{org}_{rng.randrange(50)}",
    }
    if month is None:
        moment = datetime.now(UTC) - timedelta(seconds=rng.uniform(0, 600))
        base.update(
            event_type="log_access",
            event_action="search",
            resource_type="source",
            resource_id=f"source_{org}_{rng.randrange(5)}",
            details={"query": f"level:error soak {rng.randrange(1000)}", "results_count": 3},
        )
    else:
        moment = month + timedelta(seconds=rng.uniform(0, 20 * 86_400))
        base.update(
            event_type=KEPT_FAMILY,
            event_action="update",
            resource_type="alert",
            resource_id=f"alert_{org}_{rng.randrange(5)}",
            details={"changes": {"threshold": {"old": 1, "new": 2}}},
        )
    base["timestamp"] = moment.isoformat()
    return base


def expired_event(rng: random.Random, org: str, event_id: str, month: datetime) -> dict[str, Any]:
    """A sign-in dated inside `month`: its 90-day guarantee passed long ago."""
    user = user_of(org, rng.randrange(USERS_PER_ORG))
    moment = month + timedelta(seconds=rng.uniform(0, 20 * 86_400))
    return {
        "id": event_id,
        "organization_id": org,
        "timestamp": moment.isoformat(),
        "event_type": EXPIRED_FAMILY,
        "event_action": "login",
        "user_id": user,
        "resource_type": "session",
        "resource_id": f"old_{org}",
    }


def org_of(event_id: str) -> str | None:
    """The soak organisation an id was made for (every soak id starts with it), else None."""
    for org in ORGS:
        if event_id.startswith(org + "-"):
            return org
    return None


class RoundState:
    """The months being contested now, shared with producer processes through one file
    (replaced atomically, so a reader never sees half of it)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def publish(self, round_no: int, months: list[datetime]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"round": round_no, "months": [m.isoformat() for m in months]}),
            encoding="utf-8",
        )
        os.replace(tmp, self.path)

    def months(self) -> list[datetime]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [datetime.fromisoformat(m) for m in data["months"]]


def read_acks(path: Path) -> list[str]:
    """Ids a producer process acknowledged, one per line; a torn last line (the process was
    killed while writing it) is not an acknowledgement."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    return [line.decode() for line in lines[:-1] if line]
