"""Importers: canonical CSVs (``csv-<table>``), Shopify order exports (``shopify``) and Olist (``olist``).

Every import is validated in full, in one pass, before anything is written: each problem
becomes a :class:`RowError` naming file, physical line (header = 1), column and what is wrong.
Cell checks, duplicate keys and references to other tables (an unknown supplier, SKU or
warehouse) run over every row, including rows with a bad cell, and over every file, including
one refused as a whole, so the report lists all problems at once (up to ``MAX_ERRORS``, the rest
counted). Any problem refuses the whole import with :class:`ImportError_`, leaving the data
unchanged; the refusal itself is recorded in ``import_runs`` (status ``refused``, problem count,
who, when) in a transaction of its own, so "Recent imports" shows it.

A clean import upserts on natural keys in one transaction, records an ``ImportRun`` row and
refreshes, in that same transaction, the ``agg_*`` tables the changed rows feed
(:mod:`ops.ingest.refresh`); importing the same files again changes nothing
(``rows_changed == 0``) and refreshes nothing. Where a default stands in for a value that
matters (a new product without a price), the import goes ahead and the result says so in
``warnings``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError

from ops.access import Viewer, require_role
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
    source_tz,
    zone,
)
from ops.ingest.refresh import needed, refresh_touched
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
REFUSED = "refused"  # import_runs.status of a refused import
REFUSED_NOTE = " (refused: {n:,} problem{s})"  # appended to import_runs.source; history reads it back
KINDS = tuple(f"csv-{t}" for t in TABLE_ORDER) + ("shopify", "olist")


def kinds() -> dict[str, str]:
    """Every import kind with a one-line description (for the page's picker and the CLI help)."""
    out = {f"csv-{name}": SPECS[name].doc for name in TABLE_ORDER}
    out["shopify"] = "Shopify orders export (orders_export.csv): orders, lines, fulfilled shipments."
    out["olist"] = ("Olist files or their folder, recognised by header: orders, items, products, customers; "
                    "sellers, reviews and the category translation optional.")
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
    warnings: tuple[str, ...] = ()  # where a default stood in for a value that matters
    refreshed: tuple[str, ...] = ()  # the aggregates rebuilt because of this import
    dry_run: bool = False  # checked and written in a transaction that was rolled back: nothing changed

    def summary(self) -> str:
        """Human-readable lines: totals, warnings, inserted/updated per table, how files were read."""
        if self.dry_run:
            lines = [f"dry run of import {self.kind}: {self.rows_in:,} rows read, {self.rows_changed:,} rows would "
                     "change" + (" (nothing new)" if self.rows_changed == 0 else "") + "; nothing was changed"]
        else:
            lines = [f"import {self.kind}: {self.rows_in:,} rows read, {self.rows_changed:,} rows changed"
                     + (" (nothing new)" if self.rows_changed == 0 else "")]
        lines += [f"  warning: {w}" for w in self.warnings]
        verb = ("would be inserted", "would be updated") if self.dry_run else ("inserted", "updated")
        for t in sorted(set(self.inserted) | set(self.updated)):
            ins, upd = self.inserted.get(t, 0), self.updated.get(t, 0)
            if ins or upd:
                lines.append(f"  {t:24s} {ins:>8,d} {verb[0]} {upd:>8,d} {verb[1]}")
        lines += [f"  read {f}" for f in self.files]
        lines.append(("  aggregates that would be refreshed: " if self.dry_run else "  aggregates refreshed: ")
                     + (", ".join(self.refreshed) or "none needed"))
        return "\n".join(lines)


def _read_files(kind: str, paths: Sequence[Path], problems: Problems) -> list[CsvFile]:
    """Read every file; a file refused as a whole is reported and the others are still read and checked."""
    if kind == "olist":
        return read_folder(paths[0] if len(paths) == 1 else list(paths), problems=problems)
    files = []
    for p in paths:
        try:
            files.append(read_csv(p, problems=problems))
        except ImportError_ as exc:
            problems.extend(exc.errors)
    return files


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _digest(paths: Sequence[Path]) -> str | None:
    try:
        return sha256_of([p for p in paths if p.is_file()]) if any(p.is_file() for p in paths) else None
    except OSError:
        return None


def _record_refusal(engine: Engine, *, kind: str, source: str, actor: str, started: dt.datetime,
                    rows_in: int, digest: str | None, problems: int) -> None:
    """Record a refused import in ``import_runs``, in its own transaction (the data one was rolled back).

    ``finished_at`` stays empty: no data arrived, and the sidebar's "Last import" line reads
    ``finished_at``, so it keeps naming the last import that did load data.
    """
    note = REFUSED_NOTE.format(n=problems, s="" if problems == 1 else "s")
    with transaction(engine) as s:
        s.add(ImportRun(kind=kind, source=source[: 500 - len(note)] + note, sha256=digest, actor=actor,
                        started_at=started, finished_at=None, rows_in=rows_in, rows_changed=0, status=REFUSED))


class _RolledBack(Exception):  # noqa: N818 - control flow of a dry run, never seen outside this module
    def __init__(self, result: ImportResult) -> None:
        self.result = result


def run_import(engine: Engine, *, kind: str, paths: Sequence[Path | str], viewer: Viewer,
               progress: Progress | None = None, source: str | None = None, tz: str | None = None,
               dry_run: bool = False) -> ImportResult:
    """Validate and import ``paths`` as ``kind``, all or nothing.

    Parameters
    ----------
    engine : the database.
    kind : ``csv-<table>`` (see :data:`KINDS`), ``shopify``, or ``olist`` (one folder).
    paths : the files (or, for olist, the folder).
    viewer : who imports; admins and managers only (``AccessDenied`` otherwise).
    progress : optional ``callback(done_rows, total_rows)``, called while validating and loading.
    source : what to record as the import's source (default: the paths), e.g. the names of uploaded files.
    tz : the operation's IANA time zone (``--tz``): times written with a UTC offset are converted to it;
        times without one are read as its local time. None (the default) keeps every time as written.
    dry_run : check and write everything in a transaction that is then rolled back: the result says what
        would be inserted and updated and which aggregates would be refreshed; nothing is changed and
        nothing is recorded in ``import_runs`` (a refusal raises as usual, unrecorded).

    Returns
    -------
    ImportResult with rows read, rows changed (0 on a repeat import) and per-table counts.

    Raises
    ------
    ImportError_ when any file or row has a problem; ``.errors`` lists them; nothing is written.
    """
    require_role(viewer, *IMPORT_ROLES)
    try:
        tzinfo = zone(tz) if tz else None
    except ValueError as exc:
        raise refuse("--tz", str(exc)) from None
    if kind not in KINDS:
        raise refuse(kind, f"unknown import kind {kind!r}; choose one of {', '.join(KINDS)}")
    files_in = [Path(p) for p in paths]
    if not files_in:
        raise refuse(kind, "no files given")
    source_text = (source or ", ".join(str(p) for p in files_in))[:500]
    started = _now()
    files: list[CsvFile] = []
    try:
        problems = Problems()
        files = _read_files(kind, files_in, problems)
        with source_tz(tzinfo):
            result = _load(engine, kind=kind, files=files, files_in=files_in, problems=problems, viewer=viewer,
                           progress=progress, source=source_text, started=started, dry_run=dry_run)
    except ImportError_ as exc:
        if dry_run:
            raise
        _record_refusal(engine, kind=kind, source=source_text, actor=viewer.username, started=started,
                        rows_in=sum(f.n_records for f in files), digest=_digest(files_in), problems=exc.total)
        raise
    if progress:
        progress(result.rows_in, result.rows_in)
    return result


def _load(engine: Engine, *, kind: str, files: list[CsvFile], files_in: list[Path], problems: Problems,
          viewer: Viewer, progress: Progress | None, source: str, started: dt.datetime,
          dry_run: bool = False) -> ImportResult:
    """Validate and write in one transaction; raise ImportError_ (nothing written) on any problem.

    A dry run does the same writes, then rolls the transaction back (refreshing nothing).
    """
    counts = Counts()
    warnings: list[str] = []
    try:
        with transaction(engine) as s:
            if kind == "olist":
                rows_in = import_olist(s, files=files, problems=problems, counts=counts, progress=progress,
                                       warnings=warnings)
            elif kind == "shopify":
                rows_in = import_shopify(s, files=files, problems=problems, counts=counts, progress=progress,
                                         warnings=warnings)
            else:
                rows_in = import_csv(s, table=kind.removeprefix("csv-"), files=files, problems=problems,
                                     counts=counts, actor=viewer.username, progress=progress, warnings=warnings)
            problems.raise_if_any()  # rolls the (still unwritten) transaction back
            digest = sha256_of([f.path for f in files])
            if dry_run:
                raise _RolledBack(ImportResult(
                    kind=kind, sources=tuple(str(p) for p in files_in), sha256=digest, rows_in=rows_in,
                    rows_changed=counts.changed, inserted=dict(counts.inserted), updated=dict(counts.updated),
                    files=tuple(f.describe() for f in files), warnings=tuple(warnings),
                    refreshed=tuple(needed(counts)), dry_run=True))
            run = ImportRun(kind=kind, source=source, sha256=digest, actor=viewer.username, started_at=started,
                            rows_in=rows_in, rows_changed=counts.changed, status="ok", finished_at=_now())
            s.add(run)
            s.flush()
            refreshed = refresh_touched(s, counts)
            run_id = run.id
    except _RolledBack as done:
        return done.result
    except (IntegrityError, DataError) as exc:
        # Validation should catch every bad value first; this keeps any miss an import error.
        raise refuse(", ".join(p.name for p in files_in), f"the database refused the rows: {exc.orig}") from exc
    return ImportResult(kind=kind, sources=tuple(str(p) for p in files_in), sha256=digest, rows_in=rows_in,
                        rows_changed=counts.changed, inserted=dict(counts.inserted), updated=dict(counts.updated),
                        files=tuple(f.describe() for f in files), run_id=run_id, warnings=tuple(warnings),
                        refreshed=tuple(refreshed))
