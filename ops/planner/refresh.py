"""The planner's two small aggregates, so its page reads neither raw PO lines nor weekly forecasts.

- ``agg_planner_lead_time``: one row per supplier with received PO lines, the measured lead time
  exactly as :func:`ops.scorecards.leadtime.lead_time_stats` gives it to a full viewer (count of
  received PO lines, mean and sample spread of their days; NULL under two lines); the page joins it
  to the suppliers table, so a supplier without receipts needs no row. Its source is every received
  PO line (118 k at bench size): about 0.1 s to rebuild, against the same 0.1 s on every page load.
- ``agg_planner_forecast``: one row per SKU of the latest successful forecast run (``run_id``): the
  mean of its first :data:`FORECAST_WEEKS` weekly forecasts (clipped at 0), the chosen model's weekly
  error spread and the model; what :func:`ops.planner.queries.forecast_demand` returns. Its source is
  every weekly forecast of the run (130 k rows at bench size). A forecast run rebuilds it when it
  succeeds (``ops.forecast.run``); the page checks ``run_id`` against the latest run and computes the
  figures itself when they differ, so a stale table is slow, never wrong.

Both are rebuilt by the full refresh and after imports (:func:`refresh_planner_changes`: the lead
times when POs, PO lines or suppliers changed, the forecast figures when products changed or the
run moved on). Values are computed by the same code the page used before, so they are bit for bit
what it showed.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from sqlalchemy import delete, insert, inspect, select
from sqlalchemy.orm import Session

from ops.access import SYSTEM
from ops.aggregates import incremental, refresher
from ops.models import AggPlannerForecast, AggPlannerLeadTime, ForecastWeek, Product

FORECAST_WEEKS = 8  # weeks of a SKU's forecast its planning demand averages
LEAD_STAT_COLUMNS = ["supplier", "lt_n", "lt_mean_days", "lt_std_days"]
FORECAST_SUMMARY_COLUMNS = ["sku", "fc_week_mean", "fc_sigma_week", "fc_model"]


def _none(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def lead_time_rows(session: Session) -> pd.DataFrame:
    """Measured lead time of every supplier (:data:`LEAD_STAT_COLUMNS`), as the scorecard measures it."""
    from ops.scorecards.leadtime import lead_time_stats

    st = lead_time_stats(session, viewer=SYSTEM)
    return st[LEAD_STAT_COLUMNS].reset_index(drop=True)


def refresh_lead_times(session: Session) -> None:
    """Rebuild ``agg_planner_lead_time``."""
    session.execute(delete(AggPlannerLeadTime))
    rows = lead_time_rows(session)
    rows = rows[rows["lt_n"] > 0]
    if len(rows):
        session.execute(insert(AggPlannerLeadTime), [
            {"supplier": str(r.supplier), "lt_n": int(r.lt_n), "lt_mean_days": _none(float(r.lt_mean_days)),
             "lt_std_days": _none(float(r.lt_std_days))} for r in rows.itertuples(index=False)])


def empty_forecast_summary() -> pd.DataFrame:
    return pd.DataFrame({"sku": pd.Series(dtype=object), "fc_week_mean": pd.Series(dtype="float64"),
                         "fc_sigma_week": pd.Series(dtype="float64"), "fc_model": pd.Series(dtype=object)})


def forecast_summary(session: Session, run_id: int | None, *, weeks: int = FORECAST_WEEKS) -> pd.DataFrame:
    """Per SKU of forecast run ``run_id`` (every product's, as a full viewer sees them): the mean of its
    first ``weeks`` weekly forecasts clipped at 0, the chosen model's weekly error spread and the model
    of its first week (:data:`FORECAST_SUMMARY_COLUMNS`; sorted by SKU; empty without a run).

    The same operations, on the same values in the same order, as the planner page's original
    reading of :func:`ops.forecast.queries.latest_forecast`, hence the same floats to the last bit.
    """
    if run_id is None:
        return empty_forecast_summary()
    from ops.forecast.queries import latest_choices

    W = ForecastWeek
    rows = session.execute(select(W.sku, W.week, W.yhat, W.model).where(
        W.run_id == run_id, W.sku.in_(select(Product.sku)))).all()
    if not rows:
        return empty_forecast_summary()
    fc = pd.DataFrame(rows, columns=["sku", "week", "yhat", "model"])
    fc["sku"] = fc["sku"].astype(str)
    fc["week"] = pd.to_datetime(fc["week"]).dt.date
    fc["yhat"] = fc["yhat"].astype("float64")
    fc["model"] = fc["model"].astype(str)
    fc = fc.sort_values(["sku", "week"])
    first = fc.groupby("sku", sort=True).head(int(weeks))
    mean = first.groupby("sku")["yhat"].mean().clip(lower=0.0)
    ch = latest_choices(session, viewer=SYSTEM)
    sigma = ch.set_index("sku")["sigma_week"] if len(ch) else pd.Series(dtype="float64")
    model = first.groupby("sku")["model"].first()
    out = pd.DataFrame({"sku": mean.index.astype(str), "fc_week_mean": mean.to_numpy(dtype="float64")})
    out["fc_sigma_week"] = out["sku"].map(sigma).astype("float64")
    out["fc_model"] = out["sku"].map(model).astype(object)
    return out


def refresh_forecast_demand(session: Session) -> None:
    """Rebuild ``agg_planner_forecast`` from the latest successful forecast run (empty without one)."""
    from ops.forecast.queries import latest_run_id

    session.execute(delete(AggPlannerForecast))
    rid = latest_run_id(session)
    out = forecast_summary(session, rid)
    if rid is not None and len(out):
        session.execute(insert(AggPlannerForecast), [
            {"sku": str(r.sku), "run_id": rid, "fc_week_mean": float(r.fc_week_mean),
             "fc_sigma_week": _none(float(r.fc_sigma_week)), "fc_model": _none(r.fc_model)}
            for r in out.itertuples(index=False)])


def after_forecast_run(session: Session) -> None:
    """What a forecast run does as it succeeds, in its transaction: rebuild ``agg_planner_forecast``
    (when the table exists: a database not yet upgraded gets it, built, from ``python -m ops init``)."""
    if inspect(session.connection()).has_table(AggPlannerForecast.__tablename__):
        refresh_forecast_demand(session)


def stored_forecast_run(session: Session) -> int | None:
    """The run ``agg_planner_forecast`` was built from (None when it holds no row)."""
    rid = session.scalar(select(AggPlannerForecast.run_id).limit(1))
    return None if rid is None else int(rid)


@refresher("planner")
def refresh_planner(session: Session) -> None:
    """Rebuild both planner aggregates."""
    refresh_lead_times(session)
    refresh_forecast_demand(session)


@incremental("planner")
def refresh_planner_changes(session: Session, changes: Any) -> bool:
    """After an import: the lead times when POs, PO lines or suppliers changed; the forecast figures
    when products changed (a new SKU may have forecasts) or the latest run is not the one stored."""
    from ops.forecast.queries import latest_run_id

    if any(changes.changed(t) for t in ("purchase_orders", "purchase_order_lines", "suppliers")):
        refresh_lead_times(session)
    if changes.changed("products") or stored_forecast_run(session) != latest_run_id(session):
        refresh_forecast_demand(session)
    return True


__all__ = ["FORECAST_WEEKS", "after_forecast_run", "forecast_summary", "lead_time_rows", "refresh_forecast_demand",
           "refresh_lead_times", "refresh_planner", "refresh_planner_changes", "stored_forecast_run"]
