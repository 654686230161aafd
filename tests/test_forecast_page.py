"""The Forecasts page: renders per role from the stored run (never fits), suppliers see their own SKUs,
overrides go through ops.decisions with a reason and show beside the model's forecast, and the run button
records the request and starts the job in the background."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, select, text
from streamlit.testing.v1 import AppTest

from ops.access import Viewer
from ops.db import read_session
from ops.models import Decision, ForecastRun

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("ops.demo")

VIEWERS = {
    "admin": Viewer(username="ada", role="admin"),
    "manager": Viewer(username="maria", role="manager"),
    "planner": Viewer(username="pia", role="planner"),
}


@pytest.fixture
def small(engine: Engine) -> Engine:
    from ops.demo import seed

    seed(engine, size="small", seed=7)
    return engine


@pytest.fixture
def forecasted(small: Engine) -> Engine:
    from ops.forecast.run import run_forecast

    run_forecast(small, jobs=1, horizon=6)
    return small


def _page(engine: Engine, monkeypatch: pytest.MonkeyPatch, viewer: Viewer) -> AppTest:
    monkeypatch.setenv("OPS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["viewer"] = viewer
    at.switch_page("app_pages/forecast.py")
    at.run()
    return at


def _supplier(engine: Engine) -> tuple[Viewer, set[str]]:
    with engine.connect() as c:
        code = c.execute(text("SELECT s.code FROM suppliers s JOIN products p ON p.supplier_id = s.id "
                              "ORDER BY s.code LIMIT 1")).scalar()
        skus = {r[0] for r in c.execute(text("SELECT p.sku FROM products p JOIN suppliers s ON s.id = p.supplier_id "
                                             "WHERE s.code = :c"), {"c": code})}
    return Viewer(username="sup", role="vendor", vendor_kind="supplier", vendor_code=code), skus


def _choices_table(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "fallback_reason" in d.value.columns)


@pytest.mark.parametrize("who", list(VIEWERS))
def test_page_renders_per_role_from_the_stored_run(forecasted: Engine, monkeypatch: pytest.MonkeyPatch,
                                                   who: str) -> None:
    at = _page(forecasted, monkeypatch, VIEWERS[who])
    assert not at.exception, at.exception
    assert at.title[0].value == "Forecasts"
    with forecasted.connect() as c:
        n = c.execute(text("SELECT COUNT(*) FROM products")).scalar()
        runs = c.execute(text("SELECT COUNT(*) FROM forecast_runs")).scalar()
    assert len(_choices_table(at)) == n
    assert runs == 1  # opening the page started nothing
    assert any(b.label == "Run the forecast now" for b in at.button)
    tile = next(m for m in at.metric if m.label == "SKUs on the baseline by fallback")
    assert tile.value == str(n)  # the small demo's 12 weeks are too short for a backtest
    # the selected SKU's forecast table: one row per forecast week (horizon 6)
    weeks = next(d.value for d in at.dataframe if "override_reason" in d.value.columns)
    assert len(weeks) == 6


def test_supplier_sees_only_its_skus_and_cannot_run_or_override(forecasted: Engine,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    viewer, own = _supplier(forecasted)
    at = _page(forecasted, monkeypatch, viewer)
    assert not at.exception, at.exception
    shown = _choices_table(at)
    assert set(shown.iloc[:, 0]) == own  # the SKU column
    assert not any(b.label == "Run the forecast now" for b in at.button)
    assert not any(f.key == "forecast_override" for f in getattr(at, "form", []) or [])
    assert not any(sb.label == "Override by" for sb in at.get("segmented_control"))


def test_carrier_is_refused(forecasted: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with forecasted.connect() as c:
        code = c.execute(text("SELECT code FROM carriers LIMIT 1")).scalar()
    at = _page(forecasted, monkeypatch, Viewer(username="car", role="vendor", vendor_kind="carrier",
                                               vendor_code=code))
    assert any("do not have access" in e.value for e in at.error)
    assert not any("fallback_reason" in d.value.columns for d in at.dataframe)


def test_without_a_run_the_page_says_so_and_fits_nothing(small: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page(small, monkeypatch, VIEWERS["planner"])
    assert not at.exception, at.exception
    assert any("No forecast has finished yet" in i.value for i in at.info)
    with small.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM forecast_runs")).scalar() == 0


def test_override_with_reason_is_audited_and_shown_beside_the_model(forecasted: Engine,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page(forecasted, monkeypatch, VIEWERS["planner"])
    sku = at.selectbox(key="forecast_sku").value
    week = at.selectbox(key="forecast_override_week").options[1]
    at.selectbox(key="forecast_override_week").select_index(1)
    at.number_input(key="forecast_override_value").set_value(30.0)
    at.text_input(key="forecast_override_why").input("Spring promotion")
    at.button(key="FormSubmitter:forecast_override-Save override").click()
    at.run()
    assert not at.exception, at.exception
    assert any("Saved the override" in s.value for s in at.success), [e.value for e in at.error]
    with read_session(forecasted) as s:
        d = s.execute(select(Decision).where(Decision.entity_kind == "forecast_override")).scalar_one()
        assert d.actor == "pia" and d.why == "Spring promotion" and d.outcome == "applied"
        rid = s.execute(select(ForecastRun.id)).scalar_one()
        yhats = dict(s.execute(text("SELECT week, yhat FROM forecast_weeks WHERE run_id = :r AND sku = :k"),
                               {"r": rid, "k": sku}).all())
    weeks = next(df.value for df in at.dataframe if "override_reason" in df.value.columns)
    row = weeks.iloc[1]
    second = sorted(yhats)[1]  # the second forecast week, the one picked in the form
    assert str(second)[:10] in str(week)
    want = float(yhats[second]) * 1.3
    assert float(str(row["override_units"]).replace(",", "")) == pytest.approx(want, abs=0.051)
    assert row["override_reason"] == "Spring promotion"


def test_override_without_reason_is_refused(forecasted: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page(forecasted, monkeypatch, VIEWERS["planner"])
    at.number_input(key="forecast_override_value").set_value(10.0)
    at.button(key="FormSubmitter:forecast_override-Save override").click()
    at.run()
    assert any("a reason is required" in e.value for e in at.error)
    with forecasted.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM entity_states WHERE entity_kind = 'forecast_override'")
                         ).scalar() == 0


def test_run_button_records_the_request_and_starts_the_job(forecasted: Engine,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[dict[str, Any]] = []

    def fake_launch(url: str, *, resume: int | None = None, jobs: int | None = None) -> int:
        started.append({"url": url, "resume": resume})
        return 12345

    import ops.forecast as fc

    monkeypatch.setattr(fc, "launch", fake_launch)
    at = _page(forecasted, monkeypatch, VIEWERS["manager"])
    next(b for b in at.button if b.label == "Run the forecast now").click()
    at.run()
    assert not at.exception, at.exception
    assert len(started) == 1 and started[0]["resume"] is None
    with forecasted.connect() as c:
        rows = c.execute(text("SELECT actor, why FROM decisions WHERE entity_kind = 'forecast_job'")).all()
    assert rows == [("maria", "run the forecast for the whole catalogue")]
