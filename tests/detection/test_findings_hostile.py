"""A run's findings go in one statement as arrays: text that looks like an array literal,
quotes, backslashes, braces, NULLs and a detector named like JSON come back exactly."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from detection.findings import list_findings, save_findings
from tests.detection.test_findings_store import _finding, _run

HOSTILE = [
    '{"a","b"}',
    "NULL",
    '", NULL, "x',
    "back\\slash \\\\ and \\N",
    "it's; DROP TABLE findings; --",
    "ünïcödé \u202e and \t tab",
    "",
]


def test_hostile_text_in_findings_comes_back_exactly(db):
    findings = [
        replace(
            _finding(f"u{i}", 0.9 - i / 100, "high"),
            title=text,
            explanation=text * 2,
            evidence_query=text,
            user_email=None if i % 2 else text,
            detectors=[text, '["json"]', "model"],
        )
        for i, text in enumerate(HOSTILE)
    ]
    _, inserted = save_findings(db, "org_a", _run(), findings)
    assert inserted == len(HOSTILE)
    listed = list_findings(db, "org_a").set_index("user_id")
    for i, text in enumerate(HOSTILE):
        row = listed.loc[f"u{i}"]
        assert (row["title"], row["explanation"], row["evidence_query"]) == (text, text * 2, text)
        assert pd.isna(row["user_email"]) if i % 2 else row["user_email"] == text
        assert list(row["detectors"]) == [text, '["json"]', "model"]
    assert list_findings(db, "org_b").empty
