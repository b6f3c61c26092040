"""An SDK producer process for the soak: `python -m tests.soak.producer ...`.

It logs events through `AuditLogger(durable=True)` until `--until` (a Unix time), and after
each `log_event` that returned True (the event is on disk in the spool) appends the event's
id to `--acks`. The soak kills it with SIGKILL at random moments and starts it again under the
same `--name`, whose spool folder the new process replays.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

from ingest.sdk import AuditLogger
from sql.gateway import Database
from sql.settings import Settings
from tests.soak.workload import RoundState, event

# Keeps a producer to roughly a hundred events a second: the machine is shared.
PAUSE_SECONDS = 0.008
CONTESTED_SHARE = 0.25


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--org", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--spool", type=Path, required=True)
    parser.add_argument("--acks", type=Path, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--until", type=float, required=True)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    state = RoundState(args.state)
    # Not Database.open(): it refuses to start while the server is away, and riding out
    # an outage is the point.
    db = Database(args.url, Settings(args.url, args.spool, max_rows=1_000))
    logger = AuditLogger(
        db, spool_dir=args.spool, name=args.name, durable=True, close_at_exit=False
    )
    acks = os.open(args.acks, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    run = f"{os.getpid()}"
    n = 0
    months = state.months()
    while time.time() < args.until:
        if n % 20 == 0:
            months = state.months()
        month = rng.choice(months) if months and rng.random() < CONTESTED_SHARE else None
        event_id = f"{args.org}-{args.name}-{run}-{n}"
        n += 1
        if logger.log_event(event(rng, args.org, event_id, month=month)):
            os.write(acks, f"{event_id}\n".encode())
        time.sleep(PAUSE_SECONDS)
    os.close(acks)
    # Whatever the database did not take in time stays in the spool for the soak's drain.
    logger.close(timeout=20)
    db.close()


if __name__ == "__main__":
    main()
