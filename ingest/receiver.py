"""The HTTP receiver (`auditlens serve-ingest`): producers in any language POST events.

    POST /v1/events      Authorization: Bearer alk_...   (per-organisation ingest key)
                         Content-Type: application/json (an array, or one object)
                                    or application/x-ndjson (one event per line)
                         Content-Encoding: gzip (optional)
    GET  /healthz        liveness and whether the database answers
    GET  /openapi.json   the OpenAPI document (FastAPI)
    GET  /api/v1/events, /api/v1/findings   the read API, with a read key (alr_...), when
                         the command serving this app adds it (`streaming.read_api`)

It answers 202 only after the batch is committed, or, when the database is unavailable,
durably spooled (then `"stored": "spool"`; the spool is replayed in the background and on the
next start). The answer counts accepted, duplicates and rejected (which add up to the events
sent) and lists each rejection with its index (0-based position in the array, or line number
for NDJSON), field and reason. Errors are JSON `{"error": ...}`: 400 malformed body, 401
missing, unknown or revoked key, 403 a read key (it cannot send events) or every event names
another organisation than the key's,
408 body not received in time, 413 body too large, 415 unsupported content type or encoding,
422 no events, 503 too many bodies at once or the database away (with Retry-After).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
import time
import zlib
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ingest import fastjson
from ingest.keys import INGEST, READ, ResolvedKey, resolve, resolve_key, revoked_at
from ingest.model import EventRejected
from ingest.spool import Spool, SpooledLine
from ingest.writer import EventWriter, Item, WriteResult, raw_bytes
from sql.errors import ServerUnavailable
from sql.gateway import Database
from sql.settings import positive_float_env, positive_int_env

MAX_BODY_ENV = "AUDITLENS_INGEST_MAX_BODY_BYTES"
DEFAULT_MAX_BODY = 10 * 1024 * 1024
# A client gets this long to send its whole body: a slow drip (slow-loris) is cut off.
BODY_TIMEOUT_ENV = "AUDITLENS_INGEST_BODY_TIMEOUT_SECONDS"
DEFAULT_BODY_TIMEOUT = 60.0
# Bodies held in memory at once (being read, parsed or stored); more get 503 + Retry-After.
MAX_BODIES_ENV = "AUDITLENS_INGEST_MAX_CONCURRENT_BODIES"
DEFAULT_MAX_BODIES = 8
RETRY_AFTER_SECONDS = 1
GZIP_MAGIC = b"\x1f\x8b"
JSON_TYPES = frozenset({"application/json"})
NDJSON_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)
MAX_LISTED_REJECTIONS = 1_000
# How long a key the database confirmed may still be used while the database is unavailable.
KEY_GRACE_SECONDS = 900
# Server states that mean "cannot be asked now" (shutting down, starting, full): the others
# are answers (a timeout, a missing privilege), and an answer is never replaced by the cache.
_UNREACHABLE_STATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the database could not be asked at all (no connection, or a server
    shutting down, starting or full), as opposed to an error it answered with."""
    if isinstance(exc, ServerUnavailable):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if not isinstance(orig, psycopg.OperationalError):
        return False
    state = orig.sqlstate or ""
    return not state or state.startswith("08") or state in _UNREACHABLE_STATES


