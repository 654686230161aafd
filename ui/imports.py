"""Streamlit helpers of the Imports page: saving uploads, running an import, the history loader."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from ops.access import Viewer
from ops.db import read_session
from ops.exports import to_bytes
from ops.ingest import ImportError_, ImportResult, run_import
from ops.ingest.history import import_history
from ui.cache import MAX_ENTRIES, TTL_SECONDS, clear_loaders

TEMPLATES = Path(__file__).resolve().parents[1] / "data" / "templates"
ERROR_COLUMNS = ["file", "line", "column", "message"]


@dataclass(frozen=True)
class Outcome:
    """What the last import on this page did: a result, or the refusal's problems."""

    kind: str
    result: ImportResult | None = None
    errors: pd.DataFrame | None = None
    total_errors: int = 0
    report: str = ""  # the refusal as plain text, one problem a line

    @property
    def more(self) -> int:
        """Problems counted but not listed (the list is capped)."""
        return self.total_errors - (len(self.errors) if self.errors is not None else 0)


def errors_frame(exc: ImportError_) -> pd.DataFrame:
    """The problems of a refused import as a table (file, line, column, message)."""
    df = pd.DataFrame([(e.file, e.line, e.column, e.message) for e in exc.errors], columns=ERROR_COLUMNS)
    return df.astype({"line": "int64"})


def error_report_csv(outcome: Outcome) -> bytes:
    """The refusal's problems as a CSV file (a last row counts the problems not listed)."""
    df = outcome.errors if outcome.errors is not None else pd.DataFrame(columns=ERROR_COLUMNS)
    if outcome.more > 0:
        note = pd.DataFrame([["", 0, "", f"... and {outcome.more:,} more problems not listed: fix these and re-run"]],
                            columns=ERROR_COLUMNS)
        df = pd.concat([df, note], ignore_index=True).astype({"line": "int64"})
    return to_bytes(df, "csv")


def template_bytes(kind: str) -> bytes | None:
    """The canonical CSV template for ``csv-<table>`` kinds, else None."""
    if not kind.startswith("csv-"):
        return None
    p = TEMPLATES / f"{kind.removeprefix('csv-')}.csv"
    return p.read_bytes() if p.is_file() else None


def run_upload(engine: Engine, *, kind: str, files: Sequence[Any], viewer: Viewer,
               progress: Callable[[int, int], None] | None = None) -> Outcome:
    """Save uploaded files under their own names in a temporary folder and import them.

    For ``olist`` the folder itself is imported (upload the Olist CSV files together). Every
    cached loader is cleared afterwards, whatever the outcome (a refusal is recorded in the
    history too), so the next run shows the new data and the sidebar's "Last import".
    """
    names = [Path(f.name).name for f in files]
    try:
        with tempfile.TemporaryDirectory(prefix="opsdeck-import-") as d:
            folder = Path(d)
            for f, name in zip(files, names, strict=True):
                (folder / name).write_bytes(f.getvalue())
            paths = [folder] if kind == "olist" else [folder / n for n in names]
            try:
                result = run_import(engine, kind=kind, paths=paths, viewer=viewer, progress=progress,
                                    source="upload: " + ", ".join(names))
            except ImportError_ as exc:
                return Outcome(kind=kind, errors=errors_frame(exc), total_errors=exc.total, report=exc.report())
        return Outcome(kind=kind, result=result)
    finally:
        clear_loaders()


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def load_import_history(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, limit: int = 100) -> pd.DataFrame:
    """Recent imports for ``viewer`` (cached per viewer)."""
    with read_session(_engine) as s:
        return import_history(s, viewer=viewer, limit=limit)
