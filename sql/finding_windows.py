"""A finding covers [window_start, window_end): the one test of whether it overlaps a time
range, for every reader of findings (the dashboard's lists and the read API's pages)."""

from __future__ import annotations


def overlap_clauses(start_param: str, end_param: str, alias: str = "f") -> str:
    """Findings ending after :start_param and starting before :end_param (each bound as a
    timestamptz; NULL leaves that side open). One ending where the range starts is outside.
    The names are the caller's fixed text, never input."""
    start = f"CAST(:{start_param} AS timestamptz)"
    end = f"CAST(:{end_param} AS timestamptz)"
    return (
        f"({start} IS NULL OR {alias}.window_end > {start})"
        f" AND ({end} IS NULL OR {alias}.window_start < {end})"
    )
