"""Data shown in Plotly labels, ticks, legends and hover text as the text it is.

Plotly renders a subset of HTML in every text it draws (`<a href>`, `<b>`, `<br>`, entities),
and evaluates `%{...}` in a hovertemplate: a user id of `<a href=...>` would become a link.
"""

from __future__ import annotations

import html


def plot_text(value: object) -> str:
    """`value` for a Plotly label: `<`, `>` and `&` as entities."""
    return html.escape(str(value), quote=False)


def template_text(value: object) -> str:
    """`value` inside a hovertemplate: also `%` as an entity, so no `%{...}` is evaluated."""
    return plot_text(value).replace("%", "&#37;")
