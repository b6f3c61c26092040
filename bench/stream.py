"""Streaming throughput per format and destination, against writing the same events to a file.

    python bench/stream.py --events 50000 --steady-seconds 30
    python bench/stream.py --url postgresql://...   # an existing server (creates a database)

Four parts, all in one run, with the load average printed before and after:

- baseline: the same events written as native JSON lines to a local file (no database).
- senders: synthetic stored events encoded and sent in batches of `streaming.cursor.BATCH`
  to a real rsyslogd over TCP and TLS, to a local HTTPS receiver (the tests' throwaway CA,
  in its own process, like any receiver) and to a file destination: formats and senders
  alone.
- end to end: the same events stored in a throwaway PostgreSQL, then each destination's
  streamer run until caught up: reading after the cursor, encoding, sending, and moving the
  cursor after each acknowledgement (the whole delivery path). Beside events/s, the events
  per CPU-second of the streamer's own process, a figure a busy machine disturbs less.
- steady: events stored at a steady rate while the background streamer sends them to the
  HTTPS receiver; the receiver measures each event's lag (arrival minus `received_at`) and
  the maximum and 95th percentile are printed.

Prints events/s and the ratio to the baseline; asserts nothing.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sql.embedded import EmbeddedPostgres  # noqa: E402
from sql.event_store import insert_events  # noqa: E402
from sql.gateway import Database  # noqa: E402
from sql.migrate import migrate  # noqa: E402
from sql.settings import Settings  # noqa: E402
from sql.vocabulary import EVENT_COLUMNS  # noqa: E402
from streaming import destinations as store  # noqa: E402
from streaming.cursor import BATCH  # noqa: E402
from streaming.files import FileSender  # noqa: E402
from streaming.formats import FORMATS, encoder, native_event  # noqa: E402
from streaming.https import HttpsSender  # noqa: E402
from streaming.network import ALLOWED_NETWORKS_ENV  # noqa: E402
from streaming.records import Record  # noqa: E402
from streaming.service import Streamer, background_streaming  # noqa: E402
from streaming.syslog import SyslogSender  # noqa: E402
from streaming.times import utc_iso  # noqa: E402
from tests.streaming.rsyslog import Rsyslog, free_port  # noqa: E402
from tests.streaming.tls import Certificates, make_certificates  # noqa: E402

BENCH_CREDENTIAL = "bench"
ORG = "org_bench"


def events(count: int) -> list[dict[str, Any]]:
    start = datetime(2025, 1, 15, tzinfo=UTC)
    return [
        {
            "organization_id": ORG,
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


def rate(count: int, work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return count / (time.perf_counter() - started)


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


# The HTTPS receiver runs in its own process: in the sender's process it would compete with
# the sender for the interpreter lock, which no real receiver does.
def _serve(cert: str, key: str, port: int, ready: Any) -> None:
    lock = threading.Lock()
    state: dict[str, Any] = {"records": 0, "lags": []}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return None

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            arrived = time.time()
            lines = body.splitlines()
            with lock:
                state["records"] += len(lines)
                if self.path == "/lag":
                    for line in lines:
                        received = datetime.fromisoformat(orjson.loads(line)["received_at"])
                        state["lags"].append(arrived - received.timestamp())
            self._answer(b'{"text":"Success","code":0}')

        def do_GET(self) -> None:
            with lock:
                self._answer(orjson.dumps(state))

        def do_DELETE(self) -> None:
            with lock:
                state.update(records=0, lags=[])
            self._answer(b"{}")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    ready.set()
    server.serve_forever()


class Receiver:
    def __init__(self, certificates: Certificates) -> None:
        self.port = free_port()
        self.context = ssl.create_default_context(cafile=str(certificates.ca))
        ready = multiprocessing.Event()
        self.process = multiprocessing.Process(
            target=_serve,
            args=(str(certificates.cert), str(certificates.key), self.port, ready),
            daemon=True,
        )
        self.process.start()
        ready.wait(30)

    def _call(self, method: str) -> dict[str, Any]:
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context)
        try:
            conn.request(method, "/")
            answer: dict[str, Any] = orjson.loads(conn.getresponse().read())
            return answer
        finally:
            conn.close()

    def state(self) -> dict[str, Any]:
        return self._call("GET")

    def reset(self) -> None:
        self._call("DELETE")

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)


def https_settings(receiver: Receiver, certificates: Certificates, path: str = "/") -> dict:
    return {
        "url": f"https://127.0.0.1:{receiver.port}{path}",
        "style": "ndjson",
        "auth": "header",
        "header": "Authorization",
        "ca_file": str(certificates.ca),
    }


def send_all(sender: Any, format_name: str, stored: list[dict[str, Any]]) -> None:
    encode = encoder(format_name)
    for i in range(0, len(stored), BATCH):
        chunk = stored[i : i + BATCH]
        sender.send(
            [
                Record(e["id"], e["organization_id"], utc_iso(e["event_time"]), "event", encode(e))
                for e in chunk
            ]
        )


def senders_part(
    stored: list[dict[str, Any]],
    base: float,
    folder: Path,
    certificates: Certificates,
    receiver: Receiver,
    rsyslog: Rsyslog,
    rsyslog_tls: Rsyslog,
) -> None:
    count = len(stored)
    print(f"\nsenders alone (no database), batches of {BATCH:,}:")
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
            "syslog tls": SyslogSender(
                {
                    "host": "localhost",
                    "port": rsyslog_tls.port,
                    "tls": True,
                    "ca_file": str(certificates.ca),
                }
            ),
            "https ndjson": HttpsSender(https_settings(receiver, certificates), BENCH_CREDENTIAL),
        }
        for name, sender in senders.items():
            per_second = rate(count, lambda s=sender, f=format_name: send_all(s, f, stored))
            sender.close()
            print(
                f"  {format_name:5} {name:13} {per_second:>10,.0f} events/s"
                f"  ({per_second / base:.2f} x the baseline)"
            )


@contextmanager
def database(url: str | None, folder: Path) -> Iterator[Database]:
    server = None
    if url is None:
        server = EmbeddedPostgres(folder / "pg")
        url = server.start()
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        name = f"auditlens_bench_{os.getpid()}"
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = make_url(url).set(database=name).render_as_string(hide_password=False)
    db = Database(url, Settings(database_url=url, data_dir=folder))
    try:
        migrate(db)
        yield db
    finally:
        db.close()
        if server is not None:
            server.stop()


def store_events(db: Database, stored: list[dict[str, Any]], prefix: str) -> None:
    for i in range(0, len(stored), 10_000):
        rows = [
            tuple(f"{prefix}{e['id']}" if c == "id" else e[c] for c in EVENT_COLUMNS)
            for e in stored[i : i + 10_000]
        ]
        with db.writer() as session:
            insert_events(session, rows)


def end_to_end_part(
    db: Database,
    stored: list[dict[str, Any]],
    base: float,
    folder: Path,
    certificates: Certificates,
    receiver: Receiver,
    rsyslog: Rsyslog,
    rsyslog_tls: Rsyslog,
) -> None:
    count = len(stored)
    destinations: list[tuple[str, str, str, dict[str, Any]]] = [
        ("file-json", "file", "json", {"path": str(folder / "e2e.ndjson")}),
        ("https-json", "https", "json", https_settings(receiver, certificates)),
        ("syslog-tcp-json", "syslog", "json", {"host": "127.0.0.1", "port": rsyslog.port}),
        ("syslog-tcp-cef", "syslog", "cef", {"host": "127.0.0.1", "port": rsyslog.port}),
        (
            "syslog-tls-json",
            "syslog",
            "json",
            {
                "host": "localhost",
                "port": rsyslog_tls.port,
                "tls": True,
                "ca_file": str(certificates.ca),
            },
        ),
        ("https-ocsf", "https", "ocsf", https_settings(receiver, certificates)),
    ]
    for name, kind, payload, settings in destinations:
        store.add(
            db,
            ORG,
            name,
            kind=kind,
            payload=payload,
            settings=settings,
            secret=BENCH_CREDENTIAL if kind == "https" else None,
            findings=False,
            actor="bench",
        )
    store_events(db, stored, "")
    print("\nend to end (stored events -> cursor -> encode -> send -> acknowledge):")
    streamer = Streamer(db)
    try:
        for name, _kind, payload, _settings in destinations:
            destination = store.get(db, ORG, name)
            sent = 0

            def work(d: store.Destination = destination) -> None:
                nonlocal sent
                sent = streamer.deliver(d)

            cpu = time.process_time()
            per_second = rate(count, work)
            cpu = time.process_time() - cpu
            print(
                f"  {payload:5} {name:16} {per_second:>10,.0f} events/s"
                f"  ({per_second / base:.2f} x the baseline; {sent:,} records sent;"
                f" {sent / cpu:,.0f} per CPU-second of the streamer's process)"
            )
            store.pause(db, ORG, name, actor="bench")
    finally:
        streamer.close()


def steady_part(
    db: Database,
    seconds: int,
    per_second: int,
    certificates: Certificates,
    receiver: Receiver,
) -> None:
    store.add(
        db,
        ORG,
        "steady",
        kind="https",
        payload="json",
        settings=https_settings(receiver, certificates, "/lag"),
        secret=BENCH_CREDENTIAL,
        findings=False,
        actor="bench",
    )
    receiver.reset()
    tick = 0.1
    per_tick = max(1, round(per_second * tick))
    template = events(per_tick)
    total = 0
    with background_streaming(db, log=print):
        started = time.monotonic()
        n = 0
        while (elapsed := time.monotonic() - started) < seconds:
            store_events(db, template, f"steady{n}_")
            total += per_tick
            n += 1
            time.sleep(max(0.0, started + n * tick - time.monotonic()))
        deadline = time.monotonic() + 60
        while receiver.state()["records"] < total and time.monotonic() < deadline:
            time.sleep(0.2)
    state = receiver.state()
    lags = sorted(state["lags"])
    p95 = lags[int(0.95 * (len(lags) - 1))] if lags else float("nan")
    worst = max(lags, default=float("nan"))
    print(
        f"\nsteady {per_second:,} events/s for {seconds} s (stored {total:,} in {elapsed:.1f} s),"
        f" https ndjson: received {state['records']:,}; lag max {worst:.2f} s, p95 {p95:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--steady-seconds", type=int, default=30)
    parser.add_argument("--steady-rate", type=int, default=1000)
    parser.add_argument("--url", help="an existing PostgreSQL (superuser) URL")
    parser.add_argument("--skip-senders", action="store_true", help="database parts only")
    args = parser.parse_args()
    # The receivers listen on this machine's loopback.
    os.environ[ALLOWED_NETWORKS_ENV] = "127.0.0.0/8,::1/128"
    count = args.events
    stored = events(count)
    print(f"stream benchmark: {count:,} events; {load()}")
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        folder.chmod(0o755)
        baseline_path = folder / "baseline.ndjson"

        def baseline() -> None:
            with open(baseline_path, "w", encoding="utf-8") as out:
                for event in stored:
                    out.write(native_event(event) + "\n")

        base = rate(count, baseline)
        print(f"baseline (native JSON lines to a local file): {base:,.0f} events/s")
        certificates = make_certificates(folder)
        (folder / "rsyslog").mkdir()
        (folder / "rsyslog-tls").mkdir()
        rsyslog = Rsyslog(folder / "rsyslog", None)
        rsyslog_tls = Rsyslog(folder / "rsyslog-tls", certificates)
        rsyslog.start()
        rsyslog_tls.start()
        receiver = Receiver(certificates)
        try:
            if not args.skip_senders:
                senders_part(stored, base, folder, certificates, receiver, rsyslog, rsyslog_tls)
            with database(args.url, folder) as db:
                end_to_end_part(
                    db, stored, base, folder, certificates, receiver, rsyslog, rsyslog_tls
                )
                if args.steady_seconds:
                    steady_part(db, args.steady_seconds, args.steady_rate, certificates, receiver)
        finally:
            receiver.stop()
            rsyslog.kill()
            rsyslog_tls.kill()
    print(load())


if __name__ == "__main__":
    main()
