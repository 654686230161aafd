"""Vendor isolation over every entry point (RELIABILITY 1, 3, 4).

The small demo is seeded, then three "marker" vendors of each kind are added with a unique
marker string in every identifier they own (codes, names, SKUs, order, PO, tracking and RMA
numbers, audit rows, thresholds, exception states). As vendor A of each kind, every data
function and every export must return nothing carrying B's or C's marker.

The list of functions is not written by hand: every public function in the ``ops`` package
that takes ``viewer`` must be registered (``@data_function`` or ``ops.exports.register``) or
be named below as a write, so a new query cannot escape this test.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import importlib
import inspect
import io
import pkgutil
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

import ops
import ui
from ops.access import DATA_FUNCTIONS, AccessDenied, Viewer
from ops.db import make_engine, transaction
from ops.exports import FORMATS, REGISTRY, load_registry, to_bytes
from ops.filters import Filters
from ops.models import (
    Base,
    Carrier,
    CarrierService,
    Channel,
    Decision,
    EntityState,
    Holiday,
    InventorySnapshot,
    Order,
    OrderLine,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Return,
    Review,
    Shipment,
    Supplier,
    Threshold,
    User,
    Warehouse,
)
from tests.conftest import BACKENDS, private_pg_database

KINDS = ("supplier", "carrier", "warehouse")
MARKERS = {
    "supplier": ("QZSUPALPHA", "QZSUPBRAVO", "QZSUPCHARLIE"),
    "carrier": ("QZCARALPHA", "QZCARBRAVO", "QZCARCHARLIE"),
    "warehouse": ("QZTPLALPHA", "QZTPLBRAVO", "QZTPLCHARLIE"),
}
ALL_MARKERS = tuple(m for ms in MARKERS.values() for m in ms)

# Public functions taking ``viewer`` that are deliberately NOT called here, with the reason.
NOT_DATA_FUNCTIONS = {
    # Scope-condition builders: they return SQL expressions, not rows; every data function uses them.
    "ops.access.require_viewer": "guard",
    "ops.access.require_role": "guard",
    "ops.access.warehouse_condition": "SQL condition",
    "ops.access.product_condition": "SQL condition",
    "ops.access.product_by_supplier_code": "SQL condition",
    "ops.access.stock_condition": "SQL condition",
    "ops.access.purchase_order_condition": "SQL condition",
    "ops.access.order_line_condition": "SQL condition",
    "ops.access.order_condition": "SQL condition",
    "ops.access.shipment_condition": "SQL condition",
    "ops.access.fulfil_agg_condition": "SQL condition",
    "ops.access.date_driven_conditions": "SQL condition",  # the same rows: tests/test_review_vendors.py
    # The stored headlines: each domain's headline (a data function, checked here) read back for the same
    # scope; tests/test_headline_store.py checks every domain and kind of viewer against the computed one.
    "ops.headline_store.headlines": "stored domain headlines",
    "ops.headline_store.headline": "stored domain headline",
    "ops.headline_store.scope_key": "store key",
    "ops.headline_store.key": "store key",
    # A vendor's stored weekly review sums: keyed by the scope like a headline; tests/test_review_vendor_store.py
    # checks them against the computed ones for every vendor and that no vendor reads another's.
    "ops.headline_store.stored_sums": "stored vendor sums",
    "ops.headline_store.sums_key": "store key",
    # Runs a registered export by name: every export is called directly below.
    "ops.exports.run": "dispatcher over ops.exports.REGISTRY",
    # Writes: forged-write refusals and their audit rows are tested in tests/test_decisions.py.
    "ops.decisions.record_refusal": "write",
    "ops.decisions.set_threshold": "write",
    "ops.decisions.set_entity_state": "write",
    "ops.decisions.add_annotation": "write",
    "ops.decisions.apply": "write",
    "ops.decisions.respond": "write",  # tests/test_decisions.py: a vendor's response, never a state change
    "ops.fulfillment.update_sla": "write",  # tests/test_fulfillment.py: ops.decisions.set_sla_policy
    "ops.fulfillment.sla.update_sla": "write",  # the same write, re-exported by the package
    "ops.decisions.set_sla_policy": "write",  # tests/test_fulfillment.py
    "ops.ingest.run_imports": "write",  # tests/test_ingest_detect.py: several files in one all-or-nothing import
    "ops.planner.approve.approve": "write",  # tests/test_planner.py: one transaction, stale and repeat refused
    "ops.planner.approve.share_draft": "write",  # tests/test_planner.py
    "ops.planner.scenarios.save_scenario": "write",  # tests/test_planner.py: versioned, audited
    "ops.review.inbox.set_status": "write",  # tests/test_review_inbox.py: versioned, audited
    "ops.scorecards.disputes.raise_dispute": "write",  # tests/test_scorecards_disputes.py
    "ops.scorecards.disputes.decide_dispute": "write",  # tests/test_scorecards_disputes.py: stale refused
    # Calls each registered domain's headline() (each a scoped read tested in its domain) in a savepoint.
    "ops.review.inbox.headlines": "dispatcher over the domains' headline()",
    # Accounts and sessions (tests/test_auth.py, tests/test_sessions.py): writes, and the guard every write calls.
    "ops.auth.change_password": "write",
    "ops.auth.start_session": "write",
    "ops.auth.require_active": "guard",  # tests/test_decisions_security.py: every ops.decisions write calls it
    # Imports write rows (tests/test_ingest.py); the viewer only names who imported.
    "ops.ingest.run_import": "write",
}


# --- the database: small demo + marker vendors ------------------------------------------------


def _one(s: Session, stmt: Any, make: Callable[[], Any]) -> Any:
    found = s.scalar(stmt.limit(1))
    if found is not None:
        return found
    obj = make()
    s.add(obj)
    s.flush()
    return obj


def add_markers(s: Session) -> dict[str, Any]:
    """Add three marker vendors of each kind with rows of their own; return facts the tests check."""
    as_of = s.scalar(select(func.max(InventorySnapshot.day))) or dt.date(2025, 3, 31)
    channel = _one(s, select(Channel).order_by(Channel.id), lambda: Channel(code="web", name="Web"))
    base_wh = _one(s, select(Warehouse).where(Warehouse.operator_code.is_(None)).order_by(Warehouse.id),
                   lambda: Warehouse(code="WH-BASE", name="Base"))
    base_sup = _one(s, select(Supplier).order_by(Supplier.id), lambda: Supplier(code="SUP-BASE", name="Base"))
    base_car = _one(s, select(Carrier).order_by(Carrier.id), lambda: Carrier(code="BASECAR", name="Base"))
    base_svc = _one(s, select(CarrierService).where(CarrierService.carrier_id == base_car.id),
                    lambda: CarrierService(carrier_id=base_car.id, code="STD", name="Standard", promised_days=3))
    category = s.scalar(select(Product.category).order_by(Product.id).limit(1)) or "general"
    base_products = list(s.scalars(select(Product).order_by(Product.id).limit(2)))
    while len(base_products) < 2:
        p = Product(sku=f"BASE-{len(base_products)}", name="Base item", category=category, supplier_id=base_sup.id)
        s.add(p)
        s.flush()
        base_products.append(p)
    days = [as_of - dt.timedelta(days=d) for d in range(27, -1, -1)]
    facts: dict[str, Any] = {"as_of": as_of, "owned": {}, "base_warehouse": base_wh.code, "channel": channel.code}

    def orders(m: str, wh: Warehouse, lines: list[tuple[Product, int | None]], carrier: Carrier,
               svc: CarrierService) -> list[Order]:
        out = []
        for k in range(3):
            placed = dt.datetime.combine(as_of - dt.timedelta(days=10 - k), dt.time(10, 0))
            o = Order(order_number=f"ORD-{m}-{k}", channel_id=channel.id, warehouse_id=wh.id,
                      customer_region="NY", status="delivered", placed_at=placed, paid_at=placed,
                      ship_by=placed + dt.timedelta(days=1))
            s.add(o)
            s.flush()
            for n, (prod, seller) in enumerate(lines, start=1):
                s.add(OrderLine(order_id=o.id, line_no=n, product_id=prod.id, seller_id=seller, qty=1 + k,
                                unit_price=20.0, freight=2.0, ship_by=placed + dt.timedelta(days=1)))
            shipped = placed + dt.timedelta(hours=20)
            s.add(Shipment(tracking_number=f"TRK-{m}-{k}", order_id=o.id, warehouse_id=wh.id, carrier_id=carrier.id,
                           service_id=svc.id, zone=4, lane=f"{wh.code}>NY", label_cost=7.5, shipped_at=shipped,
                           promised_at=shipped + dt.timedelta(days=3),
                           first_attempt_at=shipped + dt.timedelta(days=2 + 2 * k),
                           delivered_at=shipped + dt.timedelta(days=2 + 2 * k), status="delivered"))
            s.add(Review(review_key=f"REV-{m}-{k}", order_id=o.id, score=2 + k, title=f"{m} review",
                         comment=f"{m} parcel", created_at=shipped + dt.timedelta(days=5)))
            out.append(o)
        s.flush()
        return out

    def snapshots(products: list[Product], wh: Warehouse) -> None:
        for p in products:
            for i, d in enumerate(days):
                s.add(InventorySnapshot(product_id=p.id, warehouse_id=wh.id, day=d, on_hand=max(0, 40 - 3 * i)))

    def purchase_order(m: str, sup: Supplier, wh: Warehouse, products: list[Product]) -> None:
        po = PurchaseOrder(po_number=f"PO-{m}-1", supplier_id=sup.id, warehouse_id=wh.id, status="open",
                           ordered_on=as_of - dt.timedelta(days=20), expected_on=as_of + dt.timedelta(days=5),
                           created_by="buyer")
        s.add(po)
        s.flush()
        for p in products:
            s.add(PurchaseOrderLine(po_id=po.id, product_id=p.id, qty_ordered=50, unit_cost=4.0))

    def owned_records(kind: str, m: str, code: str, scope_kind: str, scope_key: str) -> None:
        s.add(Decision(actor=f"user-{m.lower()}", action="exception.ack", entity_kind="inventory_exception",
                       entity_key=f"{m}-exception", after=f'{{"note": "{m}"}}', why=f"{m} checked",
                       vendor_code=code, at=dt.datetime.combine(as_of, dt.time(12))))
        s.add(EntityState(entity_kind="inventory_exception", entity_key=f"{m}-exception", state="acknowledged",
                          note=f"{m} note", vendor_code=code, updated_by=f"user-{m.lower()}"))
        s.add(Threshold(name="cover_warning_days", scope_kind=scope_kind, scope_key=scope_key, value=9.0,
                        updated_by=f"user-{m.lower()}"))
        s.add(User(username=f"user-{m.lower()}", email=f"{m.lower()}@example.com", display_name=f"{m} person",
                   role="vendor", vendor_kind=kind, vendor_code=code))

    for kind in KINDS:
        for m in MARKERS[kind]:
            if kind == "supplier":
                sup = Supplier(code=f"SUP-{m}", name=f"{m} Trading", city=f"{m} City", lead_time_days=12)
                s.add(sup)
                s.flush()
                prods = [Product(sku=f"{m}-SKU-{j}", name=f"{m} widget {j}", category=category, supplier_id=sup.id,
                                 unit_cost=5.0, price=20.0, lead_time_days=12) for j in range(2)]
                s.add_all(prods)
                s.flush()
                snapshots(prods, base_wh)
                purchase_order(m, sup, base_wh, prods)
                placed = orders(m, base_wh, [(prods[0], sup.id), (prods[1], sup.id)], base_car, base_svc)
                line = s.scalar(select(OrderLine).where(OrderLine.order_id == placed[0].id).order_by(OrderLine.id))
                s.add(Return(rma_number=f"RMA-{m}-1", order_line_id=line.id, qty=1, reason_code="damaged",
                             comment=f"{m} box crushed", received_at=dt.datetime.combine(as_of, dt.time(9)),
                             refund_amount=20.0, disposition="scrap"))
                code = sup.code
                owned_records(kind, m, code, "supplier", code)
                facts["owned"][code] = {"products": 2, "purchase_orders": 1, "order_lines": 6,
                                        "delivered_lines": 6}
            elif kind == "carrier":
                car = Carrier(code=m, name=f"{m} Express")
                s.add(car)
                s.flush()
                svc = CarrierService(carrier_id=car.id, code=f"{m}-GND", name=f"{m} Ground", promised_days=3)
                s.add(svc)
                s.flush()
                orders(m, base_wh, [(base_products[0], None)], car, svc)
                code = car.code
                owned_records(kind, m, code, "carrier", code)
                facts["owned"][code] = {"shipments": 3, "order_lines": 3, "delivered_lines": 3}
            else:
                wh = Warehouse(code=f"WH-{m}", name=f"{m} Fulfilment Centre", region="NY", operator_code=m)
                s.add(wh)
                s.flush()
                s.add(Holiday(warehouse_id=wh.id, day=as_of - dt.timedelta(days=3), name=f"{m} stocktake"))
                snapshots(base_products, wh)
                purchase_order(m, base_sup, wh, base_products[:1])
                orders(m, wh, [(base_products[1], None)], base_car, base_svc)
                code = m
                owned_records(kind, m, code, "warehouse", wh.code)
                facts["owned"][code] = {"purchase_orders": 1, "order_lines": 3, "delivered_lines": 3}
    s.flush()
    from ops.aggregates import refresh_all

    refresh_all(s)
    return facts


def _build(eng: Engine) -> dict[str, Any]:
    from ops.demo import seed

    Base.metadata.create_all(eng)
    seed(eng, size="small", seed=7)
    with transaction(eng) as s:
        return add_markers(s)


_RESULTS: dict[tuple[int, Viewer], tuple[dict[str, Any], list[str]]] = {}


def results(eng: Engine, viewer: Viewer) -> tuple[dict[str, Any], list[str]]:
    """Every entry point's result for ``viewer`` (computed once per database), and the crashes."""
    key = (id(eng), viewer)
    if key not in _RESULTS:
        errors: list[str] = []
        with Session(eng) as s, s.begin():
            out = dict(call_all(s, viewer, errors))
        _RESULTS[key] = (out, errors)
    return _RESULTS[key]


