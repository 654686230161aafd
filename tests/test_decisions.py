"""ops.decisions: threshold registry and resolution, guarded writes, refusals, entity states,
annotations, change sets and the audit log (RELIABILITY 5, 6, 8)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pandas as pd
import pytest
from sqlalchemy import Engine, event, func, select, update

from ops import decisions as d
from ops.access import AccessDenied, Viewer
from ops.db import transaction
from ops.exports import REGISTRY, run
from ops.filters import Filters
from ops.models import Annotation, Carrier, Decision, EntityState, Product, Supplier, Threshold, Warehouse

ANA = Viewer("ana", "manager")
BOB = Viewer("bob", "admin")
PAT = Viewer("pat", "planner")
SUP_A = Viewer("sup_a", "vendor", "supplier", "SUP-001")
SUP_B = Viewer("sup_b", "vendor", "supplier", "SUP-002")
CAR_X = Viewer("car_x", "vendor", "carrier", "FASTX")


def _reference(engine: Engine) -> None:
    """Two warehouses (one run by a 3PL), a carrier, two suppliers with one SKU each."""
    with transaction(engine) as s:
        s.add_all([Warehouse(code="WH-EAST", name="East"),
                   Warehouse(code="WH-WEST", name="West", operator_code="3PL-A"),
                   Carrier(code="FASTX", name="Fast X"), Carrier(code="SLOWY", name="Slow Y"),
                   Supplier(code="SUP-001", name="Alpha"), Supplier(code="SUP-002", name="Beta")])
        s.flush()
        sa, sb = (s.scalar(select(Supplier.id).where(Supplier.code == c)) for c in ("SUP-001", "SUP-002"))
        s.add_all([Product(sku="SKU-0001", name="Boot", category="shoes", supplier_id=sa),
                   Product(sku="SKU-0002", name="Hat", category="hats", supplier_id=sb)])


def _audit_rows(engine: Engine) -> pd.DataFrame:
    with transaction(engine) as s:
        return d.audit_log(s, viewer=BOB)


def _stored(engine: Engine) -> list[tuple[str, str, str, float, int]]:
    with transaction(engine) as s:
        rows = s.execute(select(Threshold.name, Threshold.scope_kind, Threshold.scope_key, Threshold.value,
                                Threshold.version).order_by(Threshold.id)).all()
    return [tuple(r) for r in rows]


# --- registry --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "default", "unit", "scopes", "page"),
    [
        ("cover_warning_days", 14, "days", ("global", "warehouse", "category", "sku"), "inventory"),
        ("excess_cover_days", 120, "days", None, "inventory"),
        ("dead_stock_days", 90, "days", None, "inventory"),
        ("abc_a_cut", 80, "%", None, "inventory"),
        ("abc_b_cut", 95, "%", None, "inventory"),
        ("on_time_ship_target", 95, "%", ("global", "warehouse"), "fulfillment"),
        ("backlog_age_alert_hours", 24, "hours", None, "fulfillment"),
        ("carrier_on_time_target", 95, "%", ("global", "carrier"), "carriers"),
        ("return_rate_alert", 10, "%", ("global", "category", "sku"), "returns"),
    ],
)
def test_shared_defaults(name: str, default: float, unit: str, scopes: tuple[str, ...] | None, page: str) -> None:
    t = d.THRESHOLDS[name]
    assert (t.default, t.unit, t.page) == (default, unit, page)
    if scopes is not None:
        assert t.scopes == scopes
    if unit == "%":
        assert (t.min, t.max) == (0.0, 100.0)


def test_define_threshold_is_idempotent_and_refuses_a_different_redefinition(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(d, "THRESHOLDS", dict(d.THRESHOLDS))
    first = d.define_threshold("t_x", label="X", unit="days", default=3, page="audit")
    assert d.define_threshold("t_x", label="X", unit="days", default=3, page="audit") is first
    with pytest.raises(ValueError, match="already defined differently"):
        d.define_threshold("t_x", label="X", unit="days", default=4, page="audit")
    with pytest.raises(ValueError, match="vendors may never"):
        d.define_threshold("t_y", label="Y", unit="%", default=3, roles=("vendor",), page="audit")
    with pytest.raises(ValueError, match="outside"):
        d.define_threshold("t_z", label="Z", unit="%", default=130, page="audit")


# --- resolution ------------------------------------------------------------------------------


def test_most_specific_scope_wins_and_source_says_where(engine: Engine) -> None:
    _reference(engine)
    with transaction(engine) as s:
        assert d.threshold(s, viewer=ANA, name="cover_warning_days").source == "default"
        d.set_threshold(s, viewer=ANA, name="cover_warning_days", value=20)
        d.set_threshold(s, viewer=ANA, name="cover_warning_days", value=21, scope_kind="warehouse", scope_key="WH-EAST")
        d.set_threshold(s, viewer=BOB, name="cover_warning_days", value=7, scope_kind="category", scope_key="shoes")
        d.set_threshold(s, viewer=ANA, name="cover_warning_days", value=3, scope_kind="sku", scope_key="SKU-0001")
    today = dt.datetime.now(dt.UTC).date().isoformat()
    cases = [
        ({}, 20.0, f"global (set by ana on {today})"),
        ({"warehouse": "WH-WEST"}, 20.0, f"global (set by ana on {today})"),
        ({"warehouse": "WH-EAST"}, 21.0, f"warehouse WH-EAST (set by ana on {today})"),
        ({"warehouse": "WH-EAST", "category": "shoes"}, 7.0, f"category shoes (set by bob on {today})"),
        ({"warehouse": "WH-EAST", "category": "shoes", "sku": "SKU-0001"}, 3.0,
         f"sku SKU-0001 (set by ana on {today})"),
        ({"warehouse": "WH-EAST", "sku": "SKU-0002", "category": "hats"}, 21.0,
         f"warehouse WH-EAST (set by ana on {today})"),
        ({"carrier": "FASTX"}, 20.0, f"global (set by ana on {today})"),  # carrier is not a scope of this one
    ]
    with transaction(engine) as s:
        rows = d.thresholds_for(s, viewer=ANA, name="cover_warning_days")
        for scope, value, source in cases:
            eff = d.threshold(s, viewer=ANA, name="cover_warning_days", scope=scope)
            assert (eff.value, eff.source) == (value, source), scope
            assert d.resolve(rows, scope, name="cover_warning_days") == eff  # bulk form agrees, pure
        assert d.threshold(s, viewer=ANA, name="dead_stock_days").value == 90.0


def test_resolve_frame_matches_per_row_resolve() -> None:
    now = dt.datetime(2026, 11, 20, 9, 30)
    rows = pd.DataFrame(
        [("return_rate_alert", "global", "", 12.0, 2, "ana", now),
         ("return_rate_alert", "category", "shoes", 20.0, 1, "ana", now),
         ("return_rate_alert", "sku", "SKU-0003", 5.0, 4, "bob", now),
         ("abc_a_cut", "global", "", 70.0, 1, "ana", now)],
        columns=["name", *d.THRESHOLD_COLUMNS],
    )
    frame = pd.DataFrame({"sku": ["SKU-0001", "SKU-0003", "SKU-0009", "SKU-0003"],
                          "category": ["shoes", "shoes", "hats", "hats"]})
    out = d.resolve_frame(rows, frame, name="return_rate_alert", columns={"sku": "sku", "category": "category"})
    assert out["value"].tolist() == [20.0, 5.0, 12.0, 5.0]
    assert out["source_scope"].tolist() == ["category", "sku", "global", "sku"]
    one = d.resolve(rows, {"sku": "SKU-0003", "category": "shoes"}, name="return_rate_alert")
    assert (one.value, one.version, one.source) == (5.0, 4, "sku SKU-0003 (set by bob on 2026-11-20)")
    empty = rows.iloc[0:0]
    defaults = d.resolve_frame(empty, frame, name="return_rate_alert", columns={"sku": "sku"})
    assert defaults["value"].tolist() == [10.0] * 4


def test_vendors_read_only_their_own_overrides(engine: Engine) -> None:
    _reference(engine)
    with transaction(engine) as s:
        d.set_threshold(s, viewer=ANA, name="carrier_on_time_target", value=90, scope_kind="carrier", scope_key="FASTX")
        d.set_threshold(s, viewer=ANA, name="carrier_on_time_target", value=80, scope_kind="carrier", scope_key="SLOWY")
        d.set_threshold(s, viewer=ANA, name="return_rate_alert", value=4, scope_kind="sku", scope_key="SKU-0002")
    with transaction(engine) as s:
        assert d.threshold(s, viewer=CAR_X, name="carrier_on_time_target", scope={"carrier": "FASTX"}).value == 90
        # Another carrier's override is invisible: the vendor gets the default, never SLOWY's 80.
        assert d.threshold(s, viewer=CAR_X, name="carrier_on_time_target", scope={"carrier": "SLOWY"}).value == 95
        assert set(d.thresholds_for(s, viewer=CAR_X)["scope_key"]) == {"FASTX"}
        assert d.thresholds_for(s, viewer=SUP_A).empty  # SKU-0002 is SUP-002's
        assert d.thresholds_for(s, viewer=SUP_B)["scope_key"].tolist() == ["SKU-0002"]
        assert len(d.thresholds_for(s, viewer=ANA)) == 3


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "scope_kind", "scope_key", "message"),
    [
        ("abc_a_cut", "abc", "global", "", "ABC: A class up to (abc_a_cut) at global: 'abc' is text, not a number"),
        ("abc_a_cut", "12,5x", "global", "", "'12,5x' is text, not a number"),
        ("on_time_ship_target", -5, "global", "", "(on_time_ship_target) at global: -5 % is below the minimum 0 %"),
        ("return_rate_alert", "130 %", "global", "", "(return_rate_alert) at global: 130 % is above the maximum 100 %"),
        ("cover_warning_days", -1, "warehouse", "WH-EAST", "at warehouse WH-EAST: -1 days is below the minimum 0 days"),
        ("cover_warning_days", None, "global", "", "a value is required"),
        ("cover_warning_days", float("nan"), "global", "", "is not a finite number"),
        ("nope_days", 3, "global", "", "unknown threshold 'nope_days'"),
        ("on_time_ship_target", 90, "carrier", "FASTX",
         "cannot be set per 'carrier'; allowed scopes: global, warehouse"),
        ("on_time_ship_target", 90, "warehouse", "WH-NOPE", "there is no warehouse 'WH-NOPE'"),
        ("on_time_ship_target", 90, "warehouse", "", "needs the warehouse code"),
    ],
)
def test_bad_input_is_refused_clearly_changes_nothing_and_is_audited(
    engine: Engine, name: str, value: object, scope_kind: str, scope_key: str, message: str
) -> None:
    _reference(engine)
    with transaction(engine) as s:
        d.set_threshold(s, viewer=ANA, name="abc_a_cut", value=70)
    before = _stored(engine)
    with pytest.raises(d.ValidationError) as err, transaction(engine) as s:
        d.set_threshold(s, viewer=ANA, name=name, value=value, scope_kind=scope_kind, scope_key=scope_key)
    assert message in str(err.value)
    assert _stored(engine) == before
    log = _audit_rows(engine)
    assert log["outcome"].tolist() == ["refused", "applied"]
    refused = log.iloc[0]
    assert refused["actor"] == "ana" and refused["action"] == "threshold.set"
    assert message in json.loads(refused["after"])["refused"]


def test_text_number_with_percent_sign_and_spaces_is_accepted(engine: Engine) -> None:
    with transaction(engine) as s:
        eff = d.set_threshold(s, viewer=ANA, name="abc_b_cut", value=" 92.5 % ")
    assert (eff.value, eff.version) == (92.5, 1)
    assert _stored(engine) == [("abc_b_cut", "global", "", 92.5, 1)]


# --- stale edits (RELIABILITY 8) ---------------------------------------------------------------


def test_stale_edit_names_who_and_when_keeps_first_value_and_audits_both(engine: Engine) -> None:
    with transaction(engine) as s:
        d.set_threshold(s, viewer=BOB, name="dead_stock_days", value=90)
    # Two sessions load version 1.
    with transaction(engine) as s:
        seen_a = d.threshold(s, viewer=ANA, name="dead_stock_days")
    with transaction(engine) as s:
        seen_b = d.threshold(s, viewer=PAT, name="dead_stock_days")
    assert seen_a.version == seen_b.version == 1
    with transaction(engine) as s:
        d.set_threshold(s, viewer=ANA, name="dead_stock_days", value=60, expected_version=seen_a.version, why="faster")
    carl = Viewer("carl", "manager")
    with pytest.raises(d.StaleEdit) as err, transaction(engine) as s:
        d.set_threshold(s, viewer=carl, name="dead_stock_days", value=120, expected_version=seen_b.version)
    with transaction(engine) as s:
        row = s.execute(select(Threshold.value, Threshold.version, Threshold.updated_at)).one()
    assert (row.value, row.version) == (60.0, 2)  # A's value stays
    msg = str(err.value)
    assert "changed by ana" in msg and f"{row.updated_at:%Y-%m-%d %H:%M:%S}" in msg and "now 60 days" in msg
    assert (err.value.changed_by, err.value.changed_at, err.value.current_version) == ("ana", row.updated_at, 2)
    log = _audit_rows(engine)
    assert log[["actor", "outcome"]].values.tolist() == [["carl", "refused"], ["ana", "applied"], ["bob", "applied"]]
    assert json.loads(log.iloc[1]["before"]) == {"value": 90.0, "version": 1}
    assert json.loads(log.iloc[1]["after"]) == {"value": 60.0, "version": 2}
    assert log.iloc[1]["why"] == "faster"


def test_creating_a_row_that_appeared_since_the_read_is_stale(engine: Engine) -> None:
    _reference(engine)
    with transaction(engine) as s:
        d.set_threshold(s, viewer=ANA, name="on_time_ship_target", value=97, scope_kind="warehouse",
                        scope_key="WH-EAST", expected_version=0)
    with pytest.raises(d.StaleEdit, match="changed by ana .* did not exist yet"), transaction(engine) as s:
        d.set_threshold(s, viewer=BOB, name="on_time_ship_target", value=90, scope_kind="warehouse",
                        scope_key="WH-EAST", expected_version=0)
    assert _stored(engine) == [("on_time_ship_target", "warehouse", "WH-EAST", 97.0, 1)]


def test_update_is_guarded_in_sql_even_without_expected_version(engine: Engine) -> None:
    """A change landing between set_threshold's read and its UPDATE makes the guarded UPDATE miss."""
    with transaction(engine) as s:
        d.set_threshold(s, viewer=ANA, name="excess_cover_days", value=100)
    with pytest.raises(d.StaleEdit, match="changed by zed"), transaction(engine) as s:
        row_id = s.scalar(select(Threshold.id))
        conn = s.connection()

        def sneak_in(c, clauseelement, multiparams, params, execution_options):  # type: ignore[no-untyped-def]
            # Just before our UPDATE runs, "someone else" bumps the row (same connection, so no lock wait).
            if getattr(clauseelement, "is_update", False) and not c.info.get("bumped"):
                c.info["bumped"] = True
                c.execute(update(Threshold).where(Threshold.id == row_id)
                          .values(version=Threshold.version + 1, value=111, updated_by="zed"))

        event.listen(conn, "before_execute", sneak_in)
        try:
            d.set_threshold(s, viewer=BOB, name="excess_cover_days", value=130)
        finally:
            event.remove(conn, "before_execute", sneak_in)
    assert _stored(engine) == [("excess_cover_days", "global", "", 100.0, 1)]  # the whole transaction rolled back
    assert _audit_rows(engine)["outcome"].tolist() == ["refused", "applied"]


