"""Derived (``agg_*``) tables: rebuilt after every import and seed.

Domain modules register a refresher with :func:`refresher`; :func:`refresh_all` runs them
all in one transaction, so pages never see a half-rebuilt aggregate.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from sqlalchemy.orm import Session

Refresher = Callable[[Session], None]
REFRESHERS: dict[str, Refresher] = {}
DOMAIN_MODULES = ("ops.inventory", "ops.fulfillment")


def refresher(name: str) -> Callable[[Refresher], Refresher]:
    """Decorator: register ``func(session)`` that rebuilds the aggregate tables of ``name``."""

    def deco(func: Refresher) -> Refresher:
        REFRESHERS[name] = func
        return func

    return deco


def refresh_all(session: Session) -> list[str]:
    """Rebuild every registered aggregate inside the caller's transaction; return their names."""
    for mod in DOMAIN_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:  # domain module not written yet
            if exc.name != mod:
                raise
    for func in REFRESHERS.values():
        func(session)
    return list(REFRESHERS)
