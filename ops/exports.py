"""The registry of exportable tables and the writers (CSV, JSON, XLSX).

Every table a page shows is registered here with :func:`register`, so ``python -m ops export``,
the page's download buttons and cron jobs all get the same numbers with the same vendor
scoping.

What each format holds
----------------------
- **CSV and XLSX are for people.** They go through :func:`ops.fmt.export_frame`: headers are the
  labels the page shows (money headers name the currency, e.g. ``Value at risk (USD)``), internal
  columns (row keys, versions: :data:`ops.fmt.INTERNAL`) are dropped, and values are rounded to
  the decimals of their kind. Numbers stay numbers so a spreadsheet can sum them: percentages are
  fractions (``0.246``; XLSX shows ``24.6%``), money is a plain amount, booleans are ``yes``/``no``,
  dates are ``YYYY-MM-DD``. XLSX cells carry the number format of their kind
  (:data:`ops.fmt.XLSX_FORMATS`; money with the currency symbol) and dates are real dates.
  A value that is not a number (infinite cover: no demand) is left empty.
- **JSON is for machines.** Records keep the raw column names (stable for scripts), internal
  columns are dropped, numbers are rounded the same way (percentages stay fractions), missing
  and infinite values are ``null`` and dates are ISO 8601 text.

Every text cell in every format is neutralised (OWASP CSV injection): control characters that
XML 1.0 cannot hold and CSV readers choke on are stripped first, then a cell that starts with
``= + - @``, tab or carriage return is prefixed with a single quote. Stripping first matters:
``"\\x01=cmd"`` would otherwise lose its control character *after* the check and reach the sheet
as ``=cmd``.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from ops import fmt as formats
from ops.access import Viewer, require_viewer
from ops.filters import Filters

FORMATS = ("csv", "json", "xlsx")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\x00")
# Control characters that XLSX (XML 1.0) cannot hold and CSV readers choke on; tab/LF/CR stay.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
NUMERIC_KINDS = ("count", "number", "pct", "pts", "money", "hours", "days")
# Widest column an XLSX sheet opens with (characters); longer text wraps on demand.
XLSX_MAX_WIDTH = 60

ExportFunc = Callable[..., pd.DataFrame]


@dataclass(frozen=True)
class ExportSpec:
    """One exportable table: ``func(session, *, viewer, filters) -> DataFrame``."""

    name: str
    title: str
    page: str
    func: ExportFunc


REGISTRY: dict[str, ExportSpec] = {}


def register(name: str, *, title: str, page: str) -> Callable[[ExportFunc], ExportFunc]:
    """Decorator: register ``func(session, *, viewer, filters)`` as exportable table ``name``."""

    def deco(func: ExportFunc) -> ExportFunc:
        if name in REGISTRY and REGISTRY[name].func is not func:
            raise ValueError(f"export {name!r} is registered twice")
        REGISTRY[name] = ExportSpec(name=name, title=title, page=page, func=func)
        return func

    return deco


# Modules outside the domain registry that register exports (domains come from ops.domain).
NON_DOMAIN_EXPORT_MODULES = ("ops.freshness", "ops.decisions", "ops.ingest.history", "ops.auth")


def load_registry() -> dict[str, ExportSpec]:
    """Import every domain package (ops.domain) and every other module that registers exports."""
    import importlib

    from ops.domain import load_domains

    load_domains()
    for mod in NON_DOMAIN_EXPORT_MODULES:
        importlib.import_module(mod)
    return REGISTRY


def run(session: Session, name: str, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    """Run export ``name`` for ``viewer`` with ``filters``; raises KeyError naming the known ones."""
    require_viewer(viewer)
    registry = load_registry()
    if name not in registry:
        raise KeyError(f"unknown export {name!r}; known: {', '.join(sorted(registry))}")
    spec = registry[name]
    if not viewer.may_open(spec.page) and spec.page != "any":
        from ops.access import AccessDenied

        raise AccessDenied(f"{viewer.username} may not export {name!r} (page {spec.page!r})")
    return spec.func(session, viewer=viewer, filters=filters)


def neutralise(value: object) -> object:
    """Prefix text that a spreadsheet would run as a formula with a quote; leave numbers alone.

    Control characters are stripped first, so one cannot hide a formula behind them.
    """
    if isinstance(value, str):
        value = _CONTROL.sub("", value)
        if value.startswith(FORMULA_PREFIXES):
            return "'" + value
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells are stripped of control characters, then neutralised.

    Numeric columns are untouched, so numbers stay numbers (negative ones included).
    """
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    return out