# --- permissions and forged writes (RELIABILITY 5) ---------------------------------------------


def test_vendor_may_never_set_a_threshold_and_the_attempt_is_audited(engine: Engine) -> None:
    _reference(engine)
    with pytest.raises(AccessDenied, match="may not set Carrier on-time target"), transaction(engine) as s:
        d.set_threshold(s, viewer=CAR_X, name="carrier_on_time_target", value=50, scope_kind="carrier",
                        scope_key="FASTX")
    with pytest.raises(AccessDenied), transaction(engine) as s:
        d.set_threshold(s, viewer=PAT, name="abc_a_cut", value=50)  # planners are not in the roles
    assert _stored(engine) == []
    log = _audit_rows(engine)
    assert log[["actor", "outcome", "vendor_code"]].values.tolist() == [
        ["pat", "refused", None], ["car_x", "refused", "FASTX"]]
    with transaction(engine) as s:
        # The vendor sees their own refused attempt, nothing else.
        assert d.audit_log(s, viewer=CAR_X)["actor"].tolist() == ["car_x"]
        assert d.audit_log(s, viewer=SUP_A).empty


def _sku_owner(session, key: str) -> d.VendorRef | None:  # type: ignore[no-untyped-def]
    code = session.scalar(select(Supplier.code).join(Product, Product.supplier_id == Supplier.id)
                          .where(Product.sku == key.split("|")[0]))
    return d.VendorRef("supplier", code) if code else None


