"""Who an event names: the one rule for counting and naming a person.

A person is their `user_id`; an event whose id is missing, empty or only whitespace names
its `user_email` instead; one with neither is "unknown (no id)". Ids are compared exactly
("ann" and "ann " are two people), and shown quoted and escaped when a reader could not tell
them apart otherwise (edge whitespace, invisible or control characters, a leading quote).
"""

from __future__ import annotations

from typing import Any

UNKNOWN = "unknown (no id)"
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _text(value: Any) -> str | None:
    """`value` as text, or None when it is missing (None, NaN) or only whitespace."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value)
    return text if text.strip() else None


def has_user_id(user_id: Any) -> bool:
    """Whether `user_id` identifies someone (not missing, empty or only whitespace)."""
    return _text(user_id) is not None


def identity_key(user_id: Any, user_email: Any) -> str:
    """A key equal for the events of one person and different for any two: "u:" and the id,
    else "e:" and the email, else "n" (an id and an email that read alike stay apart)."""
    uid = _text(user_id)
    if uid is not None:
        return f"u:{uid}"
    email = _text(user_email)
    return f"e:{email}" if email is not None else "n"


def shown(value: str) -> str:
    """`value` as a reader can tell it from its lookalikes: as it is when plain, else in
    double quotes with its invisible characters escaped."""
    if value.isprintable() and value == value.strip() and not value.startswith('"'):
        return value
    inner = "".join(_ESCAPES.get(c, c if c.isprintable() else f"\\u{ord(c):04x}") for c in value)
    return f'"{inner}"'


def identity_label(user_id: Any, user_email: Any) -> str:
    """The person as a table names them: the id, else the email, else UNKNOWN."""
    key = identity_key(user_id, user_email)
    return UNKNOWN if key == "n" else shown(key[2:])


def identity_term(user_id: Any, user_email: Any) -> str | None:
    """The value a `user:` search term takes to find this person's events (id, else email;
    None for an unknown person, whom no term names)."""
    key = identity_key(user_id, user_email)
    return None if key == "n" else key[2:]
