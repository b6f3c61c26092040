"""Evidence packs: figures equal the database's, the signature verifies offline, one changed
byte does not, hostile text stays text, and the PDF is Chromium's."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from integrity import keys as keymod
from integrity.seal import seal_organization
from sql.event_filter import EventFilter
from sql.event_store import insert_events
from sql.gateway import Database
from tests.factories import event_row
from usecases.evidence import EvidencePackError, create_pack
from usecases.evidence_pack import RestrictedSet
from usecases.evidence_signature import signature_path, verify
from usecases.exports import Exporter, export_events

ORG = "org_a"
START = datetime(2024, 10, 1, tzinfo=UTC)
END = datetime(2025, 1, 1, tzinfo=UTC)
RESTRICTED = RestrictedSet(("payment-logs",), "test list")
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _at(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2024, month, day, hour, tzinfo=UTC)


def _store(db: Database) -> None:
    rows = [
        # Restricted access: u1 three times, u2 once; other-logs is not restricted.
        *(event_row(user_id="u1", resource_id="payment-logs", event_time=_at(10, d))
          for d in (2, 3, 4)),
        event_row(user_id="u2", resource_id="payment-logs", event_time=_at(11, 5)),
        event_row(user_id="u3", resource_id="other-logs", event_time=_at(11, 5)),
        # Outside the period, and another organisation's, inside it: neither counts.
        event_row(user_id="u9", resource_id="payment-logs",
                  event_time=datetime(2025, 1, 1, tzinfo=UTC)),
        event_row(organization_id="org_b", user_id="b1", resource_id="payment-logs",
                  event_time=_at(10, 9)),
        # Privileged and user-management changes.
        event_row(event_type="user_management", event_action="invite_member",
                  resource_type="user", resource_id=HOSTILE, event_time=_at(10, 10)),
        event_row(event_type="user_management", event_action="change_permissions",
                  event_time=_at(10, 11)),
        event_row(event_type="config_change", event_action="update_settings",
                  event_time=_at(12, 1)),
        event_row(organization_id="org_b", event_type="config_change",
                  event_action="update_settings", event_time=_at(12, 1)),
        # Exports: one over 10,000 rows.
        event_row(event_type="data_modification", event_action="export", user_id="u1",
                  details={"record_count": 20_000}, event_time=_at(12, 2, 2)),
        event_row(event_type="data_modification", event_action="export", user_id="u2",
                  details={"record_count": 50}, event_time=_at(12, 3)),
        # Alerts: alert_1 re-enabled the next day, alert_2 never.
        event_row(event_type="config_change", event_action="disable_alert",
                  resource_type="alert_rule", resource_id="alert_1", event_time=_at(11, 1)),
        event_row(event_type="config_change", event_action="enable_alert",
                  resource_type="alert_rule", resource_id="alert_1", event_time=_at(11, 2)),
        event_row(event_type="config_change", event_action="disable_alert",
                  resource_type="alert_rule", resource_id="alert_2",
                  details={"reason": HOSTILE}, event_time=_at(12, 20)),
    ]  # fmt: skip
    with db.writer() as w:
        insert_events(w, rows)
    with db.admin() as session:
        run = session.scalar(
            "INSERT INTO detection_runs (organization_id, start_day, end_day, actor, rules)"
            " VALUES ('org_a', '2024-12-02', '2024-12-02', 't', '{}') RETURNING run_id"
        )
        session.execute(
            "INSERT INTO findings (organization_id, finding_id, run_id, user_id, day,"
            " window_start, window_end, score, severity, detectors, title, explanation,"
            " evidence_query, rule_score) VALUES ('org_a', 'f1', :run, 'u1', '2024-12-02',"
            " '2024-12-02T00:00Z', '2024-12-03T00:00Z', 0.91, 'high', '{export}',"
            " 'Large export at 2 a.m.', 'x', 'user:u1', 0.9)",
            {"run": run},
        )
        session.execute(
            "INSERT INTO finding_triage (organization_id, finding_id, status, comment, actor)"
            " VALUES ('org_a', 'f1', 'investigating', 'first look', 'analyst1'),"
            " ('org_a', 'f1', 'confirmed', :c, 'analyst2')",
            {"c": HOSTILE},
        )


@pytest.fixture
def key() -> keymod.SigningKey:
    return keymod.generate()


@pytest.fixture
def stored(db: Database, key: keymod.SigningKey) -> Database:
    _store(db)
    seal_organization(db, ORG, key)
    return db


def _database_figures(db: Database) -> dict[str, int]:
    """The same figures, counted straight from the base tables by organisation."""
    p = {"org": ORG, "s": START, "e": END}
    period = "organization_id = :org AND event_time >= :s AND event_time < :e"
    with db.admin() as s:
        return {
            "access": s.scalar(
                "SELECT count(DISTINCT (user_id, resource_type, resource_id)) FROM audit_events"
                f" WHERE {period} AND resource_id = 'payment-logs'",
                p,
            ),
            "privileged": s.scalar(
                f"SELECT count(*) FROM audit_events WHERE {period}"
                " AND event_type IN ('user_management', 'config_change')",
                p,
            ),
            "exports": s.scalar(
                f"SELECT count(*) FROM audit_events WHERE {period} AND event_action = 'export'", p
            ),
            "flagged": s.scalar(
                f"SELECT count(*) FROM audit_events WHERE {period} AND event_action = 'export'"
                " AND (details->>'record_count')::int > 10000",
                p,
            ),
            "findings": s.scalar("SELECT count(*) FROM findings WHERE organization_id = :org", p),
        }


def test_a_packs_figures_equal_the_databases(stored: Database, key, tmp_path: Path):
    out = tmp_path / "q4.html"
    pack = create_pack(
        stored, ORG, START, END, file_format="html", out=out, key=key,
        author="t:auditor", restricted=RESTRICTED,
    )  # fmt: skip
    expected = _database_figures(stored)
    assert expected == {"access": 2, "privileged": 6, "exports": 2, "flagged": 1, "findings": 1}
    f = pack.figures
    assert f.restricted_access.total == expected["access"]
    assert f.privileged_changes.total == expected["privileged"]
    assert f.exports.total == expected["exports"]
    assert f.flagged_exports == expected["flagged"]
    assert f.findings.total == expected["findings"]
    assert f.alerts_disabled.total == 1 and f.alerts_disabled.rows[0][3] == "alert_2"
    assert [r[0] for r in f.restricted_access.rows] == ["u1", "u2"]
    assert [r[4] for r in f.restricted_access.rows] == [3, 1]
    assert f.findings.rows[0][5:7] == ("confirmed", "analyst2")
    assert f.verification.clean and f.verification.seals_checked == 1
    html = out.read_text(encoding="utf-8")
    for label, value in f.headline.items():
        assert f'<tr><th>{label}</th><td class="num">{value:,}</td></tr>' in html
    assert "t:auditor" in html and f"Recorded as export {pack.export_id}" in html
    assert "&quot;restricted_resources&quot;: [\n    &quot;payment-logs&quot;" in html
    # Hostile text from the store is text: never a tag.
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_the_pack_is_recorded_as_an_export(stored: Database, key, tmp_path: Path):
    out = tmp_path / "q4.html"
    pack = create_pack(stored, ORG, START, END, file_format="html", out=out, key=key,
                       author="t:auditor", restricted=RESTRICTED)  # fmt: skip
    with stored.org_session(ORG) as s:
        record = s.execute(
            "SELECT exported_by, export_kind, export_format, sha256, completed, ended_at IS NOT"
            " NULL, filter->>'from', row_count FROM org_audit_exports WHERE export_id = :id",
            {"id": pack.export_id},
        ).rows
        event = s.scalar(
            "SELECT details FROM org_audit_events WHERE event_action = 'export'"
            " AND resource_id = :r",
            {"r": f"export/{pack.export_id}"},
        )
    assert record == [
        ("t:auditor", "evidence_pack", "html", pack.sha256, True, True, START.isoformat(),
         pack.figures.rows_listed),
    ]  # fmt: skip
    assert event["sha256"] == pack.sha256 and event["completed"] is True


def test_the_packs_export_event_has_every_exports_details(stored: Database, key, tmp_path: Path):
    """Through the one exports use case: the same keys as an events export's event (the
    read model counts `records`), plus the key that signed the pack."""
    events = export_events(
        stored, ORG, EventFilter.parse(""), "csv", io.BytesIO(), exporter=Exporter("t:auditor")
    )
    pack = create_pack(stored, ORG, START, END, file_format="html", out=tmp_path / "q4.html",
                       key=key, author="t:auditor", restricted=RESTRICTED)  # fmt: skip
    with stored.org_session(ORG) as s:
        details = {
            r[0]: r[1]
            for r in s.execute(
                "SELECT resource_id, details FROM org_audit_events WHERE event_action = 'export'"
            ).rows
        }
    exported = details[f"export/{events.export_id}"]
    packed = details[f"export/{pack.export_id}"]
    assert set(packed) == set(exported) | {"key_id"}
    assert packed["records"] == pack.figures.rows_listed and "records_exported" not in packed
    assert (packed["kind"], packed["format"], packed["key_id"]) == (
        "evidence_pack", "html", key.key_id,
    )  # fmt: skip
    assert packed["flagged_for_review"] is False and packed["completed"] is True


def test_the_signature_verifies_offline_and_one_changed_byte_fails(
    stored: Database, key, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    out = tmp_path / "q4.html"
    create_pack(stored, ORG, START, END, file_format="html", out=out, key=key,
                author="t:auditor", restricted=RESTRICTED)  # fmt: skip
    public = tmp_path / "seal.pub"
    public.write_text(keymod.public_pem(key.public), encoding="utf-8")
    # Offline: a database URL nothing listens on; verify-evidence must not need it.
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    runner = CliRunner()
    good = runner.invoke(app, ["verify-evidence", str(out), "--public-key", str(public)])
    assert good.exit_code == 0, good.output
    assert good.output.startswith(f"{out}: verified: SHA-256 ")

    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0x01
    changed = tmp_path / "changed.html"
    changed.write_bytes(bytes(data))
    sig = signature_path(out).read_text(encoding="utf-8")
    verdict = verify(bytes(data), sig, keymod.load_public_keys([public]))
    assert not verdict.ok and "differs from the signed" in verdict.reason
    bad = runner.invoke(
        app,
        ["verify-evidence", str(changed), "--public-key", str(public),
         "--signature", str(signature_path(out))],
    )  # fmt: skip
    assert bad.exit_code != 0
    assert "NOT VERIFIED" in str(bad.exception)

    # The right bytes under someone else's key do not verify either.
    other = tmp_path / "other.pub"
    other.write_text(keymod.public_pem(keymod.generate().public), encoding="utf-8")
    assert not verify(out.read_bytes(), sig, keymod.load_public_keys([other])).ok
    # Nor does a signature file whose organisation was edited.
    edited = json.loads(sig) | {"organization_id": "org_b"}
    assert not verify(out.read_bytes(), json.dumps(edited), keymod.load_public_keys([public])).ok


def test_the_pdf_is_printed_by_chromium_and_signed(stored: Database, key, tmp_path: Path):
    out = tmp_path / "q4.pdf"
    pack = create_pack(stored, ORG, START, END, file_format="pdf", out=out, key=key,
                       author="t:auditor", restricted=RESTRICTED)  # fmt: skip
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert b"/Producer (Skia/PDF" in data  # Chromium's print engine, not a hand-drawn file
    assert b"/Title (Evidence pack org_a 2024-10-01T00:00:00+00:00 to " in data
    assert verify(data, signature_path(out).read_text(), keymod.PublicKeys(
        {key.key_id: key.public})).ok  # fmt: skip
    assert pack.sha256 and pack.figures.exports.total == 2


def test_another_organisations_pack_sees_none_of_this(stored: Database, key, tmp_path: Path):
    pack = create_pack(stored, "org_b", START, END, file_format="html", out=tmp_path / "b.html",
                       key=key, author="t:auditor", restricted=RESTRICTED)  # fmt: skip
    f = pack.figures
    assert [r[0] for r in f.restricted_access.rows] == ["b1"]
    assert f.privileged_changes.total == 1
    assert (f.exports.total, f.alerts_disabled.total, f.findings.total) == (0, 0, 0)


def test_a_filed_pack_is_never_overwritten(stored: Database, key, tmp_path: Path):
    out = tmp_path / "q4.html"
    out.write_text("earlier pack")
    with pytest.raises(EvidencePackError, match=r"--out: .* exists"):
        create_pack(stored, ORG, START, END, file_format="html", out=out, key=key,
                    author="t", restricted=RESTRICTED)  # fmt: skip
    assert out.read_text() == "earlier pack"
