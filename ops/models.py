"""SQLAlchemy 2 typed tables: the one data model every page reads.

Conventions
-----------
- Surrogate integer primary keys; every business entity also has a unique natural key
  (``sku``, ``code``, ``order_number``...) that importers upsert on.
- Timestamps are naive ``DateTime`` values in the operation's local time (warehouse local
  time for fulfilment; the Olist data is in Brazil local time). Dates are ``Date``.
- Money and costs are floats in the shop's currency (aggregated in SQL; never used as keys).
- Tables prefixed ``agg_`` are derived: rebuilt by ``ops.aggregates`` after every import or
  seed, never written by hand.
- ``decisions`` is append-only: the audit log of every write-back.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints so Alembic batch mode (SQLite) can alter them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("admin", "manager", "planner", "vendor")
VENDOR_KINDS = ("supplier", "carrier", "warehouse")
ORDER_STATUSES = ("pending", "processing", "shipped", "delivered", "cancelled", "unavailable")
SHIPMENT_STATUSES = ("in_transit", "delivered", "lost", "damaged", "returned_to_sender")
PO_STATUSES = ("draft", "open", "received", "cancelled")
DISPOSITIONS = ("restock", "refurbish", "liquidate", "scrap")
SCOPE_KINDS = ("global", "warehouse", "carrier", "category", "sku", "supplier")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# --- reference data -------------------------------------------------------------------------


class Supplier(Base):
    """A supplier of stock, or a marketplace seller (Olist sellers import as suppliers)."""

    __tablename__ = "suppliers"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(50))  # state / province
    country: Mapped[str | None] = mapped_column(String(2))
    lead_time_days: Mapped[int | None] = mapped_column(Integer)  # stated by the supplier


class Warehouse(Base):
    """A fulfilment site; its SLA policy (cut-off, business days, handling) lives here."""

    __tablename__ = "warehouses"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(50))
    operator_code: Mapped[str | None] = mapped_column(String(64))  # the 3PL running it, if any
    cutoff_time: Mapped[dt.time] = mapped_column(Time, default=dt.time(14, 0))
    business_days: Mapped[str] = mapped_column(String(7), default="01234")  # Mon=0 .. Sun=6
    handling_days: Mapped[int] = mapped_column(Integer, default=0)  # business days after cut-off day
    version: Mapped[int] = mapped_column(Integer, default=1)


class Holiday(Base):
    """A non-working day, for one warehouse or (warehouse_id NULL) for all."""

    __tablename__ = "holidays"
    __table_args__ = (UniqueConstraint("warehouse_id", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouses.id"))
    day: Mapped[dt.date] = mapped_column(Date)
    name: Mapped[str | None] = mapped_column(String(100))


class Carrier(Base):
    __tablename__ = "carriers"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class CarrierService(Base):
    __tablename__ = "carrier_services"
    __table_args__ = (UniqueConstraint("carrier_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    carrier_id: Mapped[int] = mapped_column(ForeignKey("carriers.id"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    promised_days: Mapped[int] = mapped_column(Integer)  # business days from ship to delivery


class Channel(Base):
    __tablename__ = "channels"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(100), index=True)
    size: Mapped[str | None] = mapped_column(String(32))  # size / variant
    unit_cost: Mapped[float] = mapped_column(Float, default=0.0)
    price: Mapped[float] = mapped_column(Float, default=0.0)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"), index=True)
    case_pack: Mapped[int] = mapped_column(Integer, default=1)
    moq: Mapped[int] = mapped_column(Integer, default=1)
    lead_time_days: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


# --- stock and purchasing --------------------------------------------------------------------


class InventorySnapshot(Base):
    """End-of-day on-hand units for one SKU in one warehouse."""

    __tablename__ = "inventory_snapshots"
    __table_args__ = (
        UniqueConstraint("product_id", "warehouse_id", "day"),
        Index("ix_inventory_snapshots_day", "day"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    day: Mapped[dt.date] = mapped_column(Date)
    on_hand: Mapped[int] = mapped_column(Integer)


class PurchaseOrder(Base):
    __tablename__ = "purchase_orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    po_number: Mapped[str] = mapped_column(String(64), unique=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")  # PO_STATUSES
    ordered_on: Mapped[dt.date] = mapped_column(Date)
    expected_on: Mapped[dt.date | None] = mapped_column(Date)
    created_by: Mapped[str | None] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)


class PurchaseOrderLine(Base):
    __tablename__ = "purchase_order_lines"
    __table_args__ = (UniqueConstraint("po_id", "product_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    po_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    qty_ordered: Mapped[int] = mapped_column(Integer)
    qty_received: Mapped[int] = mapped_column(Integer, default=0)
    received_on: Mapped[dt.date | None] = mapped_column(Date)
    unit_cost: Mapped[float] = mapped_column(Float, default=0.0)


# --- demand and fulfilment -------------------------------------------------------------------


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_placed_at", "placed_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    order_number: Mapped[str] = mapped_column(String(64), unique=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouses.id"), index=True)
    customer_region: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(16))  # ORDER_STATUSES
    placed_at: Mapped[dt.datetime] = mapped_column(DateTime)
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    ship_by: Mapped[dt.datetime | None] = mapped_column(DateTime)  # given by the source, or derived
    source: Mapped[str] = mapped_column(String(16), default="demo")  # demo / csv / shopify / olist


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_id", "line_no"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    # The marketplace seller responsible for this line (Olist); NULL for first-party stock.
    seller_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"), index=True)
    qty: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[float] = mapped_column(Float)
    freight: Mapped[float] = mapped_column(Float, default=0.0)
    ship_by: Mapped[dt.datetime | None] = mapped_column(DateTime)  # per-line deadline (Olist)


class Shipment(Base):
    __tablename__ = "shipments"
    __table_args__ = (Index("ix_shipments_shipped_at", "shipped_at"),
                      Index("ix_shipments_delivered_at", "delivered_at"))  # the review's cycle time
    id: Mapped[int] = mapped_column(primary_key=True)
    tracking_number: Mapped[str] = mapped_column(String(64), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouses.id"))
    carrier_id: Mapped[int | None] = mapped_column(ForeignKey("carriers.id"), index=True)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("carrier_services.id"))
    zone: Mapped[int | None] = mapped_column(Integer)
    lane: Mapped[str | None] = mapped_column(String(64))  # e.g. "WH-EAST>NY"
    label_cost: Mapped[float] = mapped_column(Float, default=0.0)
    shipped_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    promised_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    first_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(24), default="in_transit")  # SHIPMENT_STATUSES


class Return(Base):
    __tablename__ = "returns"
    id: Mapped[int] = mapped_column(primary_key=True)
    rma_number: Mapped[str] = mapped_column(String(64), unique=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    qty: Mapped[int] = mapped_column(Integer, default=1)
    reason_code: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    refund_amount: Mapped[float] = mapped_column(Float, default=0.0)
    disposition: Mapped[str | None] = mapped_column(String(16))  # DISPOSITIONS


class Review(Base):
    """A customer review of an order (Olist reviews; used for satisfaction vs lateness)."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    # review_id + ":" + order_id for Olist (its review ids repeat across orders): up to 129 characters.
    review_key: Mapped[str] = mapped_column(String(130), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    score: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(200))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


