"""Derived (``agg_*``) tables: rebuilt after every import and seed.

Each domain names its refresher in its registration (``ops.domain.Domain.refresher``) and
also registers it here by name with :func:`refresher` (imports refresh only the aggregates
whose inputs changed, by these names: ``ops.ingest.refresh``). :func:`refresh_all` runs every
one in the caller's transaction, so pages never see a half-rebuilt aggregate.

A domain may also register an *incremental* refresher under the same name with
:func:`incremental`: ``func(session, changes) -> bool`` rebuilds only the rows an import touched
(``changes`` is an :class:`ops.ingest.changes.Changes`: inserted and updated rows, old values of
moved keys). It returns False when it cannot (a calendar, a product's attributes, a new as-of day
changed...): the full refresher then runs instead. Either way the result must equal a full
rebuild (``tests/test_incremental_imports.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from ops.domain import DOMAIN_PACKAGES

Refresher = Callable[[Session], None]
REFRESHERS: dict[str, Refresher] = {}
# (session, changes) -> False when the changes need the full refresher
IncrementalRefresher = Callable[[Session, Any], bool]
INCREMENTAL: dict[str, IncrementalRefresher] = {}
DOMAIN_MODULES = DOMAIN_PACKAGES  # the domain packages whose import registers their refreshers


def ordered(names: Any) -> list[str]:
    """``names`` in the order of ``DOMAIN_PACKAGES`` (then by name): the order refreshers run and are
    reported in, whatever order the modules happened to be imported in."""
    rank = {mod.rsplit(".", 1)[-1]: i for i, mod in enumerate(DOMAIN_MODULES)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def refresher(name: str) -> Callable[[Refresher], Refresher]:
    """Decorator: register ``func(session)`` that rebuilds the aggregate tables of ``name``."""

    def deco(func: Refresher) -> Refresher:
        REFRESHERS[name] = func
        return func

    return deco


def incremental(name: str) -> Callable[[IncrementalRefresher], IncrementalRefresher]:
    """Decorator: register ``func(session, changes) -> bool`` that refreshes only what ``changes`` touched
    in the aggregate tables of ``name`` (False: it could not, run the full refresher)."""

    def deco(func: IncrementalRefresher) -> IncrementalRefresher:
        INCREMENTAL[name] = func
        return func

    return deco


@contextmanager
def indexes_dropped(session: Session, table: Any) -> Iterator[None]:
    """Around a bulk insert into ``table`` (an ORM class) on SQLite: drop its secondary indexes, then build
    them again (one sort each instead of a B-tree insert per row in key order: about a third of the index
    cost for a million rows). PostgreSQL keeps them: there ``DROP INDEX`` would lock the table's readers out
    until the refresh commits."""
    indexes = sorted(table.__table__.indexes, key=lambda ix: ix.name)
    if session.get_bind().dialect.name != "sqlite" or not indexes:
        yield
        return
    conn = session.connection()
    for ix in indexes:
        ix.drop(conn)
    yield
    for ix in indexes:
        ix.create(conn)


def refresh_one(session: Session, name: str, changes: Any = None) -> bool:
    """Refresh the aggregates of ``name``: incrementally for ``changes`` when it has an incremental
    refresher that can, else in full. Returns True when the incremental path did it."""
    inc = INCREMENTAL.get(name)
    if changes is not None and inc is not None and inc(session, changes):
        return True
    REFRESHERS[name](session)
    return False


def refresh_all(session: Session, *, timings: dict[str, tuple[float, float]] | None = None) -> list[str]:
    """Rebuild every registered aggregate inside the caller's transaction; return their names.

    With ``timings``, each refresher's wall and CPU seconds (``time.process_time``) are stored under its name.
    """
    from ops.domain import load_domains

    funcs = dict(REFRESHERS)
    for d in load_domains().values():
        if d.refresher is not None and not any(d.refresher is f for f in funcs.values()):
            funcs[d.id] = d.refresher
    names = ordered(funcs)
    for name in names:
        wall, cpu = time.perf_counter(), time.process_time()
        funcs[name](session)
        if timings is not None:
            timings[name] = (time.perf_counter() - wall, time.process_time() - cpu)
    return names