@pytest.fixture
def sku_kind(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(d, "ENTITY_KINDS", dict(d.ENTITY_KINDS))
    d.define_entity_kind("test_stock_exc", label="Stock exception", owner=_sku_owner, page="inventory")
    return "test_stock_exc"


def test_forged_vendor_response_is_refused_unchanged_and_audited(engine: Engine, sku_kind: str) -> None:
    _reference(engine)
    with transaction(engine) as s:
        rec = d.respond(s, viewer=SUP_B, entity_kind=sku_kind, entity_key="SKU-0002|WH-EAST", text="on it")
    assert (rec.vendor_code, rec.version, rec.state, rec.vendor_note) == ("SUP-002", 1, "open", "on it")
    # Vendor A answers on B's row (existing) and on B's entity (new): both refused.
    for key, ev in (("SKU-0002|WH-EAST", 1), ("SKU-0002|WH-WEST", None)):
        with pytest.raises(AccessDenied, match="not theirs"), transaction(engine) as s:
            d.respond(s, viewer=SUP_A, entity_kind=sku_kind, entity_key=key, text="mine now", expected_version=ev)
    with transaction(engine) as s:
        states = d.entity_states(s, viewer=BOB, entity_kind=sku_kind)
        assert states[["entity_key", "state", "vendor_note", "version"]].values.tolist() == [
            ["SKU-0002|WH-EAST", "open", "on it", 1]]
        assert d.entity_states(s, viewer=SUP_A).empty
        assert d.entity_states(s, viewer=SUP_B)["entity_key"].tolist() == ["SKU-0002|WH-EAST"]
        a_log = d.audit_log(s, viewer=SUP_A)
        b_log = d.audit_log(s, viewer=SUP_B)
    assert a_log[["actor", "outcome", "entity_key"]].values.tolist() == [
        ["sup_a", "refused", "SKU-0002|WH-WEST"], ["sup_a", "refused", "SKU-0002|WH-EAST"]]
    assert b_log[["actor", "outcome"]].values.tolist() == [["sup_b", "applied"]]


def test_vendor_cannot_write_kinds_without_an_owner_rule(engine: Engine) -> None:
    with pytest.raises(AccessDenied, match="owner cannot be checked"), transaction(engine) as s:
        d.respond(s, viewer=SUP_A, entity_kind="free_kind", entity_key="k1", text="ok")
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(EntityState)) == 0
        d.set_entity_state(s, viewer=ANA, entity_kind="free_kind", entity_key="k1", state="flagged", vendor_code="X")


