"""Explore's prepared export lives in a private file, not in the session: the session keeps
its path, the file is exactly what was recorded (SHA-256), and it is deleted when the view
changes or a new export replaces it."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from tests.dashboard.conftest import page_test
from tests.dashboard.test_explore import known  # noqa: F401 - the fixture


def test_the_prepared_export_is_a_private_file_matching_its_record(known, sign_in):  # noqa: F811
    token = sign_in("ann@company.com", "org_a", "auditor")
    at = page_test("explore.py", token, q="user:u_ann").run()
    at.button(key="explore_export").click().run()
    assert not at.exception
    prepared = at.session_state["explore_export_file"]
    assert not any(isinstance(v, bytes) for v in prepared.values())
    path = Path(prepared["path"])
    data = path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with known.org_session("org_a") as s:
        record = s.execute("SELECT row_count, sha256 FROM org_audit_exports").dicts()[0]
    assert record["row_count"] == 120 and data.count(b"\r\n") == 121  # header + rows
    assert hashlib.sha256(data).hexdigest() == record["sha256"] == prepared["result"].sha256
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Download 120 event(s) as CSV"]

    # A second export replaces the first file; a new view drops it.
    at.button(key="explore_export").click().run()
    second = Path(at.session_state["explore_export_file"]["path"])
    assert second != path and not path.exists() and second.exists()
    at.text_input(key="explore_query").input("user:u_bob").run()
    assert not at.exception
    assert "explore_export_file" not in at.session_state
    assert not second.exists()


def test_old_prepared_files_are_swept_and_a_swept_file_says_so(tmp_path, monkeypatch):
    import os
    import time

    import pytest

    from dashboard import export_files

    monkeypatch.setattr(export_files.tempfile, "gettempdir", lambda: str(tmp_path))
    old, handle = export_files.new_file("csv")
    handle.close()
    stale = time.time() - export_files.MAX_AGE_SECONDS - 60
    os.utime(old, (stale, stale))
    fresh, handle = export_files.new_file("csv")  # sweeps before creating
    handle.close()
    assert not old.exists() and fresh.exists()
    with pytest.raises(export_files.ExpiredExport, match="prepare the export again"):
        export_files.reader(old)()
    assert export_files.sweep(now=time.time() + export_files.MAX_AGE_SECONDS + 60) == 1
    assert not fresh.exists()


def test_a_file_passed_through_is_deleted_at_once(tmp_path, monkeypatch):
    from dashboard import export_files

    monkeypatch.setattr(export_files.tempfile, "gettempdir", lambda: str(tmp_path))
    assert export_files.through_file("csv", lambda out: out.write(b"a,b\r\n")) == b"a,b\r\n"
    assert list(export_files.folder().iterdir()) == []


def test_signing_out_deletes_the_sessions_prepared_exports(known, sign_in):  # noqa: F811
    from streamlit.testing.v1 import AppTest

    token = sign_in("ann@company.com", "org_a", "auditor")
    at = page_test("explore.py", token, q="user:u_ann").run()
    at.button(key="explore_export").click().run()
    path = Path(at.session_state["explore_export_file"]["path"])
    assert path.exists()

    def sign_out_now() -> None:
        from dashboard.context import sign_out
        from dashboard.resources import database

        sign_out(database())

    out = AppTest.from_function(sign_out_now)
    for key in ("explore_export_file", "auditlens_export_file_keys"):
        out.session_state[key] = at.session_state[key]
    out.run()
    assert not out.exception and not path.exists()
