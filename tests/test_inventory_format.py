"""Inventory page formatting (issue 8 items 7, 8): tiles with currency and separators, grey zero changes,
an exceptions editor with few columns and the SKU pinned first, no "None" or raw names in tables,
thresholds in their units, and charts with a distinct colour scheme and axis titles in words."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import streamlit as st
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from ops.access import Viewer
from ui import inventory as ui_inv
from ui.table import display_frame, tile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_inventory import Builder  # noqa: E402  (the tiny hand-built data set)
from test_inventory import tiny as tiny  # noqa: E402  (re-exported fixture)

ROOT = Path(__file__).resolve().parents[1]
MANAGER = Viewer(username="meg", role="manager")


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    st.cache_data.clear()


def _page(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("OPS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv("OPS_CURRENCY", raising=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["viewer"] = MANAGER
    at.switch_page("app_pages/inventory.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_tiles_show_money_with_currency_and_separators(tiny: Builder, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page(tiny.engine, monkeypatch)
    tiles = {m.label: m for m in at.metric}
    # by hand (see test_inventory.test_kpis_by_hand): now 4 x (100+20+10+8) + 3 x 10 = 582,
    # a week ago 4 x 50 x 5 + 3 x 10 = 1,030: change -448
    value = tiles["Inventory value"]
    assert value.value == "$582" and value.proto.delta == "-$448"
    for m in at.metric:
        assert "-0.0" not in m.proto.delta and "None" not in m.value and "nan" not in m.value
    assert tiles["Fill rate 28 d"].value.endswith(" %") and tiles["Fill rate 28 d"].proto.delta.endswith(" pts")
    # fill rate by hand: 198 sold, 26 + 28/27 lost
    assert tiles["Fill rate 28 d"].value == f"{198 / (198 + 26 + 28 / 27) * 100:.1f} %"


class _Col:
    """Stands in for a Streamlit column: records what ``metric`` was given."""

    def __init__(self) -> None:
        self.args: dict[str, Any] = {}

    def metric(self, label: str, value: str, delta: str | None, **kw: Any) -> None:
        self.args = {"label": label, "value": value, "delta": delta, **kw}


@pytest.mark.parametrize(("kind", "change", "delta"), [
    ("pct", -0.00004, "0.0 pts"),  # was "-0.0 pts" in red
    ("money", 0.3, "$0"),
    ("money", -0.4, "$0"),
    ("hours", -0.04, "0.0 h"),
    ("count", 0.2, "0"),
])
def test_a_change_that_rounds_to_zero_is_grey_and_unsigned(kind: str, change: float, delta: str) -> None:
    col = _Col()
    tile(col, "x", 1.0, kind, change=change, higher_is_better=False)
    assert col.args["delta"] == delta and col.args["delta_color"] == "off"


def test_a_real_change_keeps_its_colour() -> None:
    col = _Col()
    tile(col, "x", 1.0, "money", change=-1234.6, higher_is_better=True)
    assert col.args["delta"] == "-$1,235" and col.args["delta_color"] == "normal"


def test_exceptions_editor_has_few_columns_with_sku_pinned_first(tiny: Builder,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page(tiny.engine, monkeypatch)
    editor = at.dataframe[0]
    config = json.loads(editor.proto.columns)
    shown = [c for c in editor.value.columns if not config.get(c, {}).get("hidden")]
    assert shown[0] == "sku" and config["sku"].get("pinned") is True and config["sku"]["label"] == "SKU"
    assert len(shown) <= 10, shown  # was 16 columns, SKU scrolled away
    assert config["entity_key"]["hidden"] and config["version"]["hidden"]
    assert {"state", "note", "snooze_until", "value_at_risk"} <= set(shown)
    assert config["value_at_risk"]["type_config"]["format"] == "$%,.0f"  # currency and separators
    for name in shown:  # every visible column has a people's label
        assert config[name].get("label") and config[name]["label"] != name or name in ("sku",), name
    first = editor.value.iloc[0]
    # SO @ WH-B: 2 a day for 6 uncovered days at price 12 (see test_inventory), listed by its lead time
    assert first["sku"] == "SO" and first["value_at_risk"] == pytest.approx(144)
    assert first["rule"] == "Lead time 30 d (product / supplier lead time)"


def test_tables_have_no_missing_cells_and_thresholds_have_units(tiny: Builder,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page(tiny.engine, monkeypatch)
    positions = at.dataframe[1].value
    assert int(positions.isna().sum().sum()) == 0
    nodem = positions[positions["sku"] == "NODEM"].iloc[0]
    assert nodem["days_of_cover"] == "∞" and nodem["days_since_sale"] == "–"  # no demand; never sold
    assert len(positions.columns) <= 20 and positions.columns[0] == "sku"
    thresholds = at.dataframe[2].value.set_index("Threshold")
    assert thresholds.loc["Low-cover warning", "Value"] == "14 d"
    assert thresholds.loc["ABC: A class up to", "Value"] == "80 %"
    assert list(at.dataframe[2].value.columns) == ["Threshold", "Applies to", "Value", "Source"]


def test_display_frame_formats_only_columns_with_gaps() -> None:
    df = pd.DataFrame({"value_at_risk": [105429.7446, None], "on_hand": [1, 2], "note": [None, "x"],
                       "days_of_cover": [math.inf, 3.0], "entity_key": [None, "k"]})
    out, as_text = display_frame(df)
    assert as_text == {"value_at_risk", "note", "days_of_cover"}
    assert out["value_at_risk"].tolist() == ["$105,430", "–"]
    assert out["note"].tolist() == ["–", "x"] and out["days_of_cover"].tolist() == ["∞", "3.0 d"]
    assert out["on_hand"].tolist() == [1, 2]  # no gap: stays a number (sorts as one)
    assert out["entity_key"].isna().sum() == 1  # internal, hidden: untouched


def _positions() -> pd.DataFrame:
    return pd.DataFrame({"days_of_cover": [3.0, 20.0, math.inf, 400.0], "warehouse": ["A", "B", "A", "C"]})


def test_cover_chart_has_a_distinct_scheme_and_worded_axes() -> None:
    spec = ui_inv.cover_chart(_positions(), 14.0, 120.0).to_dict()
    enc = spec["encoding"]
    assert enc["color"]["scale"]["scheme"] == "tableau10" and enc["color"]["title"] == "Warehouse"
    assert enc["x"]["title"] == "Days of cover" and enc["y"]["title"] == "SKU x warehouse pairs"
    assert "14 d" in spec["title"] and "120 d" in spec["title"]


def test_aging_and_abc_charts_name_their_axes_in_words() -> None:
    aging = pd.DataFrame({"warehouse": ["A", "A"], "age_bucket": ["0-30 d", "31-60 d"], "units": [1, 2],
                          "value": [10.0, 20.0], "pairs": [1, 1]})
    enc = ui_inv.aging_chart(aging).to_dict()["encoding"]
    assert enc["x"]["title"] == "Warehouse" and enc["y"]["title"].startswith("Stock value at cost")
    assert enc["color"]["title"] == "Days since last receipt" and "scheme" in enc["color"]["scale"]
    skus = pd.DataFrame({"sku": ["a", "b"], "abc": ["A", "C"], "xyz": ["X", "Z"], "revenue_52w": [10.0, 1.0]})
    layer = ui_inv.abc_xyz_chart(skus).to_dict()["layer"][0]["encoding"]
    assert layer["x"]["title"] != "XYZ" and layer["y"]["title"] != "ABC"
    assert "variability" in layer["x"]["title"] and "Value" in layer["y"]["title"]


TRICKY = [0.0, -0.0, -0.004, 0.004, 0.005, 0.015, 0.125, -0.125, 1234.5, -1234.5, 105429.74464285716, 0.1549999,
          -0.00004, 2.675, 1e9, math.inf, -math.inf, math.nan]


@pytest.mark.parametrize("kind", ["count", "number", "pct", "pts", "money", "hours", "days"])
@pytest.mark.parametrize("places", [0, 1, 2])
def test_fast_column_text_equals_fmt_value(kind: str, places: int) -> None:
    from ops import fmt
    from ui.table import as_text_column

    spec = fmt.Col("x", kind, places)
    want = [fmt.value(v, kind, places) for v in TRICKY]
    assert as_text_column(pd.Series(TRICKY, dtype="float64"), spec) == want


@pytest.mark.parametrize("kind", ["date", "datetime"])
def test_fast_date_text_equals_fmt_value(kind: str) -> None:
    from ops import fmt
    from ui.table import as_text_column

    s = pd.Series(pd.to_datetime(["2026-03-04 10:11:59", None, "1999-12-31 23:59:00"]))
    want = [fmt.value(v, kind) for v in s]
    assert as_text_column(s, fmt.Col("x", kind)) == want
    assert as_text_column(s.dt.tz_localize("UTC"), fmt.Col("x", kind)) == want
