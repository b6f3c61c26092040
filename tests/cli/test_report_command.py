"""`auditlens report access`: the same report as the Compliance page, written to a file,
recorded as an export, with one-line errors naming the bad option."""

from __future__ import annotations

import csv
import io
import subprocess

from tests.dashboard.known_data import seed
from tests.run_cli import run_cli


def cli(*args: str, db) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"AUDITLENS_DATABASE_URL": db.url})


def _report(db, tmp_path, fmt, *extra):
    out = tmp_path / f"report.{fmt}"
    done = cli(
        "report",
        "access",
        "--org",
        "org_a",
        "--resource",
        "payment-logs",
        "--from",
        "2025-01-13",
        "--to",
        "2025-01-16",
        "--format",
        fmt,
        "--out",
        str(out),
        *extra,
        db=db,
    )
    return done, out


def test_csv_report_holds_every_access_and_is_recorded(db, tmp_path):
    seed(db)
    done, out = _report(db, tmp_path, "csv")
    assert done.returncode == 0, done.stderr
    assert "7 accesses by 1 users" in done.stdout
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == 7 and {r["resource_id"] for r in rows} == {"payment-logs"}
    with db.org_session("org_a") as s:
        exports = s.execute(
            "SELECT export_format, row_count, exported_by FROM org_audit_exports"
        ).rows
        events = s.scalar(
            "SELECT count(*) FROM org_audit_events WHERE event_action = 'export'"
            " AND resource_type = 'audit_log'"
        )
    assert len(exports) == 1 and exports[0][:2] == ("csv", 7)
    assert exports[0][2].startswith("cli:") and events == 1


def test_html_report_states_the_filter(db, tmp_path):
    seed(db)
    done, out = _report(db, tmp_path, "html", "--resource-type", "source")
    assert done.returncode == 0, done.stderr
    text = out.read_text(encoding="utf-8")
    assert "resource type is &quot;source&quot;" in text
    assert "john@company.com" in text and "mallory" not in text


def test_bad_options_fail_with_one_line(db, tmp_path):
    done = cli(
        "report",
        "access",
        "--org",
        "org_a",
        "--resource",
        "x",
        "--from",
        "2025-13-01",
        "--to",
        "2025-01-16",
        "--out",
        str(tmp_path / "x.html"),
        db=db,
    )
    assert done.returncode != 0 and "--from must be a date" in done.stderr
    done, _ = _report(db, tmp_path, "pdf")
    assert done.returncode != 0 and "--format must be one of csv, html" in done.stderr
    done = cli(
        "report",
        "access",
        "--org",
        "org_a",
        "--resource",
        "x",
        "--from",
        "2025-01-02",
        "--to",
        "2025-01-01",
        "--out",
        str(tmp_path / "x.html"),
        db=db,
    )
    assert done.returncode != 0 and "ends (2025-01-01) before it starts" in done.stderr
