"""The scorecard pages render for every role, show the numbers ops computes, keep each vendor to its own
rows (no other vendor's code anywhere on the page), and show a vendor's dispute in the manager's view."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from ops import scorecards as sc
from ops.access import Viewer
from ops.db import transaction
from ops.models import Carrier, Supplier, Warehouse
from tests.test_scorecards import MANAGER, build

ROOT = Path(__file__).resolve().parents[1]


def _codes(engine: Engine) -> dict[str, list[str]]:
    with transaction(engine) as s:
        return {"carrier": sorted(s.scalars(select(Carrier.code))),
                "supplier": sorted(s.scalars(select(Supplier.code))),
                "warehouse": sorted({c for c in s.scalars(select(Warehouse.operator_code)) if c})}


def _app(engine: Engine, viewer: Viewer, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("OPS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.session_state["viewer"] = viewer
    at.run()
    return at


def _texts(at: AppTest) -> Iterator[str]:
    """Every text the page shows: titles, captions, markdown, messages, metrics and every table cell."""
    for kind in ("title", "subheader", "caption", "markdown", "info", "warning", "error", "success"):
        for el in getattr(at, kind):
            yield str(el.value)
    for m in at.metric:
        yield str(m.label)
        yield str(m.value)
    for df in at.dataframe:
        frame: pd.DataFrame = df.value
        yield from (str(c) for c in frame.columns)
        for col in frame.columns:
            yield from (str(v) for v in frame[col].tolist())


def _tables(at: AppTest) -> list[pd.DataFrame]:
    return [df.value for df in at.dataframe]


@pytest.mark.parametrize("kind", ["carrier", "supplier", "warehouse"])
def test_a_vendor_sees_only_its_own_scorecard(seeded_engine: Engine, kind: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    codes = _codes(seeded_engine)[kind]
    mine, others = codes[0], codes[1:]
    if kind == "warehouse":  # one 3PL in the demo: the others are the warehouses it does not run
        with transaction(seeded_engine) as s:
            others = sorted(s.scalars(select(Warehouse.code).where(Warehouse.operator_code.is_distinct_from(mine))))
    assert others, f"the demo needs two {kind}s"
    viewer = Viewer(username=f"v-{kind}", role="vendor", vendor_kind=kind, vendor_code=mine)
    at = _app(seeded_engine, viewer, monkeypatch)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Your scorecard"  # the vendor lands on its scorecard
    texts = list(_texts(at))
    leaked = sorted({o for o in others for t in texts if o in t.split() or t == o or f" {o} " in f" {t} "})
    assert leaked == [], f"{kind} {mine} sees {leaked}"
    with transaction(seeded_engine) as s:
        page = sc.scorecard_page(s, viewer=viewer)
    if kind == "carrier":
        shown = next(t for t in _tables(at) if "benchmark_on_time_rate" in t.columns)
        assert set(shown["carrier"]) == {mine} and "score_rank" not in shown.columns
        assert len(shown) == len(page.carriers) and len(shown) > 3
    elif kind == "supplier":
        shown = next(t for t in _tables(at) if "otif_rate" in t.columns)
        assert shown["supplier"].tolist() == [mine] == page.suppliers["supplier"].tolist()
    else:
        shown = next(t for t in _tables(at) if "operator" in t.columns)
        assert set(shown["operator"]) == {mine} and len(shown) == len(page.tpl) > 0


@pytest.mark.parametrize("section", ["Carriers", "Suppliers", "3PLs", "Disputes", "Weights & bands"])
def test_manager_page_renders_each_section_with_ops_numbers(seeded_engine: Engine, section: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(seeded_engine, MANAGER, monkeypatch)
    at.switch_page("app_pages/carriers.py").run()
    at.segmented_control(key="carriers_view").set_value(section).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Scorecards"
    assert not [e.value for e in at.error]
    if section == "Carriers":
        with transaction(seeded_engine) as s:
            cards = sc.carrier_scorecard(s, viewer=MANAGER)
            late = sc.late_lanes(s, viewer=MANAGER)
        shown = next(t for t in _tables(at) if "score_rank" in t.columns)
        assert len(shown) == len(cards) and shown["shipments"].tolist() == cards["shipments"].tolist()
        flagged = _tables(at)[0]
        assert len(flagged) == len(late) and set(flagged["carrier"]) <= set(late["carrier"])


def test_a_vendor_dispute_shows_in_the_managers_view(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    build(engine)
    carrier = Viewer(username="ca-user", role="vendor", vendor_kind="carrier", vendor_code="CA")
    at = _app(engine, carrier, monkeypatch)
    at.text_input(key="scorecard_week").set_value("2026-W10").run()
    at.selectbox(key="scorecard_dispute_kind").set_value("A shipment (tracking number)")
    at.text_input(key="scorecard_dispute_subject").set_value("T2")
    at.text_area(key="scorecard_dispute_reason").set_value("the customer refused the parcel")
    _submit(at)
    assert any("Dispute #" in s.value for s in at.success), [e.value for e in at.error]
    boss = _app(engine, MANAGER, monkeypatch)
    boss.switch_page("app_pages/carriers.py").run()
    boss.text_input(key="carriers_week").set_value("2026-W10").run()
    boss.segmented_control(key="carriers_view").set_value("Disputes").run()
    table = next(t for t in _tables(boss) if "reason" in t.columns)
    assert table[["subject_key", "state", "reason"]].values.tolist() == [
        ["T2", "open", "the customer refused the parcel"]]


def _submit(at: AppTest, label: str = "Send") -> Any:
    button = next(b for b in at.get("form_submit_button") if b.label == label)
    return button.click().run()


def test_weights_must_sum_to_100_and_are_saved_through_decisions(engine: Engine,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.models import Decision, Threshold

    build(engine)
    at = _app(engine, MANAGER, monkeypatch)
    at.switch_page("app_pages/carriers.py").run()
    at.text_input(key="carriers_week").set_value("2026-W10").run()
    at.segmented_control(key="carriers_view").set_value("Weights & bands").run()
    at.number_input(key="carriers_weights_scorecard_weight_on_time").set_value(50.0)
    _submit(at, "Save weights and bands")
    assert any("sum to 90 %" in e.value and "Nothing was saved" in e.value for e in at.error), at.error
    with transaction(engine) as s:
        assert s.scalar(select(Threshold.value).where(Threshold.name == "scorecard_weight_on_time")) is None
        refused = s.scalars(select(Decision.after).where(Decision.entity_key == "scorecard weights",
                                                         Decision.outcome == "refused")).all()
    assert len(refused) == 1 and "must sum to 100" in refused[0]
    at.number_input(key="carriers_weights_scorecard_weight_first_attempt").set_value(30.0)
    _submit(at, "Save weights and bands")
    assert not at.error, [e.value for e in at.error]
    with transaction(engine) as s:
        saved = dict(s.execute(select(Threshold.name, Threshold.value)
                                            .where(Threshold.name.like("scorecard_weight%"))).all())
        applied = s.scalars(select(Decision.entity_key).where(Decision.action == "threshold.set",
                                                              Decision.outcome == "applied")).all()
    assert saved == {"scorecard_weight_on_time": 50.0, "scorecard_weight_first_attempt": 30.0}
    assert sorted(k for k in applied if "weight" in k) == ["scorecard_weight_first_attempt@global",
                                                           "scorecard_weight_on_time@global"]
    with transaction(engine) as s:
        card = sc.carrier_scorecard(s, viewer=MANAGER, week="2026-W10").set_index("lane").loc["WH-A>NY"]
    assert card["score"] == pytest.approx(0.5 * 0.5 + 0.3 * 0.75 + 0.2 * 0.8)
