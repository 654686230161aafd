"""Importers: canonical CSVs (``csv-<table>``), Shopify order exports (``shopify``) and Olist (``olist``).

Every import is validated in full before anything is written: each problem becomes a
:class:`RowError` naming file, physical line (header = 1), column and what is wrong, all of them
are collected (up to ``MAX_ERRORS``), and any problem refuses the whole import with
:class:`ImportError_`, leaving the database unchanged. A clean import upserts on natural keys in
one transaction, records an ``ImportRun`` row and rebuilds the ``agg_*`` tables in that same
transaction; importing the same files again changes nothing (``rows_changed == 0``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError

from ops.access import Viewer, require_role
from ops.aggregates import refresh_all
from ops.db import transaction
from ops.ingest.csv_tables import SPECS, TABLE_ORDER, import_csv
from ops.ingest.olist import import_olist, read_folder
from ops.ingest.reader import (
    MAX_ERRORS,
    MAX_FILE_BYTES,
    CsvFile,
    ImportError_,
    Problems,
    Progress,
    RowError,
    read_csv,
    refuse,
    sha256_of,
)
from ops.ingest.shopify import import_shopify
from ops.ingest.store import Counts
from ops.models import ImportRun

__all__ = [
    "KINDS",
    "MAX_ERRORS",
    "MAX_FILE_BYTES",
    "ImportError_",
    "ImportResult",
    "RowError",
    "kinds",
    "run_import",
]

IMPORT_ROLES = ("admin",)  # the Imports page and the CLI alike: admins load data
KINDS = tuple(f"csv-{t}" for t in TABLE_ORDER) + ("shopify", "olist")


def kinds() -> dict[str, str]:
    """Every import kind with a one-line description (for the page's picker and the CLI help)."""
    out = {f"csv-{name}": SPECS[name].doc for name in TABLE_ORDER}
    out["shopify"] = "Shopify orders export (orders_export.csv): orders, lines, fulfilled shipments."
    out["olist"] = "Olist folder (Kaggle CSV files): sellers, products, orders, lines, shipments, reviews."
    return out


@dataclass(frozen=True)
class ImportResult:
    """What a successful import did."""

    kind: str
    sources: tuple[str, ...]
    sha256: str
    rows_in: int
    rows_changed: int
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    files: tuple[str, ...] = ()  # how each file was read (encoding, delimiter, rows)
    run_id: int = 0

    def summary(self) -> str:
        """Human-readable lines: totals, then inserted/updated per table, then how files were read."""
        lines = [f"import {self.kind}: {self.rows_in:,} rows read, {self.rows_changed:,} rows changed"
                 + (" (nothing new)" if self.rows_changed == 0 else "")]
        for t in sorted(set(self.inserted) | set(self.updated)):
            ins, upd = self.inserted.get(t, 0), self.updated.get(t, 0)
            if ins or upd:
                lines.append(f"  {t:24s} {ins:>8,d} inserted {upd:>8,d} updated")
        lines += [f"  read {f}" for f in self.files]
        return "\n".join(lines)


def _read_files(kind: str, paths: Sequence[Path], problems: Problems) -> list[CsvFile]:
    if kind == "olist":
        if len(paths) != 1:
            raise refuse("olist", "olist import takes one folder")
        return read_folder(paths[0], problems=problems)
    return [read_csv(p, problems=problems) for p in paths]


def run_import(engine: Engine, *, kind: str, paths: Sequence[Path | str], viewer: Viewer,
               progress: Progress | None = None, source: str | None = None) -> ImportResult:
    """Validate and import ``paths`` as ``kind``, all or nothing.

    Parameters
    ----------
    engine : the database.
    kind : ``csv-<table>`` (see :data:`KINDS`), ``shopify``, or ``olist`` (one folder).
    paths : the files (or, for olist, the folder).
    viewer : who imports; admins and managers only (``AccessDenied`` otherwise).
    progress : optional ``callback(done_rows, total_rows)``, called while validating and loading.
    source : what to record as the import's source (default: the paths), e.g. the names of uploaded files.

    Returns
    -------
    ImportResult with rows read, rows changed (0 on a repeat import) and per-table counts.

    Raises
    ------
    ImportError_ when any file or row has a problem; ``.errors`` lists them; nothing is written.
    """
    require_role(viewer, *IMPORT_ROLES)
    if kind not in KINDS:
        raise refuse(kind, f"unknown import kind {kind!r}; choose one of {', '.join(KINDS)}")
    files_in = [Path(p) for p in paths]
    if not files_in:
        raise refuse(kind, "no files given")
    problems = Problems()
    files = _read_files(kind, files_in, problems)
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    counts = Counts()
    try:
        with transaction(engine) as s:
            if kind == "olist":
                rows_in = import_olist(s, files=files, problems=problems, counts=counts, progress=progress)
            elif kind == "shopify":
                rows_in = import_shopify(s, files=files, problems=problems, counts=counts, progress=progress)
            else:
                rows_in = import_csv(s, table=kind.removeprefix("csv-"), files=files, problems=problems,
                                     counts=counts, actor=viewer.username, progress=progress)
            problems.raise_if_any()  # rolls the (still unwritten) transaction back
            digest = sha256_of([f.path for f in files])
            run = ImportRun(kind=kind, source=(source or ", ".join(str(p) for p in files_in))[:500], sha256=digest,
                            actor=viewer.username, started_at=started, rows_in=rows_in,
                            rows_changed=counts.changed, status="ok",
                            finished_at=dt.datetime.now(dt.UTC).replace(tzinfo=None))
            s.add(run)
            s.flush()
            refresh_all(s)
            run_id = run.id
    except (IntegrityError, DataError) as exc:
        # Validation should catch every bad value first; this keeps any miss an import error.
        raise refuse(", ".join(p.name for p in files_in), f"the database refused the rows: {exc.orig}") from exc
    if progress:
        progress(rows_in, rows_in)
    return ImportResult(kind=kind, sources=tuple(str(p) for p in files_in), sha256=digest, rows_in=rows_in,
                        rows_changed=counts.changed, inserted=dict(counts.inserted), updated=dict(counts.updated),
                        files=tuple(f.describe() for f in files), run_id=run_id)
