"""The Fulfilment SLA page renders for every role that may open it, shows the numbers ops computes,
and its threshold and exception edits leave audit rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from ops import fulfillment as ful
from ops.access import SYSTEM, Viewer
from ops.db import transaction
from ops.filters import Filters
from ops.models import Decision, Threshold

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("ops.demo")

MANAGER = Viewer(username="maria", role="manager")
VIEWERS = {
    "admin": Viewer(username="ada", role="admin"),
    "manager": MANAGER,
    "3pl": Viewer(username="tpl", role="vendor", vendor_kind="warehouse", vendor_code="3PL-NORTHLOG"),
    "supplier": Viewer(username="sup", role="vendor", vendor_kind="supplier", vendor_code="SUP-001"),
}


def _page(engine: Engine, monkeypatch: pytest.MonkeyPatch, viewer: Viewer) -> AppTest:
    monkeypatch.setenv("OPS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["viewer"] = viewer
    at.switch_page("app_pages/fulfillment.py")
    at.run()
    return at


@pytest.mark.parametrize("who", list(VIEWERS))
def test_page_renders_per_role_with_ops_numbers(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                                who: str) -> None:
    viewer = VIEWERS[who]
    at = _page(seeded_engine, monkeypatch, viewer)
    assert not at.exception, at.exception
    assert at.title[0].value == "Fulfilment SLA"
    flt = at.session_state["filters"]
    with transaction(seeded_engine) as s:
        want = ful.kpis(s, viewer=viewer, filters=flt).set_index("kpi")
        summary = ful.sla_summary(s, viewer=viewer, filters=flt, by="warehouse")
    tile = next(m for m in at.metric if m.label == "On-time ship")
    expected = want.loc["on_time_ship_rate", "value"]
    assert tile.value == ("–" if expected != expected else f"{expected * 100:.1f} %")  # a fraction, shown in %
    if who == "supplier":  # the demo's supplier sold no line: the page says so instead of empty tables
        assert any("marketplace seller" in i.value for i in at.info)
        assert not any("ship_counted" in d.value.columns for d in at.dataframe)
    else:
        shown = next(d.value for d in at.dataframe if "ship_counted" in d.value.columns)
        assert list(shown["group"]) == list(summary["group"])
    if who == "3pl":
        assert set(shown["group"]) <= {"WH-CENTRAL"}
    # The SLA forms only (every signed-in user also has the password-change form).
    editable_forms = [f for f in at.get("form") if "fulfillment_sla_" in str(f.proto)]
    assert bool(editable_forms) == (who in ("admin", "manager"))


def test_threshold_edit_saves_and_leaves_an_audit_row(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.demo import seed

    seed(engine, size="small", seed=7)
    at = _page(engine, monkeypatch, MANAGER)
    assert not at.exception
    key = "fulfillment_thresholds"
    at.session_state[f"{key}_editor"] = {"edited_rows": {0: {"value": 80.0}}, "added_rows": [], "deleted_rows": []}
    at.text_input(key=f"{key}_why").input("Q4 reality")
    at.button(key=f"{key}_save").click().run()
    assert not at.exception
    with transaction(engine) as s:
        stored = s.scalars(select(Threshold).where(Threshold.name == ful.TARGET_THRESHOLD)).one()
        audit = s.scalars(select(Decision).where(Decision.action == "threshold.set")).all()
        exc = ful.exceptions(s, viewer=MANAGER, filters=at.session_state["filters"])
    assert stored.value == 80.0 and stored.updated_by == "maria"
    assert len(audit) == 1 and audit[0].why == "Q4 reality" and audit[0].outcome == "applied"
    # The target moved: only warehouses below 80 % remain flagged.
    wh_rows = exc[exc["kind"] == "warehouse"]
    assert (wh_rows["value"] < 80).all() and (wh_rows["threshold"] == 80).all()


def test_acknowledging_an_exception_is_audited(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.demo import seed

    seed(engine, size="small", seed=7)
    with transaction(engine) as s:
        first = ful.exceptions(s, viewer=SYSTEM, filters=Filters()).iloc[0]
    at = _page(engine, monkeypatch, MANAGER)
    shown = at.session_state["fulfillment_exceptions_original"]
    pos = int(shown.index[shown["key"] == first["key"]][0]) if first["key"] in set(shown["key"]) else 0
    target_key = shown.iloc[pos]["key"]
    key = "fulfillment_exceptions"
    at.session_state[f"{key}_editor"] = {"edited_rows": {pos: {"state": "acknowledged"}}, "added_rows": [],
                                         "deleted_rows": []}
    at.button(key=f"{key}_save").click().run()
    assert not at.exception
    with transaction(engine) as s:
        audit = s.scalars(select(Decision).where(Decision.entity_kind == ful.EXCEPTION_KIND)).all()
        after = ful.exceptions(s, viewer=MANAGER, filters=at.session_state["filters"]).set_index("key")
    assert [(a.entity_key, a.outcome) for a in audit] == [(target_key, "applied")]
    assert after.loc[target_key, "state"] == "acknowledged" and after.loc[target_key, "version"] == 1


def _problems(at: AppTest) -> list[str]:
    """Exceptions and error boxes (the page's error boundary turns exceptions into error boxes)."""
    return [str(e.value) for e in at.exception] + [str(e.value) for e in at.error]


@pytest.mark.parametrize("who", ["admin", "manager", "3pl"])
def test_every_chart_choice_renders(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch, who: str) -> None:
    from ui.fulfillment import VIEWS

    at = _page(seeded_engine, monkeypatch, VIEWS_BY_ROLE[who])
    assert not _problems(at)
    for label in VIEWS:
        at.segmented_control(key="fulfillment_view").set_value(label).run()
        assert not _problems(at), (label, _problems(at))
        charts = at.get("vega_lite_chart")
        assert label == "Late lanes" or charts, f"{label}: no chart"
    at.segmented_control(key="fulfillment_view").set_value("Attribution").run()
    with transaction(seeded_engine) as s:
        summary = ful.sla_summary(s, viewer=VIEWS_BY_ROLE[who], filters=at.session_state["filters"])
    table = next(d.value for d in at.dataframe if "late_carrier" in d.value.columns and "group" in d.value.columns)
    assert list(table["late_carrier"]) == list(summary["late_carrier"])


VIEWS_BY_ROLE = VIEWERS


def test_findings_and_lane_weeks_are_on_screen(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.demo import anomalies

    anoms = anomalies("small", 7)
    at = _page(seeded_engine, monkeypatch, MANAGER)
    at.date_input(key="global_dates").set_value((anoms.late_lane_weeks[0] - dt.timedelta(days=84),
                                                 anoms.late_lane_weeks[-1] + dt.timedelta(days=6))).run()
    at.segmented_control(key="fulfillment_view").set_value("Late heatmap").run()
    assert not _problems(at)
    warnings = [w.value for w in at.warning]
    assert any(f"on Mon at {anoms.monday_cutoff_warehouse}" in w for w in warnings), warnings
    at.segmented_control(key="fulfillment_view").set_value("Delivery by carrier & lane").run()
    assert not _problems(at)
    worst = next(d.value for d in at.dataframe if "all_lanes_rate" in d.value.columns)
    top3 = worst.head(3)
    assert set(top3["carrier"]) == {anoms.late_lane_carrier} and set(top3["lane"]) == {anoms.late_lane}
    assert {pd.Timestamp(p).date() for p in top3["period"]} == set(anoms.late_lane_weeks)


def test_a_range_without_data_empties_the_tiles_and_says_why(seeded_engine: Engine,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page(seeded_engine, monkeypatch, MANAGER)
    with transaction(seeded_engine) as s:
        last = ful.as_of(s).date()
    at.date_input(key="global_dates").set_value((last + dt.timedelta(days=30), last + dt.timedelta(days=60))).run()
    assert not _problems(at)
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["On-time ship"] == "–" and tiles["On-time delivery"] == "–"
    assert tiles["Lines shipped"] == "0" and tiles["Late and unshipped"] == "0"
    assert any("holds no order lines" in i.value and "pick dates" in i.value for i in at.info)
    assert not at.get("vega_lite_chart")
    assert all(m.help for m in at.metric)  # every tile carries its definition


def test_clearing_business_days_is_refused_and_keeps_the_inputs(seeded_engine: Engine,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page(seeded_engine, monkeypatch, MANAGER)
    k = "fulfillment_sla_WH-EAST"
    at.multiselect(key=f"{k}_days").set_value([])
    at.number_input(key=f"{k}_handling").set_value(3)
    at.text_input(key=f"{k}_why").input("peak")
    next(b for b in at.button if b.form_id == k).click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(e.startswith("Pick at least one business day for WH-EAST") for e in errors), errors
    assert at.multiselect(key=f"{k}_days").value == []
    assert at.number_input(key=f"{k}_handling").value == 3
    assert at.text_input(key=f"{k}_why").value == "peak"
    with transaction(seeded_engine) as s:
        policy = ful.sla_policies(s, viewer=MANAGER).set_index("warehouse").loc["WH-EAST"]
    assert (policy["business_days"], policy["handling_days"], policy["version"]) == ("01234", 0, 1)


def test_the_weekly_charts_draw_the_annotations_of_their_weeks() -> None:
    import pandas as pd

    from ui.fulfillment import lane_weeks_chart, trend_chart

    weeks = pd.to_datetime(["2026-11-02", "2026-11-09", "2026-11-16"])
    trend = pd.DataFrame({"period": weeks, "group": ["All"] * 3, "ship_counted": [10, 12, 9],
                          "on_time_ship_rate": [0.9, 0.8, 0.95]})
    lanes = pd.DataFrame({"period": weeks, "series": ["ARC · WH-EAST>NY"] * 3, "rank": [1, 1, 1],
                          "delivered": [5, 6, 7], "on_time_delivery_rate": [0.5, 0.4, 0.9]})
    notes = pd.DataFrame({"id": [1, 2], "start": [dt.date(2026, 11, 20), dt.date(2026, 12, 1)],
                          "end": [dt.date(2026, 11, 21), dt.date(2026, 12, 2)], "page": ["fulfillment", "all"],
                          "scope_kind": [None, None], "scope_key": [None, None],
                          "text": ["Carrier strike", "After the chart"]})
    for chart in (trend_chart(trend, 95.0, notes), lane_weeks_chart(lanes, notes)):
        rows = [r for ds in chart.to_dict()["datasets"].values() for r in ds]
        labels = {r.get("label") for r in rows}
        assert "Carrier strike" in labels  # the week of the 16th runs through the 22nd
        assert "After the chart" not in labels
    assert "label" not in str(trend_chart(trend, 95.0).to_dict()["datasets"])  # no notes, no layer
