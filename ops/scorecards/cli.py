"""``python -m ops scorecards export --week 2026-W47 --out DIR``: one HTML + CSV per vendor (see ``files``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


class _Failure(Exception):
    """A one-line failure of this command."""


def cmd_export(args: argparse.Namespace) -> int:
    """Run the export; a failure prints one line to stderr and returns 2 (as ``ops.__main__.CliError`` does).

    Not raised as ``ops.__main__.CliError``: under ``python -m ops`` the running module is
    ``__main__``, a second copy whose ``except CliError`` does not catch the class imported here.
    """
    try:
        return _export(args)
    except _Failure as exc:
        print(f"scorecards: {exc}", file=sys.stderr)
        return 2


def _export(args: argparse.Namespace) -> int:
    from ops.db import make_engine, read_session
    from ops.scorecards.files import write_vendor_files
    from ops.scorecards.queries import parse_week

    try:
        week = parse_week(args.week)
    except ValueError as exc:
        raise _Failure(f"--week: {exc}") from None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise _Failure(f"--out {out} is a file; give a folder")
    engine = make_engine(args.db) if getattr(args, "db", None) else make_engine()
    try:
        with read_session(engine) as s:
            paths = write_vendor_files(s, out_dir=out, week=week)
    except ValueError as exc:
        raise _Failure(str(exc)) from None
    vendors = len({p.stem for p in paths})
    print(f"wrote {len(paths)} files for {vendors} vendors to {out}")
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser("scorecards", help="vendor scorecards")
    ss = p.add_subparsers(dest="scorecards_command", required=True)
    e = ss.add_parser("export", help="write one HTML + CSV scorecard per vendor for a week, each with only its data")
    e.add_argument("--week", default=None, help="ISO week, e.g. 2026-W47 (default: the data's last week)")
    e.add_argument("--out", required=True, help="folder for the files (created if missing)")
    e.set_defaults(func=cmd_export)
