"""The soak's child processes: the HTTP receiver (`auditlens serve-ingest`) and SDK producers,
each started, killed with SIGKILL and started again under the same spool folder."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from integrity.keys import SIGNING_KEY_FILE_ENV
from integrity.seal_schedule import SEAL_INTERVAL_ENV
from sql.settings import DATA_DIR_ENV, DATABASE_URL_ENV

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0  # a loaded two-core machine can take a while to import FastAPI


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Child:
    """One child process at a time under a fixed role, restartable."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.starts = 0
        self.kills = 0

    def start(self) -> None:
        self._log_file = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.args,
            env=self.env,
            cwd=ROOT,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL, then reap: nothing of the process runs after this returns."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.kills += 1
        self.proc.wait(timeout=30)
        self._close_log()

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (a graceful end), SIGKILL if it does not end within `timeout`."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._close_log()
        return self.proc.returncode

    def wait(self, timeout: float) -> bool:
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        self._close_log()
        return True

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


class ReceiverProcess(Child):
    """`auditlens serve-ingest` on a loopback port, with its spool under `data_dir`, sealing
    on a short schedule with the soak's key."""

    def __init__(self, url: str, data_dir: Path, key_file: Path, log: Path) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            DATABASE_URL_ENV: url,
            DATA_DIR_ENV: str(data_dir),
            SIGNING_KEY_FILE_ENV: str(key_file),
            SEAL_INTERVAL_ENV: "3",
            "PYTHONPATH": str(ROOT),
        }
        args = [sys.executable, "-m", "cli", "serve-ingest", "--port", str(self.port)]
        super().__init__(args, env, log)

    def health(self) -> dict[str, Any] | None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                body = response.read()
            finally:
                conn.close()
        except OSError:
            return None
        if response.status != 200:
            return None
        return dict(json.loads(body))

    def start_and_wait(self) -> None:
        """Start it and wait until it answers (the process may die first: then an error)."""
        self.start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"the receiver exited at start; see {self.log}")
            if self.health() is not None:
                return
            time.sleep(0.2)
        raise RuntimeError(f"the receiver did not answer within {START_TIMEOUT:.0f}s")

    def wait_drained(self, timeout: float) -> bool:
        """Until the database answers it and its spool is empty (True), or `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = self.health()
            if health and health["database"] == "ok" and not health["spool_pending"]:
                return True
            time.sleep(0.3)
        return False


class ProducerProcess(Child):
    """`python -m tests.soak.producer` under a fixed spool name; `start` runs one life."""

    def __init__(
        self,
        url: str,
        org: str,
        name: str,
        spool: Path,
        acks: Path,
        state: Path,
        seed: int,
        until: float,
        log: Path,
    ) -> None:
        self.name, self.acks, self.spool = name, acks, spool
        self._base_seed = seed
        self._fixed = [
            sys.executable, "-m", "tests.soak.producer", "--url", url, "--org", org,
            "--name", name, "--spool", str(spool), "--acks", str(acks),
            "--state", str(state), "--until", str(until),
        ]  # fmt: skip
        super().__init__(self._fixed, {**os.environ, "PYTHONPATH": str(ROOT)}, log)

    def start(self) -> None:
        # Each life its own seed, so a restarted producer does not replay the same choices.
        self.args = [*self._fixed, "--seed", str(self._base_seed * 1_000 + self.starts)]
        super().start()
