"""Join keys that treat NULL as a value of its own: plain equality, so the planner can hash
or merge on them."""

from __future__ import annotations


def user_key(alias: str = "") -> str:
    """One non-NULL key per user_id of `alias` (e.g. "c."), NULL included and distinct from
    every real id ('' too)."""
    return f"(CASE WHEN {alias}user_id IS NULL THEN 'n' ELSE 'u' || {alias}user_id END)"


def resource_key(alias: str = "") -> str:
    """The resource counterpart of user_key: (resource_key, resource_id) identifies a
    resource."""
    return f"(CASE WHEN {alias}resource_type IS NULL THEN 'n' ELSE 't' || {alias}resource_type END)"


def value_key(column: str, alias: str = "") -> str:
    """The same for any column: NULL is 'n', a value is 'v' and its text (inet's text keeps
    the mask, so distinct addresses stay distinct)."""
    return f"(CASE WHEN {alias}{column} IS NULL THEN 'n' ELSE 'v' || {alias}{column}::text END)"


def same_key(a: str, b: str, plain: list[str], nullable: list[str]) -> str:
    """Rows `a` and `b` have the same key: equal `plain` columns (never NULL), and the
    `nullable` columns equal or both NULL, as plain equalities the planner can hash."""
    terms = [f"{a}.{c} = {b}.{c}" for c in plain]
    terms += [f"{value_key(c, a + '.')} = {value_key(c, b + '.')}" for c in nullable]
    return " AND ".join(terms)


def either(columns: list[str], a: str = "x", b: str = "r") -> str:
    """The key columns of a full join's row from whichever side has it (`b` when both do: the
    join matched, so they are equal)."""
    side = f"{b}.day IS NULL"  # every side's day is NOT NULL: NULL means no row on that side
    return ", ".join(f"CASE WHEN {side} THEN {a}.{c} ELSE {b}.{c} END AS {c}" for c in columns)
