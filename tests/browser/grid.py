"""Selecting a row of a Streamlit dataframe in a real browser: the grid is drawn on a canvas,
so a row is clicked at its place, from the row height Streamlit derives from the theme."""

from __future__ import annotations

from typing import Any

# Streamlit's dataframe rows and header are 2.1875rem tall (its DataFrame theme): 35 px at
# the default 16 px root font, less with the dashboard's smaller base font.
ROW_REM = 2.1875
# The row-marker column (the selection checkboxes) is left of this many pixels.
MARKER_X = 18


def row_height(page: Any) -> int:
    """One dataframe row (and the header) in pixels, as this page draws it."""
    root_px = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    return round(ROW_REM * float(root_px))


def click_row(page: Any, table: Any, index: int) -> None:
    """Tick the row marker of data row `index` (0 is the first row under the header)."""
    table.wait_for()
    # Hovering scrolls the table into view: its box is read afterwards.
    table.hover()
    box = table.bounding_box()
    assert box is not None
    height = row_height(page)
    page.mouse.click(box["x"] + MARKER_X, box["y"] + height * (index + 1) + height // 2)
