"""What an import changed, in the terms the incremental refreshers need (``ops.aggregates.incremental``).

Importer-agnostic: every importer writes through :func:`ops.ingest.store.upsert`, so two things
describe any import completely:

- **inserted rows**: at the start of the import's transaction :func:`high_water` notes each
  table's highest id; the rows inserted since are ``id > mark`` (ids only grow, on SQLite and
  PostgreSQL alike, and the import holds the write transaction);
- **updated rows**: ``upsert`` keeps each updated row's id and the OLD values of the columns that
  differed (:class:`ops.ingest.store.Counts.old`), so a row that moved between groups (an order
  whose placed day, status or warehouse changed, a return moved to another order line) is found in
  the group it left as well as in the one it joined.

:class:`Changes` turns these into the keys the aggregates are grouped by: orders, their placed
days and sale weeks (old and new), order lines, products, ship days. Each method says which tables
it follows (``via``), so a refresher asks only for what its aggregates read. Results are computed
in SQL over the touched ids (a day of orders is a few thousand), never by scanning a fact table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ops.business_time import monday
from ops.db import as_day
from ops.ingest.reader import batched
from ops.ingest.store import Counts
from ops.models import (
    Carrier,
    CarrierService,
    Channel,
    Holiday,
    InventorySnapshot,
    Order,
    OrderLine,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Return,
    Shipment,
    Supplier,
    Warehouse,
)

# Every table an aggregate reads: their high-water marks are taken before an import writes.
TRACKED = (Supplier, Warehouse, Holiday, Carrier, CarrierService, Channel, Product, InventorySnapshot,
           PurchaseOrder, PurchaseOrderLine, Order, OrderLine, Shipment, Return)
ORDER_SOURCES = ("orders", "order_lines", "shipments", "returns")
CHUNK = 5_000  # ids per IN (...) list


def high_water(session: Session, models: Sequence[Any] = TRACKED) -> dict[str, int]:
    """Each of ``models``' tables' highest id now (0 when empty): rows inserted later have a higher id."""
    return {m.__tablename__: int(session.execute(select(func.coalesce(func.max(m.id), 0))).scalar_one())
            for m in models}




@dataclass
class Changes:
    """An import's inserted rows (``id > marks[table]``) and updated rows (``counts.old``)."""

    counts: Counts
    marks: dict[str, int]
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False)

    # --- tables and columns ------------------------------------------------------------------

    def inserted(self, table: str) -> bool:
        """Whether ``table`` gained rows."""
        return self.counts.inserted.get(table, 0) > 0

    def updated(self, table: str, columns: Iterable[str] | None = None) -> bool:
        """Whether rows of ``table`` were updated (in one of ``columns``, when given)."""
        if not self.counts.updated.get(table, 0):
            return False
        return columns is None or bool(self.counts.columns.get(table, set()) & set(columns))

    def changed(self, table: str, columns: Iterable[str] | None = None) -> bool:
        """Inserted into, or updated (in one of ``columns``)."""
        return self.inserted(table) or self.updated(table, columns)

    def mark(self, table: str) -> int:
        """``table``'s highest id before the import (its inserted rows have higher ids)."""
        return self.marks.get(table, 0)

    def updated_ids(self, table: str) -> set[int]:
        """Ids of the rows of ``table`` the import updated."""
        return {int(r["id"]) for r in self.counts.old.get(table, ())}

    def old_values(self, table: str, column: str) -> set[Any]:
        """The values ``column`` held before the import on the updated rows where it changed (None dropped)."""
        return {r[column] for r in self.counts.old.get(table, ()) if r.get(column) is not None}

    def new_ids(self, session: Session, model: Any, column: Any = None) -> set[int]:
        """``column`` (default: the id) of the rows of ``model`` the import inserted."""
        col = model.id if column is None else column
        mark = self.mark(model.__tablename__)
        if not self.inserted(model.__tablename__):
            return set()
        # no DISTINCT: SQLite would walk the whole index of ``column`` for it instead of the id range
        return {int(v) for v in session.scalars(select(col).where(model.id > mark)) if v is not None}

    # --- keys of the fact tables ---------------------------------------------------------------

    def order_ids(self, session: Session, *, via: Sequence[str] = ORDER_SOURCES) -> set[int]:
        """Orders whose own row, lines (``order_lines``), shipments or returns (through their lines)
        the import inserted or updated, with the orders a shipment or return was moved away from."""
        key = ("order_ids", tuple(via))
        if key in self._memo:
            return set(self._memo[key])
        out: set[int] = set()
        if "orders" in via:
            out |= self.new_ids(session, Order) | self.updated_ids("orders")
        if "order_lines" in via:
            out |= self.new_ids(session, OrderLine, OrderLine.order_id)
            out |= _values(session, OrderLine.order_id, OrderLine.id, self.updated_ids("order_lines"))
        if "shipments" in via:
            out |= self.new_ids(session, Shipment, Shipment.order_id)
            out |= _values(session, Shipment.order_id, Shipment.id, self.updated_ids("shipments"))
            out |= {int(v) for v in self.old_values("shipments", "order_id")}
        if "returns" in via:
            lines = self.return_line_ids(session)
            out |= _values(session, OrderLine.order_id, OrderLine.id, lines)
        self._memo[key] = frozenset(out)
        return out

    def return_line_ids(self, session: Session) -> set[int]:
        """Order lines whose returns changed: of inserted and updated returns, and those a return left."""
        out = self.new_ids(session, Return, Return.order_line_id)
        out |= _values(session, Return.order_line_id, Return.id, self.updated_ids("returns"))
        out |= {int(v) for v in self.old_values("returns", "order_line_id")}
        return out

    def line_ids(self, session: Session, *, via: Sequence[str] = ("orders", "order_lines", "returns")) -> set[int]:
        """Order lines touched: inserted or updated lines, every line of a touched order, lines whose
        returns changed (``via`` as :meth:`order_ids`; shipments reach lines through their orders)."""
        out: set[int] = set()
        orders: set[int] = set()
        if "orders" in via:
            orders |= self.new_ids(session, Order) | self.updated_ids("orders")
        if "shipments" in via:
            orders |= self.order_ids(session, via=("shipments",))
        if "order_lines" in via:
            out |= self.new_ids(session, OrderLine) | self.updated_ids("order_lines")
        if "returns" in via:
            out |= self.return_line_ids(session)
        out |= _values(session, OrderLine.id, OrderLine.order_id, orders)
        return out

    def product_ids(self, session: Session, *, via: Sequence[str] = ("orders", "order_lines", "returns")) -> set[int]:
        """Products of the touched order lines (:meth:`line_ids`), and those an updated line was moved from."""
        out = _values(session, OrderLine.product_id, OrderLine.id, self.line_ids(session, via=via))
        if "order_lines" in via:
            out |= {int(v) for v in self.old_values("order_lines", "product_id")}
        return out

    def placed_days(self, session: Session, *, via: Sequence[str] = ORDER_SOURCES) -> set[dt.date]:
        """Placed days of the touched orders (:meth:`order_ids`), and the days an updated order left."""
        ids = self.order_ids(session, via=via)
        days = {as_day(v) for v in _values(session, Order.placed_at, Order.id, ids, raw=True)}
        days |= {as_day(v) for v in self.old_values("orders", "placed_at")}
        return {d for d in days if d is not None}

    def sale_weeks(self, session: Session, *, via: Sequence[str] = ORDER_SOURCES) -> set[dt.date]:
        """The Mondays of :meth:`placed_days`: the sale weeks whose aggregates may have changed."""
        return {monday(d) for d in self.placed_days(session, via=via)}

    def ship_days(self, session: Session, columns: Sequence[str] = ("shipped_at",)) -> set[dt.date]:
        """Days of ``columns`` (timestamps of shipments) on the inserted and updated shipments, now and before."""
        ids = self.new_ids(session, Shipment) | self.updated_ids("shipments")
        out: set[dt.date] = set()
        for c in columns:
            out |= {as_day(v) for v in _values(session, getattr(Shipment, c), Shipment.id, ids, raw=True)}
            out |= {as_day(v) for v in self.old_values("shipments", c)}
        return {d for d in out if d is not None}


def _values(session: Session, col: Any, key: Any, ids: Iterable[int], *, raw: bool = False) -> set[Any]:
    """Distinct ``col`` of the rows whose ``key`` is in ``ids`` (ints unless ``raw``; None dropped)."""
    out: set[Any] = set()
    for chunk in batched(sorted(set(ids)), CHUNK):
        out |= {v for v in session.scalars(select(col).where(key.in_(chunk))) if v is not None}
    return out if raw else {int(v) for v in out}