class HTTPProblem(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def max_body_bytes() -> int:
    return positive_int_env(MAX_BODY_ENV, DEFAULT_MAX_BODY)


def body_timeout_seconds() -> float:
    return positive_float_env(BODY_TIMEOUT_ENV, DEFAULT_BODY_TIMEOUT)


def max_concurrent_bodies() -> int:
    return positive_int_env(MAX_BODIES_ENV, DEFAULT_MAX_BODIES)


def _wrong_org(key_org: str) -> Any:
    def check(org: str) -> str | None:
        if org == key_org:
            return None
        return f"{org!r} is not the ingest key's organisation"

    return check


class Receiver:
    """The receiver's state: database, spool for outages, and the replay thread."""

    def __init__(
        self,
        db: Database,
        *,
        spool_dir: Path,
        max_body: int | None = None,
        body_timeout: float | None = None,
        max_bodies: int | None = None,
        after_batch: Any = None,
        replay_interval: float = 1.0,
    ) -> None:
        self.db = db
        self.max_body = max_body or max_body_bytes()
        self.body_timeout = body_timeout or body_timeout_seconds()
        self.max_bodies = max_bodies or max_concurrent_bodies()
        self.spool = Spool(spool_dir, "http")
        self.after_batch = after_batch
        self.replay_interval = replay_interval
        self._dirty = threading.Event()
        if self.spool.pending() or self.spool.orphan_folders():
            self._dirty.set()
        self._confirmed: dict[bytes, tuple[ResolvedKey, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._replayer, name="auditlens-http-replay", daemon=True
        )
        self._thread.start()

    # -- request handling (runs in a worker thread) ----------------------------------------

    def authenticate(self, header: str | None) -> ResolvedKey:
        """The ingest key of the request's Authorization header, or an HTTPProblem. When the
        database cannot be reached, a key it confirmed within KEY_GRACE_SECONDS still
        serves (what it sends is spooled with the key's id and checked again on replay);
        whatever the database answers, a revoke included, wins."""
        if not header:
            raise HTTPProblem(401, "missing Authorization header (expected: Bearer <ingest key>)")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPProblem(401, "Authorization must be 'Bearer <ingest key>'")
        token = token.strip()
        fingerprint = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        try:
            key = resolve(self.db, token, INGEST)
        except Exception as exc:
            # The database is away: a key it confirmed recently may still spool, so producers
            # keep their no-loss promise through an outage.
            known = self._confirmed.get(fingerprint) if unreachable(exc) else None
            if known and time.monotonic() - known[1] < KEY_GRACE_SECONDS:
                return known[0]
            raise HTTPProblem(503, "cannot check the ingest key: database unavailable") from None
        if key is None:
            self._confirmed.pop(fingerprint, None)
            if self._is_read_key(token):
                raise HTTPProblem(403, "this is a read key: it can read events, not send them")
            raise HTTPProblem(401, "unknown or revoked ingest key")
        if len(self._confirmed) > 10_000:
            self._confirmed.clear()
        self._confirmed[fingerprint] = (key, time.monotonic())
        return key

    def _is_read_key(self, token: str) -> bool:
        try:
            return resolve_key(self.db, token, READ) is not None
        except Exception:
            return False

    def parse(self, body: bytes, content_type: str) -> list[Item]:
        if content_type in NDJSON_TYPES:
            items = []
            for line_no, line in enumerate(body.split(b"\n"), start=1):
                line = line.strip()
                if not line:
                    continue
                try:
                    items.append(Item(line_no, line, fastjson.loads(line)))
                except (ValueError, RecursionError) as exc:
                    reason = (
                        "is not valid UTF-8"
                        if isinstance(exc, UnicodeDecodeError)
                        else ("is not valid JSON")
                    )
                    items.append(Item(line_no, line, rejected=EventRejected("line", reason)))
            if not items:
                raise HTTPProblem(422, "the body holds no events")
            return items
        try:
            value = fastjson.loads(body)
        except UnicodeDecodeError:
            raise HTTPProblem(400, "the body is not valid UTF-8") from None
        except json.JSONDecodeError as exc:
            raise HTTPProblem(
                400,
                f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            ) from None
        except RecursionError:
            raise HTTPProblem(400, "the body nests too deep to read") from None
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list):
            raise HTTPProblem(422, "the body must be a JSON array of events (or one event)")
        if not value:
            raise HTTPProblem(422, "the body holds no events")
        return [Item(i, raw_bytes(v), v) for i, v in enumerate(value)]

    def handle(
        self, org: str, body: bytes, content_type: str, *, key_id: str | None = None
    ) -> tuple[WriteResult, str]:
        """Parse and store one request body (in a worker thread: both take CPU time)."""
        return self.store(org, self.parse(body, content_type), key_id=key_id)

    def store(
        self, org: str, items: list[Item], *, key_id: str | None = None
    ) -> tuple[WriteResult, str]:
        """Write `items` of `org` (sent with the ingest key `key_id`), else spool them."""
        named = {
            org_named
            for i in items
            if isinstance(i.value, dict)
            and isinstance(org_named := i.value.get("organization_id"), str)
        }
        if named and org not in named:
            shown = ", ".join(sorted(repr(n)[:40] for n in named)[:3])
            raise HTTPProblem(
                403, f"this ingest key belongs to organisation {org!r}; the events name {shown}"
            )
        writer = EventWriter(
            self.db, source="http", default_org=org, org_check=_wrong_org(org), content_ids=True
        )
        try:
            result = writer.write(items)
        except Exception:
            return self._spool(org, items, writer, key_id), "spool"
        if self.after_batch is not None:
            self.after_batch()
        return result, "database"

    def _spool(
        self, org: str, items: list[Item], writer: EventWriter, key_id: str | None
    ) -> WriteResult:
        """The database is away: keep the request durably, answer from validation alone.
        Each line keeps the key's id and when it arrived: the replay refuses what a key sent
        after it was revoked."""
        fresh = [Item(i.position, i.raw, i.value, i.rejected) for i in items]
        rows, _, bad = writer.check(fresh)
        lines = []
        sent: dict[str, Any] = {"k": key_id, "t": time.time()} if key_id else {}
        for item in items:
            envelope: dict[str, Any] = {"o": org, "p": item.position, **sent}
            if item.rejected is None and item.value is not None:
                envelope["e"] = item.value
            else:
                envelope["b"] = base64.b64encode(item.raw).decode("ascii")
            try:
                text = json.dumps(envelope, ensure_ascii=False)
            except (TypeError, ValueError, RecursionError):
                text = json.dumps(
                    {"o": org, "p": item.position, "b": base64.b64encode(item.raw).decode("ascii")}
                )
            lines.append(text.encode("utf-8", "surrogatepass") + b"\n")
        try:
            self.spool.append(lines)
        except OSError:
            raise HTTPProblem(503, "database unavailable and the local spool failed") from None
        self._dirty.set()
        from ingest.writer import Rejection

        return WriteResult(
            sent=len(items),
            accepted=len(rows),
            rejected=len(bad),
            rejections=sorted(
                (
                    Rejection(i.position, i.rejected.field, i.rejected.reason)
                    for i in bad
                    if i.rejected
                ),
                key=lambda r: r.position,
            ),
        )

    # -- spool replay ----------------------------------------------------------------------

    def _replayer(self) -> None:
        while not self._stop.is_set():
            if self._dirty.wait(self.replay_interval) and not self._stop.is_set():
                self._dirty.clear()
                try:
                    self.spool.replay(self._write_spooled)
                    if self.after_batch is not None:
                        self.after_batch()
                except Exception:
                    self._dirty.set()
                    self._stop.wait(self.replay_interval)

    def _write_spooled(self, lines: list[SpooledLine]) -> None:
        by_org: dict[str, list[Item]] = defaultdict(list)
        key_ids = {
            e["k"] for _, _, e, _ in lines if isinstance(e, dict) and isinstance(e.get("k"), str)
        }
        revoked = revoked_at(self.db, INGEST, key_ids) if key_ids else {}
        for line_no, _raw, envelope, key in lines:
            if not isinstance(envelope, dict) or not isinstance(envelope.get("o"), str):
                continue  # not ours: a torn or foreign line
            org = envelope["o"]
            position = envelope.get("p", line_no)
            refused = _revoked_before(envelope, revoked)
            if refused is not None:
                data = raw_bytes(envelope["e"]) if "e" in envelope else b""
                if "b" in envelope:
                    data = base64.b64decode(envelope["b"])
                by_org[org].append(Item(position, data, rejected=refused, replay_key=key))
            elif "e" in envelope:
                value = envelope["e"]
                by_org[org].append(Item(position, raw_bytes(value), value, replay_key=key))
            else:
                data = base64.b64decode(envelope.get("b", ""))
                by_org[org].append(Item(position, data, rejected=_redecode(data), replay_key=key))
        for org, items in by_org.items():
            EventWriter(
                self.db, source="http", default_org=org, org_check=_wrong_org(org), content_ids=True
            ).write(items)

    def pending(self) -> bool:
        return self._dirty.is_set() or self.spool.pending() > 0

    def close(self) -> None:
        self._stop.set()
        self._dirty.set()
        self._thread.join(timeout=10)
        self.spool.close()


def _revoked_before(envelope: dict[str, Any], revoked: dict[str, datetime]) -> EventRejected | None:
    """The rejection of a spooled line whose key was revoked before the line arrived."""
    when = revoked.get(envelope.get("k") or "")
    arrived = envelope.get("t")
    if when is None or not isinstance(arrived, int | float) or when.timestamp() > arrived:
        return None
    sent = datetime.fromtimestamp(arrived, UTC)
    return EventRejected(
        "key",
        f"the ingest key {envelope['k']} was revoked at {when.astimezone(UTC):%Y-%m-%d %H:%M:%S}"
        f" UTC, before this event arrived at {sent:%Y-%m-%d %H:%M:%S} UTC while the database"
        " was unavailable",
    )


def _redecode(data: bytes) -> EventRejected:
    try:
        json.loads(data)
    except UnicodeDecodeError:
        return EventRejected("line", "is not valid UTF-8")
    except (ValueError, RecursionError):
        return EventRejected("line", "is not valid JSON")
    return EventRejected("event", "could not be read")


def _decompress(body: bytes, limit: int) -> bytes:
    """Every member of a gzip body, as gzip tools read it; `limit` caps their sum."""
    out = bytearray()
    rest = body
    while True:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += decompressor.decompress(rest, limit + 1 - len(out))
        except zlib.error:
            raise HTTPProblem(400, "the body is not valid gzip") from None
        if len(out) > limit or decompressor.unconsumed_tail:
            raise HTTPProblem(413, f"the uncompressed body is larger than {limit} bytes")
        if not decompressor.eof:
            raise HTTPProblem(400, "the gzip body is truncated")
        rest = decompressor.unused_data
        if not rest:
            return bytes(out)
        if not rest.startswith(GZIP_MAGIC):
            raise HTTPProblem(400, "the gzip body is followed by data that is not gzip")


async def _read_body(request: Request, limit: int) -> bytes:
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(413, f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(receiver: Receiver) -> FastAPI:
    """The FastAPI application serving `receiver`."""
    app = FastAPI(
        title="AuditLens ingest",
        version="1",
        description=__doc__,
    )

    bodies = asyncio.Semaphore(receiver.max_bodies)

    @app.exception_handler(HTTPProblem)
    async def problem(request: Request, exc: HTTPProblem) -> JSONResponse:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if exc.status == 503 else None
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)

    # Starlette's own answers (404 no such path, 405 with Allow) keep the promised shape too.
    @app.exception_handler(HTTPException)
    async def routing(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:
        # The cause goes to the server's log (Starlette re-raises it), never to the client.
        return JSONResponse({"error": "internal error"}, status_code=500)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        """Liveness: the process answers; `database` says whether the database does."""
        try:
            with receiver.db.writer(timeout_ms=2_000) as s:
                s.scalar("SELECT 1")
            database = "ok"
        except Exception:
            database = "unavailable"
        return {"status": "ok", "database": database, "spool_pending": receiver.pending()}

    @app.post(
        "/v1/events",
        status_code=202,
        responses={
            400: {"description": "malformed body"},
            401: {"description": "missing, unknown or revoked ingest key"},
            403: {"description": "a read key, or the events name another organisation"},
            408: {"description": "the body did not arrive in time"},
            413: {"description": "body too large"},
            415: {"description": "unsupported content type or encoding"},
            422: {"description": "no events in the body"},
            503: {"description": "too many bodies at once, or the database is away (Retry-After)"},
        },
    )
    async def post_events(request: Request) -> JSONResponse:
        """Store a batch of audit events (JSON array or NDJSON, optionally gzip)."""
        started = time.perf_counter()
        key = await run_in_threadpool(receiver.authenticate, request.headers.get("authorization"))
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in JSON_TYPES | NDJSON_TYPES:
            raise HTTPProblem(415, "Content-Type must be application/json or application/x-ndjson")
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip"):
            raise HTTPProblem(415, f"Content-Encoding {encoding[:20]!r} is not supported (gzip is)")
        limit = receiver.max_body
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise HTTPProblem(413, f"the body is larger than {limit} bytes")
        if bodies.locked():
            raise HTTPProblem(503, "too many request bodies at once: retry shortly")
        async with bodies:
            try:
                async with asyncio.timeout(receiver.body_timeout):
                    body = await _read_body(request, limit)
            except TimeoutError:
                raise HTTPProblem(
                    408, f"the body did not arrive within {receiver.body_timeout:g} seconds"
                ) from None
            if encoding == "gzip":
                body = await run_in_threadpool(_decompress, body, limit)
            result, stored = await run_in_threadpool(
                lambda: receiver.handle(key.organization_id, body, content_type, key_id=key.key_id)
            )
        return JSONResponse(
            {
                "stored": stored,
                "sent": result.sent,
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": result.rejected,
                "rejections": [
                    {"index": r.position, "field": r.field, "reason": r.reason}
                    for r in result.rejections[:MAX_LISTED_REJECTIONS]
                ],
                "seconds": round(time.perf_counter() - started, 4),
            },
            status_code=202,
        )

    return app