@pytest.fixture(scope="module", params=BACKENDS)
def marked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, dict]]:
    """The small demo plus the marker vendors, once per backend for this module."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('iso') / 'ops.db'}")
        facts = _build(eng)
        yield eng, facts
        _RESULTS.clear()
        eng.dispose()
    else:
        with private_pg_database() as url:
            eng = make_engine(url)
            facts = _build(eng)
            yield eng, facts
            _RESULTS.clear()
            eng.dispose()


def vendor(kind: str, marker: str) -> Viewer:
    code = f"SUP-{marker}" if kind == "supplier" else marker
    return Viewer(username=f"user-{marker.lower()}", role="vendor", vendor_kind=kind, vendor_code=code)


MANAGER = Viewer(username="boss", role="manager")


# --- discovering every entry point -------------------------------------------------------------


def ops_modules() -> list[Any]:
    mods = []
    for info in pkgutil.walk_packages(ops.__path__, "ops."):
        if info.name.startswith("ops.migrations") or info.name == "ops.__main__":
            continue
        mods.append(importlib.import_module(info.name))
    return mods


def viewer_functions() -> dict[str, Callable[..., Any]]:
    """Every public module-level function in ``ops`` with a ``viewer`` parameter, by dotted name."""
    found = {}
    for mod in ops_modules():
        for name, obj in vars(mod).items():
            if name.startswith("_") or not callable(obj) or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if not inspect.isfunction(inspect.unwrap(obj)):
                continue
            try:
                params = inspect.signature(obj).parameters
            except (TypeError, ValueError):
                continue
            if "viewer" in params:
                found[f"{mod.__name__}.{name}"] = obj
    return found


def entry_points() -> dict[str, Callable[..., Any]]:
    """Registered data functions and exports, by name (exports prefixed ``export:``)."""
    ops_modules()
    load_registry()
    out = dict(DATA_FUNCTIONS)
    registered = set(out.values())
    # Exports that are also @data_functions are called once, under their function name.
    out.update({f"export:{name}": spec.func for name, spec in REGISTRY.items() if spec.func not in registered})
    return out


def test_every_viewer_function_is_registered_or_a_named_write() -> None:
    exported = {spec.func for spec in load_registry().values()}
    missing = [
        name for name, fn in viewer_functions().items()
        if name not in DATA_FUNCTIONS and fn not in exported and name not in NOT_DATA_FUNCTIONS
        and not any(fn is f for f in DATA_FUNCTIONS.values())
    ]
    assert missing == [], (
        f"public ops functions taking `viewer` that are neither @data_function nor a registered export: {missing}. "
        "Register them (or, for writes, add them to NOT_DATA_FUNCTIONS with the test that covers them)."
    )
    assert "ops.freshness.row_counts" in DATA_FUNCTIONS  # the scan itself found the known ones
    assert "ops.reference.filter_options" in viewer_functions()


def test_registered_functions_can_be_called_with_just_session_and_viewer() -> None:
    bad = []
    for name, fn in entry_points().items():
        for p in list(inspect.signature(fn).parameters.values())[1:]:
            if p.name not in ("viewer", "filters") and p.default is inspect.Parameter.empty:
                bad.append(f"{name}({p.name})")
    assert bad == [], f"arguments other than session/viewer need defaults so every entry point can be checked: {bad}"


# --- calling everything ------------------------------------------------------------------------


def call(fn: Callable[..., Any], s: Session, viewer: Viewer) -> Any:
    """Call an entry point for ``viewer`` with its defaults (all dates); AccessDenied means 'nothing'."""
    kwargs: dict[str, Any] = {"viewer": viewer}
    if "filters" in inspect.signature(fn).parameters:
        kwargs["filters"] = Filters()
    try:
        with s.begin_nested():  # a savepoint, so one failing call cannot spoil the next
            return fn(s, **kwargs)
    except AccessDenied:
        return None


def call_all(s: Session, viewer: Viewer, errors: list[str]) -> Iterator[tuple[str, Any]]:
    """``(name, result)`` for every entry point; a call that crashes is reported in ``errors``."""
    for name, fn in sorted(entry_points().items()):
        try:
            yield name, call(fn, s, viewer)
        except Exception as exc:  # noqa: BLE001 - every crash is listed in the failure message
            errors.append(f"{name} raised {type(exc).__name__}: {exc}"[:300])


def cells(value: Any) -> Iterator[str]:
    """Every text a value could show: cells, column names and index of frames, dict keys and values."""
    if value is None:
        return
    if isinstance(value, pd.DataFrame):
        yield from (str(c) for c in value.columns)
        yield from (str(i) for i in value.index)
        for col in value.columns:
            yield from (str(v) for v in value[col].tolist())
        return
    if isinstance(value, pd.Series):
        yield from (str(i) for i in value.index)
        yield from (str(v) for v in value.tolist())
        return
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from cells(v)
        return
    if isinstance(value, list | tuple | set | frozenset):
        for v in value:
            yield from cells(v)
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        yield from cells(dataclasses.asdict(value))
        return
    yield str(value)


def leaks(value: Any, markers: tuple[str, ...]) -> set[str]:
    texts = [t.lower() for t in cells(value)]
    return {m for m in markers if any(m.lower() in t for t in texts)}


@pytest.mark.parametrize("kind", KINDS)
def test_vendor_a_sees_no_rows_of_b_or_c(marked: tuple[Engine, dict], kind: str) -> None:
    eng, _ = marked
    a, *others = MARKERS[kind]
    viewer = vendor(kind, a)
    outs, errors = results(eng, viewer)
    problems = list(errors)
    shows_own = []
    for name, out in outs.items():
        bad = leaks(out, tuple(others))
        if isinstance(out, pd.DataFrame):  # what a download would hold, too
            bad |= leaks(to_bytes(out, "csv").decode("utf-8-sig"), tuple(others))
        if bad:
            problems.append(f"{name} shows {sorted(bad)}")
        if leaks(out, (a,)):
            shows_own.append(name)
    assert problems == [], f"vendor {viewer.vendor_code} ({kind}) sees other vendors' rows: {problems}"
    # Not a trivial pass: A's own rows do come back from the same calls.
    print(kind, "functions showing A's own rows:", shows_own)
    assert "ops.auth.vendor_profile" in shows_own and "ops.decisions.audit_log" in shows_own
    assert len(shows_own) >= 3


def same(x: Any, y: Any) -> bool:
    """Deep equality for entry-point results (frames, dicts, lists, scalars)."""
    if isinstance(x, pd.DataFrame) or isinstance(y, pd.DataFrame):
        return isinstance(x, pd.DataFrame) and isinstance(y, pd.DataFrame) and x.equals(y)
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
    if isinstance(x, list | tuple) and isinstance(y, list | tuple):
        return len(x) == len(y) and all(same(a, b) for a, b in zip(x, y, strict=True))
    if dataclasses.is_dataclass(x) and dataclasses.is_dataclass(y):
        return same(dataclasses.asdict(x), dataclasses.asdict(y))  # type: ignore[arg-type]
    return bool(x == y) or (pd.isna(x) and pd.isna(y)) if not isinstance(x, list | dict) else False


def perturb(s: Session, markers: tuple[str, ...]) -> None:
    """Change the numbers behind other vendors' rows: their counts, quantities, dates and stock."""
    for m in markers:
        order_ids = select(Order.id).where(Order.order_number.like(f"ORD-{m}-%"))
        s.execute(OrderLine.__table__.update().where(OrderLine.order_id.in_(order_ids))
                  .values(qty=OrderLine.qty * 10, unit_price=OrderLine.unit_price + 100))
        s.execute(Shipment.__table__.update().where(Shipment.order_id.in_(order_ids))
                  .values(status="lost", label_cost=Shipment.label_cost + 50))
        # One more order, a copy of their first one, so row counts change too.
        first = s.scalar(select(Order).where(Order.order_number == f"ORD-{m}-0"))
        if first is not None:
            copy = Order(order_number=f"ORD-{m}-X", channel_id=first.channel_id, warehouse_id=first.warehouse_id,
                         customer_region=first.customer_region, status="delivered", placed_at=first.placed_at)
            s.add(copy)
            s.flush()
            for ln in s.scalars(select(OrderLine).where(OrderLine.order_id == first.id)):
                s.add(OrderLine(order_id=copy.id, line_no=ln.line_no, product_id=ln.product_id, seller_id=ln.seller_id,
                                qty=ln.qty, unit_price=ln.unit_price))
            for sh in s.scalars(select(Shipment).where(Shipment.order_id == first.id)):
                s.add(Shipment(tracking_number=f"TRK-{m}-X", order_id=copy.id, warehouse_id=sh.warehouse_id,
                               carrier_id=sh.carrier_id, service_id=sh.service_id, lane=sh.lane,
                               shipped_at=sh.shipped_at, promised_at=sh.promised_at, status="in_transit"))
            s.flush()
        # Their orders move far back in time and are cancelled: spans, trends and rates change.
        for o in s.scalars(select(Order).where(Order.id.in_(order_ids))):  # date arithmetic in Python: SQLite
            o.status, o.placed_at = "cancelled", o.placed_at - dt.timedelta(days=300)
        s.flush()
        wh_ids = select(Warehouse.id).where(Warehouse.operator_code == m)
        prod_ids = select(Product.id).where(Product.sku.like(f"{m}-SKU-%"))
        s.execute(InventorySnapshot.__table__.update()
                  .where(InventorySnapshot.warehouse_id.in_(wh_ids) | InventorySnapshot.product_id.in_(prod_ids))
                  .values(on_hand=InventorySnapshot.on_hand + 500))
        po_ids = select(PurchaseOrder.id).where(PurchaseOrder.po_number.like(f"PO-{m}-%"))
        s.execute(PurchaseOrderLine.__table__.update().where(PurchaseOrderLine.po_id.in_(po_ids))
                  .values(qty_ordered=PurchaseOrderLine.qty_ordered + 100))
        s.execute(Return.__table__.update().where(Return.rma_number.like(f"RMA-{m}-%")).values(qty=9))


