"""Data in a Slack message (mrkdwn and the `text` fallback) as the text it is.

Slack reads `<...>` as a link, a mention (`<@U123>`) or a broadcast (`<!channel>`), and `&`
starts an entity; its documented escaping is exactly `&amp;`, `&lt;`, `&gt;` for these.
"""

from __future__ import annotations

# A grave-like letter (U+02CB) for a backtick inside a code span: Slack has no escape for
# one, and a backtick would end the span early.
_BACKTICK_LOOKALIKE = "\u02cb"


def slack_text(value: object) -> str:
    """`value` for a Slack message: `&`, `<` and `>` as Slack's entities."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_code(value: object) -> str:
    """`value` for inside a Slack code span (`...`): escaped, and unable to end the span."""
    return slack_text(value).replace("`", _BACKTICK_LOOKALIKE).replace("\n", " ")
