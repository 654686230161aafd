"""Who is asking (``Viewer``) and what they may see.

Every ``ops`` query takes ``viewer`` as a keyword argument and applies the SQL conditions
below, so vendor scoping happens inside ``ops``, in SQL, on every query. Calling a query
without a viewer is a programming error (``require_viewer`` raises), never an unscoped read.

Vendor kinds and what they see
------------------------------
- ``supplier``: products whose ``supplier_id`` is theirs, their purchase orders, order lines
  they sold (``order_lines.seller_id``, marketplace sellers) and returns on those lines.
- ``carrier``: shipments they carried (``shipments.carrier_id``) and the orders behind them.
- ``warehouse`` (a 3PL): warehouses whose ``operator_code`` is theirs, and everything in them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import ColumnElement, exists, false, select, true
from sqlalchemy.orm import aliased

from ops.models import (
    ROLES,
    VENDOR_KINDS,
    Carrier,
    Order,
    OrderLine,
    Product,
    PurchaseOrder,
    Shipment,
    Supplier,
    Warehouse,
)

# Pages outside the domain registry, by role and by vendor kind. Domain pages (inventory,
# fulfilment, ...) come from each domain's registration (ops.domain): its ``roles`` and
# ``vendor_kinds``. PAGES_BY_ROLE / VENDOR_PAGES below are the union, read at call time.
STATIC_PAGES_BY_ROLE: dict[str, tuple[str, ...]] = {
    "admin": ("home", "audit", "imports", "users"),
    "manager": ("home", "audit"),
    "planner": ("home",),
    "vendor": (),
}
STATIC_VENDOR_PAGES: dict[str, tuple[str, ...]] = {
    "supplier": (),
    "carrier": (),
    "warehouse": (),
}


class _PageTable(Mapping[str, tuple[str, ...]]):
    """Static pages plus the registered domains' pages for a role (or a vendor kind)."""

    def __init__(self, static: dict[str, tuple[str, ...]], vendor: bool) -> None:
        self._static = static
        self._vendor = vendor

    def __getitem__(self, key: str) -> tuple[str, ...]:
        from ops.domain import domain_pages  # lazy: domain packages import this module

        static = self._static[key]
        extra = domain_pages("vendor", key) if self._vendor else domain_pages(key, None)
        return static + tuple(p for p in extra if p not in static)

    def __iter__(self) -> Iterator[str]:
        return iter(self._static)

    def __len__(self) -> int:
        return len(self._static)


PAGES_BY_ROLE: Mapping[str, tuple[str, ...]] = _PageTable(STATIC_PAGES_BY_ROLE, vendor=False)
VENDOR_PAGES: Mapping[str, tuple[str, ...]] = _PageTable(STATIC_VENDOR_PAGES, vendor=True)

P = ParamSpec("P")
R = TypeVar("R")


class AccessDenied(PermissionError):
    """Raised when a viewer asks for something their role or scope does not allow."""


@dataclass(frozen=True)
class Viewer:
    """The person a query runs for.

    ``cache_key`` is the hashable identity every cached loader must take as an ordinary
    (not ``_``-prefixed) argument, so one viewer's cached rows never reach another.
    """

    username: str
    role: str
    vendor_kind: str | None = None
    vendor_code: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise AccessDenied(f"unknown role {self.role!r} for user {self.username!r}")
        if self.role == "vendor":
            # Fail closed: a vendor without a mapping must never fall through to "see everything".
            if self.vendor_kind not in VENDOR_KINDS or not self.vendor_code:
                raise AccessDenied(
                    f"vendor account {self.username!r} has no vendor mapping; ask an admin to set one"
                )
        elif self.vendor_kind or self.vendor_code:
            raise AccessDenied(f"only vendor accounts carry a vendor scope ({self.username!r})")

    @property
    def is_vendor(self) -> bool:
        return self.role == "vendor"

    @property
    def cache_key(self) -> tuple[str, str, str, str]:
        return (self.username, self.role, self.vendor_kind or "", self.vendor_code or "")

    def pages(self) -> tuple[str, ...]:
        """Page ids this viewer may open."""
        if self.is_vendor:
            return VENDOR_PAGES[self.vendor_kind or ""]
        return PAGES_BY_ROLE[self.role]

    def may_open(self, page: str) -> bool:
        return page in self.pages()

    def is_kind(self, kind: str) -> bool:
        return self.is_vendor and self.vendor_kind == kind


SYSTEM = Viewer(username="system", role="admin")
"""The viewer for command-line jobs run by an operator with full rights (seed, init)."""


