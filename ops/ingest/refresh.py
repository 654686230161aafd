"""Refreshing after an import only the aggregates the import could have changed.

A full :func:`ops.aggregates.refresh_all` rebuilds every ``agg_*`` table; on the default demo
data the fulfilment rebuild alone takes many seconds, so a three-row products file waited on it.
Each registered refresher reads a known set of tables and columns (:data:`READS`); an import
records which tables it inserted into and which columns its updates changed
(:class:`ops.ingest.store.Counts`), and only the refreshers that read one of those are run,
inside the import's own transaction. The result equals a full refresh (the tests compare them).

Each refresher so chosen runs incrementally when its domain registered an incremental one
(:func:`ops.aggregates.incremental`) and the import's :class:`ops.ingest.changes.Changes` allow
it: only the days, weeks, SKUs and warehouses the import touched are rebuilt, in time proportional
to the changed rows; otherwise (a calendar, a code, a new as-of day...) it runs in full.

Rules
-----
- An update matters to a refresher when a changed column is one it reads (``None``: any column).
- An insert matters unless the table is in :data:`LOOKUP_TABLES`: rows there are only reached
  through another table's foreign key, so a new supplier, warehouse or product changes no
  aggregate until an order, snapshot or PO line refers to it, and that import refreshes.
- A refresher not described in :data:`READS` (a domain added later) runs after every import
  that changed anything: safe until someone lists what it reads.
- An import that changed nothing refreshes nothing.

Keep :data:`READS` in step with the refreshers in ``ops/inventory/refresh.py`` and ``ops/fulfillment/refresh.py``:
a column a refresher starts to read must be added here, or imports changing only that column
leave the aggregate stale (``tests/test_ingest_refresh.py`` compares with a full refresh).
"""

from __future__ import annotations

import importlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from ops.aggregates import DOMAIN_MODULES, REFRESHERS, incremental, ordered, refresh_one
from ops.ingest.changes import Changes
from ops.ingest.store import Counts
from ops.models import AggFulfilDaily

ANY = None  # every column of the table
# refresher -> table -> the columns it reads (ANY: every column)
READS: dict[str, dict[str, frozenset[str] | None]] = {
    "inventory": {
        "products": frozenset({"sku", "name", "category", "unit_cost", "price", "lead_time_days", "supplier_id"}),
        "suppliers": frozenset({"code", "lead_time_days"}),
        "warehouses": frozenset({"code"}),
        "inventory_snapshots": ANY,
        "purchase_orders": ANY,
        "purchase_order_lines": ANY,
        "orders": frozenset({"status", "warehouse_id", "placed_at"}),
        "order_lines": ANY,
    },
    "fulfillment": {
        "orders": ANY,
        "order_lines": ANY,
        "shipments": ANY,
        "suppliers": frozenset({"region"}),
        "warehouses": frozenset({"business_days", "cutoff_time", "handling_days"}),
        "holidays": ANY,
    },
    "returns": {
        "orders": frozenset({"status", "placed_at", "channel_id", "warehouse_id"}),
        "order_lines": ANY,
        "shipments": frozenset({"order_id", "carrier_id", "shipped_at"}),
        "returns": ANY,
        "products": frozenset({"sku", "category", "size", "unit_cost", "supplier_id"}),
        "suppliers": frozenset({"code"}),
        "channels": frozenset({"code"}),
        "warehouses": frozenset({"code"}),
        "carriers": frozenset({"code"}),
    },
    "planner": {  # ops.planner.refresh: lead times from PO lines, forecast figures per product SKU
        "purchase_orders": ANY,
        "purchase_order_lines": ANY,
        "suppliers": frozenset({"code"}),
        "products": frozenset({"sku"}),
    },
    "review": {
        "orders": frozenset({"placed_at", "status", "warehouse_id", "channel_id"}),
        "order_lines": frozenset({"order_id"}),
        "shipments": frozenset({"order_id", "shipped_at", "delivered_at", "label_cost", "status", "carrier_id",
                                "tracking_number"}),
        "returns": frozenset({"order_line_id", "reason_code"}),
        "reviews": ANY,
    },
    "scorecards": {
        "shipments": ANY,
        "carriers": frozenset({"code"}),
        "carrier_services": frozenset({"code"}),
        "warehouses": frozenset({"code"}),
        "holidays": ANY,
        "purchase_orders": ANY,
        "purchase_order_lines": ANY,
        "suppliers": frozenset({"code"}),
    },
}
LOOKUP_TABLES = frozenset({"products", "suppliers", "warehouses", "carriers", "carrier_services", "channels"})


def _load_refreshers() -> None:
    """Import the domain modules so that their refreshers are registered (as ``refresh_all`` does)."""
    for mod in DOMAIN_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:  # domain module not written yet
            if exc.name != mod:
                raise


def _touches(counts: Counts, table: str, columns: frozenset[str] | None) -> bool:
    if counts.inserted.get(table, 0) and table not in LOOKUP_TABLES:
        return True
    if counts.updated.get(table, 0):
        return columns is ANY or bool(counts.columns.get(table, set()) & columns)
    return False


def needed(counts: Counts) -> list[str]:
    """The registered refreshers whose aggregates the changes in ``counts`` can alter, in the domains'
    order (:func:`ops.aggregates.ordered`)."""
    _load_refreshers()
    if counts.changed == 0:
        return []
    out = []
    for name in ordered(REFRESHERS):
        reads = READS.get(name)
        if reads is None or any(_touches(counts, t, cols) for t, cols in reads.items()):
            out.append(name)
    return out


MAX_DAYS = 120  # more touched placed days than this: the full fulfilment rebuild is as quick


@incremental("fulfillment")
def refresh_fulfillment_days(session: Session, changes: Changes) -> bool:
    """Fulfilment by placed day (:func:`ops.fulfillment.refresh.refresh_days`): the days of the orders
    whose row, lines or shipments changed, and the days an order left. Calendars, SLA policies and
    sellers' regions feed every day: those need the full rebuild."""
    if (changes.changed("holidays") or changes.updated("warehouses", ("business_days", "cutoff_time", "handling_days"))
            or changes.updated("suppliers", ("region",))):
        return False
    if session.execute(select(AggFulfilDaily.id).limit(1)).first() is None:
        return False  # never built (or no orders yet): the full rebuild makes every day
    days = changes.placed_days(session, via=("orders", "order_lines", "shipments"))
    if len(days) > MAX_DAYS:
        return False
    importlib.import_module("ops.fulfillment.refresh").refresh_days(session, days)
    return True


def refresh_touched(session: Session, counts: Counts, marks: dict[str, int] | None = None) -> list[str]:
    """Run the refreshers :func:`needed` for ``counts`` inside the caller's transaction; return their names.

    With ``marks`` (:func:`ops.ingest.changes.high_water` taken before the import wrote), each runs
    incrementally where it can; without, in full.
    """
    names = needed(counts)
    changes = Changes(counts=counts, marks=marks) if marks is not None else None
    for name in names:
        refresh_one(session, name, changes)
    return names
