"""The one place an engine is made.

``OPS_DATABASE_URL`` selects the database; the default is the embedded SQLite file
``data/ops.db``. SQLite connections get WAL, foreign keys and ``BEGIN IMMEDIATE`` for every
transaction (SQLAlchemy's documented pysqlite recipe): with the driver's default deferred
transactions, concurrent read-modify-write decisions are silently lost (see FACTS.md).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, overload

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///data/ops.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_RETRY_SQLSTATES = frozenset({"40001", "40P01"})
MAX_RETRIES = 8
READ_ONLY_OPTION = "ops_read_only"

T = TypeVar("T")


@overload
def as_day(v: None) -> None: ...
@overload
def as_day(v: dt.date | str) -> dt.date: ...
def as_day(v: Any) -> dt.date | None:
    """A day read back from either database: a date, a datetime (its day), or ISO text as SQLite
    returns dates and timestamps from raw SQL and aggregates; None stays None."""
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(str(v)[:10])


def database_url() -> str:
    """Return the configured database URL (``OPS_DATABASE_URL`` or the SQLite default)."""
    return os.environ.get("OPS_DATABASE_URL") or DEFAULT_URL


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (below) instead of pysqlite's deferred BEGIN.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=" + str(int(SQLITE_BUSY_TIMEOUT_MS)))  # PRAGMA takes no bound parameters
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL keeps every acknowledged commit on power loss in WAL mode (NORMAL may not).
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front, so two read-modify-write transactions
        # serialise instead of one failing (or losing an update) at commit. Reads opened with
        # read_session() begin DEFERRED, so page loads never queue behind each other or a writer.
        if conn.get_execution_options().get(READ_ONLY_OPTION):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` (default: :func:`database_url`).

    SQLite files get their parent folder created, WAL mode, foreign keys and
    ``BEGIN IMMEDIATE`` transactions. PostgreSQL URLs are passed through (use
    ``postgresql+psycopg://``).
    """
    url = url or database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def is_sqlite(engine: Engine) -> bool:
    """True when ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A sessionmaker bound to ``engine`` that keeps objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: ``with transaction(engine) as s: ...`` commits or rolls back."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for reads only (page loads, exports): on SQLite it does not take the write lock.

    Nothing is committed; any write attempted through it is rolled back at the end.
    """
    reader = engine.execution_options(**{READ_ONLY_OPTION: True})
    with Session(reader, expire_on_commit=False) as session, session.begin():
        yield session
        session.rollback()


def driver_rows(session: Session, stmt: Any, *, binary: bool = False) -> list[tuple[Any, ...]]:
    """The rows of ``stmt`` as the database driver's plain tuples, in the session's transaction: the result's
    DBAPI cursor (SQLAlchemy's public ``CursorResult.cursor``), without a Row object (or the ORM's loading)
    around each row, which for many rows costs more than the query.

    ``binary`` asks psycopg for PostgreSQL's binary format: the server does not format the values as text nor
    the driver parse them back (the inventory page's pair read at bench size: ~60 instead of ~100 ms; binary
    arrays, which in text come as hex). It compiles the statement on every call (~0.8 ms), so small reads are
    better left on the default path, whose compiled form SQLAlchemy caches. Elsewhere ``binary`` changes nothing.
    """
    conn = session.connection()
    if binary and conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        with conn.connection.dbapi_connection.cursor(binary=True) as cur:  # type: ignore[union-attr]
            cur.execute(str(compiled), compiled.params)
            return list(cur.fetchall())
    result = conn.execute(stmt)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError):
        orig = exc.orig
        sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if sqlstate in PG_RETRY_SQLSTATES:
            return True
        if isinstance(exc, OperationalError) and "database is locked" in str(orig):
            return True
    return False


def run_in_transaction(engine: Engine, work: Callable[[Session], T], *, retries: int = MAX_RETRIES) -> T:
    """Run ``work(session)`` in one transaction, retrying serialisation failures a bounded number of times.

    Retries PostgreSQL SQLSTATE 40001/40P01 and SQLite 'database is locked'; any other error,
    or the last retryable one, propagates with the transaction rolled back.
    """
    attempt = 0
    while True:
        try:
            with transaction(engine) as session:
                return work(session)
        except Exception as exc:  # noqa: BLE001 - filtered by _retryable, re-raised otherwise
            attempt += 1
            if not _retryable(exc) or attempt > retries:
                raise
            time.sleep(min(0.01 * 2**attempt, 0.5))


def analyze(conn: Connection, tables: Sequence[str]) -> None:
    """Give PostgreSQL's planner statistics of ``tables`` after a bulk write (no-op on SQLite).

    A server with autovacuum off, or one that has not reached its threshold yet, plans the
    refresh and the first page loads after a bulk load with no statistics at all (a never-analyzed
    table has ``reltuples = -1``): at bench size a scorecard read hashed all 1.4 M shipments for a
    ``DISTINCT ... LIMIT`` and took 3 s. ``ANALYZE`` samples each table (a few seconds at bench size)
    and runs inside the load's transaction. SQLite keeps its plans rule-based here: an
    ``ANALYZE`` there would change the plans every page was measured with.
    """
    if conn.dialect.name != "postgresql":
        return
    for name in tables:
        if not name.replace("_", "a").isalnum():
            raise ValueError(f"not a plain table name: {name!r}")
        conn.execute(text(f'ANALYZE "{name}"'))  # noqa: S608 - checked identifier
