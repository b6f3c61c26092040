"""The test harness itself (tests/conftest.py): listing the tests starts no server, and under
pytest-xdist every worker runs its own copy of the one migrated cluster."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import TEST_URL_ENV
from tests.ports import free_port, worker_range

ROOT = Path(__file__).resolve().parent.parent


def _pytest(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=600,
        check=False,
    )


def test_collect_only_starts_no_server():
    # A server nothing listens on: connecting to it would fail the listing.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    unreachable = f"postgresql://nobody@127.0.0.1:{port}/postgres"
    result = _pytest("--collect-only", "tests/test_docs.py", env={TEST_URL_ENV: unreachable})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "database: not started (--collect-only)" in result.stdout
    assert "2 tests collected" in result.stdout


PROBE = """
import json, os

def test_probe(pg_server, db, worker_id):
    with db.admin() as session:
        events = session.scalar("SELECT count(*) FROM audit_events")
    out = os.path.join(os.environ["PROBE_DIR"], worker_id + ".json")
    with open(out, "w") as f:
        json.dump({"admin_url": pg_server.admin_url, "template": pg_server.template,
                   "data_dir": str(pg_server.embedded.data_dir), "events": events}, f)
"""


def test_each_xdist_worker_runs_its_own_copy_of_the_migrated_cluster(tmp_path: Path):
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE, encoding="utf-8")
    # Embedded even when the suite runs against an external server (that runs in one process).
    env = {"PROBE_DIR": str(tmp_path), TEST_URL_ENV: ""}
    args = ["-n", "2", "--dist", "each", "-p", "tests.conftest", "--rootdir", str(ROOT)]
    result = _pytest(*args, str(probe), env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "(a throwaway embedded server per xdist worker)" in result.stdout
    seen = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("gw*.json"))]
    assert len(seen) == 2
    # Own servers (a cluster-wide xmin is the read model's watermark), one migrated template.
    assert seen[0]["admin_url"] != seen[1]["admin_url"]
    assert seen[0]["template"] == seen[1]["template"]
    assert [s["events"] for s in seen] == [0, 0]
    # Every worker's cluster and the controller's seed are gone after the run.
    assert not any(Path(s["data_dir"]).exists() for s in seen)


def test_the_template_is_idle_and_accepts_no_session(pg_server):
    # Else cloning it fails while anyone (TimescaleDB's scheduler included) is connected.
    with pg_server.admin() as conn:
        allowed, sessions = conn.execute(
            "SELECT datallowconn, (SELECT count(*) FROM pg_stat_activity a"
            " WHERE a.datname = d.datname) FROM pg_database d WHERE datname = %s",
            (pg_server.template,),
        ).fetchone()
    assert (allowed, sessions) == (False, 0)


GROUPED_PROBE = """
import os
import pytest

@pytest.fixture(scope="module")
def built_once():
    return object()

@pytest.mark.parametrize("n", range(8))
def test_grouped(built_once, n, worker_id):
    with open(os.path.join(os.environ["PROBE_DIR"], f"grouped-{n}"), "w") as f:
        f.write(worker_id)

@pytest.mark.parametrize("n", range(8))
def test_free(n, worker_id):
    with open(os.path.join(os.environ["PROBE_DIR"], f"free-{n}"), "w") as f:
        f.write(worker_id)
"""


def test_a_module_fixture_keeps_its_module_in_one_xdist_worker(tmp_path: Path):
    # Split over workers, each would build the module's fixture again (a detection world).
    probe = tmp_path / "test_grouped_probe.py"
    probe.write_text(GROUPED_PROBE, encoding="utf-8")
    env = {"PROBE_DIR": str(tmp_path), TEST_URL_ENV: ""}
    # Its own root folder: a test's group is named after its path under the root.
    args = ["-n", "2", "--dist", "loadgroup", "-p", "tests.conftest", "--rootdir", str(tmp_path)]
    result = _pytest(*args, str(probe), env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    grouped = {p.read_text() for p in tmp_path.glob("grouped-*")}
    assert len(list(tmp_path.glob("grouped-*"))) == 8
    assert len(grouped) == 1, grouped
    assert len(list(tmp_path.glob("free-*"))) == 8


def test_each_xdist_worker_takes_ports_from_a_slice_of_its_own_below_the_ephemeral_range():
    # A port some other worker's test or any outgoing connection may take meanwhile would make
    # "nothing listens there" (and a browser test's dashboard port) a race.
    slices = [worker_range(f"gw{i}", 3, 32_768) for i in range(3)]
    assert all(s.start >= 10_000 and s.stop <= 32_768 and len(s) > 1000 for s in slices)
    assert len(set().union(*slices)) == sum(len(s) for s in slices)
    assert worker_range(None, 1, 20_000) == range(10_000, 20_000)
    first, second = free_port(), free_port()
    assert first != second
    with socket.socket() as s:
        s.bind(("127.0.0.1", first))  # nothing listens there