def require_viewer(viewer: Any) -> Viewer:
    """Return ``viewer`` or raise: an ``ops`` query called without a viewer is a bug."""
    if not isinstance(viewer, Viewer):
        raise TypeError(f"an ops query needs viewer=Viewer(...), got {type(viewer).__name__}")
    return viewer


def require_role(viewer: Viewer, *roles: str) -> None:
    """Raise :class:`AccessDenied` unless ``viewer.role`` is one of ``roles``."""
    require_viewer(viewer)
    if viewer.role not in roles:
        raise AccessDenied(f"{viewer.username} ({viewer.role}) may not do this; needs one of {', '.join(roles)}")


# --- SQL conditions, one per entity -------------------------------------------------------


def _supplier_id(viewer: Viewer) -> Any:
    return select(Supplier.id).where(Supplier.code == viewer.vendor_code).scalar_subquery()


def _carrier_id(viewer: Viewer) -> Any:
    return select(Carrier.id).where(Carrier.code == viewer.vendor_code).scalar_subquery()


def _operated_warehouse_ids(viewer: Viewer) -> Any:
    return select(Warehouse.id).where(Warehouse.operator_code == viewer.vendor_code)


def warehouse_condition(viewer: Viewer) -> ColumnElement[bool]:
    """Rows of ``warehouses`` the viewer may see (suppliers and carriers: all, by name only)."""
    require_viewer(viewer)
    if viewer.is_kind("warehouse"):
        return Warehouse.operator_code == viewer.vendor_code
    return true()


def product_condition(viewer: Viewer) -> ColumnElement[bool]:
    """Rows of ``products`` the viewer may see."""
    require_viewer(viewer)
    if not viewer.is_vendor:
        return true()
    if viewer.vendor_kind == "supplier":
        return Product.supplier_id == _supplier_id(viewer)
    return false()


def product_by_supplier_code(viewer: Viewer, supplier_code_col: Any) -> ColumnElement[bool]:
    """:func:`product_condition` for derived rows that carry the product's supplier code.

    Same rule (suppliers see their own SKUs, other vendors none), without the subquery.
    """
    require_viewer(viewer)
    if not viewer.is_vendor:
        return true()
    if viewer.vendor_kind == "supplier":
        return supplier_code_col == viewer.vendor_code
    return false()


def stock_condition(viewer: Viewer, warehouse_id_col: Any, product_id_col: Any) -> ColumnElement[bool]:
    """Stock rows (snapshots, PO lines) keyed by warehouse and product columns."""
    require_viewer(viewer)
    if not viewer.is_vendor:
        return true()
    if viewer.vendor_kind == "supplier":
        return product_id_col.in_(select(Product.id).where(Product.supplier_id == _supplier_id(viewer)))
    if viewer.vendor_kind == "warehouse":
        return warehouse_id_col.in_(_operated_warehouse_ids(viewer))
    return false()


def purchase_order_condition(viewer: Viewer) -> ColumnElement[bool]:
    """Rows of ``purchase_orders`` the viewer may see."""
    require_viewer(viewer)
    if not viewer.is_vendor:
        return true()
    if viewer.vendor_kind == "supplier":
        return PurchaseOrder.supplier_id == _supplier_id(viewer)
    if viewer.vendor_kind == "warehouse":
        return PurchaseOrder.warehouse_id.in_(_operated_warehouse_ids(viewer))
    return false()


def order_line_condition(viewer: Viewer) -> ColumnElement[bool]:
    """Rows of ``order_lines`` the viewer may see (join ``orders`` for warehouse vendors)."""
    require_viewer(viewer)
    if not viewer.is_vendor:
        return true()
    if viewer.vendor_kind == "supplier":
        return OrderLine.seller_id == _supplier_id(viewer)
    if viewer.vendor_kind == "warehouse":
        return OrderLine.order_id.in_(select(Order.id).where(Order.warehouse_id.in_(_operated_warehouse_ids(viewer))))
    if viewer.vendor_kind == "carrier":
        return OrderLine.order_id.in_(select(Shipment.order_id).where(Shipment.carrier_id == _carrier_id(viewer)))
    return false()


