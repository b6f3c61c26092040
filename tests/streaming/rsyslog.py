"""Debian's rsyslogd as a real syslog receiver, started and killed by the tests.

A missing rsyslogd (or its gtls module for TLS) fails the test: CI installs both (.ci/run).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.streaming.tls import Certificates

RSYSLOGD = Path("/usr/sbin/rsyslogd")
GTLS = Path("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so")
CONFIG = Path(__file__).resolve().parent / "receivers" / "rsyslog.conf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Rsyslog:
    """One rsyslogd listening on 127.0.0.1:`port`, writing each record as a line to `out`."""

    def __init__(self, folder: Path, certificates: Certificates | None) -> None:
        assert RSYSLOGD.exists(), f"{RSYSLOGD} is missing: install Debian's rsyslog"
        if certificates is not None:
            assert GTLS.exists(), f"{GTLS} is missing: install Debian's rsyslog-gnutls"
        self.folder = folder
        self.port = free_port()
        self.out = folder / "received.log"
        work = folder / "work"
        work.mkdir(exist_ok=True)
        tls = (
            'streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon"'
            if certificates
            else ""
        )
        text = CONFIG.read_text()
        for key, value in {
            "@WORK@": str(work),
            "@CA@": str(certificates.ca) if certificates else "",
            "@CERT@": str(certificates.cert) if certificates else "",
            "@KEY@": str(certificates.key) if certificates else "",
            "@TLS_MODULE@": tls,
            "@PORT@": str(self.port),
            "@OUT@": str(self.out),
        }.items():
            text = text.replace(key, value)
        if certificates is None:
            text = "\n".join(line for line in text.splitlines() if "NetstreamDriver" not in line)
        self.config = folder / "rsyslog.conf"
        self.config.write_text(text)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(RSYSLOGD), "-n", "-f", str(self.config), "-i", str(self.folder / "pid")],
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / "rsyslogd.err", "ab"),  # noqa: SIM115 - lives with the process
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.folder / "rsyslogd.err").read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("rsyslogd did not listen within 30 s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def lines(self) -> list[str]:
        return self.out.read_text(encoding="utf-8").splitlines() if self.out.exists() else []