# --- people, thresholds, decisions ----------------------------------------------------------


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str | None] = mapped_column(String(200), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # ROLES
    vendor_kind: Mapped[str | None] = mapped_column(String(16))  # VENDOR_KINDS, vendors only
    vendor_code: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str | None] = mapped_column(String(200))  # argon2id; NULL for SSO-only
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)


class AuthSession(Base):
    """One signed-in browser (ops.auth): the cookie holds a random token, this row only its SHA-256.

    Times are UTC. A session ends when revoked (sign-out, deactivation, password change), at
    ``expires_at``, or after too long without activity (``last_seen_at``).
    """

    __tablename__ = "auth_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_why: Mapped[str | None] = mapped_column(String(100))


class AppSetting(Base):
    """Server-side settings kept with the data (the session-signing secret when OPS_SECRET_KEY is unset)."""

    __tablename__ = "app_settings"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Threshold(Base):
    """A named, typed threshold value at one scope; the most specific scope wins."""

    __tablename__ = "thresholds"
    __table_args__ = (UniqueConstraint("name", "scope_kind", "scope_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    scope_kind: Mapped[str] = mapped_column(String(16), default="global")  # SCOPE_KINDS
    scope_key: Mapped[str] = mapped_column(String(64), default="")  # '' for global
    value: Mapped[float] = mapped_column(Float)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)


class EntityState(Base):
    """The current state of a flaggable thing (an exception row): acknowledged, snoozed, flagged."""

    __tablename__ = "entity_states"
    __table_args__ = (UniqueConstraint("entity_kind", "entity_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    entity_kind: Mapped[str] = mapped_column(String(32))  # e.g. "inventory_exception"
    entity_key: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))  # open / acknowledged / snoozed / flagged
    snooze_until: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    vendor_code: Mapped[str | None] = mapped_column(String(64))  # owner scope, for vendor reads
    # The owner's vendor kind (supplier/carrier/warehouse): codes are unique only within a kind.
    vendor_kind: Mapped[str | None] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)
    # The owning vendor's response ("PO confirmed for the 24th"): vendors write only this, never the state.
    vendor_note: Mapped[str | None] = mapped_column(Text)
    vendor_note_by: Mapped[str | None] = mapped_column(String(100))
    vendor_note_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Annotation(Base):
    """A note pinned to a day (or a date range) on a page's time charts, optionally scoped.

    ``day`` is the first day and ``end_day`` the last (None: the one day); ``scope_kind`` /
    ``scope_key`` name what it concerns ("carrier"/"UPS", "lane"/"WH-EAST>NY"; None: everything
    on the page). Added by migration 0009 (weekly review).
    """

    __tablename__ = "annotations"
    id: Mapped[int] = mapped_column(primary_key=True)
    page: Mapped[str] = mapped_column(String(32))
    day: Mapped[dt.date] = mapped_column(Date)
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)
    end_day: Mapped[dt.date | None] = mapped_column(Date)
    scope_kind: Mapped[str | None] = mapped_column(String(16))
    scope_key: Mapped[str | None] = mapped_column(String(64))