# --- entity states ---------------------------------------------------------------------------


def test_entity_state_lifecycle_and_stale_edit(engine: Engine) -> None:
    with pytest.raises(d.ValidationError, match="snoozing needs a 'snooze until' date"), transaction(engine) as s:
        d.set_entity_state(s, viewer=ANA, entity_kind="late_order", entity_key="O-1", state="snoozed")
    with pytest.raises(d.ValidationError, match="'someday' is not a date"), transaction(engine) as s:
        d.set_entity_state(s, viewer=ANA, entity_kind="late_order", entity_key="O-1", state="snoozed",
                           snooze_until="someday")
    with pytest.raises(d.ValidationError, match="state 'done' is not one of"), transaction(engine) as s:
        d.set_entity_state(s, viewer=ANA, entity_kind="late_order", entity_key="O-1", state="done")
    with transaction(engine) as s:
        r1 = d.set_entity_state(s, viewer=ANA, entity_kind="late_order", entity_key="O-1", state="snoozed",
                                snooze_until="2026-12-01", note="carrier strike", expected_version=0)
    with transaction(engine) as s:
        r2 = d.set_entity_state(s, viewer=PAT, entity_kind="late_order", entity_key="O-1", state="acknowledged",
                                expected_version=r1.version)
    assert (r1.version, r1.snooze_until, r2.version, r2.snooze_until) == (1, dt.date(2026, 12, 1), 2, None)
    with pytest.raises(d.StaleEdit, match="changed by pat"), transaction(engine) as s:
        d.set_entity_state(s, viewer=BOB, entity_kind="late_order", entity_key="O-1", state="flagged",
                           expected_version=1)
    with transaction(engine) as s:
        st = d.entity_states(s, viewer=ANA, entity_kind="late_order")
    assert st[["state", "version", "updated_by"]].values.tolist() == [["acknowledged", 2, "pat"]]
    log = _audit_rows(engine)
    assert log["outcome"].tolist() == ["refused", "applied", "applied", "refused", "refused", "refused"]
    assert json.loads(log.iloc[1]["before"])["state"] == "snoozed"


