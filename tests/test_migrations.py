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


def test_upgrading_a_database_with_data_rebuilds_the_derived_tables(tmp_path: Path) -> None:
    """A revision that reshapes an aggregate (0010: the fulfilment hours) must not leave a page empty
    on an upgraded database: ``python -m ops init`` rebuilds the derived tables after such an upgrade."""
    from alembic import command
    from sqlalchemy import text

    from ops.demo import seed
    from ops.migrate import alembic_config

    db = tmp_path / "old.db"
    eng = make_engine(f"sqlite:///{db}")
    upgrade(eng)
    seed(eng, size="small", seed=3)
    with eng.connect() as c:
        want = c.execute(text("SELECT COUNT(*), SUM(n), SUM(cum) FROM agg_fulfil_hours")).one()
    assert want[0] > 0
    cfg = alembic_config(eng)
    with eng.begin() as conn:  # back to the schema before the hours table: as an installation of then
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0009")
    eng.dispose()
    out = subprocess.run([sys.executable, "-m", "ops", "--db", f"sqlite:///{db}", "init"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    assert "upgraded from 0009 to " in out.stdout and "fulfillment" in out.stdout, out.stdout
    eng = make_engine(f"sqlite:///{db}")
    with eng.connect() as c:
        assert tuple(c.execute(text("SELECT COUNT(*), SUM(n), SUM(cum) FROM agg_fulfil_hours")).one()) == tuple(want)
    eng.dispose()
    again = subprocess.run([sys.executable, "-m", "ops", "--db", f"sqlite:///{db}", "init"],
                           cwd=ROOT, capture_output=True, text=True, check=True)
    assert "rebuilt" not in again.stdout  # nothing to upgrade: nothing rebuilt
