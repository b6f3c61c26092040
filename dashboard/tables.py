"""Tables the same way on every page: counts with thousands separators (1,247).

`st.dataframe` shows numbers as they come ("1247"); `column_config(frame, ...)` gives every
numeric column a localized number format (1,247 in an English browser) and lets a page
override single columns (a score with two decimals, a day format, a label).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

COUNT_FORMAT = "localized"


def column_config(frame: pd.DataFrame, **overrides: Any) -> dict[str, Any]:
    """`column_config` for `st.dataframe(frame)`: numeric columns formatted, then overrides."""
    config: dict[str, Any] = {}
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            config[str(name)] = st.column_config.NumberColumn(format=COUNT_FORMAT)
    config.update(overrides)
    return config