class Decision(Base):
    """Append-only audit log: who did what to which entity, before and after, and why."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_entity", "entity_kind", "entity_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(48))  # e.g. threshold.set, exception.ack, login.failed
    entity_kind: Mapped[str] = mapped_column(String(32))
    entity_key: Mapped[str] = mapped_column(String(200))
    before: Mapped[str | None] = mapped_column(Text)  # JSON
    after: Mapped[str | None] = mapped_column(Text)  # JSON
    why: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16), default="applied")  # applied / refused
    vendor_code: Mapped[str | None] = mapped_column(String(64))  # scope, so vendors see only theirs
    vendor_kind: Mapped[str | None] = mapped_column(String(16))  # with vendor_code: a carrier ARC is not a supplier ARC


class ImportRun(Base):
    """One import or seed: what, when, by whom, how many rows; feeds the data-freshness line."""

    __tablename__ = "import_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    rows_in: Mapped[int] = mapped_column(Integer, default=0)
    rows_changed: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="ok")


# --- fulfilment aggregates (derived, rebuilt by ops.fulfillment) ----------------------------
# One row per (order placed day, warehouse, channel, seller, carrier) and a measure's cell. Every
# count is of order lines, so vendor scoping (seller, 3PL warehouse, carrier) stays exact in SQL.


class _FulfilKeys:
    """The grain shared by the fulfilment aggregates (keys the page filters and scopes on)."""

    day: Mapped[dt.date] = mapped_column(Date, index=True)  # the order's placed day
    warehouse_id: Mapped[int | None] = mapped_column(Integer)
    channel_id: Mapped[int | None] = mapped_column(Integer)
    seller_id: Mapped[int | None] = mapped_column(Integer)
    seller_region: Mapped[str | None] = mapped_column(String(50))
    carrier_id: Mapped[int | None] = mapped_column(Integer)


class AggFulfilDaily(_FulfilKeys, Base):
    """Ship and delivery SLA counts per day and keys (see ops.fulfillment for the definitions)."""

    __tablename__ = "agg_fulfil_daily"
    id: Mapped[int] = mapped_column(primary_key=True)
    lines: Mapped[int] = mapped_column(Integer, default=0)  # lines of orders not cancelled
    ship_counted: Mapped[int] = mapped_column(Integer, default=0)
    ship_on_time: Mapped[int] = mapped_column(Integer, default=0)
    ship_late: Mapped[int] = mapped_column(Integer, default=0)
    late_hours_sum: Mapped[float] = mapped_column(Float, default=0.0)
    c2s_n: Mapped[int] = mapped_column(Integer, default=0)
    c2s_hours_sum: Mapped[float] = mapped_column(Float, default=0.0)
    c2s_bhours_sum: Mapped[float] = mapped_column(Float, default=0.0)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    delivered_on_time: Mapped[int] = mapped_column(Integer, default=0)
    late_warehouse: Mapped[int] = mapped_column(Integer, default=0)
    late_carrier: Mapped[int] = mapped_column(Integer, default=0)
    late_unknown: Mapped[int] = mapped_column(Integer, default=0)
    split_n: Mapped[int] = mapped_column(Integer, default=0)
    processing_hours_sum: Mapped[float] = mapped_column(Float, default=0.0)
    transit_hours_sum: Mapped[float] = mapped_column(Float, default=0.0)


class _HoursCellKeys:
    """A histogram cell of :class:`AggFulfilHours`: the grain's ids (0 where the line has none, so that
    one index seek finds a cell on both databases), the measure and the bucket."""

    warehouse_id: Mapped[int] = mapped_column(Integer)
    channel_id: Mapped[int] = mapped_column(Integer)
    seller_id: Mapped[int] = mapped_column(Integer)
    carrier_id: Mapped[int] = mapped_column(Integer)
    measure: Mapped[str] = mapped_column(String(8))  # c2s / c2s_bus (click-to-ship hours), late (hours late)
    fine: Mapped[int] = mapped_column(Integer)  # 0: HIST_EDGES buckets; 1: half-hour buckets (c2s, c2s_bus)
    bucket: Mapped[int] = mapped_column(Integer)


class AggFulfilHours(_HoursCellKeys, Base):
    """Lines per histogram cell and placed day (``n``), and their running total over the days (``cum``).

    A cell's lines placed in ``a..b`` are ``cum`` of its last row on or before ``b`` minus ``cum`` of
    its last row before ``a``: two index seeks per cell, whatever the range. A row exists for each
    day the cell has lines. Buckets: ``fine = 0`` as ``ops.fulfillment.metrics.HIST_EDGES``;
    ``fine = 1`` is ``floor(hours * 2)`` (half an hour wide, unbounded).
    """

    __tablename__ = "agg_fulfil_hours"
    __table_args__ = (
        UniqueConstraint("warehouse_id", "channel_id", "seller_id", "carrier_id", "measure", "fine", "bucket", "day",
                         name="uq_agg_fulfil_hours_cell_day"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, index=True)  # the order's placed day
    n: Mapped[int] = mapped_column(Integer, default=0)
    cum: Mapped[int] = mapped_column(Integer, default=0)


class AggFulfilHoursCell(_HoursCellKeys, Base):
    """Every cell :class:`AggFulfilHours` has rows for, with the seller's region and (for half-hour
    buckets) the ``HIST_EDGES`` bucket holding it: what a percentile read enumerates and groups by."""

    __tablename__ = "agg_fulfil_hours_cells"
    __table_args__ = (Index("ix_agg_fulfil_hours_cells_find", "fine", "measure", "coarse"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    seller_region: Mapped[str | None] = mapped_column(String(50))
    coarse: Mapped[int] = mapped_column(Integer)


class AggFulfilHeat(_FulfilKeys, Base):
    """Shipped and late lines by the weekday and hour the order was paid."""

    __tablename__ = "agg_fulfil_heat"
    id: Mapped[int] = mapped_column(primary_key=True)
    paid_dow: Mapped[int] = mapped_column(Integer)  # Mon=0
    paid_hour: Mapped[int] = mapped_column(Integer)
    shipped: Mapped[int] = mapped_column(Integer, default=0)
    late: Mapped[int] = mapped_column(Integer, default=0)


class AggFulfilLane(_FulfilKeys, Base):
    """Delivered lines per lane with the attribution of late deliveries."""

    __tablename__ = "agg_fulfil_lanes"
    id: Mapped[int] = mapped_column(primary_key=True)
    lane: Mapped[str | None] = mapped_column(String(64))
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    delivered_on_time: Mapped[int] = mapped_column(Integer, default=0)
    late_warehouse: Mapped[int] = mapped_column(Integer, default=0)
    late_carrier: Mapped[int] = mapped_column(Integer, default=0)
    transit_hours_sum: Mapped[float] = mapped_column(Float, default=0.0)


class AggFulfilBacklog(_FulfilKeys, Base):
    """Orders not shipped yet, one row per order and seller, with their earliest ship-by deadline."""

    __tablename__ = "agg_fulfil_backlog"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(Integer, index=True)
    order_number: Mapped[str] = mapped_column(String(64))
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    ship_by: Mapped[dt.datetime | None] = mapped_column(DateTime)
    lines: Mapped[int] = mapped_column(Integer, default=0)


# --- inventory aggregates (derived, rebuilt by ops.inventory) -------------------------------
# Per SKU x warehouse stock, demand and purchasing figures for the as-of day (the last
# inventory snapshot day), so the inventory page reads one row per pair instead of the raw
# order lines and snapshots. Definitions live in ops.inventory (metrics.py, refresh.py).


class AggInventoryPair(Base):
    """One SKU in one warehouse as of ``as_of``: stock, windowed demand, weekly stats, open POs.

    ``units_N`` / ``revenue_N`` / ``stockout_N``: demand units, revenue and stockout days in the
    N days ending on ``as_of`` (N in 28, 56, 84, 112); ``*_prev_28``: the same for the 28 days
    ending a week earlier. ``wk_*``: the 52 weekly buckets ending on ``as_of``.

    The product, supplier and warehouse attributes the page shows (and scopes on) are copied in
    at refresh time, with the SKU's all-warehouse weekly stats (``sku_wk_*``, from
    ``agg_inventory_sku``), so the page reads this one table with no join.
    """

    __tablename__ = "agg_inventory_pair"
    product_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(100))
    supplier: Mapped[str | None] = mapped_column(String(64))  # supplier code
    warehouse: Mapped[str] = mapped_column(String(32))  # warehouse code
    unit_cost: Mapped[float] = mapped_column(Float, default=0.0)
    price: Mapped[float] = mapped_column(Float, default=0.0)
    lead_time_days: Mapped[int] = mapped_column(Integer)  # product's, else supplier's, else the default
    as_of: Mapped[dt.date] = mapped_column(Date)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    on_hand_prev: Mapped[int] = mapped_column(Integer, default=0)  # end of as_of - 7
    units_28: Mapped[int] = mapped_column(Integer, default=0)
    units_56: Mapped[int] = mapped_column(Integer, default=0)
    units_84: Mapped[int] = mapped_column(Integer, default=0)
    units_112: Mapped[int] = mapped_column(Integer, default=0)
    revenue_28: Mapped[float] = mapped_column(Float, default=0.0)
    revenue_56: Mapped[float] = mapped_column(Float, default=0.0)
    revenue_84: Mapped[float] = mapped_column(Float, default=0.0)
    revenue_112: Mapped[float] = mapped_column(Float, default=0.0)
    stockout_28: Mapped[int] = mapped_column(Integer, default=0)
    stockout_56: Mapped[int] = mapped_column(Integer, default=0)
    stockout_84: Mapped[int] = mapped_column(Integer, default=0)
    stockout_112: Mapped[int] = mapped_column(Integer, default=0)
    units_prev_28: Mapped[int] = mapped_column(Integer, default=0)
    stockout_prev_28: Mapped[int] = mapped_column(Integer, default=0)
    wk_units: Mapped[int] = mapped_column(Integer, default=0)  # units in the 52 weeks
    wk_revenue: Mapped[float] = mapped_column(Float, default=0.0)
    wk_nonzero: Mapped[int] = mapped_column(Integer, default=0)  # weeks with demand
    wk_sumsq: Mapped[float] = mapped_column(Float, default=0.0)  # sum of squared weekly units
    last_sale: Mapped[dt.date | None] = mapped_column(Date)
    last_receipt: Mapped[dt.date | None] = mapped_column(Date)
    on_order: Mapped[int] = mapped_column(Integer, default=0)  # open PO units
    next_po: Mapped[dt.date | None] = mapped_column(Date)  # earliest expected open PO
    sku_wk_units: Mapped[int | None] = mapped_column(Integer)  # agg_inventory_sku, all warehouses
    sku_wk_nonzero: Mapped[int | None] = mapped_column(Integer)
    sku_wk_sumsq: Mapped[float | None] = mapped_column(Float)


class AggInventorySku(Base):
    """Weekly demand stats of one SKU over all warehouses (52 weeks ending ``as_of``)."""

    __tablename__ = "agg_inventory_sku"
    product_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    wk_units: Mapped[int] = mapped_column(Integer, default=0)
    wk_revenue: Mapped[float] = mapped_column(Float, default=0.0)
    wk_nonzero: Mapped[int] = mapped_column(Integer, default=0)
    wk_sumsq: Mapped[float] = mapped_column(Float, default=0.0)


class AggInventoryPo(Base):
    """One open purchase-order line (ordered minus received > 0) on an open PO."""

    __tablename__ = "agg_inventory_po"
    __table_args__ = (Index("ix_agg_inventory_po_pair", "product_id", "warehouse_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(Integer)
    warehouse_id: Mapped[int] = mapped_column(Integer)
    po_number: Mapped[str] = mapped_column(String(64))
    ordered_on: Mapped[dt.date] = mapped_column(Date)
    expected_on: Mapped[dt.date | None] = mapped_column(Date)
    qty_open: Mapped[int] = mapped_column(Integer)


# --- scorecard tables (ops.scorecards; migration 0005) ---------------------------------------
# Weekly carrier and supplier figures (definitions: ops.scorecards.metrics). Rows keep the vendor
# codes, so vendor scoping stays in SQL. A shipment or PO line excluded by an accepted dispute is
# left out at refresh and subtracted in the same transaction as the acceptance.


class AggScorecardCalendar(Base):
    """Carrier business days (Mon-Fri less global holidays): business days before each day, and its week."""

    __tablename__ = "agg_scorecard_calendar"
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    week: Mapped[dt.date] = mapped_column(Date)  # the Monday of the day's week
    n_before: Mapped[int] = mapped_column(Integer)  # business days before this day


class AggScorecardCarrier(Base):
    """Shipments per week shipped x carrier x service x lane with their outcome counts."""

    __tablename__ = "agg_scorecard_carrier"
    __table_args__ = (Index("ix_agg_scorecard_carrier_keys", "week", "carrier", "lane"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[dt.date] = mapped_column(Date)
    carrier_id: Mapped[int | None] = mapped_column(Integer)
    carrier: Mapped[str] = mapped_column(String(64))  # carrier code
    service: Mapped[str] = mapped_column(String(64))  # service code ('' when unknown)
    lane: Mapped[str] = mapped_column(String(64))  # '' when unknown
    warehouse: Mapped[str] = mapped_column(String(32))  # origin warehouse code ('' when unknown): 3PL scope
    n: Mapped[int] = mapped_column(Integer, default=0)
    attempted: Mapped[int] = mapped_column(Integer, default=0)  # with an attempt day and a promise
    on_time: Mapped[int] = mapped_column(Integer, default=0)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    first_attempt_ok: Mapped[int] = mapped_column(Integer, default=0)
    lost: Mapped[int] = mapped_column(Integer, default=0)
    damaged: Mapped[int] = mapped_column(Integer, default=0)
    returned: Mapped[int] = mapped_column(Integer, default=0)
    cost_sum: Mapped[float] = mapped_column(Float, default=0.0)


class AggScorecardTransit(Base):
    """Histogram of transit business days (ship day to attempt day) per week x carrier x service x lane."""

    __tablename__ = "agg_scorecard_transit"
    __table_args__ = (Index("ix_agg_scorecard_transit_keys", "week", "carrier", "lane"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[dt.date] = mapped_column(Date)
    carrier: Mapped[str] = mapped_column(String(64))
    service: Mapped[str] = mapped_column(String(64))
    lane: Mapped[str] = mapped_column(String(64))
    warehouse: Mapped[str] = mapped_column(String(32))
    bdays: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer, default=0)


class AggScorecardSupplier(Base):
    """Purchase-order lines per week expected x supplier: on time, in full, OTIF, units."""

    __tablename__ = "agg_scorecard_supplier"
    __table_args__ = (Index("ix_agg_scorecard_supplier_keys", "week", "supplier"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[dt.date] = mapped_column(Date)
    supplier: Mapped[str] = mapped_column(String(64))  # supplier code
    lines: Mapped[int] = mapped_column(Integer, default=0)
    on_time: Mapped[int] = mapped_column(Integer, default=0)
    in_full: Mapped[int] = mapped_column(Integer, default=0)
    otif: Mapped[int] = mapped_column(Integer, default=0)
    qty_ordered: Mapped[int] = mapped_column(Integer, default=0)
    qty_received: Mapped[int] = mapped_column(Integer, default=0)


class ScorecardDispute(Base):
    """A vendor's comment on or dispute of a week or a shipment / PO line, and the manager's answer."""

    __tablename__ = "scorecard_disputes"
    __table_args__ = (Index("ix_scorecard_disputes_vendor", "vendor_kind", "vendor_code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_kind: Mapped[str] = mapped_column(String(16))
    vendor_code: Mapped[str] = mapped_column(String(64))
    subject_kind: Mapped[str] = mapped_column(String(16))  # shipment / po_line / week
    subject_key: Mapped[str] = mapped_column(String(200))  # tracking number, PO number:line id, week
    week: Mapped[dt.date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open / accepted / rejected
    decision_note: Mapped[str | None] = mapped_column(Text)
    raised_by: Mapped[str] = mapped_column(String(100))
    raised_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)


# (scorecards: add tables above this line)


# --- forecast tables (ops.forecast; migration 0006) -------------------------------------------
# One row per forecast run; per SKU of a run its chosen model with backtest scores, each model's
# backtest scores, and the weekly forecast (the Monday of each week, units over all warehouses).
# Pages read the latest run with status "succeeded" (ops.forecast.queries).


class ForecastRun(Base):
    """One run of ``python -m ops forecast``: parameters (JSON), status and progress counts."""

    __tablename__ = "forecast_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    parameters: Mapped[str] = mapped_column(Text)  # JSON: horizon, origins, skus, jobs...
    status: Mapped[str] = mapped_column(String(16), default="running")  # running / succeeded / failed
    n_skus: Mapped[int] = mapped_column(Integer, default=0)  # SKUs in the run
    n_done: Mapped[int] = mapped_column(Integer, default=0)  # SKUs stored so far
    n_fallback: Mapped[int] = mapped_column(Integer, default=0)  # of which on the baseline by fallback
    error: Mapped[str | None] = mapped_column(Text)
    as_of: Mapped[dt.date | None] = mapped_column(Date)  # last complete week's Sunday of the history
    pid: Mapped[int | None] = mapped_column(Integer)  # the process running it (for the page)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ForecastChoice(Base):
    """The model chosen for one SKU in one run, with its backtest scores (fractions; units for sigma)."""

    __tablename__ = "forecast_choices"
    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id"), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(32))
    pattern: Mapped[str] = mapped_column(String(16))  # smooth / erratic / intermittent / lumpy
    wape: Mapped[float | None] = mapped_column(Float)
    mase: Mapped[float | None] = mapped_column(Float)
    bias: Mapped[float | None] = mapped_column(Float)
    sigma_week: Mapped[float | None] = mapped_column(Float)
    baseline_wape: Mapped[float | None] = mapped_column(Float)
    fallback_reason: Mapped[str | None] = mapped_column(Text)
    censored_days: Mapped[int] = mapped_column(Integer, default=0)
    history_weeks: Mapped[int] = mapped_column(Integer, default=0)
    chunk: Mapped[int] = mapped_column(Integer, default=0)


class ForecastScore(Base):
    """Backtest totals of one model on one SKU in one run (every model that ran, chosen or not)."""

    __tablename__ = "forecast_scores"
    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id"), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(32), primary_key=True)
    abs_error: Mapped[float] = mapped_column(Float)  # sum |forecast - actual| over origins and weeks
    error: Mapped[float] = mapped_column(Float)  # sum (forecast - actual)
    actual: Mapped[float] = mapped_column(Float)  # sum actual
    scale: Mapped[float | None] = mapped_column(Float)  # mean |one-step naive change| (MASE scale)
    n: Mapped[int] = mapped_column(Integer)  # scored weeks
    fit_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # this SKU's share of the model's time
    failed: Mapped[str | None] = mapped_column(Text)


class ForecastWeek(Base):
    """One SKU's forecast for one week (``week`` = the Monday) in one run, with 80 % and 95 % intervals."""

    __tablename__ = "forecast_weeks"
    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id"), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    week: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    model: Mapped[str] = mapped_column(String(32))
    yhat: Mapped[float] = mapped_column(Float)
    lo80: Mapped[float] = mapped_column(Float)
    hi80: Mapped[float] = mapped_column(Float)
    lo95: Mapped[float] = mapped_column(Float)
    hi95: Mapped[float] = mapped_column(Float)


