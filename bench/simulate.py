"""Simulator throughput to a file, and its memory, against a baseline measured in the same run.

    python bench/simulate.py                          # ~1M events
    python bench/simulate.py --users 5000 --days 120  # ~10M events: bounded memory

Baseline: the cheapest possible producer of the same number of wire-format lines (one fixed
event serialised with orjson per line, only the id changing, written in the same chunks).
The simulator does everything that one does plus people, habits, scenarios and sorting, so
its ratio to the baseline says how close to "free" the simulation is on this machine, while
events/s is compared with the 200,000/s goal (which depends on the machine's load).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator import Simulation, SimulationConfig, write_jsonl

GOAL = 200_000  # events per second to a file


def baseline(path: Path, events: int, chunk: int = 20_000) -> float:
    """Seconds to write `events` lines of one fixed event (id varies) with orjson."""
    event = {
        "id": "", "timestamp": "2025-01-15T14:32:15.123Z", "event_type": "log_access",
        "event_action": "search", "user_id": "user_xyz789", "user_email": "john@company.com",
        "organization_id": "org_bench", "ip_address": "192.168.1.100",
        "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36",
        "resource_type": "source", "resource_id": "source_production_api",
        "details": {"query": "level:error AND user_id:12345", "results_count": 47,
                    "time_range": {"start": "2025-01-15T14:00:00Z",
                                   "end": "2025-01-15T14:30:00Z"}},
        "session_id": "sess_abc123",
    }  # fmt: skip
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    began = time.perf_counter()
    with path.open("wb") as fh:
        done = 0
        while done < events:
            n = min(chunk, events - done)
            lines = []
            for i in range(done, done + n):
                event["id"] = f"audit_{i:010d}"
                lines.append(dumps(event, option=newline))
            fh.write(b"".join(lines))
            done += n
    return time.perf_counter() - began


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=25)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="auditlens-bench-") as folder:
        out = Path(folder) / "events.jsonl"
        config = SimulationConfig("org_bench", users=args.users, days=args.days, seed=args.seed)
        began = time.perf_counter()
        cpu = time.process_time()
        child_cpu = _children_cpu()
        outcome = write_jsonl(Simulation(config), out)
        seconds = time.perf_counter() - began
        cpu_seconds = time.process_time() - cpu
        child_seconds = _children_cpu() - child_cpu
        size = out.stat().st_size
        out.unlink()
        base_seconds = baseline(Path(folder) / "baseline.jsonl", outcome.events)
    rate = outcome.events / seconds
    base_rate = outcome.events / base_seconds
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"simulate: {args.users} users x {args.days} days -> {outcome.events:,} events, "
          f"{size / 2**20:,.0f} MiB, {outcome.labels} labels")  # fmt: skip
    print(f"simulator : {seconds:8.2f} s  {rate:>12,.0f} events/s  (CPU: simulating "
          f"{cpu_seconds:.2f} s, rendering in the child {child_seconds:.2f} s)")  # fmt: skip
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average: {load} (2 busy cores halve these rates; compare the ratio)")
    print(f"baseline  : {base_seconds:8.2f} s  {base_rate:>12,.0f} events/s  (fixed event)")
    print(f"ratio simulator/baseline: {rate / base_rate:.2f}")
    print(f"goal {GOAL:,} events/s: {'met' if rate >= GOAL else 'NOT met'} ({rate / GOAL:.2f}x)")
    print(f"peak memory (RSS): {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
