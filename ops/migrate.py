"""Create or upgrade a database to the current schema with Alembic."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    """An Alembic config pointing at ``ops/migrations`` and ``engine``'s URL."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The database's Alembic revision (None: never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Migrate ``engine``'s database to the newest revision (creates it when empty)."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def upgrade_and_rebuild(engine: Engine) -> tuple[str | None, str | None, list[str]]:
    """Migrate to the newest revision; when that changed the schema of a database holding data,
    rebuild every derived ``agg_*`` table in one transaction (a revision may add or reshape one, and
    pages read only those). Returns ``(revision before, revision after, aggregates rebuilt)``."""
    from ops.aggregates import refresh_all
    from ops.db import transaction
    from ops.demo import is_empty

    before = current_revision(engine)
    upgrade(engine)
    after = current_revision(engine)
    if before is None or before == after or is_empty(engine):
        return before, after, []
    with transaction(engine) as s:
        names = refresh_all(s)
    return before, after, names
