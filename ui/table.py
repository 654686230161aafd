"""Tables and tiles for people: labels, formats and hidden internals from the one layer in ``ops.fmt``.

Every ``st.dataframe`` / ``st.data_editor`` on a page takes its ``column_config`` from
:func:`column_config`, and every metric tile its text from :func:`tile`, so a page never shows
a raw column name, a fraction where a percentage belongs, or "None" in a cell.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from ops import fmt


def _printf(kind: str, places: int) -> str | None:
    sym = fmt.currency_symbol().replace("%", "%%")
    return {
        "count": "%,d" if places == 0 else f"%,.{places}f",
        "number": f"%,.{places}f",
        "money": f"{sym}%,.{places}f",
        "hours": f"%,.{places}f h",
        "days": f"%,.{places}f d",
        "pts": f"%+.{places}f pts",
    }.get(kind)


def column_config(df: pd.DataFrame, overrides: dict[str, Any] | None = None,
                  hide: Iterable[str] = ()) -> dict[str, Any]:
    """``column_config`` for ``df``: people's labels and number formats; internal columns hidden.

    ``overrides`` replaces the entry of a column (for editable selectbox/date columns).
    """
    cfg: dict[str, Any] = {}
    hidden = set(hide) | set(fmt.INTERNAL)
    for name, spec in fmt.kinds(df).items():
        if name in hidden:
            cfg[name] = None
            continue
        places = fmt.decimals(spec)
        if spec.kind == "pct":
            cfg[name] = st.column_config.NumberColumn(spec.label, format="percent", help=spec.help)
        elif spec.kind in ("count", "number", "money", "hours", "days", "pts"):
            cfg[name] = st.column_config.NumberColumn(spec.label, format=_printf(spec.kind, places), help=spec.help)
        elif spec.kind == "date":
            cfg[name] = st.column_config.DateColumn(spec.label, format="YYYY-MM-DD", help=spec.help)
        elif spec.kind == "datetime":
            cfg[name] = st.column_config.DatetimeColumn(spec.label, format="YYYY-MM-DD HH:mm", help=spec.help)
        elif spec.kind == "bool":
            cfg[name] = st.column_config.CheckboxColumn(spec.label, help=spec.help)
        else:
            cfg[name] = st.column_config.TextColumn(spec.label, help=spec.help)
    cfg.update(overrides or {})
    return cfg


NUMERIC_KINDS = ("count", "number", "pct", "pts", "money", "hours", "days")


def display_frame(df: pd.DataFrame, hide: Iterable[str] = ()) -> tuple[pd.DataFrame, set[str]]:
    """``df`` without a missing cell, and the names of the columns turned into text.

    Streamlit draws a missing cell as a faded "None" and an infinite one as "∞" or "Infinity"
    depending on the column. A shown column with a missing or infinite value is therefore
    formatted as text by ``ops.fmt`` (missing -> an en dash, no demand -> ∞); columns without one
    keep their dtype, so they still sort as numbers and dates.
    """
    hidden = set(hide) | set(fmt.INTERNAL)
    out = df.copy(deep=False)
    as_text: set[str] = set()
    for name, spec in fmt.kinds(df).items():
        if name in hidden:
            continue
        s = df[name]
        bad = s.isna().to_numpy()
        if spec.kind in NUMERIC_KINDS and pd.api.types.is_float_dtype(s):
            bad = bad | np.isinf(s.to_numpy(dtype="float64"))
        if not bad.any():
            continue
        if spec.kind == "text":
            out[name] = s.astype(object).where(~bad, fmt.MISSING)
        else:
            out[name] = as_text_column(s, spec)
        as_text.add(name)
    return out, as_text


def as_text_column(s: pd.Series, spec: fmt.Col) -> list[str]:
    """``[fmt.value(v, spec.kind, fmt.decimals(spec)) for v in s]``, fast for whole columns.

    The page shows tables of 10,000+ rows on every rerun; the per-value path costs half a second
    for the stock table at bench size. Numbers and dates take a vectorised path that gives the
    same text (tests compare the two); anything else falls back to ``fmt.value``.
    """
    kind = spec.kind
    p = 0 if kind == "count" else fmt.decimals(spec)  # fmt.value shows counts whole
    if kind in ("date", "datetime") and (pd.api.types.is_datetime64_any_dtype(s) or s.isna().all()):
        ts = s if pd.api.types.is_datetime64_any_dtype(s) else pd.to_datetime(s, errors="coerce", cache=False)
        if isinstance(ts.dtype, pd.DatetimeTZDtype):
            ts = ts.dt.tz_localize(None)  # fmt shows a timestamp's own wall time
        arr = ts.to_numpy(dtype="datetime64[ns]").astype("datetime64[m]" if kind == "datetime" else "datetime64[D]")
        text = np.datetime_as_string(arr).tolist()
        return [fmt.MISSING if t == "NaT" else t.replace("T", " ") for t in text]
    if kind not in NUMERIC_KINDS or not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return [fmt.value(v, kind, p) for v in s]
    x = s.to_numpy(dtype="float64") * (100.0 if kind in ("pct", "pts") else 1.0)
    finite = np.isfinite(x)
    # format the value itself (correctly rounded, as fmt does); a negative that rounds to 0 is 0
    r = [(0.0 if v < 0 and round(v, p) == 0 else v) + 0.0 for v in np.where(finite, x, 0.0).tolist()]
    if kind == "money":
        sym = fmt.currency_symbol()
        body = [("-" if v < 0 else "") + f"{sym}{abs(v):,.{p}f}" for v in r]
    elif kind == "pts":
        body = [f"{v:+,.{p}f} pts" if round(v, p) else f"{0:.{p}f} pts" for v in r]
    else:
        suffix = {"pct": " %", "hours": " h", "days": " d"}.get(kind, "")
        body = [f"{v:,.{p}f}{suffix}" for v in r]
    return [b if ok else (fmt.MISSING if np.isnan(v) else ("∞" if v > 0 else "-∞"))
            for b, ok, v in zip(body, finite.tolist(), x.tolist(), strict=True)]


def show_table(df: pd.DataFrame, *, key: str | None = None, overrides: dict[str, Any] | None = None,
               hide: Iterable[str] = (), height: int | None = None, empty: str | None = None) -> None:
    """``st.dataframe`` of ``df`` with labels and formats; ``empty`` is said instead of an empty grid.

    Missing values show as an en dash, never "None" (see :func:`display_frame`).
    """
    if df.empty and empty:
        st.info(empty)
        return
    view, as_text = display_frame(df, hide)
    cfg = column_config(df, overrides, hide)
    for name in as_text - set(overrides or {}):
        spec = fmt.col(name, df[name])
        cfg[name] = st.column_config.TextColumn(
            spec.label, help=spec.help, alignment="right" if spec.kind in NUMERIC_KINDS else None)
    kwargs: dict[str, Any] = {"hide_index": True, "width": "stretch", "key": key, "column_config": cfg}
    if height is not None:
        kwargs["height"] = height
    st.dataframe(view, **kwargs)


def tile(col: Any, label: str, value: Any, kind: str, *, change: Any = None, places: int | None = None,
         higher_is_better: bool = True, help: str | None = None) -> None:
    """One metric tile: the value and its change formatted by ``ops.fmt``; a change of zero is grey."""
    d = fmt.delta(change, kind, places)
    zero = d is not None and not any(ch in "123456789" for ch in d)  # "0.0 pts", "$0", "0 h": grey
    col.metric(label, fmt.value(value, kind, places), d,
               delta_color="off" if zero else ("normal" if higher_is_better else "inverse"), border=True, help=help)
