"""Data shown inside Streamlit's Markdown (st.markdown, st.write, captions, headings, alerts,
metric labels) as the text it is, never as markup.

Streamlit renders GitHub-flavoured Markdown plus LaTeX (`$...$`), emoji and icon shortcodes
(`:smile:`, `:material/lock:`) and colour directives (`:red[...]`): an ingested email, query
or session id could otherwise become a link, an image fetched from anywhere, a code span
broken out of, or a heading.
"""

from __future__ import annotations

import re

# Every ASCII punctuation character may be backslash-escaped in CommonMark; escaping them
# all covers links, images, code, emphasis, strikethrough, HTML, tables, LaTeX and directives.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")
# Shortcodes are replaced in the parsed text, after escapes are gone: a word joiner after
# each colon (invisible) keeps `:name:` from matching.
_WORD_JOINER = "\u2060"


def md(value: object) -> str:
    """`value` as Markdown that renders as exactly its text, on one line."""
    text = _LINE_BREAKS.sub(" ", str(value))
    return _PUNCTUATION.sub(r"\\\1", text).replace(":", ":" + _WORD_JOINER)
