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
