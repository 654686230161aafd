"""Derived (``agg_*``) tables: rebuilt after every import and seed.

Each domain names its refresher in its registration (``ops.domain.Domain.refresher``) and
also registers it here by name with :func:`refresher` (imports refresh only the aggregates
whose inputs changed, by these names: ``ops.ingest.refresh``). :func:`refresh_all` runs every
one in the caller's transaction, so pages never see a half-rebuilt aggregate.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from ops.domain import DOMAIN_PACKAGES

Refresher = Callable[[Session], None]
REFRESHERS: dict[str, Refresher] = {}
DOMAIN_MODULES = DOMAIN_PACKAGES  # the domain packages whose import registers their refreshers


def refresher(name: str) -> Callable[[Refresher], Refresher]:
    """Decorator: register ``func(session)`` that rebuilds the aggregate tables of ``name``."""

    def deco(func: Refresher) -> Refresher:
        REFRESHERS[name] = func
        return func

    return deco


def refresh_all(session: Session) -> list[str]:
    """Rebuild every registered aggregate inside the caller's transaction; return their names."""
    from ops.domain import load_domains

    funcs = dict(REFRESHERS)
    for d in load_domains().values():
        if d.refresher is not None and not any(d.refresher is f for f in funcs.values()):
            funcs[d.id] = d.refresher
    for func in funcs.values():
        func(session)
    return list(funcs)
