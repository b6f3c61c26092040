"""Findings as the Anomalies page lists them: ranked, with their reasons in one column."""

from __future__ import annotations

import pandas as pd

from detection.findings import SEVERITIES, STATUSES

__all__ = ["SEVERITIES", "STATUSES", "TRIAGE_ROLES", "ranked"]
# Analysts triage (issue 7: "analyst (read, triage)"); admins do everything; auditors read.
TRIAGE_ROLES = ("admin", "analyst")
_SEVERITY_RANK = {name: i for i, name in enumerate(SEVERITIES)}


def ranked(findings: pd.DataFrame) -> pd.DataFrame:
    """Highest score first (ties: higher severity, then newest); adds `reasons`, the detectors
    and explanation as one line, for the table."""
    if findings.empty:
        return findings.assign(reasons=pd.Series(dtype="object"))
    table = findings.copy()
    table["_severity"] = table["severity"].map(_SEVERITY_RANK).fillna(-1)
    table = table.sort_values(
        ["score", "_severity", "created_at"], ascending=False, kind="stable"
    ).drop(columns="_severity")
    table["reasons"] = [
        f"{', '.join(str(d) for d in detectors)}: {explanation}"
        for detectors, explanation in zip(table["detectors"], table["explanation"], strict=True)
    ]
    return table.reset_index(drop=True)
