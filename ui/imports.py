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
from ops.ingest import ImportError_, ImportResult, run_import
from ops.ingest.history import import_history
from ui.cache import MAX_ENTRIES, TTL_SECONDS

TEMPLATES = Path(__file__).resolve().parents[1] / "data" / "templates"
ERROR_COLUMNS = ["file", "line", "column", "message"]


@dataclass(frozen=True)
class Outcome:
    """What the last import on this page did: a result, or the refusal's problems."""

    kind: str
    result: ImportResult | None = None
    errors: pd.DataFrame | None = None
    total_errors: int = 0


def errors_frame(exc: ImportError_) -> pd.DataFrame:
    """The problems of a refused import as a table (file, line, column, message)."""
    df = pd.DataFrame([(e.file, e.line, e.column, e.message) for e in exc.errors], columns=ERROR_COLUMNS)
    return df.astype({"line": "int64"})


def template_bytes(kind: str) -> bytes | None:
    """The canonical CSV template for ``csv-<table>`` kinds, else None."""
    if not kind.startswith("csv-"):
        return None
    p = TEMPLATES / f"{kind.removeprefix('csv-')}.csv"
    return p.read_bytes() if p.is_file() else None


def run_upload(engine: Engine, *, kind: str, files: Sequence[Any], viewer: Viewer,
               progress: Callable[[int, int], None] | None = None) -> Outcome:
    """Save uploaded files under their own names in a temporary folder and import them.

    For ``olist`` the folder itself is imported (upload the Olist CSV files together).
    """
    names = [Path(f.name).name for f in files]
    with tempfile.TemporaryDirectory(prefix="opsdeck-import-") as d:
        folder = Path(d)
        for f, name in zip(files, names, strict=True):
            (folder / name).write_bytes(f.getvalue())
        paths = [folder] if kind == "olist" else [folder / n for n in names]
        try:
            result = run_import(engine, kind=kind, paths=paths, viewer=viewer, progress=progress,
                                source="upload: " + ", ".join(names))
        except ImportError_ as exc:
            return Outcome(kind=kind, errors=errors_frame(exc), total_errors=exc.total)
    return Outcome(kind=kind, result=result)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def load_import_history(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, limit: int = 100) -> pd.DataFrame:
    """Recent imports for ``viewer`` (cached per viewer)."""
    with read_session(_engine) as s:
        return import_history(s, viewer=viewer, limit=limit)