@pytest.mark.parametrize("kind", KINDS)
def test_vendor_a_results_do_not_depend_on_b_or_c(marked: tuple[Engine, dict], kind: str) -> None:
    """Counts and KPIs carry no marker: so change B's and C's rows and A's every result must stay the same."""
    from ops.aggregates import refresh_all

    eng, _ = marked
    a, *others = MARKERS[kind]
    viewer = vendor(kind, a)
    before, _ = results(eng, viewer)
    changed = []
    with Session(eng) as s:
        s.begin()
        try:
            perturb(s, tuple(others))
            refresh_all(s)
            errors: list[str] = []
            after = dict(call_all(s, viewer, errors))
            changed = [name for name in before if not same(before[name], after.get(name))] + errors
        finally:
            s.rollback()
    assert changed == [], f"vendor {viewer.vendor_code}'s results change when other {kind}s' rows change: {changed}"


@pytest.mark.parametrize("kind", KINDS)
def test_exports_on_a_vendors_pages_return_their_own_rows(marked: tuple[Engine, dict], kind: str) -> None:
    """Where the manager's export holds A's rows and A may open the page, A gets those rows too."""
    eng, _ = marked
    a = MARKERS[kind][0]
    viewer = vendor(kind, a)
    names = {fn: name for name, fn in entry_points().items()}
    (as_manager, _), (as_vendor, _) = results(eng, MANAGER), results(eng, viewer)
    empty = []
    for export, spec in sorted(load_registry().items()):
        if spec.page != "any" and not viewer.may_open(spec.page):
            continue
        name = names[spec.func]
        if leaks(as_manager.get(name), (a,)) and not leaks(as_vendor.get(name), (a,)):
            empty.append(export)
    assert empty == [], f"exports that drop vendor {a}'s own rows for {a}: {empty}"


