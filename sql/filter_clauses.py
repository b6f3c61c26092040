"""The SQL an `EventFilter` is made of: one clause per field, values always bound as
parameters, column names only from the fixed table below (never from input)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

COLUMNS = {
    "families": "event_type",
    "actions": "event_action",
    "resource_types": "resource_type",
    "resources": "resource_id",
    "sessions": "session_id",
}


def folded_emails(values: tuple[str, ...]) -> tuple[str, ...]:
    """The `user:` values that can be emails (only a value with an @ can), lower-cased in
    Python: the database's lower() under the C locale folds ASCII only."""
    return tuple(u.lower() for u in values if "@" in u)


def match_clause(name: str, values: tuple[str, ...], key: str, params: dict[str, Any]) -> str:
    """The clause "the field `name` is one of `values`", its parameters named after `key`."""
    if name == "users":
        params[key] = list(values)
        # Only a value with an @ can be an email. Leaving the email test out otherwise
        # keeps `user:ID` a plain (organisation, user, time) index lookup. The email is
        # folded by auditlens_fold_email (lower(), marked LEAKPROOF by the search migration):
        # behind the readers' security-barrier views only such a function can use its
        # index; with lower() itself the OR scanned the organisation's events.
        emails = list(folded_emails(values))
        if emails:
            params[f"{key}_emails"] = emails
            return (
                f"(user_id = ANY(:{key}) OR auditlens_fold_email(user_email) = ANY(:{key}_emails))"
            )
        return f"user_id = ANY(:{key})"
    if name == "ips":
        # Each network as the index range [first address, last address] in inet's btree
        # order (what PostgreSQL itself derives from <<= on a table, but not behind a
        # security-barrier view: <<= is not LEAKPROOF, >= and <= are), then the exact test.
        alternatives = []
        for i, value in enumerate(values):
            network = ipaddress.ip_network(value, strict=False)
            params[f"{key}{i}"] = value
            params[f"{key}{i}_lo"] = f"{network.network_address}/{network.prefixlen}"
            params[f"{key}{i}_hi"] = f"{network.broadcast_address}/{network.max_prefixlen}"
            alternatives.append(
                f"(ip_address >= CAST(:{key}{i}_lo AS inet)"
                f" AND ip_address <= CAST(:{key}{i}_hi AS inet)"
                f" AND ip_address <<= CAST(:{key}{i} AS inet))"
            )
        return f"({' OR '.join(alternatives)})"
    params[key] = list(values)
    # Column names come from the fixed COLUMNS table, never from input.
    return f"{COLUMNS[name]} = ANY(:{key})"


def text_clause(text: str, key: str, params: dict[str, Any], *, trigram: bool) -> str:
    params[key] = f"%{_like_escape(_json_text(text))}%"
    if trigram and _has_trigram(text):
        # ILIKE with its default escape, the backslash, behind LEAKPROOF names that
        # the readers' views let drive the trigram index (the search migration).
        return f"auditlens_details_text(details) ~~~* :{key}"
    return f"details::text ILIKE :{key} ESCAPE '\\'"


def _json_text(text: str) -> str:
    # details::text is JSON: a quote or backslash in the term appears escaped there.
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _has_trigram(text: str) -> bool:
    """Whether pg_trgm finds a trigram in the term: a run of 3 letters or digits. Without one
    the index would return every row to check, and plain ILIKE checks a row faster than the
    LEAKPROOF wrappers do (the same events either way)."""
    run = 0
    for c in text:
        run = run + 1 if c.isalnum() else 0
        if run >= 3:
            return True
    return False


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
