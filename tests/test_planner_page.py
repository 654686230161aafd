"""The Reorder planner page: renders for the roles that may open it with the numbers ops computes,
refuses vendors, and its approval writes open POs with audit rows (AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from streamlit.testing.v1 import AppTest

from ops import fmt
from ops import planner as pl
from ops.access import Viewer
from ops.db import read_session
from ops.models import Decision, PurchaseOrder, PurchaseOrderLine

ROOT = Path(__file__).resolve().parents[1]
INTERNAL = {
    "admin": Viewer(username="ada", role="admin"),
    "manager": Viewer(username="maria", role="manager"),
    "planner": Viewer(username="pat", role="planner"),
}
VENDORS = {
    "supplier": Viewer(username="sup", role="vendor", vendor_kind="supplier", vendor_code="SUP-001"),
    "3pl": Viewer(username="tpl", role="vendor", vendor_kind="warehouse", vendor_code="3PL-NORTHLOG"),
}
BUSY = pl.Policy(service_level=0.99, review_days=28.0)


def _page(engine: Engine, monkeypatch: pytest.MonkeyPatch, viewer: Viewer, policy: pl.Policy | None = None,
          view: str | None = None) -> AppTest:
    monkeypatch.setenv("OPS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.session_state["viewer"] = viewer
    if policy is not None:
        at.session_state["planner_policy_json"] = policy.to_json()
    if view is not None:
        at.session_state["planner_view"] = view
    at.switch_page("app_pages/planner.py")
    at.run()
    return at


@pytest.mark.parametrize("who", list(INTERNAL))
def test_page_renders_per_role_with_ops_numbers(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                                who: str) -> None:
    viewer = INTERNAL[who]
    at = _page(seeded_engine, monkeypatch, viewer, policy=BUSY)
    assert not at.exception, at.exception
    assert at.title[0].value == "Reorder planner"
    with read_session(seeded_engine) as s:
        page = pl.planner_page(s, viewer=viewer, policy_json=BUSY.to_json())
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Lines to order"] == fmt.value(page.summary["lines"], "count")
    assert tiles["Critical SKUs"] == fmt.value(page.summary["critical"], "count")
    assert tiles["Expected fill rate"] == fmt.value(page.summary["fill_rate"], "pct")
    assert page.summary["lines"] > 0
    assert any("demand comes from the last 52 weeks" in i.value for i in at.info)  # no forecast run: said so
    assert any("order_qty" in d.value.columns for d in at.dataframe)  # the editable grid


@pytest.mark.parametrize("who", list(VENDORS))
def test_vendors_are_refused(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch, who: str) -> None:
    at = _page(seeded_engine, monkeypatch, VENDORS[who])
    assert not at.exception
    assert any("do not have access" in e.value for e in at.error)
    assert len(at.metric) == 0 and len(at.dataframe) == 0


@pytest.mark.parametrize("view", ["Draft POs", "Explain", "Scenarios", "Risk"])
def test_every_view_renders(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch, view: str) -> None:
    at = _page(seeded_engine, monkeypatch, INTERNAL["manager"], policy=BUSY, view=view)
    assert not at.exception, at.exception
    if view == "Explain":
        assert any("Safety stock = z" in m.value for m in at.markdown)
    if view == "Risk":
        assert {"Stockout probability", "Expected fill rate", "Cycle service level"} <= {m.label for m in at.metric}


def test_approving_from_the_page_writes_open_pos_and_audit_rows(engine: Engine,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.demo import seed

    seed(engine, size="small", seed=7)
    viewer = INTERNAL["planner"]
    at = _page(engine, monkeypatch, viewer, policy=BUSY)
    assert not at.exception, at.exception
    with read_session(engine) as s:
        lines = pl.planner_page(s, viewer=viewer, policy_json=BUSY.to_json()).lines
        before = s.scalar(select(func.count()).select_from(PurchaseOrder))
    first = lines.iloc[0]
    edited = int(first["suggested_qty"] + first["case_pack"])
    at.session_state["planner_editor"] = {"edited_rows": {0: {"order_qty": edited}}, "added_rows": [],
                                          "deleted_rows": []}
    at.button(key="planner_approve").click().run()
    assert not at.exception, at.exception
    assert any("open POs" in m.value for m in at.success), [e.value for e in at.error]
    ordered = lines[lines["suggested_qty"] > 0]
    with read_session(engine) as s:
        pos = s.scalar(select(func.count()).select_from(PurchaseOrder))
        qty = s.scalar(select(PurchaseOrderLine.qty_ordered).join(PurchaseOrder).where(
            PurchaseOrder.created_by == "pat").order_by(PurchaseOrderLine.qty_ordered.desc()).limit(1))
        audit = s.scalar(select(func.count()).select_from(Decision).where(Decision.action == "planner.po.approve",
                                                                           Decision.outcome == "applied"))
    n_groups = ordered.groupby(["supplier", "warehouse"]).ngroups
    assert pos == before + n_groups and audit == n_groups
    assert qty is not None and qty >= edited


def test_a_what_if_saved_from_the_form_is_stored_audited_and_compared(engine: Engine,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.demo import seed
    from ops.models import PlannerScenario

    seed(engine, size="small", seed=7)
    at = _page(engine, monkeypatch, INTERNAL["planner"], view="Scenarios")
    assert not at.exception, at.exception
    level = next(n for n in at.number_input if n.label == "Target (%)")
    level.set_value(99.0)
    at.text_input(key="planner_scenario_name").input("Safer")
    next(b for b in at.button if b.label == "Apply").click().run()
    assert not at.exception, at.exception
    assert any("Scenario “Safer” saved" in m.value for m in at.success)
    with read_session(engine) as s:
        stored = s.execute(select(PlannerScenario.params)).one()
        audit = s.scalar(select(func.count()).select_from(Decision).where(
            Decision.action == "planner.scenario.save", Decision.entity_key == "Safer"))
    assert pl.Policy.from_json(stored.params).service_level == pytest.approx(0.99) and audit == 1
    assert at.session_state["planner_policy_json"] == stored.params  # the page now plans with it
    at.run()
    table = at.dataframe[0].value
    assert list(table.columns)[:3] == ["Measure", "Baseline", "Safer"]


def test_an_impossible_what_if_is_refused_naming_the_field(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.demo import seed

    seed(engine, size="small", seed=7)
    at = _page(engine, monkeypatch, INTERNAL["planner"])
    next(n for n in at.number_input if n.label == "MOQ multiplier")  # present
    next(n for n in at.number_input if n.label == "Days added").set_value(-60.0)
    sup = next(s for s in at.selectbox if s.label == "Lead time change: supplier")
    sup.set_value(sup.options[1])
    next(b for b in at.button if b.label == "Apply").click().run()
    assert not at.exception, at.exception
    assert any(e.value.startswith("lead_time_days:") for e in at.error), [e.value for e in at.error]


def test_a_supplier_sees_the_drafts_shared_with_it_on_its_scorecard(engine: Engine,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A manager shares one supplier's draft; that supplier's scorecard lists exactly those lines, another none."""
    import pandas as pd

    from ops.db import run_in_transaction
    from ops.demo import seed
    from ops.models import Supplier

    seed(engine, size="small", seed=7)
    manager = INTERNAL["manager"]
    with read_session(engine) as s:
        plan = pl.planner_page(s, viewer=manager, policy_json=BUSY.to_json()).plan
        codes = sorted(s.scalars(select(Supplier.code)))
    drafts = pl.draft_pos(plan)
    sup, wh = drafts.at[0, "supplier"], drafts.at[0, "warehouse"]
    lines = plan[(plan["supplier"] == sup) & (plan["warehouse"] == wh) & (plan["suggested_qty"] > 0)]
    frame = pd.DataFrame({"sku": lines["sku"], "qty": lines["suggested_qty"], "unit_cost": lines["unit_cost"],
                          "expected_on": drafts.at[0, "expected_on"]})
    run_in_transaction(engine, lambda s: pl.share_draft(s, viewer=manager, supplier=sup, warehouse=wh, lines=frame))
    for code, want in ((sup, sorted(lines["sku"])), (next(c for c in codes if c != sup), [])):
        monkeypatch.setenv("OPS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
        at.session_state["viewer"] = Viewer(username="s", role="vendor", vendor_kind="supplier", vendor_code=code)
        at.run()
        assert not at.exception, at.exception
        assert any(h.value == "Draft purchase orders shared with you" for h in at.subheader)
        grids = [d.value for d in at.dataframe if "shared_at" in d.value.columns]
        shown = sorted(grids[0]["sku"]) if grids else []
        assert shown == want, code