@pytest.mark.parametrize("kind", KINDS)
def test_row_counts_are_exactly_the_vendors_own(marked: tuple[Engine, dict], kind: str) -> None:
    eng, facts = marked
    for m in MARKERS[kind]:
        viewer = vendor(kind, m)
        with transaction(eng) as s:
            from ops.freshness import row_counts

            got = dict(zip(*row_counts(s, viewer=viewer).T.values, strict=True))
        assert got == facts["owned"][viewer.vendor_code], m


# --- fail closed -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"vendor_kind": "supplier"}, {"vendor_code": "SUP-001"}, {"vendor_kind": "3pl", "vendor_code": "X"},
     {"vendor_kind": None, "vendor_code": ""}],
)
def test_vendor_viewer_without_mapping_is_refused(kwargs: dict) -> None:
    with pytest.raises(AccessDenied, match="no vendor mapping"):
        Viewer(username="nomap", role="vendor", **kwargs)


@pytest.mark.parametrize("kind", KINDS)
def test_vendor_whose_code_matches_nothing_sees_nothing(marked: tuple[Engine, dict], kind: str) -> None:
    eng, _ = marked
    ghost = Viewer(username="ghost", role="vendor", vendor_kind=kind, vendor_code="NOPE-404")
    outs, errors = results(eng, ghost)
    with Session(eng) as s, s.begin():
        owned: set[str] = set()
        for col in (Product.sku, Order.order_number, Shipment.tracking_number, PurchaseOrder.po_number,
                    Return.rma_number, Supplier.code, Carrier.code, Review.review_key):
            owned |= {str(v) for v in s.scalars(select(col))}
        operators = select(Warehouse.operator_code).where(Warehouse.operator_code.is_not(None))
        owned |= {str(v) for v in s.scalars(operators)}
        if kind == "warehouse":
            # Suppliers and carriers may see every warehouse by name (ops.access); a 3PL only its own.
            owned |= {str(v) for v in s.scalars(select(Warehouse.code))}
        problems = list(errors)
        for name, out in outs.items():
            seen = set(cells(out)) & owned
            marks = leaks(out, ALL_MARKERS if kind == "warehouse" else MARKERS["supplier"] + MARKERS["carrier"])
            if seen or marks:
                problems.append(f"{name} shows {sorted(seen | marks)[:5]}")
        from ops.freshness import row_counts

        assert row_counts(s, viewer=ghost)["rows"].sum() == 0
    assert problems == [], f"an unmapped {kind} code sees data: {problems}"


