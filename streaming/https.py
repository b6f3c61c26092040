"""HTTPS delivery: a batch per POST, as NDJSON, Splunk HEC events or Datadog-style logs.

A 2xx answer is the receiver's acknowledgement. The secret goes in a header (bearer token,
`Splunk <token>`, or a Datadog API key) or signs the body with HMAC-SHA256:
`X-AuditLens-Signature: sha256=HEX(HMAC(key, TIMESTAMP + "." + BODY))` with the Unix
timestamp in `X-AuditLens-Timestamp`, so a receiver can refuse replays and forgeries.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import re
import ssl
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson

from streaming.network import connect
from streaming.records import Record
from streaming.syslog import tls_context
from streaming.times import as_moment

SIGNATURE_HEADER = "X-AuditLens-Signature"
# Datadog's logs intake takes at most 1,000 entries in one request.
DATADOG_MAX_ENTRIES = 1000
TIMESTAMP_HEADER = "X-AuditLens-Timestamp"
# http.client refuses other header values with an error that quotes them, secret and all.
_SENDABLE = re.compile(r"[ -~]*")
UNSENDABLE_SECRET = "the destination's secret cannot be sent as an HTTP header"  # noqa: S105 - a message


class DeliveryError(RuntimeError):
    """The receiver did not take the batch; the message says what it answered."""


def body(style: str, records: Sequence[Record]) -> tuple[bytes, str]:
    """The request body for `records` and its content type."""
    if style == "splunk":
        # HEC's event endpoint takes concatenated event objects; the payload stays a string
        # when it is CEF, an object when it is JSON.
        parts = [
            orjson.dumps(
                {
                    "time": round(as_moment(r.time).timestamp(), 6),
                    "source": "auditlens",
                    "sourcetype": f"auditlens:{r.kind}",
                    "fields": {"organization_id": r.organization_id, "event_id": r.id},
                    "event": _payload(r),
                }
            )
            for r in records
        ]
        return b"\n".join(parts), "application/json"
    if style == "datadog":
        logs = [
            {
                "ddsource": "auditlens",
                "service": "auditlens",
                "ddtags": f"organization_id:{r.organization_id},kind:{r.kind}",
                "event_id": r.id,
                "message": r.line,
            }
            for r in records
        ]
        return orjson.dumps(logs), "application/json"
    return b"".join(r.line.encode() + b"\n" for r in records), "application/x-ndjson"


def _payload(record: Record) -> Any:
    if record.line.startswith("{"):
        return orjson.Fragment(record.line.encode())
    return record.line


def signature(key: str, timestamp: str, payload: bytes) -> str:
    digest = hmac.new(key.encode(), timestamp.encode() + b"." + payload, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class _CheckedConnection(http.client.HTTPSConnection):
    """An HTTPS connection made only to the host's checked addresses (`streaming.network`)."""

    def __init__(self, host: str, port: int, *, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._tls = context

    def connect(self) -> None:
        raw = connect(self.host, self.port, self.timeout, "url")
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


class HttpsSender:
    """POSTs each batch over one kept-alive, verified TLS connection."""

    def __init__(self, settings: dict[str, Any], secret: str | None) -> None:
        self.url = urlsplit(settings["url"])
        self.style: str = settings["style"]
        self.auth: str = settings["auth"]
        self.header: str = settings["header"]
        self.secret = secret or ""
        self.timeout: float = settings.get("timeout", 30)
        self.context = tls_context(settings.get("ca_file"))
        self.path = (self.url.path or "/") + (f"?{self.url.query}" if self.url.query else "")
        self._conn: http.client.HTTPSConnection | None = None

    def _connection(self) -> http.client.HTTPSConnection:
        if self._conn is None:
            self._conn = _CheckedConnection(
                self.url.hostname or "",
                self.url.port or 443,
                timeout=self.timeout,
                context=self.context,
            )
        return self._conn

    def headers(self, payload: bytes, content_type: str) -> dict[str, str]:
        headers = {"Content-Type": content_type, "User-Agent": "AuditLens-streaming"}
        if self.auth == "hmac":
            stamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = stamp
            headers[SIGNATURE_HEADER] = signature(self.secret, stamp, payload)
        elif self.style == "splunk" and self.header == "Authorization":
            headers[self.header] = f"Splunk {self.secret}"
        elif self.header == "Authorization":
            headers[self.header] = f"Bearer {self.secret}"
        else:
            headers[self.header] = self.secret
        return headers

    def send(self, records: Sequence[Record]) -> None:
        """POST `records` (several requests for a Datadog endpoint, in order); any answer
        but a 2xx raises, and the whole batch is sent again later."""
        step = DATADOG_MAX_ENTRIES if self.style == "datadog" else max(len(records), 1)
        for start in range(0, len(records), step):
            self._post(records[start : start + step])

    def _post(self, records: Sequence[Record]) -> None:
        payload, content_type = body(self.style, records)
        headers = self.headers(payload, content_type)
        if not all(_SENDABLE.fullmatch(value) for value in headers.values()):
            raise DeliveryError(UNSENDABLE_SECRET)
        conn = self._connection()
        try:
            conn.request("POST", self.path, body=payload, headers=headers)
            response = conn.getresponse()
            answer = response.read(500)
        except Exception:
            self.close()
            raise
        if not response.isclosed():  # a longer answer: unread, it would block the next request
            self.close()
        if not 200 <= response.status < 300:
            self.close()
            text = answer.decode("utf-8", "replace")
            raise DeliveryError(f"HTTP {response.status} {response.reason}: {text!r}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
