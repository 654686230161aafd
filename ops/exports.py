"""The registry of exportable tables and the writers (CSV, JSON, XLSX).

Every table a page shows is registered here with :func:`register`, so ``python -m ops export``,
the page's download buttons and cron jobs all get the same numbers with the same vendor
scoping. Writers neutralise spreadsheet formulas (OWASP): a text cell starting with
``= + - @``, tab, carriage return or NUL is prefixed with a single quote; numbers stay numbers.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy.orm import Session

from ops.access import Viewer, require_viewer
from ops.filters import Filters

FORMATS = ("csv", "json", "xlsx")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\x00")
# Control characters that XLSX (XML 1.0) cannot hold and CSV readers choke on; tab/LF/CR stay.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")

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


def load_registry() -> dict[str, ExportSpec]:
    """Import every module that registers exports, then return the registry."""
    import importlib

    for mod in ("ops.freshness", "ops.inventory", "ops.fulfillment", "ops.decisions", "ops.ingest.history",
                "ops.auth"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:  # a domain module not written yet
            if exc.name != mod:
                raise
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
    """Prefix text that a spreadsheet would run as a formula with a quote; leave numbers alone."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _clean(value: object) -> object:
    value = neutralise(value)
    return _CONTROL.sub("", value) if isinstance(value, str) else value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells are neutralised and stripped of control characters.

    Numeric columns are untouched, so numbers stay numbers (negative ones included).
    """
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(_clean)
    return out


def to_bytes(df: pd.DataFrame, fmt: str, *, sheet: str = "data") -> bytes:
    """Serialise ``df`` as ``csv`` (UTF-8 with BOM for Excel), ``json`` (records) or ``xlsx``."""
    safe = safe_frame(df)
    if fmt == "csv":
        # RFC 4180 line ends; with them the writer also quotes a bare CR inside a field.
        return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")
    if fmt == "json":
        return json.dumps(json.loads(safe.to_json(orient="records", date_format="iso")), indent=1).encode()
    if fmt == "xlsx":
        buf = io.BytesIO()
        with pd.ExcelWriter(buf, engine="openpyxl") as xw:
            safe.to_excel(xw, index=False, sheet_name=sheet[:31])
        return buf.getvalue()
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
