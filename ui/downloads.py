"""Download buttons for any table a page shows: CSV and Excel as people read them (labels, rounding,
number formats, no internal columns) and formula-safe, from the ops.exports writers.

The files are written only when a button is pressed (Streamlit calls ``data`` then): at bench size
an XLSX of the stock table takes tens of seconds, which every rerun of the page used to pay.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from ops.exports import to_bytes


def _writer(df: pd.DataFrame, fmt: str, sheet: str) -> Callable[[], bytes]:
    def write() -> bytes:
        return to_bytes(df, fmt, sheet=sheet)

    return write


def download_buttons(df: pd.DataFrame, *, name: str, key: str) -> None:
    """Render "CSV" and "Excel" download buttons for ``df`` (the rows on screen)."""
    c1, c2, _ = st.columns([1, 1, 6])
    c1.download_button("CSV", _writer(df, "csv", name), file_name=f"{name}.csv", mime="text/csv",
                       key=f"{key}_csv", icon=":material/download:", on_click="ignore")
    c2.download_button("Excel", _writer(df, "xlsx", name), file_name=f"{name}.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       key=f"{key}_xlsx", icon=":material/download:", on_click="ignore")
