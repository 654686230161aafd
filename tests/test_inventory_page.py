"""Inventory page (AppTest) and the inventory exports: the planted stockout tops the list, the cover
threshold is edited through the page and audited, vendors see only their own SKUs, exports match."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from ops.access import Viewer
from ops.db import transaction
from ops.decisions import audit_log
from ops.exports import run as run_export
from ops.filters import Filters
from ops.inventory import inventory_health
from ops.models import Supplier, User

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_inventory import Builder  # noqa: E402  (the tiny hand-built data set)
from test_inventory import tiny as tiny  # noqa: E402  (re-exported fixture)

ROOT = Path(__file__).resolve().parents[1]
ADMIN = Viewer(username="ada", role="admin")
MANAGER = Viewer(username="meg", role="manager")


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # st.cache_data is process-wide and leaves the engine out of its key: each test's database is new.
    st.cache_data.clear()


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _page(engine: Engine, viewer: Viewer, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("OPS_DATABASE_URL", _url(engine))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["viewer"] = viewer
    at.switch_page("app_pages/inventory.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _exceptions_shown(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value


def _supplier_of(engine: Engine, sku: str) -> str:
    from sqlalchemy import select

    from ops.models import Product

    with transaction(engine) as s:
        return str(s.scalar(select(Supplier.code).join(Product, Product.supplier_id == Supplier.id)
                            .where(Product.sku == sku)))


def test_planted_stockout_tops_the_exceptions(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.demo import anomalies

    a = anomalies("small", 7)
    with transaction(seeded_engine) as s:
        ex = inventory_health(s, viewer=ADMIN).exceptions
    top = ex.iloc[0]
    assert (top["kind"], top["sku"], top["warehouse"]) == ("stockout", a.stockout_sku, a.stockout_warehouse)
    # its PO lands after the projected stockout: the gap is the PO's date minus the stockout's
    assert top["gap_days"] == (top["next_po"] - top["projected_stockout"]).days > 0
    with transaction(seeded_engine) as s:
        pos = inventory_health(s, viewer=ADMIN).open_pos
    assert a.stockout_po in set(pos[pos["sku"] == a.stockout_sku]["po_number"])
    at = _page(seeded_engine, ADMIN, monkeypatch)
    shown = _exceptions_shown(at)
    assert (shown.iloc[0]["sku"], shown.iloc[0]["warehouse"]) == (a.stockout_sku, a.stockout_warehouse)


@pytest.mark.parametrize("role", ["admin", "manager", "planner"])
def test_page_renders_for_internal_roles(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch, role: str) -> None:
    at = _page(seeded_engine, Viewer(username=f"u_{role}", role=role), monkeypatch)
    assert at.title[0].value == "Inventory health"
    assert [m.label for m in at.metric][:2] == ["Inventory value", "Turns (annualised)"]
    can_edit = role in ("admin", "manager")
    assert any(b.label == "Save thresholds" for b in at.button) == can_edit


def test_cover_threshold_edited_on_the_page(tiny: Builder, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page(tiny.engine, MANAGER, monkeypatch)
    before = _exceptions_shown(at)
    assert "FLAT" not in set(before["sku"])
    at.number_input(key="inventory_thr_cover_warning_days").set_value(60.0)
    at.text_input(key="inventory_thr_why").input("season starts")
    next(b for b in at.button if b.label == "Save thresholds").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    after = _exceptions_shown(at)
    flat = after[after["sku"] == "FLAT"]
    assert len(flat) == 1 and flat.iloc[0]["rule"].startswith("Low-cover warning 60 d (global")
    # the save says what it saved, and the reason box is empty for the next change
    assert [s.value for s in at.success] == ["Saved: Low-cover warning 14 d → 60 d."]
    assert at.text_input(key="inventory_thr_why").value == ""
    assert not at.error
    with transaction(tiny.engine) as s:
        log = audit_log(s, viewer=ADMIN, action="threshold.set")
    assert len(log) == 1
    row = log.iloc[0]
    assert (row["actor"], row["entity_key"], row["why"]) == ("meg", "cover_warning_days@global", "season starts")


def test_supplier_vendor_page_and_export_show_only_own_skus(tiny: Builder, monkeypatch: pytest.MonkeyPatch) -> None:
    v = Viewer(username="sup2", role="vendor", vendor_kind="supplier", vendor_code="SUP-002")
    at = _page(tiny.engine, v, monkeypatch)
    assert set(_exceptions_shown(at)["sku"]) == {"SO"}
    assert not any(b.label == "Save thresholds" for b in at.button)
    with transaction(tiny.engine) as s:
        for name in ("inventory_positions", "inventory_skus", "inventory_exceptions", "inventory_open_pos"):
            df = run_export(s, name, viewer=v, filters=Filters())
            assert set(df["sku"]) == {"SO"}, name


def test_export_cli_gives_the_hand_computed_rows(tiny: Builder) -> None:
    """``python -m ops export`` as supplier SUP-001: its five SKUs only, labelled and rounded per kind."""
    with transaction(tiny.engine) as s:
        s.add(User(username="sup1", role="vendor", vendor_kind="supplier", vendor_code="SUP-001"))

    def cli(name: str) -> pd.DataFrame:
        out = subprocess.run(
            [sys.executable, "-m", "ops", "--db", _url(tiny.engine), "export", name, "--as", "sup1"],
            capture_output=True, text=True, cwd=ROOT, check=False,
        )
        assert out.returncode == 0, out.stderr
        return pd.read_csv(StringIO(out.stdout.lstrip("\ufeff")))

    pos = cli("inventory_positions")
    assert pos["SKU"].tolist() == ["FLAT", "NEG", "NODEM", "ONEDAY", "OVERDUE"]  # SO is SUP-002's
    assert pos["On hand"].tolist() == [100, -5, 10, 20, 10]
    # 56/28, 28 units over 27 in-stock days (out on the as-of day), none, 28/28, 56/28
    assert pos["Units a day"].tolist() == pytest.approx([2.0, 1.04, 0.0, 1.0, 2.0])
    ex = cli("inventory_exceptions")
    # NEG: out today, no PO, lead time 10 d: 28/27 a day x 10 d x 10.0; NODEM: never sold, 10 x 3.0 at cost
    assert ex[["SKU", "Kind"]].values.tolist() == [["NEG", "stockout"], ["NODEM", "dead"]]
    assert ex["Value at risk (USD)"].tolist() == [round(28 / 27 * 10 * 10.0), 30]
    assert "entity_key" not in ex.columns and "version" not in ex.columns


def _save_thresholds(at: AppTest) -> None:
    next(b for b in at.button if b.label == "Save thresholds").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]


def _threshold_audit(engine: Engine) -> pd.DataFrame:
    with transaction(engine) as s:
        return audit_log(s, viewer=ADMIN, action="threshold.set")


def test_implausible_threshold_asks_before_saving(tiny: Builder, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page(tiny.engine, MANAGER, monkeypatch)
    at.number_input(key="inventory_thr_cover_warning_days").set_value(99_999.0)
    at.text_input(key="inventory_thr_why").input("typo?")
    _save_thresholds(at)
    assert len(_threshold_audit(tiny.engine)[lambda d: d["outcome"] == "applied"]) == 0  # nothing saved yet
    assert len(at.warning) == 1 and "99,999" in at.warning[0].value and not at.success
    next(b for b in at.button if b.label == "Save anyway").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    log = _threshold_audit(tiny.engine)
    applied = log[log["outcome"] == "applied"]
    assert len(applied) == 1 and applied.iloc[0]["why"] == "typo?"
    assert [s.value for s in at.success] == ["Saved: Low-cover warning 14 d → 99,999 d."]
    assert not at.warning and at.text_input(key="inventory_thr_why").value == ""


def test_cancelled_implausible_value_is_put_back(tiny: Builder, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page(tiny.engine, MANAGER, monkeypatch)
    at.number_input(key="inventory_thr_cover_warning_days").set_value(99_999.0)
    _save_thresholds(at)
    next(b for b in at.button if b.label == "Cancel").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.number_input(key="inventory_thr_cover_warning_days").value == 14.0
    assert len(_threshold_audit(tiny.engine)[lambda d: d["outcome"] == "applied"]) == 0
    assert not at.warning and [i.value for i in at.info] == ["Not saved: the values were put back."]


def test_saving_unchanged_values_is_an_info_not_an_error(tiny: Builder, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page(tiny.engine, MANAGER, monkeypatch)
    _save_thresholds(at)
    assert not at.error
    assert "Nothing to save: no value was changed." in [i.value for i in at.info]