# --- cache isolation (RELIABILITY 3) --------------------------------------------------------------

IDENTITY_WORDS = ("viewer", "user", "role", "vendor", "identity", "account")


def cached_loaders() -> dict[str, Any]:
    """Every ``st.cache_data`` function defined at module level in ``ui/``, by dotted name."""
    from streamlit.runtime.caching.cache_type import CacheType
    from streamlit.runtime.caching.cache_utils import CachedFunc

    found = {}
    for info in pkgutil.walk_packages(ui.__path__, "ui."):
        mod = importlib.import_module(info.name)
        for name, obj in vars(mod).items():
            if isinstance(obj, CachedFunc) and obj._info.cache_type == CacheType.DATA:
                fn = obj._info.func
                if fn.__module__ == mod.__name__:
                    found[f"{mod.__name__}.{name}"] = obj
    return found


def _called_names(fn: Callable[..., Any]) -> set[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            names.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return names


def test_cached_loaders_key_on_identity() -> None:
    loaders = cached_loaders()
    assert "ui.sidebar._freshness" in loaders  # the scan finds the known loaders
    data_names = {f.__name__ for f in entry_points().values()} | {"run"}
    problems = []
    for name, cached in loaders.items():
        fn = cached._info.func
        params = inspect.signature(fn).parameters
        hidden = [p for p in params if p.startswith("_") and any(w in p.lower() for w in IDENTITY_WORDS)]
        hidden += [p for p, v in params.items() if p.startswith("_") and "Viewer" in str(v.annotation)]
        if hidden:
            problems.append(f"{name} hides identity from the cache key in {hidden}")
        source = inspect.getsource(fn)
        if "session_state" in source or "context.viewer" in source:
            problems.append(f"{name} reads the signed-in viewer inside its body (not part of the cache key)")
        calls_data = _called_names(fn) & data_names
        keyed = "viewer_key" in params or any(
            not p.startswith("_") and ("Viewer" in str(v.annotation) or p == "viewer") for p, v in params.items()
        )
        if calls_data and not keyed:
            problems.append(f"{name} calls {sorted(calls_data)} without viewer_key or a Viewer argument")
    assert problems == [], problems


def test_cached_loaders_give_each_viewer_their_own_entry(marked: tuple[Engine, dict]) -> None:
    """Same filters, vendor A then vendor B: different cache entries, each equal to the direct call."""
    from ops.freshness import row_counts
    from ui.auth import vendor_card
    from ui.sidebar import _freshness

    eng, facts = marked
    a, b = vendor("supplier", MARKERS["supplier"][0]), vendor("supplier", MARKERS["supplier"][1])
    # Give B one product more than A, so a shared cache entry would show the wrong count.
    with transaction(eng) as s:
        sup_b = s.scalar(select(Supplier.id).where(Supplier.code == b.vendor_code))
        extra = Product(sku="QZSUPBRAVO-SKU-X", name="extra", category="x", supplier_id=sup_b)
        s.add(extra)
    try:
        _freshness.clear()
        vendor_card.clear()
        counts_a = _freshness(eng, a.cache_key, a)[1]
        counts_b = _freshness(eng, b.cache_key, b)[1]
        card_a, card_b = vendor_card(eng, a.cache_key, a), vendor_card(eng, b.cache_key, b)
        with transaction(eng) as s:
            assert counts_a.equals(row_counts(s, viewer=a)) and counts_b.equals(row_counts(s, viewer=b))
        products = {v.vendor_code: int(c.set_index("table").loc["products", "rows"])
                    for v, c in ((a, counts_a), (b, counts_b))}
        assert products == {a.vendor_code: 2, b.vendor_code: 3}
        assert (card_a[0]["code"], card_b[0]["code"]) == (a.vendor_code, b.vendor_code)
    finally:
        _freshness.clear()
        vendor_card.clear()
        with transaction(eng) as s:
            s.delete(s.scalar(select(Product).where(Product.sku == "QZSUPBRAVO-SKU-X")))


def test_the_scan_sees_every_ops_module() -> None:
    names = {m.__name__ for m in ops_modules()}
    folder = Path(ops.__file__).parent
    on_disk = {f"ops.{p.stem}" for p in folder.glob("*.py") if p.stem not in ("__init__", "__main__")}
    assert on_disk <= names


# --- every export, every format, non-default filters (issue 10: isolation breadth) ----------------


def filter_sets(facts: dict[str, Any]) -> dict[str, Filters]:
    """Non-default filters: the markers' fortnight; and that with warehouses (including two 3PLs'
    own, A's and B's: a vendor picking another's warehouse must still get nothing of it) and a channel."""
    as_of = facts["as_of"]
    span = {"date_from": as_of - dt.timedelta(days=14), "date_to": as_of}
    tpl_a, tpl_b = MARKERS["warehouse"][:2]
    return {
        "range": Filters(**span),
        "narrow": Filters(**span, warehouses=(facts["base_warehouse"], f"WH-{tpl_a}", f"WH-{tpl_b}"),
                          channels=(facts["channel"],)),
    }


def file_texts(data: bytes, fmt: str) -> list[str]:
    """Every text a downloaded file holds: the decoded CSV/JSON, or every XLSX cell and sheet name."""
    if fmt != "xlsx":
        return [data.decode("utf-8-sig")]
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    try:
        texts = list(wb.sheetnames)
        for ws in wb.worksheets:
            texts += [str(v) for row in ws.iter_rows(values_only=True) for v in row if v is not None]
    finally:
        wb.close()
    return texts


_FILES: dict[tuple[int, Viewer, str], tuple[dict[tuple[str, str], list[str]], list[str]]] = {}


def export_files(eng: Engine, viewer: Viewer, filters: Filters, label: str
                 ) -> tuple[dict[tuple[str, str], list[str]], list[str]]:
    """``{(export, format): texts}`` for every registered export, called directly with ``filters``."""
    key = (id(eng), viewer, label)
    if key not in _FILES:
        out: dict[tuple[str, str], list[str]] = {}
        errors: list[str] = []
        with Session(eng) as s, s.begin():
            for name, spec in sorted(load_registry().items()):
                try:
                    with s.begin_nested():
                        df = spec.func(s, viewer=viewer, filters=filters)
                except AccessDenied:
                    continue
                except Exception as exc:  # noqa: BLE001 - every crash is listed in the failure message
                    errors.append(f"{name} raised {type(exc).__name__}: {exc}"[:300])
                    continue
                for fmt in FORMATS:
                    out[(name, fmt)] = file_texts(to_bytes(df, fmt, sheet=name[:31]), fmt)
        _FILES[key] = (out, errors)
    return _FILES[key]


def marked_in(texts: list[str], markers: tuple[str, ...]) -> set[str]:
    low = [t.lower() for t in texts]
    return {m for m in markers if any(m.lower() in t for t in low)}


@pytest.mark.parametrize("label", ["range", "narrow"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_export_in_every_format_with_filters_shows_no_other_vendor(
    marked: tuple[Engine, dict], kind: str, label: str
) -> None:
    eng, facts = marked
    a, *others = MARKERS[kind]
    viewer = vendor(kind, a)
    files, errors = export_files(eng, viewer, filter_sets(facts)[label], label)
    problems = list(errors)
    problems += [f"{name}.{fmt} shows {sorted(bad)}" for (name, fmt), texts in sorted(files.items())
                 if (bad := marked_in(texts, tuple(others)))]
    assert problems == [], f"vendor {viewer.vendor_code} ({kind}, {label} filters) sees other vendors' rows: {problems}"
    # Not a trivial pass: A's own rows come back in every format, and the manager's files under
    # the same filters do hold B's rows (the filters alone do not hide them).
    own = {name for (name, fmt), texts in files.items() if marked_in(texts, (a,))}
    for fmt in FORMATS:
        assert {n for (n, f), t in files.items() if f == fmt and marked_in(t, (a,))} == own, fmt
    assert len(own) >= 2, f"{a} finds its own rows in only {sorted(own)}"
    boss, boss_errors = export_files(eng, MANAGER, filter_sets(facts)[label], label)
    assert boss_errors == []
    assert any(marked_in(texts, tuple(others)) for (_, fmt), texts in boss.items() if fmt == "xlsx")
