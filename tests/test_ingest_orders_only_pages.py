"""An orders-only Shopify export into an empty database: the Inventory and Fulfilment pages work and say what
cannot be known without stock or shipment data instead of showing it as zero (AppTest, admin)."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from ops.access import SYSTEM, Viewer
from ops.ingest import run_import

ROOT = Path(__file__).resolve().parents[1]
EXPORT = ROOT / "tests" / "fixtures" / "imports" / "shopify_orders_export.csv"
ADMIN = Viewer(username="ada", role="admin")


def _page(engine: Engine, page: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    st.cache_data.clear()
    monkeypatch.setenv("OPS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.session_state["viewer"] = ADMIN
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_inventory_and_fulfilment_pages_after_an_orders_only_export(engine: Engine,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    run_import(engine, kind="shopify", paths=[EXPORT], viewer=SYSTEM)
    inv = _page(engine, "inventory", monkeypatch)
    said = " ".join(i.value for i in inv.info)
    assert "No stock to show" in said and "inventory snapshots" in said  # said, not a table of zeros
    assert not inv.dataframe or all("on_hand" not in d.value.columns for d in inv.dataframe)
    ful = _page(engine, "fulfillment", monkeypatch)
    metrics = {m.label: m.value for m in ful.metric}
    # No shipment in the export carries a delivery: on-time delivery is unknown, shown as a dash, not 0 %.
    assert metrics["On-time delivery"] == "–"
    sla = ful.dataframe[0].value
    assert int(sla["lines"].sum()) > 0 and int(sla["delivered"].sum()) == 0
