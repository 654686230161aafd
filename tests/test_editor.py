"""The editor protocol: st.data_editor state -> validated ChangeSet (pure), and the audit page's
Save round trip through AppTest (seeded editor state, Save pressed, values and audit rows checked)."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
import streamlit as st
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from ops import decisions as d
from ops.access import Viewer
from ops.db import transaction
from ops.models import Threshold
from tests.conftest import ROOT
from ui.editor import change_set_from_editor

ROWS = pd.DataFrame({
    "key": ["abc_a_cut@global", "cover_warning_days@warehouse:WH-EAST", "dead_stock_days@global"],
    "version": [3, 1, 0],
    "label": ["A cut", "Cover", "Dead"],
    "value": [80.0, 21.0, 90.0],
})


def _cs(state: dict, **kw: object) -> d.ChangeSet:
    return change_set_from_editor(ROWS, state, key_col="key", version_col="version", editable=["value"], **kw)


def test_positions_map_to_keys_and_versions() -> None:
    cs = _cs({"edited_rows": {2: {"value": 60}, "1": {"value": 14.5}}, "added_rows": [], "deleted_rows": []},
             why="  season  ")
    assert cs.changes == (
        d.Change("threshold", "cover_warning_days@warehouse:WH-EAST", "value", 21.0, 14.5, 1),
        d.Change("threshold", "dead_stock_days@global", "value", 90.0, 60, 0),
    )
    assert cs.why == "season"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"edited_rows": {0: {"value": 80.0}}}, ()),  # unchanged cell dropped
        ({}, ()),
        (None, ()),
        ({"edited_rows": {0: {"value": "abc"}}},  # text passes through; ops refuses it with the message
         (d.Change("threshold", "abc_a_cut@global", "value", 80.0, "abc", 3),)),
    ],
)
def test_noops_and_passthrough(state: dict | None, expected: tuple) -> None:
    assert _cs(state).changes == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"edited_rows": {0: {"label": "x"}}}, "row 1 (abc_a_cut@global): column 'label' cannot be edited"),
        ({"edited_rows": {5: {"value": 1}}}, "edited row 6 is not in the table (it has 3 rows)"),
        ({"edited_rows": {"x": {"value": 1}}}, "edited row 'x' is not a row number"),
        ({"added_rows": [{"value": 1}]}, "adding rows is not supported"),
        ({"deleted_rows": [0]}, "deleting rows is not supported"),
    ],
)
def test_bad_editor_state_is_refused_with_row_and_column(state: dict, message: str) -> None:
    with pytest.raises(d.ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _cs(state)


def test_kind_column_per_row() -> None:
    rows = ROWS.assign(kind=["a_kind", "b_kind", "c_kind"])
    cs = change_set_from_editor(rows, {"edited_rows": {1: {"value": 1}}}, key_col="key", version_col="version",
                                editable=["value"], kind_col="kind")
    assert cs.changes[0].entity_kind == "b_kind"


# --- AppTest round trip on the audit page ------------------------------------------------------

MANAGER = Viewer("ana", "manager")


def _app(engine: Engine, monkeypatch: pytest.MonkeyPatch, viewer: Viewer = MANAGER) -> AppTest:
    # Loaders leave ``_engine`` out of their cache key (one database per process), and the cache
    # outlives an AppTest: start each test from an empty cache so no other test's rows show.
    st.cache_data.clear()
    monkeypatch.setenv("OPS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.session_state["viewer"] = viewer
    at.switch_page("app_pages/audit.py")
    return at.run()


def _position(at: AppTest, key: str) -> int:
    shown = at.session_state["audit_thr_original"]
    return int(shown.index[shown["key"] == key][0])


def _value(engine: Engine, name: str) -> tuple[float, int, str] | None:
    with transaction(engine) as s:
        row = s.execute(select(Threshold.value, Threshold.version, Threshold.updated_by)
                        .where(Threshold.name == name, Threshold.scope_kind == "global")).one_or_none()
    return None if row is None else (row.value, row.version, row.updated_by)


def test_audit_page_save_applies_and_audits(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with transaction(engine) as s:
        d.set_threshold(s, viewer=Viewer("bob", "admin"), name="abc_a_cut", value=78)
    at = _app(engine, monkeypatch)
    assert not at.exception
    shown = at.session_state["audit_thr_original"]
    assert shown.set_index("key").loc["abc_a_cut@global", "value"] == 78.0
    assert shown.set_index("key").loc["dead_stock_days@global", "source"] == "default"
    pos_a, pos_dead = _position(at, "abc_a_cut@global"), _position(at, "dead_stock_days@global")
    at.session_state["audit_thr_editor"] = {
        "edited_rows": {pos_a: {"value": 75}, pos_dead: {"value": 60}}, "added_rows": [], "deleted_rows": []}
    at.text_input(key="audit_thr_why").input("clearance")
    at.button(key="audit_thr_save").click().run()
    assert not at.exception
    # The success message says what was saved; the reason is emptied so the next change cannot reuse it.
    assert [s.value for s in at.success] == [
        "Saved 2 changes: ABC: A class up to (global) 78 → 75 %; Dead stock after (global) 90 → 60 days."]
    assert at.text_input(key="audit_thr_why").value == ""
    assert "audit_thr_editor" not in at.session_state
    assert _value(engine, "abc_a_cut") == (75.0, 2, "ana")
    assert _value(engine, "dead_stock_days") == (60.0, 1, "ana")
    with transaction(engine) as s:
        log = d.audit_log(s, viewer=MANAGER, actor="ana")
    assert sorted(log["entity_key"]) == ["abc_a_cut@global", "dead_stock_days@global"]
    assert set(log["why"]) == {"clearance"} and set(log["outcome"]) == {"applied"}
    # The table now shows the saved values (loaders were cleared).
    shown = at.session_state["audit_thr_original"].set_index("key")
    assert (shown.loc["abc_a_cut@global", "value"], shown.loc["abc_a_cut@global", "version"]) == (75.0, 2)


def test_audit_page_stale_save_is_refused_with_who_and_when(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(engine, monkeypatch)
    pos = _position(at, "abc_b_cut@global")
    # Someone else saves after the page was loaded (the page still shows version 0, the default).
    with transaction(engine) as s:
        d.set_threshold(s, viewer=Viewer("bob", "admin"), name="abc_b_cut", value=93, expected_version=0)
    at.session_state["audit_thr_editor"] = {"edited_rows": {pos: {"value": 90}}, "added_rows": [], "deleted_rows": []}
    at.button(key="audit_thr_save").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "changed by bob" in errors[0] and "nothing was saved" in errors[0]
    assert _value(engine, "abc_b_cut") == (93.0, 1, "bob")
    with transaction(engine) as s:
        log = d.audit_log(s, viewer=MANAGER, entity_key="abc_b_cut@global")
    assert log[["actor", "outcome"]].values.tolist() == [["ana", "refused"], ["bob", "applied"]]


def test_audit_page_text_in_a_number_is_refused(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(engine, monkeypatch)
    pos = _position(at, "return_rate_alert@global")
    at.session_state["audit_thr_editor"] = {"edited_rows": {pos: {"value": "ten"}}, "added_rows": [],
                                            "deleted_rows": []}
    at.button(key="audit_thr_save").click().run()
    assert [e.value for e in at.error] == [
        "Return-rate alert (return_rate_alert) at global: 'ten' is text, not a number; enter a number in %"]
    assert _value(engine, "return_rate_alert") is None


def test_audit_page_add_override_and_audit_log_view(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with transaction(engine) as s:
        from ops.models import Warehouse

        s.add(Warehouse(code="WH-EAST", name="East"))
    at = _app(engine, monkeypatch)
    at.selectbox(key="audit_new_name").select("on_time_ship_target")
    at.selectbox(key="audit_new_kind").select("warehouse")
    at.text_input(key="audit_new_key").input("WH-EAST")
    at.number_input(key="audit_new_value").set_value(97.0)
    at.button[[b.label for b in at.button].index("Add override")].click().run()
    assert not at.exception
    with transaction(engine) as s:
        eff = d.threshold(s, viewer=MANAGER, name="on_time_ship_target", scope={"warehouse": "WH-EAST"})
    assert (eff.value, eff.scope_kind, eff.version) == (97.0, "warehouse", 1)
    at.segmented_control(key="audit_view").set_value("Audit log").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["entity_key"].tolist() == ["on_time_ship_target@warehouse:WH-EAST"]
    assert table["actor"].tolist() == ["ana"]
    # People's labels from the one formatting layer (ops.fmt via ui.table), no raw column names.
    cols = json.loads(at.dataframe[0].proto.columns)
    assert {c: cols[c]["label"] for c in ("at", "actor", "entity_key", "why")} == {
        "at": "When (UTC)", "actor": "Who", "entity_key": "Object", "why": "Reason"}
    at.selectbox(key="audit_actor").select("ana")
    today = dt.datetime.now(dt.UTC).date()
    at.date_input(key="audit_dates").set_value((today - dt.timedelta(days=3), today - dt.timedelta(days=1))).run()
    assert not at.dataframe and [i.value for i in at.info] == ["No audit rows match these filters."]


@pytest.mark.parametrize("viewer", [Viewer("pat", "planner"), Viewer("v", "vendor", "carrier", "FASTX")])
def test_audit_page_refuses_other_roles(engine: Engine, monkeypatch: pytest.MonkeyPatch, viewer: Viewer) -> None:
    at = _app(engine, monkeypatch, viewer)
    assert not at.exception
    assert "audit_thr_original" not in at.session_state


# --- edits that mislead (issue 8, item 4) ------------------------------------------------------


def _seed_edit(at: AppTest, key: str, value: object) -> None:
    at.session_state["audit_thr_editor"] = {"edited_rows": {_position(at, key): {"value": value}},
                                            "added_rows": [], "deleted_rows": []}


def test_refused_value_leaves_the_grid_and_the_next_save_has_nothing_to_save(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(engine, monkeypatch)
    _seed_edit(at, "dead_stock_days@global", -10)
    at.text_input(key="audit_thr_why").input("typo test")
    at.button(key="audit_thr_save").click().run()
    assert [e.value for e in at.error] == [
        "Dead stock after (dead_stock_days) at global: -10 days is below the minimum 0 days"]
    # The grid shows the stored rows again (the edit is gone); the reason stays for the retry.
    assert at.session_state["audit_thr_gen"] == 1 and "audit_thr_editor" not in at.session_state
    assert at.text_input(key="audit_thr_why").value == "typo test"
    at.button(key="audit_thr_save").click().run()
    assert not at.error  # before the fix the -10 was still in the editor and was refused again
    assert [i.value for i in at.info] == ["Nothing to save: no value was changed."]
    assert _value(engine, "dead_stock_days") is None
    with transaction(engine) as s:
        assert d.audit_log(s, viewer=MANAGER)["outcome"].tolist() == ["refused"]


def test_saving_unchanged_values_is_an_info_not_an_error(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(engine, monkeypatch)
    _seed_edit(at, "abc_a_cut@global", 80.0)
    at.button(key="audit_thr_save").click().run()
    assert not at.error and [i.value for i in at.info] == ["Nothing to save: no value was changed."]


def test_implausible_value_asks_first_and_saves_only_when_confirmed(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(engine, monkeypatch)
    _seed_edit(at, "cover_warning_days@global", 99999)
    at.text_input(key="audit_thr_why").input("long tail")
    at.button(key="audit_thr_save").click().run()
    assert not at.exception and not at.error and not at.success
    assert [w.value for w in at.warning] == [
        "Low-cover warning at global: 99,999 days is outside the usual range of 1 to 180 days. Save it anyway?"]
    assert _value(engine, "cover_warning_days") is None
    # The edit stays on screen while the question is open.
    assert at.session_state["audit_thr_editor"]["edited_rows"]
    at.button(key="audit_thr_confirm").click().run()
    assert not at.exception and not at.warning
    assert [s.value for s in at.success] == [
        "Saved 1 change: Low-cover warning (global) 14 → 99,999 days."]
    assert _value(engine, "cover_warning_days") == (99999.0, 1, "ana")
    with transaction(engine) as s:
        log = d.audit_log(s, viewer=MANAGER)
    assert log[["outcome", "why"]].values.tolist() == [["applied", "long tail"], ["refused", "long tail"]]
    assert '"confirmed": true' in log.iloc[0]["after"]


def test_implausible_value_cancelled_saves_nothing_and_resets_the_grid(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(engine, monkeypatch)
    _seed_edit(at, "on_time_ship_target@global", 5)
    at.button(key="audit_thr_save").click().run()
    assert len(at.warning) == 1
    at.button(key="audit_thr_cancel").click().run()
    assert not at.warning and [i.value for i in at.info] == ["Nothing was saved."]
    assert "audit_thr_editor" not in at.session_state and _value(engine, "on_time_ship_target") is None


def test_add_override_asks_for_an_implausible_value_and_clears_the_reason(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with transaction(engine) as s:
        from ops.models import Warehouse

        s.add(Warehouse(code="WH-EAST", name="East"))
    at = _app(engine, monkeypatch)
    at.selectbox(key="audit_new_name").select("backlog_age_alert_hours")
    at.selectbox(key="audit_new_kind").select("warehouse")
    at.text_input(key="audit_new_key").input("WH-EAST")
    at.number_input(key="audit_new_value").set_value(5000.0)
    at.text_input(key="audit_new_why").input("peak")
    at.button[[b.label for b in at.button].index("Add override")].click().run()
    assert not at.exception
    assert [w.value for w in at.warning] == ["Backlog age alert at warehouse WH-EAST: 5,000 hours is outside the usual "
                                             "range of 1 to 336 hours. Save it anyway?"]
    at.button(key="audit_new_confirm").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Saved 1 change: Backlog age alert (warehouse WH-EAST) – → 5,000 hours."]
    assert at.text_input(key="audit_new_why").value == ""
    with transaction(engine) as s:
        eff = d.threshold(s, viewer=MANAGER, name="backlog_age_alert_hours", scope={"warehouse": "WH-EAST"})
    assert (eff.value, eff.version) == (5000.0, 1)


# --- vendors respond in the editor, never change the state (issue 8, item 3) --------------------

SUPPLIER = Viewer("sup_a", "vendor", "supplier", "SUP-001")


def _stock_owner(session, key: str) -> d.VendorRef | None:  # type: ignore[no-untyped-def]
    from ops.models import Product, Supplier

    code = session.scalar(select(Supplier.code).join(Product, Product.supplier_id == Supplier.id)
                          .where(Product.sku == key.split(":")[1]))
    return d.VendorRef("supplier", code) if code else None


@pytest.fixture
def stock_rows(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> pd.DataFrame:
    from ops.models import Product, Supplier

    monkeypatch.setattr(d, "ENTITY_KINDS", dict(d.ENTITY_KINDS))
    d.define_entity_kind("test_excess", label="Excess stock", owner=_stock_owner, page="inventory")
    with transaction(engine) as s:
        sup = Supplier(code="SUP-001", name="Alpha")
        s.add(sup)
        s.flush()
        s.add(Product(sku="SKU-1", name="Boot", category="shoes", supplier_id=sup.id))
    return pd.DataFrame({"kind": ["excess"], "sku": ["SKU-1"], "state": ["open"], "note": [None],
                         "entity_key": ["excess:SKU-1:WH-EAST"], "version": [0]})


def _exceptions_script() -> None:
    import streamlit as st

    from ui.editor import edit_table

    rows = st.session_state["test_rows"]
    edit_table(rows, key="exc", viewer=st.session_state["test_viewer"], key_col="entity_key", version_col="version",
               editable=["state", "note"], entity_kind="test_excess")


def _exceptions_app(engine: Engine, monkeypatch: pytest.MonkeyPatch, viewer: Viewer, rows: pd.DataFrame) -> AppTest:
    st.cache_data.clear()
    monkeypatch.setenv("OPS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    at = AppTest.from_function(_exceptions_script, default_timeout=30)
    at.session_state["test_rows"] = rows
    at.session_state["test_viewer"] = viewer
    return at.run()


def _disabled(at: AppTest) -> dict[str, bool]:
    cols = json.loads(at.dataframe[0].proto.columns)
    return {c: bool(cols.get(c, {}).get("disabled")) for c in ("state", "note", "vendor_note")}


def test_vendor_edits_only_the_response_and_the_manager_sees_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, stock_rows: pd.DataFrame
) -> None:
    at = _exceptions_app(engine, monkeypatch, SUPPLIER, stock_rows)
    assert not at.exception
    assert _disabled(at) == {"state": True, "note": True, "vendor_note": False}
    shown = at.session_state["exc_original"]
    assert list(shown.columns)[:4] == ["kind", "sku", "state", "vendor_note"]
    at.session_state["exc_editor"] = {"edited_rows": {0: {"vendor_note": "PO confirmed for the 24th"}},
                                      "added_rows": [], "deleted_rows": []}
    at.button(key="exc_save").click().run()
    assert not at.exception and not at.error
    assert [s.value for s in at.success] == [
        "Saved 1 change: Excess stock excess:SKU-1:WH-EAST: response – → PO confirmed for the 24th."]
    # The manager's view: the row is still open, the answer beside it, the response read-only.
    manager = _exceptions_app(engine, monkeypatch, MANAGER, stock_rows.assign(version=1))
    assert _disabled(manager) == {"state": False, "note": False, "vendor_note": True}
    row = manager.dataframe[0].value.iloc[0]
    assert (row["state"], row["vendor_note"]) == ("open", "PO confirmed for the 24th")
    with transaction(engine) as s:
        states = d.entity_states(s, viewer=MANAGER)
        log = d.audit_log(s, viewer=MANAGER)
    assert states[["state", "vendor_note", "vendor_code"]].values.tolist() == [
        ["open", "PO confirmed for the 24th", "SUP-001"]]
    assert log[["actor", "action", "outcome"]].values.tolist() == [["sup_a", "entity_state.respond", "applied"]]


def test_vendor_state_edit_in_the_editor_is_refused_audited_and_reset(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, stock_rows: pd.DataFrame
) -> None:
    at = _exceptions_app(engine, monkeypatch, SUPPLIER, stock_rows)
    # A forged edit of the (read-only) state column, as the supplier did.
    at.session_state["exc_editor"] = {"edited_rows": {0: {"state": "acknowledged"}}, "added_rows": [],
                                      "deleted_rows": []}
    at.button(key="exc_save").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "may not change the state of test_excess excess:SKU-1:WH-EAST" in errors[0]
    assert "exc_editor" not in at.session_state
    with transaction(engine) as s:
        assert d.entity_states(s, viewer=MANAGER).empty
        log = d.audit_log(s, viewer=MANAGER)
    assert log[["actor", "action", "outcome", "vendor_code"]].values.tolist() == [
        ["sup_a", "entity_state.set", "refused", "SUP-001"]]


# --- a threshold form (the inventory page's "Save thresholds") through the same path -------------


def _form_script() -> None:
    import streamlit as st

    from ops.db import read_session
    from ops.decisions import threshold_table
    from ui.cache import get_engine
    from ui.editor import save_threshold_form, show_confirmation, show_flash

    viewer = st.session_state["test_viewer"]
    with read_session(get_engine()) as s:
        current = threshold_table(s, viewer=viewer)
    names = ["cover_warning_days", "abc_a_cut"]
    glob = current[current["scope_kind"] == "global"].set_index("name")
    show_flash("thr")
    show_confirmation("thr", viewer=viewer)
    with st.form("thr_form"):
        for n in names:
            st.number_input(n, value=float(glob.loc[n, "value"]), key=f"thr_{n}")
        st.text_input("Reason", key="thr_why")
        st.form_submit_button("Save thresholds", on_click=save_threshold_form, args=("thr", viewer, current, names))


def _form_app(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    st.cache_data.clear()
    monkeypatch.setenv("OPS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    at = AppTest.from_function(_form_script, default_timeout=30)
    at.session_state["test_viewer"] = MANAGER
    return at.run()


def _press_save(at: AppTest) -> None:
    next(b for b in at.button if b.label == "Save thresholds").click().run()
    assert not at.exception


def test_threshold_form_says_what_it_saved_asks_when_implausible_and_clears_the_reason(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _form_app(engine, monkeypatch)
    _press_save(at)
    assert not at.error and [i.value for i in at.info] == ["Nothing to save: no value was changed."]
    at.number_input(key="thr_cover_warning_days").set_value(21.0)
    at.text_input(key="thr_why").input("season")
    _press_save(at)
    assert [s.value for s in at.success] == ["Saved 1 change: Low-cover warning (global) 14 → 21 days."]
    assert at.text_input(key="thr_why").value == ""
    assert _value(engine, "cover_warning_days") == (21.0, 1, "ana")
    at.number_input(key="thr_cover_warning_days").set_value(99999.0)
    _press_save(at)
    assert [w.value for w in at.warning] == [
        "Low-cover warning at global: 99,999 days is outside the usual range of 1 to 180 days. Save it anyway?"]
    assert _value(engine, "cover_warning_days") == (21.0, 1, "ana")
    at.button(key="thr_confirm").click().run()
    assert [s.value for s in at.success] == ["Saved 1 change: Low-cover warning (global) 21 → 99,999 days."]
    assert _value(engine, "cover_warning_days") == (99999.0, 2, "ana")
    with transaction(engine) as s:
        log = d.audit_log(s, viewer=MANAGER)
    assert log[["outcome", "why"]].values.tolist() == [["applied", None], ["refused", None], ["applied", "season"]]
