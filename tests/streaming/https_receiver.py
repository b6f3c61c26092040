"""A local HTTPS receiver with a throwaway CA: records what it takes, can fail or crash."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.streaming.tls import Certificates


class HttpsReceiver:
    """Accepts POSTs on 127.0.0.1:`port` that carry `expect_header` or a valid HMAC."""

    def __init__(self, certificates: Certificates, port: int, *, secret: str, style: str) -> None:
        self.certificates = certificates
        self.port = port
        self.secret = secret
        self.style = style
        self.auth = "header"
        self.header = "Authorization"
        self.header_value = f"Splunk {secret}" if style == "splunk" else f"Bearer {secret}"
        self.records: list[dict[str, Any]] = []
        self.requests = 0
        # Entries per request taken; more than `max_entries` in one is refused with 413.
        self.entries: list[int] = []
        self.max_entries: int | None = None
        self.answer = b'{"text":"Success","code":0}'
        self.crash_on_request: int | None = None
        self.crashed = threading.Event()
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def _authorised(self, handler: BaseHTTPRequestHandler, body: bytes) -> bool:
        if self.auth == "hmac":
            stamp = handler.headers.get("X-AuditLens-Timestamp", "")
            mac = hmac.new(self.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
            given = handler.headers.get("X-AuditLens-Signature", "")
            return hmac.compare_digest(given, "sha256=" + mac.hexdigest())
        return handler.headers.get(self.header) == self.header_value

    def _parse(self, body: bytes) -> list[dict[str, Any]]:
        if self.style == "datadog":
            return list(json.loads(body))
        lines = body.decode().splitlines()
        return [json.loads(x) if x.startswith("{") else {"raw": x} for x in lines if x]

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not receiver._authorised(self, body):
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                taken = receiver._parse(body)
                if receiver.max_entries is not None and len(taken) > receiver.max_entries:
                    self.send_response(413)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.requests += 1
                    receiver.entries.append(len(taken))
                    receiver.records.extend(taken)
                    crash = receiver.requests == receiver.crash_on_request
                if crash:
                    # Took the batch, died before answering: the sender must send it again.
                    self.close_connection = True
                    self.connection.close()
                    receiver.crashed.set()
                    return
                answer = receiver.answer
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certificates.cert, self.certificates.key)
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self.server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
