"""The Returns root-cause page renders for every role that may open it (and refuses the others), shows the
numbers ops computes, keeps a supplier to its own SKUs on screen and in downloads, and saves actions with an
audit row."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from ops import returns as ret
from ops.access import Viewer
from ops.db import transaction
from ops.exports import load_registry, to_bytes
from ops.filters import Filters
from ops.models import Decision, Product, Supplier

ROOT = Path(__file__).resolve().parents[1]

VIEWERS = {
    "admin": Viewer(username="ada", role="admin"),
    "manager": Viewer(username="maria", role="manager"),
    "supplier": Viewer(username="sup", role="vendor", vendor_kind="supplier", vendor_code="SUP-001"),
}
REFUSED = {
    "planner": Viewer(username="pat", role="planner"),
    "3pl": Viewer(username="tpl", role="vendor", vendor_kind="warehouse", vendor_code="3PL-NORTHLOG"),
    "carrier": Viewer(username="car", role="vendor", vendor_kind="carrier", vendor_code="UPS"),
}


def _page(engine: Engine, monkeypatch: pytest.MonkeyPatch, viewer: Viewer) -> AppTest:
    monkeypatch.setenv("OPS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.session_state["viewer"] = viewer
    at.switch_page("app_pages/returns.py")
    at.run()
    return at


def _own_skus(engine: Engine, code: str) -> set[str]:
    with transaction(engine) as s:
        return set(s.scalars(select(Product.sku).join(Supplier, Supplier.id == Product.supplier_id)
                             .where(Supplier.code == code)))


@pytest.mark.parametrize("who", list(VIEWERS))
def test_page_renders_per_role_with_ops_numbers(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                                who: str) -> None:
    viewer = VIEWERS[who]
    at = _page(seeded_engine, monkeypatch, viewer)
    assert not at.exception, at.exception
    assert at.title[0].value == "Returns root-cause"
    flt = at.session_state["filters"]
    with transaction(seeded_engine) as s:
        k = ret.kpis(s, viewer=viewer, filters=flt).set_index("kpi")
        prio = ret.priority_list(s, viewer=viewer, filters=flt, limit=100)
    tile = next(m for m in at.metric if m.label == "Return rate")
    want = k.loc["return_rate", "value"]
    assert tile.value == ("–" if want != want else f"{want * 100:.1f} %")
    shown = next(d.value for d in at.dataframe if "priority" in d.value.columns)
    assert list(shown["sku"]) == list(prio["sku"])
    if who == "supplier":
        own = _own_skus(seeded_engine, "SUP-001")
        assert set(shown["sku"]) <= own
        for d in at.dataframe:  # every table on screen: SKUs and supplier codes are the supplier's own
            if "sku" in d.value.columns:
                assert set(d.value["sku"]) <= own
            if "supplier" in d.value.columns:
                assert set(d.value["supplier"].dropna()) <= {"SUP-001"}
        assert not [b for b in at.button if b.label == "Mine comment themes"]  # no theme mining for vendors
        assert not any("returns_action" in str(f.proto) for f in at.get("form"))
    else:
        assert any("returns_action" in str(f.proto) for f in at.get("form"))


@pytest.mark.parametrize("who", list(REFUSED))
def test_other_roles_are_refused(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch, who: str) -> None:
    viewer = REFUSED[who]
    assert not viewer.may_open("returns")
    at = _page(seeded_engine, monkeypatch, viewer)
    assert not at.exception
    assert not [t for t in at.title if t.value == "Returns root-cause"]
    assert not at.dataframe


def test_supplier_exports_hold_only_its_own_skus(seeded_engine: Engine) -> None:
    supplier = VIEWERS["supplier"]
    own = _own_skus(seeded_engine, "SUP-001")
    with transaction(seeded_engine) as s:
        others = set(s.scalars(select(Supplier.code).where(Supplier.code != "SUP-001")))
        registry = load_registry()
        for name in ret.EXPORTS:
            df = registry[name].func(s, viewer=supplier, filters=Filters())
            manager = registry[name].func(s, viewer=VIEWERS["manager"], filters=Filters())
            if "sku" in df.columns:
                assert set(df["sku"]) <= own, name
            if "supplier" in df.columns:
                assert set(df["supplier"].dropna()) <= {"SUP-001"}, name
            text = to_bytes(df, "csv").decode("utf-8-sig")
            assert not [c for c in others if c in text], name
            if name in ("returns_by_supplier", "returns_priority"):
                assert len(manager) > len(df)  # the manager's file holds other suppliers too: not vacuous


def test_action_form_saves_through_decisions(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.demo import seed

    seed(engine, size="small", seed=7)
    manager = VIEWERS["manager"]
    at = _page(engine, monkeypatch, manager)
    flt = at.session_state["filters"]
    with transaction(engine) as s:
        top = ret.priority_list(s, viewer=manager, filters=flt, limit=5)["sku"].iloc[0]
    at.selectbox(key="returns_action_sku").set_value(top)
    at.selectbox(key="returns_action_action").set_value("size_chart")
    at.text_input(key="returns_action_owner").input("maria")
    at.selectbox(key="returns_action_status").set_value("In progress")
    at.text_input(key="returns_action_why").input("size S runs small")
    next(b for b in at.button if b.label == "Save action").click()
    at.run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == [f"Saved the action for {top}."]
    with transaction(engine) as s:
        rows = s.scalars(select(Decision).where(Decision.entity_key == f"sku:{top}")).all()
    assert len(rows) == 1 and rows[0].actor == "maria" and rows[0].why == "size S runs small"
    shown = next(d.value for d in at.dataframe if "priority" in d.value.columns).set_index("sku")
    assert (shown.loc[top, "action"], shown.loc[top, "owner"], shown.loc[top, "status"]) == (
        "Update the size chart", "maria", "In progress")


def test_theme_button_mines_in_the_background_and_a_manager_names_a_theme(
        sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from ops.demo import seed

    seed(sqlite_engine, size="small", seed=7)
    manager = VIEWERS["manager"]
    at = _page(sqlite_engine, monkeypatch, manager)
    assert any("No themes mined yet" in i.value for i in at.info)
    next(b for b in at.button if b.label == "Mine comment themes").click()
    at.run()
    assert not at.exception, at.exception
    assert any("Theme mining started" in s.value for s in at.success)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # the job runs in its own process; the page only reads its row
        with transaction(sqlite_engine) as s:
            status = ret.theme_runs(s, viewer=manager)["status"].iloc[0]
        if status in ("done", "failed"):
            break
        time.sleep(1)
    assert status == "done"
    at.run()
    themes = next(d.value for d in at.dataframe if "top_terms" in d.value.columns)
    assert len(themes) == 8
    at.selectbox(key="returns_theme_no").set_value(int(themes["theme_no"].iloc[0]))
    at.text_input(key="returns_theme_name").input("Fit: too small")
    at.selectbox(key="returns_theme_reason").set_value("runs_small")
    next(b for b in at.button if b.label == "Save name").click()
    at.run()
    assert not at.exception, at.exception
    shown = next(d.value for d in at.dataframe if "top_terms" in d.value.columns).set_index("theme_no")
    first = int(themes["theme_no"].iloc[0])
    assert (shown.loc[first, "theme_name"], shown.loc[first, "reason_code"]) == ("Fit: too small", "runs_small")
    with transaction(sqlite_engine) as s:
        audit = s.scalars(select(Decision).where(Decision.entity_kind == ret.THEME_KIND)).all()
    assert [a.actor for a in audit] == ["maria"]
