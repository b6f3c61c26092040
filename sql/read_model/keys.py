"""Join keys that treat NULL as a value of its own: plain equality, so the planner can hash
or merge on them."""

from __future__ import annotations


def user_key(alias: str = "") -> str:
    """One non-NULL key per user_id of `alias` (e.g. "c."), NULL included and distinct from
    every real id ('' too)."""
    return f"(CASE WHEN {alias}user_id IS NULL THEN 'n' ELSE 'u' || {alias}user_id END)"


# A raw event (`e`) that has a user id by sql.user_identity's rule: a raw part filtered on a
# user id ANDs this, since the rollups and the raw part hold a blank id as NULL.
RAW_HAS_ID = "auditlens_has_text(e.user_id)"


def person_key(alias: str = "") -> str:
    """One non-NULL key per person (sql.user_identity) of a row with `user_id` and
    `idless_email` (as the rollups store them): equal for one person's rows, different for
    any two, an id and an email that read alike included."""
    a = alias
    return (
        f"(CASE WHEN {a}user_id IS NOT NULL THEN 'u' || {a}user_id"
        f" WHEN {a}idless_email IS NOT NULL THEN 'e' || {a}idless_email ELSE 'n' END)"
    )


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
