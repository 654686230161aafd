"""Weekly review and Overview pages through AppTest: every role, the week in the link, each inbox link
opening the row that raised it, a status change through the form, annotations in the chart's data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from ops.access import Viewer
from ops.db import read_session, transaction
from ops.demo import anomalies
from ops.filters import Filters
from ops.models import Decision, Product, Supplier, User
from tests.test_review_kpis import MON, PREV_MON, _expected, _raw

ROOT = Path(__file__).resolve().parents[1]
MANAGER = Viewer(username="meg", role="manager")
WEEK = Filters(date_from=dt.date(2026, 11, 9), date_to=dt.date(2026, 11, 15))


def _app(engine: Engine, viewer: Viewer, monkeypatch: pytest.MonkeyPatch, page: str,
         query: dict[str, str] | None = None) -> AppTest:
    monkeypatch.setenv("OPS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.session_state["viewer"] = viewer
    for _ in range(2):  # the link's parameters, before and after the page switch (as a pasted link)
        for k, v in (query or {}).items():
            at.query_params[k] = v
        at.run()
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _frames(at: AppTest) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe]


def _supplier_of(engine: Engine, sku: str) -> str:
    with read_session(engine) as s:
        code = s.scalar(select(Supplier.code).join(Product, Product.supplier_id == Supplier.id)
                        .where(Product.sku == sku))
    assert code
    return code


@pytest.mark.parametrize("viewer", [
    MANAGER, Viewer("ana", "admin"), Viewer("pat", "planner"),
    Viewer("sup", "vendor", "supplier", "SUP-001"), Viewer("car", "vendor", "carrier", "SWX"),
    Viewer("tpl", "vendor", "warehouse", "3PL-NORTHLOG"),
], ids=lambda v: v.role if not v.is_vendor else v.vendor_kind)
def test_review_page_renders_for_every_role(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                            viewer: Viewer) -> None:
    at = _app(seeded_engine, viewer, monkeypatch, "app_pages/review.py", {"week": "2026-W46"})
    assert not at.error, [e.value for e in at.error]
    kpis = next(f for f in _frames(at) if "definition" in f.columns)
    assert {"Order cycle time", "Cost per order", "Late shipment rate (marketplace)"} <= set(kpis["label"])
    assert kpis["definition"].str.len().min() > 10  # each KPI defined in words on the page
    forms = [b.label for b in at.button]
    internal_writer = viewer.role in ("manager", "admin")
    assert ("Save" in forms) == internal_writer  # vendors and planners never see the status form
    assert ("Add event" in forms) == (not viewer.is_vendor)


def test_the_week_in_the_link_is_the_week_shown(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops import fmt

    at = _app(seeded_engine, MANAGER, monkeypatch, "app_pages/review.py", {"week": "2026-W45"})
    assert at.selectbox(key="review_week").value.label == "2026-W45"
    assert at.query_params["week"] == ["2026-W45"] or at.query_params["week"] == "2026-W45"
    kpis = next(f for f in _frames(at) if "definition" in f.columns).set_index("label")
    exp = _expected(_raw(seeded_engine), PREV_MON, MON)
    assert kpis.loc["Late shipment rate (marketplace)", "value"] == fmt.value(exp["late_shipment_rate"], "pct")
    assert kpis.loc["Cost per order", "value"] == fmt.value(exp["cost_per_order"], "money", 2)


def test_every_inbox_link_opens_the_page_showing_its_row(seeded_engine: Engine,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.review.inbox import exception_window, inbox
    from ops.review.week import parse_week

    with read_session(seeded_engine) as s:
        items = inbox(s, viewer=MANAGER, filters=exception_window(parse_week("2026-W46")))
    # every registered page's rows (inventory, fulfilment, carriers, returns today)
    assert len(items) >= 5 and {"inventory", "fulfillment"} <= set(items["page"])
    missing = []
    for page in items["page"].unique():
        for row in items[items["page"] == page].itertuples(index=False):
            url = urlsplit(row.link)
            assert url.path == f"/{page}"
            at = _app(seeded_engine, MANAGER, monkeypatch, f"app_pages/{page}.py", dict(parse_qsl(url.query)))
            token = row.subject.split(" ")[0]
            cells = {str(v) for f in _frames(at) for c in f.columns for v in f[c].tolist()}
            if not any(token == c or c.startswith(token + " ") for c in cells):
                missing.append(row.link + " " + row.subject)
    assert missing == []


def test_a_supplier_reads_its_own_items_only(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    a = anomalies("small", 7)
    owner = _supplier_of(seeded_engine, a.stockout_sku)
    with read_session(seeded_engine) as s:
        other = s.scalar(select(Supplier.code).where(Supplier.code != owner).order_by(Supplier.code))
    subject = f"{a.stockout_sku} @ {a.stockout_warehouse}"
    for code, sees in ((owner, True), (other, False)):
        at = _app(seeded_engine, Viewer("v", "vendor", "supplier", code), monkeypatch, "app_pages/review.py")
        inbox = next(f for f in _frames(at) if "link" in f.columns)
        assert (subject in set(inbox["subject"])) == sees


def test_status_form_assigns_an_owner_and_is_audited(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.demo import seed

    seed(engine, size="small", seed=7)
    with transaction(engine) as s:
        s.add_all([User(username="meg", role="manager"), User(username="ana", role="admin")])
    a = anomalies("small", 7)
    at = _app(engine, MANAGER, monkeypatch, "app_pages/home.py",
              {"from": "2026-11-09", "to": "2026-11-15"})
    key = f"inventory|stockout|{a.stockout_sku} @ {a.stockout_warehouse}"
    at.selectbox(key="home_inbox_item").select(key)
    at.selectbox(key="home_inbox_status").select("assigned")
    at.selectbox(key="home_inbox_owner").select("ana")
    at.text_input(key="home_inbox_note").input("call the supplier about the PO")
    next(b for b in at.button if b.label == "Save").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    inbox = _frames(at)[0]
    row = inbox[inbox["subject"] == f"{a.stockout_sku} @ {a.stockout_warehouse}"].iloc[0]
    assert "assigned" in row["status"] and row["owner"] == "ana"
    with read_session(engine) as s:
        audit = s.execute(select(Decision.actor, Decision.action, Decision.entity_key, Decision.outcome)).all()
    assert [tuple(r) for r in audit] == [("meg", "review_item.set", key, "applied")]


def test_annotations_are_in_the_data_of_the_charts_they_touch() -> None:
    from ui.review import trend_chart

    trend = pd.DataFrame({"ds": pd.to_datetime(["2026-10-26", "2026-11-02", "2026-11-09"]),
                          "week": ["2026-W44", "2026-W45", "2026-W46"], "key": ["on_time_ship"] * 3,
                          "label": ["On-time ship"] * 3, "value": [0.9, 0.8, 0.85]})
    notes = pd.DataFrame({"id": [1, 2, 3], "start": [dt.date(2026, 11, 3), dt.date(2026, 11, 14), dt.date(2026, 6, 1)],
                          "end": [dt.date(2026, 11, 5), dt.date(2026, 11, 14), dt.date(2026, 6, 2)],
                          "page": ["review", "all", "review"], "scope_kind": ["lane", None, None],
                          "scope_key": ["WH-EAST>NY", None, None],
                          "text": ["Carrier strike", "Black Friday promotion", "Warehouse move"]})
    spec = trend_chart(trend, notes).to_dict()
    rows = [r for ds in spec["datasets"].values() for r in ds]
    labels = {r.get("label") for r in rows}
    assert "Carrier strike (lane WH-EAST>NY)" in labels and "Black Friday promotion" in labels
    assert "Warehouse move" not in labels  # June does not touch these weeks
    strike = next(r for r in rows if r.get("label") == "Carrier strike (lane WH-EAST>NY)")
    assert strike["start"].startswith("2026-11-03") and strike["end"].startswith("2026-11-06")  # through the 5th