def people_frame(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, formats.Col]]:
    """``df`` as CSV/XLSX carry it: labelled, internal columns dropped, rounded, neutralised.

    Returns the frame and the :class:`ops.fmt.Col` of each of its (labelled) columns. Money
    headers name the currency; whole-number columns are nullable integers (``105430``, not
    ``105430.0``); infinite values are missing.
    """
    out, cols = formats.export_frame(df)
    code = formats.currency()
    renamed: dict[str, formats.Col] = {}
    for lab, spec in cols.items():
        if spec.kind in NUMERIC_KINDS:
            s = out[lab].astype("float64")
            out[lab] = s.where(np.isfinite(s.to_numpy()), np.nan)
            if formats.decimals(spec) == 0 and spec.kind in ("count", "money"):
                out[lab] = out[lab].round().astype("Int64")
        new = f"{lab} ({code})" if spec.kind == "money" else lab
        renamed[new] = spec
    out.columns = list(renamed)
    return safe_frame(out), renamed


def machine_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` as JSON carries it: raw names, internal columns dropped, numbers rounded per kind."""
    keep = [c for c in df.columns if str(c) not in formats.INTERNAL]
    out = df[keep].copy()
    for c in keep:
        spec = formats.col(str(c), out[c])
        if spec.kind in NUMERIC_KINDS and not pd.api.types.is_bool_dtype(out[c]):
            num = pd.to_numeric(out[c], errors="coerce").astype("float64")
            num = num.where(np.isfinite(num.to_numpy()), np.nan)
            places = formats.decimals(spec) + (2 if spec.kind in ("pct", "pts") else 0)
            num = num.round(places) + 0.0  # + 0.0 turns -0.0 into 0.0
            whole = spec.kind == "count" and pd.api.types.is_integer_dtype(out[c])
            out[c] = num.astype("int64") if whole and num.notna().all() else num
        elif spec.kind == "date":
            out[c] = pd.to_datetime(out[c], errors="coerce").dt.strftime("%Y-%m-%d").astype(object)
    return safe_frame(out)


def _xlsx_format(spec: formats.Col) -> str | None:
    """The Excel number format of one column (None: leave Excel's General)."""
    if spec.kind not in formats.XLSX_FORMATS:
        return None
    places = formats.decimals(spec)
    tail = "." + "0" * places if places else ""
    if spec.kind == "money":
        sym = formats.currency_symbol().strip().replace('"', "")
        return f'"{sym}"#,##0{tail};-"{sym}"#,##0{tail}'
    if spec.kind in ("count", "number", "hours", "days"):
        return f"#,##0{tail}"
    return formats.XLSX_FORMATS[spec.kind]


def _cells(s: pd.Series, spec: formats.Col) -> list[object]:
    """One column as the Python values openpyxl writes (None = empty cell)."""
    if spec.kind in ("date", "datetime"):
        ts = pd.to_datetime(s, errors="coerce")
        if isinstance(ts.dtype, pd.DatetimeTZDtype):
            ts = ts.dt.tz_convert(None)  # Excel has no time zones: UTC wall time
        days = ts.dt.date if spec.kind == "date" else ts.dt.to_pydatetime()
        return [None if pd.isna(t) else d for t, d in zip(ts, days, strict=True)]
    if str(s.dtype) == "Int64":
        return [None if v is pd.NA else int(v) for v in s.astype(object)]
    if pd.api.types.is_float_dtype(s):
        return [None if v != v else v for v in s.tolist()]  # NaN -> empty
    return [None if v is None or (isinstance(v, float) and v != v) else v for v in s.tolist()]


def _xlsx(df: pd.DataFrame, sheet: str) -> bytes:
    """XLSX through openpyxl's streaming writer: one pass, number formats set per cell as written."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    out, cols = people_frame(df)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=sheet[:31] or "data")
    ws.freeze_panes = "A2"
    columns = [_cells(out[lab], spec) for lab, spec in cols.items()]
    number_formats = [_xlsx_format(spec) for spec in cols.values()]
    for j, (lab, values) in enumerate(zip(cols, columns, strict=True), start=1):
        longest = max([len(lab), *(len(str(v)) for v in values[:200] if v is not None)])
        ws.column_dimensions[get_column_letter(j)].width = min(XLSX_MAX_WIDTH, longest + 2)
    ws.append(list(cols))
    formatted = [j for j, f in enumerate(number_formats) if f]
    for row in zip(*columns, strict=True):
        cells: list[object] = list(row)
        for j in formatted:
            if cells[j] is not None:
                cell = WriteOnlyCell(ws, value=cells[j])
                cell.number_format = number_formats[j]
                cells[j] = cell
        ws.append(cells)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def to_bytes(df: pd.DataFrame, fmt: str, *, sheet: str = "data") -> bytes:
    """Serialise ``df`` as ``csv`` (UTF-8 with BOM for Excel), ``json`` (records) or ``xlsx``.

    CSV and XLSX are people-formatted, JSON machine-readable (see the module docstring).
    """
    if fmt == "csv":
        out, _cols = people_frame(df)
        # RFC 4180 line ends; with them the writer also quotes a bare CR inside a field.
        return out.to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")
    if fmt == "json":
        return json.dumps(json.loads(machine_frame(df).to_json(orient="records", date_format="iso")),
                          indent=1).encode()
    if fmt == "xlsx":
        return _xlsx(df, sheet)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
