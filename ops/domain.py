"""The domain registry: one registration per domain, read by navigation, exports, refresh and home.

A *domain* is one area of the product with its own page (inventory, fulfilment, and the ones to
come: carriers, returns, forecast, planner). Each lives in a package ``ops/<domain>/`` whose
modules always play the same roles:

- ``refresh``  rebuilds the domain's derived ``agg_*`` tables from the fact tables, in SQL;
- ``metrics``  defines each number once (a rate is a fraction 0..1; percent is formatting only);
- ``queries``  scoped reads (every function takes ``viewer``; vendor scope from ``ops.access``);
- ``page``     assembles what the page shows (one call per page load);
- ``exports``  the registered exports (``ops.exports.register``), thin wrappers over ``page``;
- ``__init__`` the public names and the single :func:`register_domain` call.

The registration declares what the rest of the product needs to know about the domain: its page
(id, title, icon, section, who may open it, which sidebar filters it reads), its thresholds and
exception kinds (defined through ``ops.decisions``), its refresher, its exports and its
``headline(session, *, viewer, filters) -> Headline``: the KPIs with previous period and target,
and the top exceptions, which the home page (and the weekly report) loop over.

Adding a domain: see ARCHITECTURE.md, "Adding a domain".
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy.orm import Session

# The one list of domain packages; everything else is read from their registrations.
DOMAIN_PACKAGES: tuple[str, ...] = ("ops.inventory", "ops.fulfillment", "ops.review", "ops.returns",
                                     "ops.planner", "ops.scorecards", "ops.forecast")

HEADLINE_EXCEPTION_COLUMNS = ["subject", "kind", "detail", "value_at_risk"]


@dataclass(frozen=True)
class Kpi:
    """One headline figure: value and previous period in machine units, formatted by ``ops.fmt``.

    ``kind`` is an ``ops.fmt`` kind (``pct`` for a fraction 0..1, ``count``, ``money``, ``hours``...);
    ``target`` is in the same units (None when the KPI has no target); ``help`` defines it in words.
    """

    key: str
    label: str
    kind: str
    value: float | None
    previous: float | None = None
    target: float | None = None
    higher_is_better: bool = True
    help: str = ""

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None or pd.isna(self.value) or pd.isna(self.previous):
            return None
        return float(self.value) - float(self.previous)


@dataclass(frozen=True)
class Headline:
    """What a domain says on the home page: its KPIs, its top exceptions, and why it is empty if it is.

    ``exceptions`` has columns ``HEADLINE_EXCEPTION_COLUMNS`` (``subject`` str, ``kind`` str,
    ``detail`` str, ``value_at_risk`` float64 or NaN), most urgent first. ``note`` is one line of
    context (the as-of day, the window); ``empty_reason`` replaces KPIs that would say nothing.
    """

    kpis: tuple[Kpi, ...]
    exceptions: pd.DataFrame
    note: str = ""
    empty_reason: str | None = None


HeadlineFunc = Callable[..., Headline]
Refresher = Callable[[Session], None]


@dataclass(frozen=True)
class Domain:
    """One domain's registration (see the module docstring)."""

    id: str
    title: str
    icon: str
    section: str
    roles: tuple[str, ...]
    vendor_kinds: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    thresholds: tuple[str, ...] = ()
    exception_kinds: tuple[str, ...] = ()
    refresher: Refresher | None = None
    exports: tuple[str, ...] = ()
    headline: HeadlineFunc | None = None
    order: int = 100  # position among the navigation's pages


DOMAINS: dict[str, Domain] = {}


def register_domain(domain: Domain) -> Domain:
    """Register ``domain`` (idempotent for the same registration; a different one under a taken id raises)."""
    old = DOMAINS.get(domain.id)
    if old is not None and old != domain:
        raise ValueError(f"domain {domain.id!r} is registered twice")
    DOMAINS[domain.id] = domain
    return domain


def load_domains() -> dict[str, Domain]:
    """Import every domain package (registering them) and return the registry, in page order."""
    for mod in DOMAIN_PACKAGES:
        importlib.import_module(mod)
    return dict(sorted(DOMAINS.items(), key=lambda kv: kv[1].order))


def domain_pages(role: str, vendor_kind: str | None) -> tuple[str, ...]:
    """Page ids of the domains a role (or, for vendors, a vendor kind) may open, in page order."""
    out = []
    for d in load_domains().values():
        if (role == "vendor" and vendor_kind in d.vendor_kinds) or (role != "vendor" and role in d.roles):
            out.append(d.id)
    return tuple(out)
