"""``python -m ops``: init, seed, import, export, user, refresh.

Every command works on ``OPS_DATABASE_URL`` (default ``sqlite:///data/ops.db``) unless
``--db URL`` is given. Errors print one clear line per problem to stderr and exit non-zero.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import importlib
import importlib.util
import os
import sys
import time
from pathlib import Path

from sqlalchemy import Engine

from ops.access import SYSTEM, AccessDenied, Viewer
from ops.cli_error import CliError
from ops.db import make_engine, read_session, transaction
from ops.filters import Filters


def _engine(args: argparse.Namespace) -> Engine:
    return make_engine(args.db) if args.db else make_engine()



def _viewer(engine: Engine, username: str | None) -> Viewer:
    if not username:
        return SYSTEM
    from ops.auth import AuthError, viewer_for_username

    try:
        with transaction(engine) as s:
            return viewer_for_username(s, username=username)
    except (AuthError, AccessDenied) as exc:
        raise CliError(f"--as {username}: {exc}") from exc


def cmd_init(args: argparse.Namespace) -> int:
    from ops.migrate import upgrade_and_rebuild

    engine = _engine(args)
    before, after, rebuilt = upgrade_and_rebuild(engine)
    if rebuilt:
        print(f"schema upgraded from {before} to {after}; derived tables rebuilt: {', '.join(rebuilt)}")
    print(f"database ready: {engine.url.render_as_string(hide_password=True)}")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from ops.demo import is_empty, seed

    engine = _engine(args)
    if args.if_empty and not is_empty(engine):
        print("database already holds data; not seeding (drop --if-empty to reseed)")
        _demo_accounts(engine)
        return 0
    t0 = time.perf_counter()
    counts = seed(engine, size=args.size, seed=args.seed, progress=lambda msg: print(msg, flush=True))
    took = time.perf_counter() - t0
    for table, n in counts.items():
        print(f"{table:28s} {n:>10,d}")
    print(f"seeded size={args.size} seed={args.seed} in {took:.1f} s")
    _demo_accounts(engine)
    return 0


def _demo_accounts(engine: Engine) -> None:
    """Demo accounts on a demo database without accounts; on real data, say how to create the first admin."""
    from ops.auth import ensure_demo_accounts, is_demo_database, needs_first_admin

    with transaction(engine) as s:
        created = ensure_demo_accounts(s)
        demo, first = is_demo_database(s), needs_first_admin(s)
    if created:
        print("\nDEMO DATA AND DEMO ACCOUNTS: every account below shares the public demo password.")
        print("Never load real data into this database; start from an empty one instead.")
        for username, role, vendor, password in created:
            print(f"  user {username:10s} password {password:14s} role {role}{' (' + vendor + ')' if vendor else ''}")
    elif first and not demo:
        print("\nNo account yet and the data is not demo data, so no demo accounts were made. Create the first "
              "admin in the app's first-run form, or: python -m ops user add NAME --role admin")


def cmd_import(args: argparse.Namespace) -> int:
    from ops.ingest import KINDS, ImportError_, run_imports
    from ops.ingest.detect import detect

    engine = _engine(args)
    viewer = _viewer(engine, args.as_user)
    given = list(args.files)
    progress = None if args.quiet else (
        lambda done, total: print(f"\r{done:,}/{total:,} rows", end="", file=sys.stderr, flush=True))
    try:
        if given[0] in KINDS:  # the explicit form: import KIND FILE...
            if len(given) < 2:
                raise CliError(f"{given[0]}: name the files to import")
            groups = [(given[0], [Path(p) for p in given[1:]])]
        else:  # import FILE_OR_DIR...: the format is recognised from each header
            groups = [(k, list(ps)) for k, ps in detect([Path(p) for p in given])]
            for kind, paths in groups:
                print(f"recognised {kind}: {', '.join(p.name for p in paths)}", file=sys.stderr)
        results = run_imports(engine, groups=[(k, list(ps)) for k, ps in groups], viewer=viewer,
                              progress=progress, tz=args.tz, dry_run=args.dry_run)
    except ImportError_ as exc:
        print(file=sys.stderr)
        print(exc.report(), file=sys.stderr)
        return 2
    print(file=sys.stderr)
    for result in results:
        print(result.summary())
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ops.exports import FORMATS, load_registry, run, to_bytes

    if args.list:
        for name, spec in sorted(load_registry().items()):
            print(f"{name:32s} {spec.page:12s} {spec.title}")
        return 0
    if not args.name:
        print("export: name a table (see --list)", file=sys.stderr)
        return 2
    if args.format not in FORMATS:
        print(f"export: --format must be one of {', '.join(FORMATS)}", file=sys.stderr)
        return 2
    engine = _engine(args)
    try:
        filters = Filters(
            date_from=dt.date.fromisoformat(args.date_from) if args.date_from else None,
            date_to=dt.date.fromisoformat(args.date_to) if args.date_to else None,
            warehouses=tuple(args.warehouse or ()),
            channels=tuple(args.channel or ()),
        )
        viewer = _viewer(engine, args.as_user)
        with read_session(engine) as s:
            df = run(s, args.name, viewer=viewer, filters=filters)
    except (ValueError, KeyError, AccessDenied) as exc:
        print(f"export: {exc}", file=sys.stderr)
        return 2
    data = to_bytes(df, args.format, sheet=args.name)
    if args.out:
        Path(args.out).write_bytes(data)
        print(f"wrote {len(df):,} rows to {args.out}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    from ops.auth import AuthError, add_user, reset_password

    engine = _engine(args)
    password = args.password or os.environ.get("OPS_NEW_PASSWORD")
    if password is None:
        password = getpass.getpass(f"password for {args.name}: ")
    try:
        with transaction(engine) as s:
            if args.user_command == "reset":
                reset_password(s, username=args.name, password=password, actor="cli")
            else:
                add_user(s, username=args.name, role=args.role, vendor_code=args.vendor, password=password,
                         actor="cli")
    except (AuthError, AccessDenied, ValueError) as exc:
        print(f"user {args.user_command}: {exc}", file=sys.stderr)
        return 2
    if args.user_command == "reset":
        print(f"user {args.name}: password reset, lockout cleared, every session signed out")
    else:
        print(f"user {args.name} ({args.role}{', vendor ' + args.vendor if args.vendor else ''}) created")
    return 0


def cmd_refresh(args: argparse.Namespace) -> int:
    """Rebuild every aggregate from all history, in one transaction (``--full`` says so explicitly).

    Imports already refresh what they touched, incrementally where they can (``ops.ingest.refresh``);
    this full rebuild is for after direct database edits, a restore, or a changed refresher.
    """
    from ops.aggregates import refresh_all
    from ops.db import analyze
    from ops.decisions import record
    from ops.models import Base

    engine = _engine(args)
    timings: dict[str, tuple[float, float]] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    with transaction(engine) as s:
        names = refresh_all(s, timings=timings)
        # Every aggregate was rewritten: PostgreSQL's planner statistics of them are stale (no-op on SQLite).
        analyze(s.connection(), [t.name for t in Base.metadata.sorted_tables if t.name.startswith("agg_")])
        # Pages may show other figures now: the audit row moves the data version, so every app
        # process drops its cached pages on its next rerun (ops.freshness.data_version).
        record(s, actor=SYSTEM.username, action="aggregates.refresh", entity_kind="aggregates",
               entity_key=", ".join(names))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"refreshed: {', '.join(names) or 'nothing registered'}")
    for name in names:
        print(f"  {name}: {timings[name][0]:.1f} s wall, {timings[name][1]:.1f} s CPU")
    print(f"  total with commit: {wall:.1f} s wall, {cpu:.1f} s CPU")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ops", description="OpsDeck command line")
    p.add_argument("--db", help="database URL (default: OPS_DATABASE_URL or sqlite:///data/ops.db)")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("init", help="create or upgrade the database schema").set_defaults(func=cmd_init)

    s = sub.add_parser("seed", help="fill the database with deterministic demo data")
    s.add_argument("--size", choices=("small", "default", "bench"), default="default")
    s.add_argument("--seed", type=int, default=42)
    s.add_argument("--if-empty", action="store_true", help="do nothing when the database already holds data")
    s.set_defaults(func=cmd_seed)

    i = sub.add_parser("import", help="import files (all-or-nothing, idempotent); the format is recognised "
                       "from the header", description="python -m ops import FILE_OR_DIR ... recognises each "
                       "file's format from its header; python -m ops import KIND FILE ... names it (csv-TABLE, "
                       "shopify, olist, online-retail, ...).")
    i.add_argument("files", nargs="+", metavar="[KIND] FILE_OR_DIR",
                   help="files or folders; optionally preceded by the kind")
    i.add_argument("--dry-run", action="store_true",
                   help="check everything and report what would be created or updated; change nothing")
    i.add_argument("--tz", help="the operation's time zone (IANA, e.g. Europe/Berlin): times with a UTC offset "
                   "are converted to it, times without one are read in it (default: every time as written)")
    i.add_argument("--quiet", action="store_true", help="no progress counter")
    i.add_argument("--as", dest="as_user", help="record the import as this user")
    i.set_defaults(func=cmd_import)

    e = sub.add_parser("export", help="write any table a page shows, scoped to a user")
    e.add_argument("name", nargs="?")
    e.add_argument("--list", action="store_true", help="list exportable tables")
    e.add_argument("--from", dest="date_from")
    e.add_argument("--to", dest="date_to")
    e.add_argument("--warehouse", action="append")
    e.add_argument("--channel", action="append")
    e.add_argument("--as", dest="as_user", help="scope the rows to this user (default: full access)")
    e.add_argument("--format", default="csv")
    e.add_argument("--out", help="file to write (default: standard output)")
    e.set_defaults(func=cmd_export)

    u = sub.add_parser("user", help="manage local accounts")
    usub = u.add_subparsers(dest="user_command", required=True)
    ua = usub.add_parser("add", help="create a local account")
    ua.add_argument("name")
    ua.add_argument("--role", required=True, choices=("admin", "manager", "planner", "vendor"))
    ua.add_argument("--vendor", help="supplier, carrier or 3PL code (vendors only)")
    ua.add_argument("--password", help="password (default: OPS_NEW_PASSWORD or a prompt)")
    ua.set_defaults(func=cmd_user)
    ur = usub.add_parser("reset", help="set a new password for an account (e.g. the only admin's, forgotten)")
    ur.add_argument("name")
    ur.add_argument("--password", help="password (default: OPS_NEW_PASSWORD or a prompt)")
    ur.set_defaults(func=cmd_user)

    r = sub.add_parser("refresh", help="rebuild every derived agg_* table in full (imports refresh what they "
                       "touched by themselves)")
    r.add_argument("--full", action="store_true", help="the full rebuild (the default; the only kind run by hand)")
    r.set_defaults(func=cmd_refresh)
    from ops.backup import add_commands as backup_commands

    backup_commands(sub)  # backup FILE, restore FILE [--force]
    _domain_commands(sub)
    return p


def _domain_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Commands a domain adds: ``ops/<domain>/cli.py`` with ``add_commands(sub)`` (e.g. ``forecast``).

    Each ``add_commands`` adds its subparsers and sets ``func`` to a ``(args) -> int`` callable; it
    raises :class:`CliError` for a clear one-line failure. Heavy imports belong inside the command.
    """
    from ops.domain import DOMAIN_PACKAGES

    for pkg in DOMAIN_PACKAGES:
        if importlib.util.find_spec(f"{pkg}.cli") is not None:
            importlib.import_module(f"{pkg}.cli").add_commands(sub)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