# --- annotations -----------------------------------------------------------------------------


def test_annotations(engine: Engine) -> None:
    with transaction(engine) as s:
        new_id = d.add_annotation(s, viewer=ANA, page="fulfillment", day="2026-11-27", text="Black Friday")
        d.add_annotation(s, viewer=PAT, page="inventory", day=dt.date(2026, 11, 1), text="Stock count")
    with pytest.raises(AccessDenied), transaction(engine) as s:
        d.add_annotation(s, viewer=SUP_A, page="fulfillment", day="2026-11-28", text="=HYPERLINK()")
    with pytest.raises(d.ValidationError, match="the text is empty"), transaction(engine) as s:
        d.add_annotation(s, viewer=ANA, page="fulfillment", day="2026-11-28", text="   ")
    with transaction(engine) as s:
        notes = d.annotations(s, viewer=ANA, page="fulfillment")
        assert notes[["id", "day", "text", "author"]].values.tolist() == [
            [new_id, dt.date(2026, 11, 27), "Black Friday", "ana"]]
        assert len(d.annotations(s, viewer=ANA)) == 2
        assert d.annotations(s, viewer=SUP_A).empty
        assert s.scalar(select(func.count()).select_from(Annotation)) == 2
    assert _audit_rows(engine)["outcome"].tolist() == ["refused", "refused", "applied", "applied"]


# --- change sets: all or nothing, one audit row per row (RELIABILITY 6) -------------------------


def test_apply_is_all_or_nothing_with_one_audit_row_per_row(engine: Engine) -> None:
    with transaction(engine) as s:
        d.set_threshold(s, viewer=ANA, name="abc_a_cut", value=80)
        d.set_threshold(s, viewer=ANA, name="abc_b_cut", value=95)
    good = d.ChangeSet(changes=(
        d.Change("threshold", "abc_a_cut@global", "value", 80.0, 75, expected_version=1),
        d.Change("threshold", "abc_b_cut@global", "value", 95.0, 90, expected_version=1),
        d.Change("threshold", "dead_stock_days@global", "value", 90.0, 60, expected_version=0),
    ), why="season")
    bad = d.ChangeSet(changes=(
        d.Change("threshold", "abc_a_cut@global", "value", 75.0, 70, expected_version=2),
        d.Change("threshold", "abc_b_cut@global", "value", 95.0, 85, expected_version=1),  # stale: now v2
    ))
    with transaction(engine) as s:
        out = d.apply(s, good, viewer=BOB)
    assert [(r.name, r.value, r.version) for r in out] == [  # type: ignore[union-attr]
        ("abc_a_cut", 75.0, 2), ("abc_b_cut", 90.0, 2), ("dead_stock_days", 60.0, 1)]
    with pytest.raises(d.StaleEdit, match="changed by bob"), transaction(engine) as s:
        d.apply(s, bad, viewer=ANA)
    assert _stored(engine) == [("abc_a_cut", "global", "", 75.0, 2), ("abc_b_cut", "global", "", 90.0, 2),
                               ("dead_stock_days", "global", "", 60.0, 1)]
    log = _audit_rows(engine)
    assert log["outcome"].tolist() == ["refused"] + ["applied"] * 5
    assert (log["why"] == "season").sum() == 3
    with transaction(engine) as s:
        n_decisions = s.scalar(select(func.count()).select_from(Decision).where(Decision.outcome == "applied"))
        n_versions = s.scalar(select(func.sum(Threshold.version)))
    assert n_decisions == n_versions == 5  # every applied audit row is one version bump, and back


