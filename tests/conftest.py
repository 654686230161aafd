"""Shared fixtures: every database test runs on SQLite and, when OPS_TEST_DATABASE_URL names
one, on PostgreSQL too.

PostgreSQL isolation: each pytest process creates its own throw-away database on the server
named by OPS_TEST_DATABASE_URL (so parallel runs and xdist workers never share tables) and
drops it at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from ops.db import make_engine
from ops.models import Base

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"
REFERENCE = SHARED / "reference"
PG_URL = os.environ.get("OPS_TEST_DATABASE_URL", "")

BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def _admin_url() -> str:
    return make_url(PG_URL).set(database="postgres").render_as_string(hide_password=False)


@contextmanager
def private_pg_database() -> Iterator[str]:
    """Create a throw-away PostgreSQL database on the test server; yield its URL; drop it."""
    if not PG_URL:
        pytest.skip("OPS_TEST_DATABASE_URL is not set: PostgreSQL runs are skipped")
    name = f"ops_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))  # noqa: S608 - generated identifier
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))  # noqa: S608
        admin.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A private PostgreSQL database for this pytest process; yields its URL."""
    with private_pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def _pg_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    url = request.getfixturevalue("pg_database")
    eng = make_engine(url)
    Base.metadata.create_all(eng)
    yield eng
    eng.dispose()


def _truncate_pg(eng: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with eng.begin() as c:
        c.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))  # noqa: S608 - table names from metadata


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty, migrated-to-current-schema database: SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'ops.db'}")
        Base.metadata.create_all(eng)
        yield eng
        eng.dispose()
    else:
        eng = request.getfixturevalue("_pg_engine")
        _truncate_pg(eng)
        yield eng


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """An empty SQLite database only (for tests of SQLite-specific behaviour)."""
    eng = make_engine(f"sqlite:///{tmp_path / 'ops.db'}")
    Base.metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def seeded_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A database holding the small demo data set (seed 7), built once per backend per run.

    Read-only by convention: tests that write use ``engine`` and seed it themselves.
    """
    from ops.demo import seed

    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('seeded') / 'ops.db'}")
        Base.metadata.create_all(eng)
        seed(eng, size="small", seed=7)
        yield eng
        eng.dispose()
    else:
        with private_pg_database() as url:
            eng = make_engine(url)
            Base.metadata.create_all(eng)
            seed(eng, size="small", seed=7)
            yield eng
            eng.dispose()


@pytest.fixture(autouse=True)
def _fresh_streamlit_caches() -> Iterator[None]:
    """st.cache_data outlives an AppTest and its key leaves the engine out (one database per
    process in production); tests switch databases, so each starts with empty caches."""
    import streamlit as st

    st.cache_data.clear()
    yield


def planner_estimate(conn: Any, table: str) -> float:
    """PostgreSQL's planner estimate of ``table``'s rows (``reltuples``: -1 when never analyzed)."""
    return float(conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}).scalar())


def sqlite_statistics(conn: Any) -> bool:
    """True when a SQLite database holds planner statistics (an ``ANALYZE`` ran: ``sqlite_stat1`` exists)."""
    return bool(conn.execute(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")).scalar())
