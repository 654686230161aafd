"""Backup and restore of the whole database: ``python -m ops.backup backup FILE`` / ``restore FILE``.

- **SQLite**: SQLite's online backup API (``sqlite3.Connection.backup``) copies every page in one
  step inside one read transaction, so the copy is the database as of one commit even while the
  app keeps writing (WAL mode lets writers go on; they are not blocked and not copied half-way).
  The copy is written next to its destination and renamed into place after ``PRAGMA
  integrity_check`` passes, so a failed backup never leaves a half-written file under the name.
  Restore copies the file back with the same API into the live database, which takes SQLite's
  write lock for the copy: readers see either the old or the restored database, never a mix.
- **PostgreSQL**: ``pg_dump --format=custom`` (one consistent snapshot by PostgreSQL's own
  transaction) and ``pg_restore --clean --if-exists --no-owner --single-transaction``.

Restoring over a database that already holds decisions or orders is refused unless ``force`` is
set: a restore replaces everything, including the audit log.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from ops.db import database_url

# Tables whose rows mean "this database is in use": a restore over them needs ``force``.
_IN_USE_TABLES = ("decisions", "orders")


class BackupError(Exception):
    """A backup or restore that cannot be done, with a one-line reason."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int
    backend: str


def _sqlite_path(url: str) -> Path:
    db = make_url(url).database
    if not db or db == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(db)


def _pg_url(url: str) -> str:
    """The URL as libpq tools take it (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _backend(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"backups support SQLite and PostgreSQL, not {name}")
    return name


def _run(cmd: list[str]) -> None:
    tool = cmd[0]
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} is not installed (it comes with the PostgreSQL client tools)")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603 - fixed tool, no shell
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()
        raise BackupError(f"{tool} failed: {err[-1] if err else f'exit status {proc.returncode}'}")


def backup(dest: str | os.PathLike[str], url: str | None = None) -> BackupResult:
    """Write a consistent copy of the database at ``url`` (default: the app's) to ``dest``."""
    url = url or database_url()
    backend = _backend(url)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    part.unlink(missing_ok=True)
    if backend == "sqlite":
        src_path = _sqlite_path(url)
        if not src_path.exists():
            raise BackupError(f"{src_path} does not exist")
        src = sqlite3.connect(src_path, timeout=30)  # only read (a read-only WAL connection needs its -shm)
        try:
            dst = sqlite3.connect(part)
            try:
                src.backup(dst)  # all pages in one step: one read transaction, one consistent snapshot
                ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                dst.close()
        finally:
            src.close()
        if ok != "ok":
            part.unlink(missing_ok=True)
            raise BackupError(f"the copy failed SQLite's integrity check: {ok}")
    else:
        _run(["pg_dump", "--format=custom", "--no-owner", f"--file={part}", _pg_url(url)])
    part.replace(dest)
    return BackupResult(path=dest, bytes=dest.stat().st_size, backend=backend)


def _sqlite_in_use(conn: sqlite3.Connection) -> bool:
    for table in _IN_USE_TABLES:
        try:
            if conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:  # noqa: S608 - constant names
                return True
        except sqlite3.OperationalError:  # no such table: an empty or foreign database
            continue
    return False


def _pg_in_use(url: str) -> bool:
    from sqlalchemy import inspect, text

    from ops.db import make_engine

    eng = make_engine(url)
    try:
        with eng.connect() as c:
            names = set(inspect(c).get_table_names())
            return any(c.execute(text(f"SELECT 1 FROM {t} LIMIT 1")).first() is not None  # noqa: S608 - constants
                       for t in _IN_USE_TABLES if t in names)
    finally:
        eng.dispose()


def restore(src: str | os.PathLike[str], url: str | None = None, *, force: bool = False) -> None:
    """Replace the database at ``url`` (default: the app's) with the backup ``src``.

    Refused (:class:`BackupError`) when ``src`` is missing or not a sound backup, or when the
    target already holds decisions or orders and ``force`` is not set.
    """
    url = url or database_url()
    backend = _backend(url)
    src = Path(src)
    if not src.exists():
        raise BackupError(f"{src} does not exist")
    if backend == "sqlite":
        b = sqlite3.connect(src)  # only read
        try:
            try:
                ok = b.execute("PRAGMA integrity_check").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                raise BackupError(f"{src} is not a SQLite backup ({exc})") from exc
            if ok != "ok":
                raise BackupError(f"{src} failed SQLite's integrity check: {ok}")
            target_path = _sqlite_path(url)
            target_path.parent.mkdir(parents=True, exist_ok=True)
            dst = sqlite3.connect(target_path, timeout=30)
            try:
                if not force and _sqlite_in_use(dst):
                    raise BackupError(f"{target_path} already holds decisions or orders: pass --force to replace it")
                b.backup(dst)  # under the target's write lock: readers see the old or the new database
            finally:
                dst.close()
        finally:
            b.close()
        return
    if not force and _pg_in_use(url):
        raise BackupError("the target database already holds decisions or orders: pass --force to replace it")
    _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", f"--dbname={_pg_url(url)}",
          str(src)])


# --- command line ---------------------------------------------------------------------------------


def _cmd_backup(args: argparse.Namespace) -> int:
    res = backup(args.file, getattr(args, "db", None))
    print(f"backup: {res.path} ({res.bytes:,} bytes, {res.backend})")
    return 0


def _cmd_restore(args: argparse.Namespace) -> int:
    restore(args.file, getattr(args, "db", None), force=args.force)
    print(f"restored {args.file}")
    return 0


def add_commands(sub: Any) -> None:
    """``backup FILE`` and ``restore FILE [--force]`` (``--db URL``: another database than the app's)."""
    b = sub.add_parser("backup", help="write a consistent copy of the database to FILE (safe while the app runs)")
    b.add_argument("file")
    b.add_argument("--db", default=argparse.SUPPRESS, help="database URL (default: OPS_DATABASE_URL or data/ops.db)")
    b.set_defaults(func=_cmd_backup)
    r = sub.add_parser("restore", help="replace the database with the backup FILE")
    r.add_argument("file")
    r.add_argument("--db", default=argparse.SUPPRESS, help="database URL (default: OPS_DATABASE_URL or data/ops.db)")
    r.add_argument("--force", action="store_true", help="replace a database that already holds decisions or orders")
    r.set_defaults(func=_cmd_restore)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ops.backup", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    add_commands(sub)
    args = p.parse_args(argv)
    try:
        return int(args.func(args))
    except BackupError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
