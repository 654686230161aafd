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

from ops.decisions import define_entity_kind
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
