"""The Fulfilment SLA page renders for every role that may open it, shows the numbers ops computes,
and its threshold and exception edits leave audit rows."""

from __future__ import annotations

from pathlib import Path

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
    assert tile.value == ("–" if expected != expected else f"{expected:.1f}%")
    shown = next(d.value for d in at.dataframe if "ship_counted" in d.value.columns)
    assert list(shown["group"]) == list(summary["group"])
    if who == "3pl":
        assert set(shown["group"]) <= {"WH-CENTRAL"}
    editable_forms = list(at.get("form"))
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
