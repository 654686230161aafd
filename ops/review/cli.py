"""``python -m ops review export --week 2026-W47 --out DIR``: the week's manager report and one per vendor;
``python -m ops report --week 2026-W47 --format pdf|html|xlsx --out FILE``: the manager's report as one file.

``review export`` writes ``review-<week>.html``, ``.xlsx`` and ``.pdf`` (the manager's) and
``review-<week>-<kind>-<code>.html``, ``.xlsx`` and ``.pdf`` per vendor (supplier, carrier, 3PL operator),
each with only that vendor's data.
Exits 2 with one line on failure (bad week, unreadable database, unwritable folder) and writes
nothing partial: every file is built before the first is written, each through a temporary name.
Suggested cron line (Mondays 06:00, after the nightly refresh)::

    0 6 * * 1  cd /srv/opsdeck && .venv/bin/python -m ops review export --out /srv/reports/$(date +\\%G-W\\%V)
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_commands(sub: Any) -> None:
    p = sub.add_parser("review", help="the weekly review: export the week's report")
    rsub = p.add_subparsers(dest="review_command", required=True)
    e = rsub.add_parser("export", help="write the week's manager report and one report per vendor (HTML and XLSX)")
    e.add_argument("--week", help="ISO week, e.g. 2026-W47 (default: the last full week of data)")
    e.add_argument("--out", required=True, help="folder to write into (created if missing)")
    e.add_argument("--no-vendor-files", action="store_true", help="only the manager's report")
    e.set_defaults(func=cmd_export)
    r = sub.add_parser("report", help="write the week's manager report as one PDF, HTML or XLSX file")
    r.add_argument("--week", help="ISO week, e.g. 2026-W47 (default: the last full week of data)")
    r.add_argument("--format", dest="report_format", choices=("pdf", "html", "xlsx"), default="pdf",
                   help="file format (default: pdf)")
    r.add_argument("--out", required=True, help="file to write (its folder must exist)")
    r.set_defaults(func=cmd_report)


def _cli_error() -> type[Exception]:
    """``ops.__main__.CliError`` as ``main()`` catches it (under ``python -m ops`` that module is ``__main__``)."""
    main = sys.modules.get("__main__")
    err = getattr(main, "CliError", None)
    if isinstance(err, type) and issubclass(err, Exception) and getattr(main, "_domain_commands", None):
        return err
    from ops.cli_error import CliError

    return CliError


def cmd_export(args: argparse.Namespace) -> int:
    CliError = _cli_error()  # noqa: N806 - the class main() catches
    from sqlalchemy.exc import SQLAlchemyError

    from ops.db import make_engine
    from ops.review.report import export_week
    from ops.review.week import parse_week

    week = None
    if args.week:
        try:
            week = parse_week(args.week)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    engine = make_engine(args.db) if getattr(args, "db", None) else make_engine()
    try:
        if week is None:
            from ops.access import SYSTEM
            from ops.db import read_session
            from ops.review.kpis import resolve_week

            with read_session(engine) as s:
                week = resolve_week(s, viewer=SYSTEM)
        paths = export_week(engine, week=week, out_dir=args.out, vendor_files=not args.no_vendor_files)
    except OSError as exc:
        raise CliError(f"cannot write the report into {args.out}: {exc.strerror or exc}") from None
    except SQLAlchemyError as exc:
        raise CliError(f"cannot read the database: {str(exc).splitlines()[0]}") from None
    print(f"review {week}: wrote {len(paths)} files to {args.out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``python -m ops report --week W --format pdf|html|xlsx --out FILE``: the manager's report, one file."""
    from pathlib import Path

    from sqlalchemy.exc import SQLAlchemyError

    from ops.cli_error import CliError
    from ops.db import make_engine
    from ops.review.report import write_report
    from ops.review.week import parse_week

    week = None
    if args.week:
        try:
            week = parse_week(args.week)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    out = Path(args.out)
    if not out.parent.is_dir():
        raise CliError(f"--out {args.out}: the folder {out.parent} does not exist")
    engine = make_engine(args.db) if getattr(args, "db", None) else make_engine()
    try:
        if week is None:
            from ops.access import SYSTEM
            from ops.db import read_session
            from ops.review.kpis import resolve_week

            with read_session(engine) as s:
                week = resolve_week(s, viewer=SYSTEM)
        write_report(engine, week=week, form=args.report_format, out_file=out)
    except OSError as exc:
        raise CliError(f"cannot write the report to {args.out}: {exc.strerror or exc}") from None
    except SQLAlchemyError as exc:
        raise CliError(f"cannot read the database: {str(exc).splitlines()[0]}") from None
    print(f"report {week}: wrote {args.out}")
    return 0
