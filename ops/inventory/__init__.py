"""Inventory health: what will run out, what is stuck, what is worth acting on.

The package (the shape every domain shares, see :mod:`ops.domain`):

- :mod:`~ops.inventory.refresh`  ``agg_inventory_*`` rebuilt in SQL (registered as ``"inventory"``);
- :mod:`~ops.inventory.metrics`  each number once: demand rate, cover, projection, ABC / XYZ, KPIs;
- :mod:`~ops.inventory.queries`  scoped reads of the aggregates;
- :mod:`~ops.inventory.page`     :func:`inventory_health` (the page), :func:`projection`, :func:`headline`;
- :mod:`~ops.inventory.exports`  the page's tables as registered exports.

Definitions of every number are in :mod:`ops.inventory.page` and :mod:`ops.inventory.metrics`.
"""

from __future__ import annotations

from ops.decisions import define_entity_kind, define_threshold
from ops.domain import Domain, register_domain
from ops.inventory import metrics
from ops.inventory.exports import (
    EXPORTS,
    export_aging,
    export_exceptions,
    export_kpis,
    export_open_pos,
    export_positions,
    export_skus,
)
from ops.inventory.metrics import DEFAULT_LEAD_TIME_DAYS, DEFAULT_WINDOW, KPI_WINDOW, WINDOWS
from ops.inventory.page import (
    ENTITY_KIND,
    EXCEPTION_COLUMNS,
    HIDDEN_STATES,
    OPEN_PO_COLUMNS,
    PAIR_THRESHOLDS,
    POSITION_COLUMNS,
    SKU_COLUMNS,
    THRESHOLD_NAMES,
    InventoryHealth,
    exception_key,
    headline,
    inventory_health,
    projection,
)
from ops.inventory.queries import EXCEPTION_KINDS, exception_owner
from ops.inventory.refresh import refresh_inventory

# The owner rule's old name (callers outside the package use it).
_exception_owner = exception_owner

# The domain's thresholds: defaults, plausible ranges (outside them a save needs a confirmation)
# and plain-words definitions, shown wherever the threshold is.
_INV = ("global", "warehouse", "category", "sku")
define_threshold("cover_warning_days", label="Low-cover warning", unit="days", default=14, scopes=_INV,
                 page="inventory", help="Flag a SKU when its days of cover fall below this.",
                 plausible=(1, 180))
define_threshold("excess_cover_days", label="Excess cover", unit="days", default=120, scopes=_INV,
                 page="inventory", help="Flag a SKU as overstocked above this many days of cover.",
                 plausible=(14, 730))
define_threshold("dead_stock_days", label="Dead stock after", unit="days", default=90, scopes=_INV,
                 page="inventory", help="Stock with no sale for this many days counts as dead.",
                 plausible=(14, 730))
define_threshold("abc_a_cut", label="ABC: A class up to", unit="%", default=80, page="inventory",
                 help="Cumulative revenue share that makes a SKU class A.", plausible=(50, 95))
define_threshold("abc_b_cut", label="ABC: B class up to", unit="%", default=95, page="inventory",
                 help="Cumulative revenue share that makes a SKU class B (the rest is C).", plausible=(70, 99.9))
define_entity_kind(ENTITY_KIND, label="Inventory exception", owner=exception_owner, page="inventory")

DOMAIN = register_domain(Domain(
    id="inventory",
    title="Inventory health",
    icon=":material/inventory_2:",
    section="Operations",
    roles=("admin", "manager", "planner"),
    vendor_kinds=("supplier",),
    filters=("warehouses",),
    thresholds=THRESHOLD_NAMES,
    exception_kinds=(ENTITY_KIND,),
    refresher=refresh_inventory,
    exports=EXPORTS,
    headline=headline,
    order=20,
))

__all__ = [
    "DEFAULT_LEAD_TIME_DAYS", "DEFAULT_WINDOW", "DOMAIN", "ENTITY_KIND", "EXCEPTION_COLUMNS", "EXCEPTION_KINDS",
    "EXPORTS", "HIDDEN_STATES", "KPI_WINDOW", "OPEN_PO_COLUMNS", "PAIR_THRESHOLDS", "POSITION_COLUMNS",
    "SKU_COLUMNS", "THRESHOLD_NAMES", "WINDOWS", "InventoryHealth", "exception_key", "exception_owner",
    "export_aging", "export_exceptions", "export_kpis", "export_open_pos", "export_positions", "export_skus",
    "headline", "inventory_health", "metrics", "projection", "refresh_inventory",
]
