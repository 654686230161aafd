"""Download buttons for any table a page shows: CSV and Excel as people read them (labels, rounding,
number formats, no internal columns) and formula-safe, from the ops.exports writers."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ops.exports import to_bytes


def download_buttons(df: pd.DataFrame, *, name: str, key: str) -> None:
    """Render "CSV" and "Excel" download buttons for ``df`` (the rows on screen)."""
    c1, c2, _ = st.columns([1, 1, 6])
    c1.download_button("CSV", to_bytes(df, "csv"), file_name=f"{name}.csv", mime="text/csv",
                       key=f"{key}_csv", icon=":material/download:")
    c2.download_button("Excel", to_bytes(df, "xlsx", sheet=name), file_name=f"{name}.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       key=f"{key}_xlsx", icon=":material/download:")
