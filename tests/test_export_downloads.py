"""Download buttons write their file only when pressed: a page rerun at bench size used to write the
XLSX of every table it offers (tens of seconds), and what the button gives is the ops.exports file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import streamlit as st
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

import ui.downloads
from ops.access import Viewer
from ops.exports import to_bytes

ROOT = Path(__file__).resolve().parents[1]


def test_writer_gives_the_export_bytes() -> None:
    df = pd.DataFrame({"sku": ["A"], "value_at_risk": [105429.74464285716], "entity_key": ["k"]})
    assert ui.downloads._writer(df, "csv", "t")() == to_bytes(df, "csv", sheet="t")
    assert ui.downloads._writer(df, "csv", "t")().decode("utf-8-sig").splitlines()[1] == "A,105430"


def test_rendering_the_inventory_page_writes_no_file(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counting(df: pd.DataFrame, fmt: str, **kw: Any) -> bytes:
        calls.append(fmt)
        return to_bytes(df, fmt, **kw)

    monkeypatch.setattr(ui.downloads, "to_bytes", counting)
    monkeypatch.setenv("OPS_DATABASE_URL", seeded_engine.url.render_as_string(hide_password=False))
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["viewer"] = Viewer(username="meg", role="manager")
    at.switch_page("app_pages/inventory.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.get("download_button")) >= 4
    assert calls == []