def order_condition(viewer: Viewer) -> ColumnElement[bool]:
    """Rows of ``orders`` the viewer may see: a supplier sees orders holding a line it sold."""
    require_viewer(viewer)
    if not viewer.is_vendor:
        return true()
    if viewer.vendor_kind == "supplier":
        # IN (uncorrelated subquery), not a correlated EXISTS: SQLite planned the EXISTS as a scan of
        # every order probing the vendor's lines per order, which never finished at bench size.
        return Order.id.in_(select(OrderLine.order_id).where(OrderLine.seller_id == _supplier_id(viewer)))
    if viewer.vendor_kind == "warehouse":
        return Order.warehouse_id.in_(_operated_warehouse_ids(viewer))
    if viewer.vendor_kind == "carrier":
        return Order.id.in_(select(Shipment.order_id).where(Shipment.carrier_id == _carrier_id(viewer)))
    return false()


def shipment_condition(viewer: Viewer) -> ColumnElement[bool]:
    """Rows of ``shipments`` the viewer may see."""
    require_viewer(viewer)
    if not viewer.is_vendor:
        return true()
    if viewer.vendor_kind == "carrier":
        return Shipment.carrier_id == _carrier_id(viewer)
    if viewer.vendor_kind == "warehouse":
        return Shipment.warehouse_id.in_(_operated_warehouse_ids(viewer))
    if viewer.vendor_kind == "supplier":
        return Shipment.order_id.in_(select(OrderLine.order_id).where(OrderLine.seller_id == _supplier_id(viewer)))
    return false()


def date_driven_conditions(viewer: Viewer) -> tuple[ColumnElement[bool], ColumnElement[bool], ColumnElement[bool]]:
    """The rows of :func:`order_condition`, :func:`shipment_condition` and :func:`order_line_condition`, written
    for reads a date range drives (a week's orders or shipments through their date index).

    A carrier's conditions above (``orders.id IN (its shipments' orders)``, ``shipments.carrier_id = ?``) make
    the database walk the carrier's every shipment (400 k at bench size) on each read, whatever the dates. Here
    the same rows: an order is the carrier's when one of its shipments is (``EXISTS``, probed by
    ``shipments.order_id`` for each order of the range), and the carrier's id is compared as ``carrier_id + 0``
    (an integer, so the same test) which no index serves, so the date index drives. A 3PL's order lines: a line
    is theirs when its order is (``EXISTS``, probed by the order's id), not ``IN`` a list of the 3PL's every
    order (490 k at bench size), which SQLite builds before testing the first line. Other viewers (and a 3PL's
    orders and shipments, tested against its few warehouses): the conditions above themselves.
    """
    if viewer.vendor_kind == "warehouse":
        line_order = aliased(Order)
        theirs_line = exists().where(line_order.id == OrderLine.order_id,
                                     line_order.warehouse_id.in_(_operated_warehouse_ids(viewer)))
        return order_condition(viewer), shipment_condition(viewer), theirs_line
    if viewer.vendor_kind != "carrier":
        return order_condition(viewer), shipment_condition(viewer), order_line_condition(viewer)
    require_viewer(viewer)
    carrier = _carrier_id(viewer)
    theirs = aliased(Shipment)

    def carried(order_id: Any) -> ColumnElement[bool]:
        return exists().where(theirs.order_id == order_id, (theirs.carrier_id + 0) == carrier)

    return carried(Order.id), (Shipment.carrier_id + 0) == carrier, carried(OrderLine.order_id)


def fulfil_agg_condition(viewer: Viewer, t: Any) -> ColumnElement[bool]:
    """Rows of a fulfilment aggregate (``agg_fulfil_*``, keyed by seller, warehouse and carrier ids).

    The same rules as :func:`order_line_condition`, on the keys the aggregates carry, so vendor
    scoping of derived rows stays in SQL and needs no join back to the fact tables.
    """
    require_viewer(viewer)
    if not viewer.is_vendor:
        return true()
    if viewer.vendor_kind == "supplier":
        return t.seller_id == _supplier_id(viewer)
    if viewer.vendor_kind == "warehouse":
        return t.warehouse_id.in_(_operated_warehouse_ids(viewer))
    if viewer.vendor_kind == "carrier":
        return t.carrier_id == _carrier_id(viewer)
    return false()


# --- registry of scoped data functions ----------------------------------------------------

DATA_FUNCTIONS: dict[str, Callable[..., Any]] = {}


def data_function(func: Callable[P, R]) -> Callable[P, R]:
    """Register a public, viewer-scoped data function so the isolation test calls it.

    The isolation test also scans every ``ops`` module for public functions taking
    ``viewer``: a function that takes a viewer but is not registered fails that test.
    """
    DATA_FUNCTIONS[f"{func.__module__}.{func.__qualname__}"] = func
    return func