class ForecastSummary(Base):
    """A finished run's backtest totals per demand pattern over its whole catalogue (migration 0014),
    written in the transaction that marks the run succeeded: what a full viewer's per-pattern summary
    reads instead of joining every choice to its scores (``ops.forecast.queries.pattern_summary``).
    Vendors' summaries are computed from their own SKUs' rows, never from these."""

    __tablename__ = "forecast_summary"
    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id"), primary_key=True)
    pattern: Mapped[str] = mapped_column(String(16), primary_key=True)
    skus: Mapped[int] = mapped_column(Integer)  # choices whose chosen model has a score row
    fallbacks: Mapped[int] = mapped_column(Integer)  # of which on the baseline by fallback
    ae: Mapped[float] = mapped_column(Float)  # sum of the chosen models' backtest abs_error
    act: Mapped[float] = mapped_column(Float)  # sum of their backtest actuals
    nae: Mapped[float | None] = mapped_column(Float)  # the same for the seasonal-naive baseline
    nact: Mapped[float | None] = mapped_column(Float)  # (NULL: no baseline score in the pattern)


class ForecastCatalogue(Base):
    """A finished run's choices over its whole catalogue, stored column-wise in one row (migration 0014)
    with the run as it succeeds: what a full viewer's Forecast page reads instead of 10,000 rows of
    ``forecast_choices`` (the driver's per-row, per-value cost). Exactly ``forecast_choices``' values
    for the run's SKUs that are products, in ``ORDER BY sku`` order. Never read for vendors (their
    choices are read from ``forecast_choices``, scoped in SQL). Layout (``ops.forecast.queries``):
    JSON text for the SKUs and each text column's distinct values; little-endian binary arrays for
    the codes into those (int32, -1 = NULL), the five scores (float64, NaN = NULL) and censored days."""

    __tablename__ = "forecast_catalogue"
    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id"), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)  # SKUs stored
    skus: Mapped[str] = mapped_column(Text)  # JSON list, in order
    labels: Mapped[str] = mapped_column(Text)  # JSON {"model": [...], "pattern": [...], "fallback_reason": [...]}
    codes: Mapped[bytes] = mapped_column(LargeBinary)  # int32 <i4, 3 x n: model, pattern, fallback_reason
    scores: Mapped[bytes] = mapped_column(LargeBinary)  # float64 <f8, 5 x n: wape, mase, bias, sigma_week,
    #                                                     baseline_wape
    censored_days: Mapped[bytes] = mapped_column(LargeBinary)  # int64 <i8, n


