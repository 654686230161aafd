"""The planner's own aggregates against plain pandas over the raw rows: measured lead time per
supplier (agg_planner_lead_time) and the forecast demand per SKU of the latest run (agg_planner_forecast),
kept by the refresher, by imports and by a forecast run's success; a stale table is never read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text, update

from ops.access import Viewer
from ops.db import read_session, run_in_transaction, transaction
from ops.models import AggPlannerForecast
from ops.planner import queries
from ops.planner.refresh import refresh_planner

PAT = Viewer(username="pat", role="planner")
SKUS = ["SKU-00001", "SKU-00002", "SKU-00003", "SKU-00004"]


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    from ops.demo import seed

    seed(engine, size="small", seed=7)
    return engine


def _raw_lead(eng: Engine) -> pd.DataFrame:
    with read_session(eng) as s:
        po = pd.read_sql(text("SELECT p.ordered_on, l.received_on, s.code AS supplier FROM purchase_order_lines l "
                              "JOIN purchase_orders p ON p.id = l.po_id JOIN suppliers s ON s.id = p.supplier_id "
                              "WHERE l.received_on IS NOT NULL"), s.connection())
    po["days"] = (pd.to_datetime(po["received_on"]) - pd.to_datetime(po["ordered_on"])).dt.days
    return po.groupby("supplier")["days"].agg(["size", "mean", "std"])


def test_lead_time_aggregate_holds_each_suppliers_measured_lead_time(seeded: Engine) -> None:
    want = _raw_lead(seeded)
    with read_session(seeded) as s:
        agg = pd.read_sql(text("SELECT supplier, lt_n, lt_mean_days, lt_std_days FROM agg_planner_lead_time"),
                          s.connection()).set_index("supplier").sort_index()
        lead = queries.lead_times(s, viewer=PAT).set_index("supplier")
        codes = sorted(str(c) for c in s.execute(text("SELECT code FROM suppliers")).scalars())
    assert list(agg.index) == sorted(want.index) and len(agg) >= 3
    assert (agg["lt_n"] == want["size"].reindex(agg.index)).all()
    many = want["size"] >= 2
    np.testing.assert_allclose(agg.loc[many[many].index, "lt_mean_days"], want.loc[many, "mean"], rtol=1e-12)
    np.testing.assert_allclose(agg.loc[many[many].index, "lt_std_days"], want.loc[many, "std"], rtol=1e-9)
    assert agg.loc[many[~many].index, "lt_mean_days"].isna().all()
    # the page's read lists every supplier: measured where 2+ lines were received, else stated
    assert sorted(lead.index) == codes
    measured = lead["lt_source"] == "measured"
    assert set(lead.index[measured]) == set(want.index[many])
    assert (lead.loc[~measured, "lt_n"] == want["size"].reindex(lead.index[~measured]).fillna(0)).all()


def test_lead_times_are_measured_on_the_spot_when_the_aggregate_is_empty(seeded: Engine) -> None:
    with read_session(seeded) as s:
        before = queries.lead_times(s, viewer=PAT)
    with transaction(seeded) as s:
        s.execute(text("DELETE FROM agg_planner_lead_time"))
    with read_session(seeded) as s:
        pd.testing.assert_frame_equal(queries.lead_times(s, viewer=PAT), before)


def _raw_forecast(eng: Engine, run_id: int) -> pd.DataFrame:
    with read_session(eng) as s:
        w = pd.read_sql(text("SELECT sku, week, yhat, model FROM forecast_weeks WHERE run_id = :r"), s.connection(),
                        params={"r": run_id})
        c = pd.read_sql(text("SELECT sku, sigma_week FROM forecast_choices WHERE run_id = :r"), s.connection(),
                        params={"r": run_id})
    w = w.sort_values(["sku", "week"])
    first = w.groupby("sku").head(8)
    out = first.groupby("sku").agg(mean=("yhat", "mean"), model=("model", "first"))
    out["mean"] = out["mean"].clip(lower=0)
    return out.join(c.set_index("sku"))


def test_a_forecast_run_rebuilds_the_planners_forecast_demand(seeded: Engine) -> None:
    from ops.forecast.run import run_forecast

    run_id = run_forecast(seeded, skus=SKUS, jobs=1)
    want = _raw_forecast(seeded, run_id)
    with read_session(seeded) as s:
        agg = pd.read_sql(text("SELECT sku, run_id, fc_week_mean, fc_sigma_week, fc_model FROM agg_planner_forecast "
                               "ORDER BY sku"), s.connection())
        got = queries.forecast_demand(s, viewer=PAT)
    assert list(agg["sku"]) == sorted(SKUS) == list(want.index) and set(agg["run_id"]) == {run_id}
    np.testing.assert_allclose(agg["fc_week_mean"], want["mean"], rtol=1e-12)
    np.testing.assert_allclose(agg["fc_sigma_week"].astype(float), want["sigma_week"].astype(float), rtol=1e-12)
    assert list(agg["fc_model"]) == list(want["model"])
    assert list(got["sku"]) == sorted(SKUS)
    np.testing.assert_allclose(got["fc_week_mean"], want["mean"], rtol=1e-12)

    # A stale table (built from another run) is not read: the figures come from the run itself.
    run_in_transaction(seeded, lambda s: s.execute(update(AggPlannerForecast).values(run_id=run_id - 1,
                                                                                      fc_week_mean=9999.0)))
    with read_session(seeded) as s:
        stale = queries.forecast_demand(s, viewer=PAT)
    pd.testing.assert_frame_equal(stale, got)
    run_in_transaction(seeded, refresh_planner)
    with read_session(seeded) as s:
        assert set(pd.read_sql(text("SELECT run_id FROM agg_planner_forecast"), s.connection())["run_id"]) == {run_id}
        pd.testing.assert_frame_equal(queries.forecast_demand(s, viewer=PAT), got)
