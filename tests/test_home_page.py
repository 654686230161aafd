"""Overview page: the top exceptions of each page, as each role may see them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from ops.access import Viewer
from ops.db import transaction
from ops.demo import anomalies
from ops.models import Product, Supplier

ROOT = Path(__file__).resolve().parents[1]


def _overview(engine: Engine, viewer: Viewer, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("OPS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["viewer"] = viewer
    at.switch_page("app_pages/home.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_manager_sees_the_planted_stockout_first_and_fulfilment(seeded_engine: Engine,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    a = anomalies("small", 7)
    at = _overview(seeded_engine, Viewer(username="meg", role="manager"), monkeypatch)
    headers = [h.value for h in at.main.subheader]
    assert headers[0] == "Exceptions inbox"
    assert headers.index("Inventory health") < headers.index("Fulfilment SLA")
    inv = at.dataframe[1 + 0].value  # after the inbox
    assert (inv.iloc[0]["subject"], inv.iloc[0]["kind"]) == (
        f"{a.stockout_sku} @ {a.stockout_warehouse}", "stockout")
    assert len(inv) <= 5
    labels = [m.label for m in at.metric]
    assert "On-time ship" in labels and "Inventory value" in labels


def test_planner_sees_inventory_only(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _overview(seeded_engine, Viewer(username="pat", role="planner"), monkeypatch)
    headers = [h.value for h in at.main.subheader]
    assert headers[:2] == ["Exceptions inbox", "Inventory health"] and "Fulfilment SLA" not in headers
    assert "On-time ship" not in [m.label for m in at.metric]
    assert "fulfillment" not in set(at.dataframe[0].value["link"].str.split("?").str[0].str.strip("/"))


def test_supplier_is_refused_the_overview(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with transaction(seeded_engine) as s:
        code = s.scalars(select(Supplier.code).join(Product, Product.supplier_id == Supplier.id)).first()
    at = _overview(seeded_engine, Viewer(username="sup", role="vendor", vendor_kind="supplier", vendor_code=code),
                   monkeypatch)
    assert [e.value for e in at.error] and "do not have access" in at.error[0].value
    assert len(at.dataframe) == 0


def test_overview_uses_peoples_formats(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from ops.inventory import inventory_health

    manager = Viewer(username="meg", role="manager")
    at = _overview(seeded_engine, manager, monkeypatch)
    with transaction(seeded_engine) as s:
        k = inventory_health(s, viewer=manager).kpis.set_index("kpi")
    tiles = {m.label: m for m in at.metric}
    value = float(k.loc["inventory_value", "value"])
    assert tiles["Inventory value"].value == f"${value:,.0f}"  # currency and separators, not 105429.74
    assert "," in tiles["Inventory value"].value
    for m in at.metric:
        assert "-0.0" not in (m.proto.delta or "") and m.value not in ("None", "nan")
    config = json.loads(at.dataframe[1].proto.columns)
    assert config["value_at_risk"]["label"] == "Value at risk"
    assert config["value_at_risk"]["type_config"]["format"] == "$%,.0f"
    assert config["subject"]["label"] == "Subject"


def test_empty_date_range_says_why_instead_of_tiles(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_DATABASE_URL", seeded_engine.url.render_as_string(hide_password=False))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["viewer"] = Viewer(username="meg", role="manager")
    for _ in range(2):  # the link's range, before and after the page switch
        at.query_params["from"] = "2099-01-01"
        at.query_params["to"] = "2099-01-31"
        at.run()
        at.switch_page("app_pages/home.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    labels = [m.label for m in at.metric]
    # fulfilment has no lines in 2099: a message, not tiles of zeros beside "no backlog"
    assert "On-time ship" not in labels and "Lines shipped" not in labels
    assert not [s.value for s in at.success if "No backlog" in s.value]
    assert any(i.value for i in at.info), "the empty fulfilment section must say why"
    # stock does not depend on the date range: its tiles stay
    assert "Inventory value" in labels
