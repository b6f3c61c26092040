"""Streaming throughput per format and destination, against writing the same events to a file.

    python bench/stream.py --events 50000

Encodes synthetic stored events (no database: this measures the formats and the senders) and
sends them in batches of 1,000 to a real rsyslogd over TCP, to a local HTTPS receiver (the
tests' throwaway CA) and to a file destination; the baseline writes the same events as native
JSON lines to a local file. Prints events/s and the ratio to the baseline; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streaming.files import FileSender  # noqa: E402
from streaming.formats import FORMATS, encoder, native_event  # noqa: E402
from streaming.https import HttpsSender  # noqa: E402
from streaming.records import Record  # noqa: E402
from streaming.syslog import SyslogSender  # noqa: E402
from tests.streaming.https_receiver import HttpsReceiver  # noqa: E402
from tests.streaming.rsyslog import Rsyslog, free_port  # noqa: E402
from tests.streaming.tls import make_certificates  # noqa: E402

BATCH = 1000
BENCH_CREDENTIAL = "bench"


def events(count: int) -> list[dict[str, Any]]:
    start = datetime(2025, 1, 15, tzinfo=UTC)
    return [
        {
            "organization_id": "org_bench",
            "id": f"evt_{i:09d}",
            "event_time": start + timedelta(milliseconds=i),
            "event_type": "log_access",
            "event_action": "search",
            "user_id": f"user_{i % 300}",
            "user_email": f"user{i % 300}@example.com",
            "ip_address": "10.1.2.3",
            "user_agent": "Mozilla/5.0",
            "resource_type": "source",
            "resource_id": "source_production_api",
            "details": {"query": "level:error AND service:payments", "results_count": i % 500},
            "session_id": f"sess_{i // 50}",
            "received_at": start,
            "retention_guaranteed_until": start,
            "ingest_seq": i,
        }
        for i in range(count)
    ]


def rate(count: int, work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return count / (time.perf_counter() - started)


def send_all(sender: Any, format_name: str, stored: list[dict[str, Any]]) -> None:
    encode = encoder(format_name)
    for i in range(0, len(stored), BATCH):
        chunk = stored[i : i + BATCH]
        sender.send(
            [
                Record(e["id"], e["organization_id"], e["event_time"], "event", encode(e))
                for e in chunk
            ]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    count = parser.parse_args().events
    stored = events(count)
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        baseline_path = folder / "baseline.ndjson"

        def baseline() -> None:
            with open(baseline_path, "w", encoding="utf-8") as out:
                for event in stored:
                    out.write(native_event(event) + "\n")

        base = rate(count, baseline)
        print(
            f"{count:,} events; baseline (native JSON lines to a local file): {base:,.0f} events/s"
        )
        certificates = make_certificates(folder)
        (folder / "rsyslog").mkdir()
        rsyslog = Rsyslog(folder / "rsyslog", None)
        rsyslog.start()
        https = HttpsReceiver(certificates, free_port(), secret=BENCH_CREDENTIAL, style="ndjson")
        https.start()
        try:
            for format_name in FORMATS:
                senders: dict[str, Any] = {
                    "file": FileSender(
                        {
                            "path": str(folder / f"out-{format_name}"),
                            "max_bytes": 2**40,
                            "max_seconds": 10**6,
                        }
                    ),
                    "syslog tcp": SyslogSender({"host": "127.0.0.1", "port": rsyslog.port}),
                    "https ndjson": HttpsSender(
                        {
                            "url": f"https://127.0.0.1:{https.port}/",
                            "style": "ndjson",
                            "auth": "header",
                            "header": "Authorization",
                            "ca_file": str(certificates.ca),
                        },
                        BENCH_CREDENTIAL,
                    ),
                }
                for name, sender in senders.items():
                    per_second = rate(count, lambda s=sender, f=format_name: send_all(s, f, stored))
                    sender.close()
                    print(
                        f"{format_name:5} {name:13} {per_second:>10,.0f} events/s"
                        f"  ({per_second / base:.2f} x the baseline)"
                    )
        finally:
            https.stop()
            rsyslog.kill()


if __name__ == "__main__":
    main()
