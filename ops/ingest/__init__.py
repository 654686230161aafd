"""Importers: canonical CSVs (``csv-<table>``), Shopify order exports (``shopify``), Olist (``olist``) and the
exports of :data:`ops.ingest.formats.FORMATS` (Shopify products and inventory, Amazon, WooCommerce, ShipStation,
a returns platform, UCI Online Retail). :mod:`ops.ingest.detect` recognises a file's kind from its header;
:func:`run_imports` writes several kinds in one transaction; ``dry_run`` rolls everything back.

Every import is validated in full, in one pass, before anything is written: each problem
becomes a :class:`RowError` naming file, physical line (header = 1), column and what is wrong.
Cell checks, duplicate keys and references to other tables (an unknown supplier, SKU or
warehouse) run over every row, including rows with a bad cell, and over every file, including
one refused as a whole, so the report lists all problems at once (up to ``MAX_ERRORS``, the rest
counted). Any problem refuses the whole import with :class:`ImportError_`, leaving the data
unchanged; the refusal itself is recorded in ``import_runs`` (status ``refused``, problem count,
who, when) in a transaction of its own, so "Recent imports" shows it.

A clean import upserts on natural keys in one transaction, records an ``ImportRun`` row and
refreshes, in that same transaction, the ``agg_*`` tables the changed rows feed, only the days,
weeks and SKUs they touched where a domain can (:mod:`ops.ingest.refresh`); importing the same
files again changes nothing (``rows_changed == 0``) and refreshes nothing. Where a default stands in for a value that
matters (a new product without a price), the import goes ahead and the result says so in
``warnings``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from ops.access import Viewer, require_role
from ops.db import analyze, transaction
from ops.ingest.changes import high_water as change_marks
from ops.ingest.csv_tables import SPECS, TABLE_ORDER, import_csv
from ops.ingest.formats import FORMATS
from ops.ingest.olist import import_olist, read_folder
from ops.ingest.preview import high_water, sample
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
    "run_imports",
]

ANALYZE_AFTER_ROWS = 20_000  # rows inserted into one table by one import that make it a bulk write (ops.db.analyze)
IMPORT_ROLES = ("admin",)  # the Imports page and the CLI alike: admins load data
REFUSED = "refused"  # import_runs.status of a refused import
REFUSED_NOTE = " (refused: {n:,} problem{s})"  # appended to import_runs.source; history reads it back
KINDS = tuple(f"csv-{t}" for t in TABLE_ORDER) + ("shopify", "olist") + tuple(FORMATS)


def kinds() -> dict[str, str]:
    """Every import kind with a one-line description (for the page's picker and the CLI help)."""
    out = {f"csv-{name}": SPECS[name].doc for name in TABLE_ORDER}
    out["shopify"] = "Shopify orders export (orders_export.csv): orders, lines, fulfilled shipments."
    out["olist"] = ("Olist files or their folder, recognised by header: orders, items, products, customers; "
                    "sellers, reviews and the category translation optional.")
    out.update({k: f.doc for k, f in FORMATS.items()})
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
    preview: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # dry run: rows it would insert

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
    def __init__(self, results: list[ImportResult]) -> None:
        self.results = results


def run_import(engine: Engine, *, kind: str, paths: Sequence[Path | str], viewer: Viewer,
               progress: Progress | None = None, source: str | None = None, tz: str | None = None,
               dry_run: bool = False) -> ImportResult:
    """Validate and import ``paths`` as ``kind``, all or nothing.

    Parameters
    ----------
    engine : the database.
    kind : ``csv-<table>`` (see :data:`KINDS`), ``shopify``, ``olist`` (a folder or its files), ...
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
    return run_imports(engine, groups=[(kind, paths)], viewer=viewer, progress=progress, source=source, tz=tz,
                       dry_run=dry_run)[0]


def run_imports(engine: Engine, *, groups: Sequence[tuple[str, Sequence[Path | str]]], viewer: Viewer,
                progress: Progress | None = None, source: str | None = None, tz: str | None = None,
                dry_run: bool = False, preview: int = 0) -> list[ImportResult]:
    """Import several ``(kind, paths)`` groups in ONE transaction, in the order given: all or nothing.

    Used when files of several formats arrive together (``python -m ops import FILE ...``): a
    products file is written before the orders that name its SKUs, and a refusal of any group
    leaves every group unwritten. Each group is recorded as its own ``import_runs`` row; the
    aggregates are refreshed once, for everything the groups changed. Arguments as :func:`run_import`;
    ``preview`` (dry runs only): up to this many of the rows each table would gain, as mapped
    (``ImportResult.preview``, see :mod:`ops.ingest.preview`).
    """
    require_role(viewer, *IMPORT_ROLES)
    try:
        tzinfo = zone(tz) if tz else None
    except ValueError as exc:
        raise refuse("--tz", str(exc)) from None
    if not groups:
        raise refuse("import", "no files given")
    plan: list[tuple[str, list[Path]]] = []
    for kind, paths in groups:
        if kind not in KINDS:
            raise refuse(kind, f"unknown import kind {kind!r}; choose one of {', '.join(KINDS)}")
        files_in = [Path(p) for p in paths]
        if not files_in:
            raise refuse(kind, "no files given")
        plan.append((kind, files_in))
    all_in = [p for _, ps in plan for p in ps]
    source_text = (source or ", ".join(str(p) for p in all_in))[:500]
    kinds_text = "+".join(k for k, _ in plan)[:32]
    started = _now()
    read: list[list[CsvFile]] = []
    try:
        problems = Problems()
        for kind, files_in in plan:
            read.append(_read_files(kind, files_in, problems))
        with source_tz(tzinfo):
            results = _load(engine, plan=plan, read=read, problems=problems, viewer=viewer, progress=progress,
                            source=source_text, started=started, dry_run=dry_run,
                            preview=preview if dry_run else 0)
    except ImportError_ as exc:
        if dry_run:
            raise
        _record_refusal(engine, kind=kinds_text, source=source_text, actor=viewer.username, started=started,
                        rows_in=sum(f.n_records for fs in read for f in fs), digest=_digest(all_in),
                        problems=exc.total)
        raise
    if progress:
        n = sum(r.rows_in for r in results)
        progress(n, n)
    return results


Importer = Callable[..., int]


def _importer(kind: str) -> Importer:
    """The function that checks and writes ``kind``: ``(session, files=, problems=, counts=, progress=,
    warnings=, actor=) -> rows read``; it writes nothing when ``problems`` holds any."""
    if kind == "olist":
        return import_olist
    if kind == "shopify":
        return import_shopify
    if kind in FORMATS:
        return FORMATS[kind].load
    table = kind.removeprefix("csv-")

    def canonical(session: Session, **kw: Any) -> int:
        return import_csv(session, table=table, **kw)

    return canonical


def _load(engine: Engine, *, plan: list[tuple[str, list[Path]]], read: list[list[CsvFile]], problems: Problems,
          viewer: Viewer, progress: Progress | None, source: str, started: dt.datetime,
          dry_run: bool = False, preview: int = 0) -> list[ImportResult]:
    """Validate and write every group in one transaction; raise ImportError_ (nothing written) on any problem.

    A group is checked against what the groups before it wrote (in the same transaction); a group
    with a problem stops the import there. A dry run does the same writes, then rolls back.
    """
    total = Counts()
    results: list[ImportResult] = []
    runs: list[ImportRun] = []
    try:
        with transaction(engine) as s:
            # rows inserted from here on have higher ids: what the incremental refreshers rebuild
            start = change_marks(s)
            for (kind, files_in), files in zip(plan, read, strict=True):
                counts = Counts()
                warnings: list[str] = []
                kw: dict[str, Any] = {"files": files, "problems": problems, "counts": counts, "progress": progress,
                                      "warnings": warnings}
                if kind.startswith("csv-") or kind in FORMATS:
                    kw["actor"] = viewer.username
                marks = high_water(s) if preview else {}
                rows_in = _importer(kind)(s, **kw)
                problems.raise_if_any()  # rolls the (still unwritten) transaction back
                sampled = sample(s, marks, preview) if preview else {}
                total.merge(counts)
                digest = sha256_of([f.path for f in files])
                results.append(ImportResult(
                    kind=kind, sources=tuple(str(p) for p in files_in), sha256=digest, rows_in=rows_in,
                    rows_changed=counts.changed, inserted=dict(counts.inserted), updated=dict(counts.updated),
                    files=tuple(f.describe() for f in files), warnings=tuple(warnings), dry_run=dry_run,
                    preview=sampled))
                if not dry_run:
                    run = ImportRun(kind=kind, source=source, sha256=digest, actor=viewer.username,
                                    started_at=started, rows_in=rows_in, rows_changed=counts.changed, status="ok",
                                    finished_at=_now())
                    s.add(run)
                    runs.append(run)
            if dry_run:
                would = tuple(needed(total))
                raise _RolledBack([replace(r, refreshed=would) for r in results])
            s.flush()
            refreshed = tuple(refresh_touched(s, total, start))
            # a big import (a history, a backfill) is a bulk write: its tables get planner statistics in its
            # commit, as after a seed (a server with autovacuum off would plan the next pages without them)
            analyze(s.connection(), sorted(t for t, n in total.inserted.items() if n >= ANALYZE_AFTER_ROWS))
    except _RolledBack as done:
        return done.results
    except (IntegrityError, DataError) as exc:
        # Validation should catch every bad value first; this keeps any miss an import error.
        names = ", ".join(p.name for _, ps in plan for p in ps)
        raise refuse(names, f"the database refused the rows: {exc.orig}") from exc
    return [replace(r, run_id=run.id, refreshed=refreshed) for r, run in zip(results, runs, strict=True)]
