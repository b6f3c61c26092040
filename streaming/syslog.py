"""Syslog (RFC 5424) over TCP or TLS with octet-counted framing (RFC 6587 / RFC 5425).

Plain syslog has no acknowledgement, so a batch counts as taken only when the receiver has
read all of it: after the last record the sender half-closes the connection and waits for
the receiver to close its side, which it does once it has read to the end. A receiver that
goes away with records still unread resets the connection, and the batch is sent again. The
one gap the protocol leaves: a receiver killed after reading a batch but before storing it
looks the same as one that stored it (RELP would close it; a receiver with a direct queue,
as in the README, stores each record before reading the next).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Sequence
from typing import Any

from streaming.network import connect
from streaming.records import Record

# facility 13 (log audit) * 8 + severity 6 (informational)
PRI = 13 * 8 + 6
APP_NAME = "auditlens"
SD_ID = "auditlens@32473"  # 32473: the example enterprise number of RFC 5612
_SD_ESCAPE = str.maketrans({"\\": "\\\\", '"': '\\"', "]": "\\]"})
_HOSTNAME = (socket.gethostname() or "-").encode("ascii", "replace").decode()[:255]
_HOSTNAME = "".join(c if 33 <= ord(c) <= 126 else "-" for c in _HOSTNAME) or "-"


def sd_value(text: str) -> str:
    if "\\" in text or '"' in text or "]" in text:
        return text.translate(_SD_ESCAPE)
    return text


def message(record: Record) -> bytes:
    """One RFC 5424 message: header, the id and organisation as structured data, the payload."""
    head = (
        f"<{PRI}>1 {record.time} {_HOSTNAME} {APP_NAME} - {record.kind}"
        f' [{SD_ID} id="{sd_value(record.id)}" org="{sd_value(record.organization_id)}"] '
    )
    return (head + record.line).encode("utf-8")


def frame(record: Record) -> bytes:
    """Octet-counted: the message's length in bytes, a space, the message."""
    body = message(record)
    return b"%d %s" % (len(body), body)


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verified TLS: the system's CAs, or only `ca_file` when given; host names checked."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class SyslogSender:
    """Sends each batch over a fresh connection and waits until the receiver read it all."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.host: str = settings["host"]
        self.port: int = settings["port"]
        self.timeout: float = settings.get("timeout", 10)
        self.context = tls_context(settings.get("ca_file")) if settings.get("tls") else None

    def send(self, records: Sequence[Record]) -> None:
        if not records:
            return
        raw = connect(self.host, self.port, self.timeout, "host")
        sock: socket.socket = raw
        try:
            if self.context is not None:
                sock = self.context.wrap_socket(raw, server_hostname=self.host)
            sock.sendall(b"".join(frame(r) for r in records))
            # Half-close (for TLS, below it: SSLSocket.shutdown drops the TLS layer first, and
            # a close_notify would need the receiver's reply): the receiver sees the end of
            # the stream after the last record, and closes once it has read it all.
            sock.shutdown(socket.SHUT_WR)
            self._await_close(sock)
        finally:
            sock.close()

    def _await_close(self, sock: socket.socket) -> None:
        try:
            while True:
                data = sock.recv(4096)
                if not data:
                    return
        except ssl.SSLEOFError:
            return  # closed without close_notify: the end of the stream all the same

    def close(self) -> None:
        return None
