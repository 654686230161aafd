"""Streamlit helpers of the Imports page: saving uploads, recognising their format, dry runs with a preview of
the mapped rows, running an import, the history loader."""

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
from ops.ingest import ImportError_, ImportResult, run_imports
from ops.ingest.detect import detect
from ops.ingest.history import import_history
from ui.cache import MAX_ENTRIES, TTL_SECONDS, clear_loaders

TEMPLATES = Path(__file__).resolve().parents[1] / "data" / "templates"
ERROR_COLUMNS = ["file", "line", "column", "message"]
AUTO = "auto"  # the kind picker's "recognise each file from its header"
PREVIEW_ROWS = 20  # mapped rows shown per table after a dry run


@dataclass(frozen=True)
class Outcome:
    """What the last import on this page did: a result, or the refusal's problems."""

    kind: str
    result: ImportResult | None = None  # the first group's result (the only one unless several formats came)
    errors: pd.DataFrame | None = None
    total_errors: int = 0
    report: str = ""  # the refusal as plain text, one problem a line
    results: tuple[ImportResult, ...] = ()  # one per recognised format, in import order
    dry_run: bool = False

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


def _save(files: Sequence[Any], folder: Path) -> list[Path]:
    paths = []
    for f in files:
        p = folder / Path(f.name).name
        p.write_bytes(f.getvalue())
        paths.append(p)
    return paths


def recognise(files: Sequence[Any]) -> tuple[pd.DataFrame, str]:
    """Each uploaded file's recognised import kind (``file``, ``kind``), or ``("", the problems)`` when refused."""
    with tempfile.TemporaryDirectory(prefix="opsdeck-detect-") as d:
        try:
            groups = detect(_save(files, Path(d)))
        except ImportError_ as exc:
            return pd.DataFrame(columns=["file", "kind"]), exc.report()
    rows = [(p.name, kind) for kind, paths in groups for p in paths]
    return pd.DataFrame(rows, columns=["file", "kind"]), ""


def preview_frames(result: ImportResult) -> dict[str, pd.DataFrame]:
    """The dry run's sample of mapped rows, one table each (as stored, foreign keys as natural keys)."""
    return {table: pd.DataFrame(rows) for table, rows in result.preview.items() if rows}


def run_upload(engine: Engine, *, kind: str, files: Sequence[Any], viewer: Viewer,
               progress: Callable[[int, int], None] | None = None, tz: str | None = None,
               dry_run: bool = False) -> Outcome:
    """Save uploaded files under their own names in a temporary folder and import them (or dry-run them).

    ``kind`` :data:`AUTO` recognises each file's format from its header and imports every format
    in one transaction; ``olist`` takes the uploaded files together. A dry run also samples the
    mapped rows (:data:`PREVIEW_ROWS` per table). Every cached loader is cleared afterwards,
    whatever the outcome (a refusal is recorded in the history too), so the next run shows the
    new data and the sidebar's "Last import".
    """
    names = [Path(f.name).name for f in files]
    try:
        with tempfile.TemporaryDirectory(prefix="opsdeck-import-") as d:
            paths = _save(files, Path(d))
            try:
                groups = detect(paths) if kind == AUTO else [(kind, paths)]
                results = run_imports(engine, groups=[(k, list(ps)) for k, ps in groups], viewer=viewer,
                                      progress=progress, source="upload: " + ", ".join(names), tz=tz or None,
                                      dry_run=dry_run, preview=PREVIEW_ROWS if dry_run else 0)
            except ImportError_ as exc:
                return Outcome(kind=kind, errors=errors_frame(exc), total_errors=exc.total, report=exc.report(),
                               dry_run=dry_run)
        return Outcome(kind="+".join(r.kind for r in results), result=results[0], results=tuple(results),
                       dry_run=dry_run)
    finally:
        if not dry_run:
            clear_loaders()


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def load_import_history(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, limit: int = 100) -> pd.DataFrame:
    """Recent imports for ``viewer`` (cached per viewer)."""
    with read_session(_engine) as s:
        return import_history(s, viewer=viewer, limit=limit)