def test_caller_rollback_removes_both_change_and_audit_row(engine: Engine) -> None:
    with pytest.raises(RuntimeError), transaction(engine) as s:
        d.set_threshold(s, viewer=ANA, name="abc_a_cut", value=70)
        raise RuntimeError("later step failed")
    assert _stored(engine) == []
    assert _audit_rows(engine).empty


def test_apply_refuses_fields_that_are_not_editable(engine: Engine) -> None:
    with pytest.raises(d.ValidationError, match="only its value can be edited, not scope_key"), \
            transaction(engine) as s:
        d.apply(s, [d.Change("threshold", "abc_a_cut@global", "scope_key", "", "x", 0)], viewer=ANA)
    assert _audit_rows(engine)["outcome"].tolist() == ["refused"]


# --- the audit log and exports ---------------------------------------------------------------


def test_audit_log_filters(engine: Engine) -> None:
    with transaction(engine) as s:
        d.set_threshold(s, viewer=ANA, name="abc_a_cut", value=70)
        d.set_entity_state(s, viewer=BOB, entity_kind="late_order", entity_key="O-9", state="flagged")
        d.add_annotation(s, viewer=ANA, page="returns", day="2026-01-02", text="recall")
    today = dt.datetime.now(dt.UTC).date()
    with transaction(engine) as s:
        assert d.audit_log(s, viewer=BOB, actor="ana")["action"].tolist() == ["annotation.add", "threshold.set"]
        assert d.audit_log(s, viewer=BOB, action="entity_state.set")["actor"].tolist() == ["bob"]
        assert d.audit_log(s, viewer=BOB, action="threshold.")["entity_key"].tolist() == ["abc_a_cut@global"]
        assert d.audit_log(s, viewer=BOB, entity_kind="late_order")["entity_key"].tolist() == ["O-9"]
        assert len(d.audit_log(s, viewer=BOB, date_from=today, date_to=today)) == 3
        assert d.audit_log(s, viewer=BOB, date_to=today - dt.timedelta(days=1)).empty
        assert len(d.audit_log(s, viewer=PAT)) == 3  # planners read the whole log
        assert d.audit_log(s, viewer=BOB, limit=1)["action"].tolist() == ["annotation.add"]
        assert d.audit_facets(s, viewer=BOB)["actor"] == ["ana", "bob"]


def test_exports_registered_and_scoped(engine: Engine) -> None:
    assert (REGISTRY["audit_log"].page, REGISTRY["thresholds"].page) == ("audit", "audit")
    with transaction(engine) as s:
        d.set_threshold(s, viewer=ANA, name="abc_a_cut", value=70)
    with transaction(engine) as s:
        log = run(s, "audit_log", viewer=ANA, filters=Filters())
        table = run(s, "thresholds", viewer=ANA, filters=Filters())
        with pytest.raises(AccessDenied):
            run(s, "audit_log", viewer=CAR_X, filters=Filters())
    assert log["entity_key"].tolist() == ["abc_a_cut@global"]
    assert len(table[table["scope_kind"] == "global"]) == len(d.THRESHOLDS)
    row = table.set_index("key").loc["abc_a_cut@global"]
    assert (row["value"], row["default"], row["version"]) == (70.0, 80.0, 1)
    assert row["source"].startswith("global (set by ana on ")
    assert table.set_index("key").loc["abc_b_cut@global", "source"] == "default"


# --- vendors respond, never close the manager's item (issue 8, item 3) ----------------------------


