"""The editor protocol: st.data_editor state -> validated ChangeSet (pure), and the audit page's
Save round trip through AppTest (seeded editor state, Save pressed, values and audit rows checked)."""

from __future__ import annotations

import datetime as dt

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
    assert [s.value for s in at.success] == ["Saved 2 rows."]
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
    at.selectbox(key="audit_actor").select("ana")
    today = dt.datetime.now(dt.UTC).date()
    at.date_input(key="audit_dates").set_value((today - dt.timedelta(days=3), today - dt.timedelta(days=1))).run()
    assert at.dataframe[0].value.empty


@pytest.mark.parametrize("viewer", [Viewer("pat", "planner"), Viewer("v", "vendor", "carrier", "FASTX")])
def test_audit_page_refuses_other_roles(engine: Engine, monkeypatch: pytest.MonkeyPatch, viewer: Viewer) -> None:
    at = _app(engine, monkeypatch, viewer)
    assert not at.exception
    assert "audit_thr_original" not in at.session_state