# (forecast: add tables above this line)


# --- returns tables (ops.returns; migration 0007) ---------------------------------------------
# Returns are attributed to the week their order line was SOLD (``sale_week``: the Monday of the
# order's placed day), so a late return still counts against its sale. Every row carries the SKU's
# supplier code, the key supplier vendors are scoped on. Definitions: ops.returns.


class AggReturnsDim(Base):
    """Sales and returns per sale week, supplier and one breakdown (``dim``: total, category, size,
    channel, warehouse, carrier; ``member``: the category name, size, or channel/warehouse/carrier code)."""

    __tablename__ = "agg_returns_dim"
    __table_args__ = (Index("ix_agg_returns_dim_dim_week", "dim", "sale_week"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sale_week: Mapped[dt.date] = mapped_column(Date)
    supplier: Mapped[str | None] = mapped_column(String(64))
    dim: Mapped[str] = mapped_column(String(16))
    member: Mapped[str] = mapped_column(String(100))
    units_sold: Mapped[int] = mapped_column(Integer, default=0)
    lines_sold: Mapped[int] = mapped_column(Integer, default=0)
    shipped_lines: Mapped[int] = mapped_column(Integer, default=0)
    sales_value: Mapped[float] = mapped_column(Float, default=0.0)
    units_returned: Mapped[int] = mapped_column(Integer, default=0)
    return_lines: Mapped[int] = mapped_column(Integer, default=0)
    returned_value: Mapped[float] = mapped_column(Float, default=0.0)
    refund_value: Mapped[float] = mapped_column(Float, default=0.0)
    defect_units: Mapped[int] = mapped_column(Integer, default=0)
    wrong_item_lines: Mapped[int] = mapped_column(Integer, default=0)


class AggReturnsDimAll(Base):
    """``agg_returns_dim`` summed over suppliers, for internal viewers (who may see every supplier): a
    page load reads a few hundred rows instead of every supplier's."""

    __tablename__ = "agg_returns_dim_all"
    __table_args__ = (Index("ix_agg_returns_dim_all_week", "sale_week"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sale_week: Mapped[dt.date] = mapped_column(Date)
    dim: Mapped[str] = mapped_column(String(16))
    member: Mapped[str] = mapped_column(String(100))
    units_sold: Mapped[int] = mapped_column(Integer, default=0)
    lines_sold: Mapped[int] = mapped_column(Integer, default=0)
    shipped_lines: Mapped[int] = mapped_column(Integer, default=0)
    sales_value: Mapped[float] = mapped_column(Float, default=0.0)
    units_returned: Mapped[int] = mapped_column(Integer, default=0)
    return_lines: Mapped[int] = mapped_column(Integer, default=0)
    returned_value: Mapped[float] = mapped_column(Float, default=0.0)
    refund_value: Mapped[float] = mapped_column(Float, default=0.0)
    defect_units: Mapped[int] = mapped_column(Integer, default=0)
    wrong_item_lines: Mapped[int] = mapped_column(Integer, default=0)


class AggReturnsSkuCum(Base):
    """Per SKU and sale week, its sales and returns summed from its first sale week up to this one.

    Dense: one row for every week from the SKU's first sale week to the last sale week of the data,
    so the totals of any run of weeks are two rows' difference (the last week's minus the one
    before the first), read by index instead of summing every SKU-week of the range.
    """

    __tablename__ = "agg_returns_sku_cum"
    __table_args__ = (Index("ix_agg_returns_sku_cum_week", "sale_week", "product_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sale_week: Mapped[dt.date] = mapped_column(Date)
    product_id: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(100))
    size: Mapped[str | None] = mapped_column(String(32))
    supplier: Mapped[str | None] = mapped_column(String(64))
    units_sold: Mapped[int] = mapped_column(Integer, default=0)
    sales_value: Mapped[float] = mapped_column(Float, default=0.0)
    units_returned: Mapped[int] = mapped_column(Integer, default=0)
    returned_value: Mapped[float] = mapped_column(Float, default=0.0)
    refund_value: Mapped[float] = mapped_column(Float, default=0.0)


class AggReturnsReason(Base):
    """Returns per sale week, supplier, category, size, reason code and disposition (with their costs)."""

    __tablename__ = "agg_returns_reason"
    __table_args__ = (Index("ix_agg_returns_reason_week", "sale_week"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sale_week: Mapped[dt.date] = mapped_column(Date)
    supplier: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(100))
    size: Mapped[str | None] = mapped_column(String(32))
    reason_code: Mapped[str] = mapped_column(String(32))
    disposition: Mapped[str | None] = mapped_column(String(16))
    return_lines: Mapped[int] = mapped_column(Integer, default=0)
    units_returned: Mapped[int] = mapped_column(Integer, default=0)
    returned_value: Mapped[float] = mapped_column(Float, default=0.0)
    refund_value: Mapped[float] = mapped_column(Float, default=0.0)
    cost_value: Mapped[float] = mapped_column(Float, default=0.0)  # units x the SKU's unit cost


class ReturnThemeRun(Base):
    """One comment-theme mining job (``python -m ops returns themes``): its progress and outcome."""

    __tablename__ = "return_theme_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # running / done / failed
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # fraction 0..1
    message: Mapped[str | None] = mapped_column(Text)
    n_docs: Mapped[int] = mapped_column(Integer, default=0)
    n_themes: Mapped[int] = mapped_column(Integer, default=0)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    started_by: Mapped[str | None] = mapped_column(String(100))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ReturnTheme(Base):
    """One theme of a run: its top terms and how many comments it holds."""

    __tablename__ = "return_themes"
    __table_args__ = (UniqueConstraint("run_id", "theme_no"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("return_theme_runs.id"))
    theme_no: Mapped[int] = mapped_column(Integer)
    top_terms: Mapped[str] = mapped_column(Text)  # comma-separated, strongest first
    n_docs: Mapped[int] = mapped_column(Integer, default=0)


class ReturnThemeDoc(Base):
    """A comment's theme in a run (its strongest NMF component), with the supplier for scoping."""

    __tablename__ = "return_theme_docs"
    __table_args__ = (Index("ix_return_theme_docs_run_theme", "run_id", "theme_no"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("return_theme_runs.id"))
    return_id: Mapped[int] = mapped_column(Integer)
    theme_no: Mapped[int] = mapped_column(Integer)
    weight: Mapped[float] = mapped_column(Float, default=0.0)
    supplier: Mapped[str | None] = mapped_column(String(64))


# (returns: add tables above this line)


# --- planner tables (ops.planner; migration 0008) ---------------------------------------------
class PlannerScenario(Base):
    """A what-if saved by name (ops.planner.scenarios): its parameters as JSON, who saved it, its version."""

    __tablename__ = "planner_scenarios"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    params: Mapped[str] = mapped_column(Text)  # JSON of ops.planner.scenarios.Scenario
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)
    version: Mapped[int] = mapped_column(Integer, default=1)


class PlannerApproval(Base):
    """One approval of suggested orders: the idempotency key makes a second press a no-op."""

    __tablename__ = "planner_approvals"
    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    plan_token: Mapped[str] = mapped_column(String(64))  # hash of the quantities the planner was shown
    approved_by: Mapped[str] = mapped_column(String(100))
    approved_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)
    po_numbers: Mapped[str] = mapped_column(Text)  # JSON list of the purchase orders written
    lines: Mapped[int] = mapped_column(Integer, default=0)
    order_value: Mapped[float] = mapped_column(Float, default=0.0)


class PlannerSharedDraft(Base):
    """A draft PO line a manager shared with its supplier (the only planner rows a supplier reads)."""

    __tablename__ = "planner_shared_drafts"
    __table_args__ = (UniqueConstraint("share_key", "product_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    share_key: Mapped[str] = mapped_column(String(100), index=True)  # supplier code | warehouse code
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    qty: Mapped[int] = mapped_column(Integer)
    unit_cost: Mapped[float] = mapped_column(Float, default=0.0)
    expected_on: Mapped[dt.date | None] = mapped_column(Date)
    shared_by: Mapped[str] = mapped_column(String(100))
    shared_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)


class AggPlannerLeadTime(Base):
    """Measured lead time per supplier with received PO lines (``ops.scorecards.leadtime.lead_time_stats``),
    kept so the planner page reads 1 row per supplier instead of every received PO line."""

    __tablename__ = "agg_planner_lead_time"
    supplier: Mapped[str] = mapped_column(String(64), primary_key=True)  # supplier code
    lt_n: Mapped[int] = mapped_column(Integer, default=0)  # received PO lines measured
    lt_mean_days: Mapped[float | None] = mapped_column(Float)  # NULL with fewer than 2 lines
    lt_std_days: Mapped[float | None] = mapped_column(Float)


class AggPlannerForecast(Base):
    """The planner's demand per SKU from forecast run ``run_id`` (the latest successful one when
    built): mean weekly units of its first 8 forecast weeks, the chosen model's weekly error spread."""

    __tablename__ = "agg_planner_forecast"
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer)
    fc_week_mean: Mapped[float] = mapped_column(Float)
    fc_sigma_week: Mapped[float | None] = mapped_column(Float)
    fc_model: Mapped[str | None] = mapped_column(String(32))


# (planner: add tables above this line)


# --- weekly review tables (ops.review; migration 0009) -----------------------------------------
class ReviewItem(Base):
    """The weekly review inbox's state of one exception: status, who owns it, version for stale edits.

    ``item_key`` is ``<domain>|<kind>|<subject>`` (:func:`ops.review.inbox.item_key`); an item
    with no row is *new*. Written only by ``ops.review.inbox.set_status`` (audited through
    ``ops.decisions.record``).
    """

    __tablename__ = "review_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # new / acknowledged / assigned / resolved
    assignee: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)


class AggReviewWeek(Base):
    """Per ISO week and order warehouse and channel, the counts behind the KPIs only the weekly review
    defines (``ops.review.kpis``), for internal viewers. Each count is dated by its own event: orders by
    their placed day (``orders``, ``cancelled``; ``shipped_orders``, ``label_cost``: those not cancelled
    or unavailable with a shipped shipment, and all their shipments' labels), reviews by their writing
    day (``reviews``, ``score_sum``), shipments by their ship day (``shipments``, ``tracked``: with a
    carrier and a tracking number; ``ship_orders``: orders with a shipment shipped that week,
    ``defect_orders``: of those, with a lost, damaged or returned-to-sender shipment of that week, a 1-2
    star review or a defect return, whenever written). ``warehouse_id`` / ``channel_id``: the order's."""

    __tablename__ = "agg_review_week"
    __table_args__ = (Index("ix_agg_review_week_week", "week"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[dt.date] = mapped_column(Date)
    warehouse_id: Mapped[int | None] = mapped_column(Integer)
    channel_id: Mapped[int | None] = mapped_column(Integer)
    orders: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    shipped_orders: Mapped[int] = mapped_column(Integer, default=0)
    label_cost: Mapped[float] = mapped_column(Float, default=0.0)
    reviews: Mapped[int] = mapped_column(Integer, default=0)
    score_sum: Mapped[int] = mapped_column(Integer, default=0)
    shipments: Mapped[int] = mapped_column(Integer, default=0)
    tracked: Mapped[int] = mapped_column(Integer, default=0)
    ship_orders: Mapped[int] = mapped_column(Integer, default=0)
    defect_orders: Mapped[int] = mapped_column(Integer, default=0)


class AggReviewCycle(Base):
    """Per ISO week, the median order cycle time (days from placed to delivered) of every shipment
    delivered that week that left the warehouse at most ``ops.review.kpis.MAX_TRANSIT_DAYS`` before it:
    the unfiltered internal figure (a median does not add up across warehouses or channels)."""

    __tablename__ = "agg_review_cycle"
    week: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    median_days: Mapped[float | None] = mapped_column(Float)


# (review: add tables above this line)


class HeadlineStore(Base):
    """Each domain's headline as one viewer scope saw it at one data version (``ops.headline_store``):
    ``key`` is a SHA-256 of the domain, the scope (role, vendor kind and code) and the filters;
    ``version`` the data version it was computed at; ``payload`` the headline as JSON. Rows of any other
    version than the current one are never read, and are deleted by the next write."""

    __tablename__ = "headline_store"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    domain: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime)
