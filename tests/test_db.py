"""The engine factory: SQLite pragmas, immediate write transactions, bounded retries."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError

from ops.db import database_url, make_engine, read_session, run_in_transaction, transaction
from ops.models import Channel


def test_default_url_is_embedded_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPS_DATABASE_URL", raising=False)
    assert database_url() == "sqlite:///data/ops.db"
    monkeypatch.setenv("OPS_DATABASE_URL", "postgresql+psycopg://x@h/db")
    assert database_url() == "postgresql+psycopg://x@h/db"


def test_sqlite_pragmas(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_sqlite_creates_parent_folder(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'nested' / 'deeper' / 'ops.db'}")
    with eng.connect() as c:
        c.execute(text("select 1"))
    assert (tmp_path / "nested" / "deeper" / "ops.db").exists()
    eng.dispose()


def test_foreign_keys_enforced(engine: Engine) -> None:
    from ops.models import Order

    if engine.dialect.name == "sqlite":  # say which half is missing if this ever fails
        with transaction(engine) as s:
            conn = s.connection()
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            fks = conn.exec_driver_sql("PRAGMA foreign_key_list(orders)").fetchall()
            assert any(r[2] == "channels" for r in fks), fks
    with pytest.raises(IntegrityError), transaction(engine) as s:
        s.add(Order(order_number="X1", channel_id=999, status="pending", placed_at=dt.datetime(2026, 1, 1)))


def test_transaction_rolls_back_on_error(engine: Engine) -> None:
    with pytest.raises(RuntimeError), transaction(engine) as s:
        s.add(Channel(code="web", name="Web"))
        s.flush()
        raise RuntimeError("boom")
    with transaction(engine) as s:
        assert s.scalars(select(Channel)).all() == []


def test_concurrent_increments_lose_nothing(engine: Engine) -> None:
    """Read-modify-write from 4 threads: with immediate transactions (SQLite) or retries (PG) nothing is lost."""
    with transaction(engine) as s:
        s.add(Channel(code="counter", name="0"))
    errors: list[BaseException] = []

    def bump(session) -> None:  # type: ignore[no-untyped-def]
        ch = session.scalars(select(Channel).where(Channel.code == "counter").with_for_update()).one()
        ch.name = str(int(ch.name) + 1)

    def worker() -> None:
        try:
            for _ in range(25):
                run_in_transaction(engine, bump)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with transaction(engine) as s:
        assert s.scalars(select(Channel.name).where(Channel.code == "counter")).one() == "100"


def test_reads_do_not_take_the_write_lock(engine: Engine) -> None:
    """A page load (read_session) stays open while a writer commits: no queueing behind readers."""
    with transaction(engine) as s:
        s.add(Channel(code="web", name="Web"))
    with read_session(engine) as r:
        assert r.scalars(select(Channel.code)).all() == ["web"]
        done = threading.Event()

        def write() -> None:
            with transaction(engine) as w:
                w.add(Channel(code="app", name="App"))
            done.set()

        t = threading.Thread(target=write)
        t.start()
        assert done.wait(timeout=10), "a writer waited for a reader's transaction"
        t.join()
        # the reader keeps its snapshot (SQLite WAL) or sees the commit (PostgreSQL READ COMMITTED)
        assert "web" in r.scalars(select(Channel.code)).all()
    with transaction(engine) as s:
        assert sorted(s.scalars(select(Channel.code)).all()) == ["app", "web"]


def test_read_session_writes_nothing(engine: Engine) -> None:
    with read_session(engine) as r:
        r.add(Channel(code="ghost", name="Ghost"))
        r.flush()
    with transaction(engine) as s:
        assert s.scalars(select(Channel)).all() == []
