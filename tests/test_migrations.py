"""Alembic migrations build exactly the schema ops.models declares, on both databases."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from ops.db import make_engine
from ops.migrate import upgrade
from ops.models import Base

ROOT = Path(__file__).resolve().parents[1]


def _fresh_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'migrated.db'}"
    from tests.conftest import private_pg_database

    cm = private_pg_database()
    url = cm.__enter__()
    request.addfinalizer(lambda: cm.__exit__(None, None, None))
    return url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_matches_models(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = _fresh_url(backend, tmp_path, request)
    eng = make_engine(url)
    upgrade(eng)
    upgrade(eng)  # a second run is a no-op
    with eng.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    eng.dispose()
    assert diff == [], f"migrations and ops/models.py disagree: {diff}"
    assert {t.name for t in Base.metadata.sorted_tables} <= tables


def test_cli_init_creates_database(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    out = subprocess.run(
        [sys.executable, "-m", "ops", "--db", f"sqlite:///{db}", "init"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    assert "database ready" in out.stdout
    eng = make_engine(f"sqlite:///{db}")
    with eng.connect() as c:
        assert "alembic_version" in inspect(c).get_table_names()
        assert "products" in inspect(c).get_table_names()
    eng.dispose()
