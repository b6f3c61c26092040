"""Spreadsheet formula injection: the one rule every CSV AuditLens writes follows.

Audit data quotes attacker-controlled text (search queries, user agents), and spreadsheets run
a cell that starts with one of these characters as a formula; a leading apostrophe makes it
plain text. Spreadsheets also skip leading blanks (space, newline, tab, CR) and read the
full-width forms (U+FF1D, U+FF0B, U+FF0D, U+FF20) as their ASCII twins, so the first
character that is not blank is compared after NFKC normalisation (OWASP's CSV injection guidance).
"""

from __future__ import annotations

import unicodedata

FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_CHARACTERS = frozenset("=+-@")
# Ordinary first characters (ASCII letters, digits and most punctuation) decide at once.
_PLAIN_ASCII = frozenset(chr(c) for c in range(0x21, 0x7F)) - _FORMULA_CHARACTERS


def _is_blank(character: str) -> bool:
    # Whitespace, and invisible format characters (zero-width space, BOM) a viewer skips.
    return character.isspace() or unicodedata.category(character) == "Cf"


def starts_a_formula(value: str) -> bool:
    """Whether a spreadsheet could read `value` as a formula."""
    if not value or value[0] in _PLAIN_ASCII:
        return False
    if value.startswith(FORMULA_STARTS):
        return True
    for character in value:
        if not _is_blank(character):
            return unicodedata.normalize("NFKC", character)[:1] in _FORMULA_CHARACTERS
    return False


def escape_cell(value: str, *, reversible: bool = False) -> str:
    """`=1+1` becomes `'=1+1` (so do ` =1+1` and its full-width form). With `reversible`, a leading
    apostrophe is doubled too, so a reader can strip exactly one and get the original back
    (export proofs rely on that)."""
    if starts_a_formula(value) or (reversible and value.startswith("'")):
        return "'" + value
    return value