def test_vendor_state_change_is_refused_and_audited_but_a_response_is_stored_beside_it(
    engine: Engine, sku_kind: str
) -> None:
    _reference(engine)
    key = "SKU-0001|WH-EAST"
    # The supplier sets its excess-stock row to acknowledged: refused, nothing stored, audited as refused.
    with pytest.raises(AccessDenied, match="may not change the state of .*write your answer in the vendor response"
                       .replace("write", "Write")), transaction(engine) as s:
        d.set_entity_state(s, viewer=SUP_A, entity_kind=sku_kind, entity_key=key, state="acknowledged")
    with pytest.raises(AccessDenied, match="may not change the state"), transaction(engine) as s:
        d.apply(s, [d.Change(sku_kind, key, "state", "open", "snoozed", 0),
                    d.Change(sku_kind, key, "snooze_until", None, "2026-12-24", 0)], viewer=SUP_A)
    # ... and the same edit with a response in the same row changes nothing either.
    with pytest.raises(AccessDenied, match="may not change the state"), transaction(engine) as s:
        d.apply(s, [d.Change(sku_kind, key, "state", "open", "acknowledged", 0),
                    d.Change(sku_kind, key, "vendor_note", None, "done", 0)], viewer=SUP_A)
    with transaction(engine) as s:
        assert d.entity_states(s, viewer=ANA).empty
    # The supplier answers instead (through the editor's change-set path).
    with transaction(engine) as s:
        (rec,) = d.apply(s, d.ChangeSet((d.Change(sku_kind, key, "vendor_note", None, " PO confirmed for the 24th ",
                                                  0),), why="answer"), viewer=SUP_A)
    assert (rec.state, rec.vendor_note, rec.version) == ("open", "PO confirmed for the 24th", 1)  # type: ignore
    # The manager's open list still has the row, with the answer beside it.
    with transaction(engine) as s:
        row = d.entity_states(s, viewer=ANA, entity_kind=sku_kind).iloc[0]
    assert (row["state"], row["vendor_note"], row["vendor_note_by"], row["vendor_code"]) == (
        "open", "PO confirmed for the 24th", "sup_a", "SUP-001")
    # The manager acknowledges later: the response stays; internal users cannot write it.
    with transaction(engine) as s:
        d.set_entity_state(s, viewer=ANA, entity_kind=sku_kind, entity_key=key, state="acknowledged",
                           expected_version=1)
    with pytest.raises(AccessDenied, match="may not write the vendor's response"), transaction(engine) as s:
        d.respond(s, viewer=ANA, entity_kind=sku_kind, entity_key=key, text="forged", expected_version=2)
    with transaction(engine) as s:
        row = d.entity_states(s, viewer=ANA, entity_kind=sku_kind).iloc[0]
    assert (row["state"], row["vendor_note"], row["version"]) == ("acknowledged", "PO confirmed for the 24th", 2)
    log = _audit_rows(engine)
    assert log[["actor", "action", "outcome", "vendor_code"]].values.tolist() == [
        ["ana", "entity_state.respond", "refused", None],
        ["ana", "entity_state.set", "applied", "SUP-001"],
        ["sup_a", "entity_state.respond", "applied", "SUP-001"],
        ["sup_a", "entity_state.set", "refused", "SUP-001"],
        ["sup_a", "entity_state.set", "refused", "SUP-001"],
        ["sup_a", "entity_state.set", "refused", "SUP-001"],
    ]
    applied = log[(log["action"] == "entity_state.respond") & (log["outcome"] == "applied")].iloc[0]
    assert json.loads(applied["after"]) == {"vendor_note": "PO confirmed for the 24th", "version": 1}
    assert applied["why"] == "answer"
    assert "may not change the state" in json.loads(log.iloc[-1]["after"])["refused"]


def test_vendor_response_can_be_cleared_and_a_stale_one_names_no_internal_user(engine: Engine, sku_kind: str) -> None:
    _reference(engine)
    key = "SKU-0001|WH-WEST"
    with transaction(engine) as s:
        d.respond(s, viewer=SUP_A, entity_kind=sku_kind, entity_key=key, text="shipping Friday", expected_version=0)
        d.set_entity_state(s, viewer=ANA, entity_kind=sku_kind, entity_key=key, state="flagged", expected_version=1)
    with pytest.raises(d.StaleEdit) as err, transaction(engine) as s:
        d.respond(s, viewer=SUP_A, entity_kind=sku_kind, entity_key=key, text="late", expected_version=1)
    assert "changed by your account manager" in str(err.value) and not re.search(r"\bana\b", str(err.value))
    with transaction(engine) as s:
        rec = d.respond(s, viewer=SUP_A, entity_kind=sku_kind, entity_key=key, text="  ", expected_version=2)
        row = d.entity_states(s, viewer=ANA, entity_kind=sku_kind).iloc[0]
    assert (rec.vendor_note, rec.state, rec.version) == (None, "flagged", 3)
    assert row["vendor_note"] is None and row["vendor_note_by"] is None


# --- plausible ranges (issue 8, item 4) --------------------------------------------------------


def test_every_threshold_has_a_plausible_range_holding_its_default() -> None:
    for name, t in d.THRESHOLDS.items():
        rng = d.plausible_range(name)
        assert rng is not None and rng[0] <= t.default <= rng[1], name
    assert d.plausible_range("cover_warning_days") == (1.0, 180.0)
    with pytest.raises(ValueError, match="outside the plausible"):
        d.define_threshold("t_plaus", label="P", unit="days", default=5, plausible=(10, 20), page="audit")


@pytest.mark.parametrize(
    ("name", "value", "question"),
    [
        ("cover_warning_days", 99999, "Low-cover warning at global: 99,999 days is outside the usual range "
                                      "of 1 to 180 days. Save it anyway?"),
        ("on_time_ship_target", 5, "On-time ship target at global: 5 % is outside the usual range of 50 to 100 %. "
                                   "Save it anyway?"),
        ("cover_warning_days", 180, None),
        ("backlog_age_alert_hours", 0.5, "Backlog age alert at global: 0.5 hours is outside the usual range "
                                         "of 1 to 336 hours. Save it anyway?"),
    ],
)
def test_plausibility_question(name: str, value: float, question: str | None) -> None:
    assert d.plausibility_question(name, value) == question


