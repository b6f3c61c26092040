"""Spreadsheet formula injection: the one rule every CSV AuditLens writes follows.

Audit data quotes attacker-controlled text (search queries, user agents), and spreadsheets run
a cell that starts with one of these characters as a formula; a leading apostrophe makes it
plain text.
"""

from __future__ import annotations

FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: str, *, reversible: bool = False) -> str:
    """`=1+1` becomes `'=1+1`. With `reversible`, a leading apostrophe is doubled too, so a
    reader can strip exactly one and get the original back (export proofs rely on that)."""
    starts = (*FORMULA_STARTS, "'") if reversible else FORMULA_STARTS
    return "'" + value if value.startswith(starts) else value