def test_implausible_value_needs_confirmation_invalid_value_stays_refused(engine: Engine) -> None:
    with pytest.raises(d.NeedsConfirmation, match="99,999 days is outside the usual range") as err, \
            transaction(engine) as s:
        d.set_threshold(s, viewer=ANA, name="cover_warning_days", value=99999, expected_version=0)
    assert (err.value.name, err.value.value, err.value.plausible) == ("cover_warning_days", 99999.0, (1.0, 180.0))
    assert _stored(engine) == []
    with pytest.raises(d.ValidationError, match="below the minimum"), transaction(engine) as s:
        d.set_threshold(s, viewer=ANA, name="cover_warning_days", value=-10, confirm=True)
    with pytest.raises(d.NeedsConfirmation), transaction(engine) as s:  # through a change set too
        d.apply(s, [d.Change("threshold", "cover_warning_days@global", "value", 14.0, 99999, 0)], viewer=ANA)
    with transaction(engine) as s:
        d.apply(s, [d.Change("threshold", "cover_warning_days@global", "value", 14.0, 99999, 0)], viewer=ANA,
                confirm=True)
    with transaction(engine) as s:
        d.set_threshold(s, viewer=ANA, name="cover_warning_days", value=21, expected_version=1)
    assert _stored(engine) == [("cover_warning_days", "global", "", 21.0, 2)]
    log = _audit_rows(engine)
    assert log["outcome"].tolist() == ["applied", "applied", "refused", "refused", "refused"]
    assert json.loads(log.iloc[1]["after"]) == {"value": 99999.0, "version": 1, "confirmed": True}
    assert json.loads(log.iloc[0]["after"]) == {"value": 21.0, "version": 2}
    assert "Save it anyway?" in json.loads(log.iloc[-1]["after"])["refused"]


# --- vendors never read internal usernames (issue 8, item 10) ----------------------------------


def test_vendors_read_no_internal_username_in_thresholds_states_or_the_audit_log(
    engine: Engine, sku_kind: str
) -> None:
    _reference(engine)
    from ops.models import User

    with transaction(engine) as s:
        s.add(User(username="sup_a2", role="vendor", vendor_kind="supplier", vendor_code="SUP-001"))
        d.set_threshold(s, viewer=ANA, name="cover_warning_days", value=21)
        d.set_threshold(s, viewer=ANA, name="carrier_on_time_target", value=90, scope_kind="carrier",
                        scope_key="FASTX")
        d.set_entity_state(s, viewer=ANA, entity_kind=sku_kind, entity_key="SKU-0001|WH-EAST", state="flagged")
    with transaction(engine) as s:
        d.respond(s, viewer=Viewer("sup_a2", "vendor", "supplier", "SUP-001"), entity_kind=sku_kind,
                  entity_key="SKU-0001|WH-EAST", text="on it", expected_version=1)
    with pytest.raises(d.StaleEdit), transaction(engine) as s:  # ana's refused attempt names sup_a2
        d.set_entity_state(s, viewer=ANA, entity_kind=sku_kind, entity_key="SKU-0001|WH-EAST", state="open",
                           expected_version=1)
    today = dt.datetime.now(dt.UTC).date()
    with transaction(engine) as s:
        table = d.threshold_table(s, viewer=SUP_A).set_index("key")
        carrier = d.threshold(s, viewer=CAR_X, name="carrier_on_time_target", scope={"carrier": "FASTX"})
        states = d.entity_states(s, viewer=SUP_A)
        log = d.audit_log(s, viewer=SUP_A)
        facets = d.audit_facets(s, viewer=SUP_A)
        internal = d.threshold_table(s, viewer=ANA).set_index("key")
        internal_log = d.audit_log(s, viewer=ANA)
        by_manager = d.audit_log(s, viewer=SUP_A, actor="your account manager")
    assert table.loc["cover_warning_days@global", "source"] == f"global (set by your account manager on {today})"
    assert table.loc["cover_warning_days@global", "updated_by"] == "your account manager"
    assert carrier.source == f"carrier FASTX (set by your account manager on {today})"
    assert carrier.updated_by == "your account manager"
    assert internal.loc["cover_warning_days@global", "source"] == f"global (set by ana on {today})"
    # The vendor reads its colleague's name, never the manager's.
    assert states[["updated_by", "vendor_note_by"]].values.tolist() == [["sup_a2", "sup_a2"]]
    assert log[["actor", "action", "outcome"]].values.tolist() == [
        ["sup_a2", "entity_state.respond", "applied"],
        ["your account manager", "entity_state.set", "applied"]]
    assert facets["actor"] == ["sup_a2", "your account manager"]
    assert by_manager["action"].tolist() == ["entity_state.set"]
    for frame in (table.reset_index(), states, log):
        assert not frame.astype(str).apply(lambda c: c.str.contains(r"\bana\b")).any().any()
    assert internal_log["actor"].tolist() == ["ana", "sup_a2", "ana", "ana", "ana"]
