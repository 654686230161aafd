"""What the forecast page shows, in one call per load (plus one per selected SKU); nothing is fitted here.

- :func:`forecast_page`: the latest run's status and progress, the latest successful run's date,
  the results per demand pattern (chosen model against the seasonal-naive baseline), and the
  per-SKU choices with backtest scores and corrected (stockout) days;
- :func:`sku_detail`: one SKU's weekly history, its forecast with 80 % / 95 % intervals, the
  planner overrides beside the model's numbers, and every model's backtest scores.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from ops import access
from ops.access import Viewer, data_function, require_viewer
from ops.forecast.job import is_stale
from ops.forecast.overrides import apply_overrides, overrides
from ops.forecast.queries import (
    latest_choices,
    latest_forecast,
    latest_run_id,
    model_scores,
    pattern_summary,
    runs,
    weekly_history,
)
from ops.models import ForecastRun, Product

PAGE = "forecast"
MODEL_LABELS = {"naive": "Seasonal naive (baseline)", "ets": "Exponential smoothing", "croston": "Croston",
                "tsb": "TSB", "gbm": "Gradient boosting (global)", "prophet": "Prophet",
                "combo": "Combination (ETS, TSB, boosting)"}
CHOICE_VIEW = ["sku", "name", "forecast_model", "pattern", "wape", "baseline_wape", "mase", "forecast_bias",
               "sigma_week", "censored_days", "fallback_reason"]
WEEK_VIEW = ["forecast_week", "yhat", "lo80", "hi80", "lo95", "hi95", "override_units", "override_reason",
             "final_units"]


@dataclass
class RunStatus:
    run_id: int | None = None
    status: str | None = None  # running / succeeded / failed / interrupted
    n_skus: int = 0
    n_done: int = 0
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    error: str | None = None

    @property
    def progress(self) -> float:
        return (self.n_done / self.n_skus) if self.n_skus else 0.0


@dataclass
class ForecastPage:
    latest: RunStatus
    success_id: int | None
    success_finished: dt.datetime | None
    as_of: dt.date | None
    summary: pd.DataFrame
    choices: pd.DataFrame
    empty_reason: str | None = None


@dataclass
class SkuDetail:
    sku: str
    choice: dict[str, Any] | None
    history: pd.DataFrame
    weeks: pd.DataFrame
    scores: pd.DataFrame
    overrides: pd.DataFrame = field(default_factory=pd.DataFrame)


@data_function
def run_status(session: Session, *, viewer: Viewer) -> RunStatus:
    """The latest run's status (a stale ``running`` run reads ``interrupted``)."""
    r = runs(session, viewer=viewer, limit=1)
    if r.empty:
        return RunStatus()
    row = r.iloc[0]
    status = str(row["status"])
    hb = row["heartbeat_at"]
    if is_stale(status, None if pd.isna(hb) else pd.Timestamp(hb).to_pydatetime()):
        status = "interrupted"
    return RunStatus(run_id=int(row["id"]), status=status, n_skus=int(row["n_skus"]), n_done=int(row["n_done"]),
                     started_at=row["started_at"], finished_at=None if pd.isna(row["finished_at"])
                     else row["finished_at"], error=row["error"])


@data_function
def forecast_page(session: Session, *, viewer: Viewer) -> ForecastPage:
    """Everything the page shows on load (module docstring)."""
    require_viewer(viewer)
    latest = run_status(session, viewer=viewer)
    rid = latest_run_id(session)
    fin, as_of = (None, None)
    if rid is not None:
        fin, as_of = session.execute(select(ForecastRun.finished_at, ForecastRun.as_of)
                                     .where(ForecastRun.id == rid)).one()
    ch = latest_choices(session, viewer=viewer)
    names = dict(session.execute(select(Product.sku, Product.name).where(access.product_condition(viewer))).all())
    view = ch.rename(columns={"model": "forecast_model", "bias": "forecast_bias"})
    view.insert(1, "name", view["sku"].map(names))
    # one label per distinct model (a handful), not a Python call per SKU
    labels = {m: MODEL_LABELS.get(str(m), str(m)) for m in pd.unique(view["forecast_model"])}
    view["forecast_model"] = view["forecast_model"].map(labels)
    reason = None
    if rid is None:
        reason = ("No forecast has finished yet. Start one with the button above (or `python -m ops forecast`); "
                  "the page shows its progress.")
    elif ch.empty:
        reason = "The latest forecast holds none of your SKUs."
    return ForecastPage(latest=latest, success_id=rid, success_finished=fin, as_of=as_of,
                        summary=pattern_summary(session, viewer=viewer), choices=view[CHOICE_VIEW],
                        empty_reason=reason)


@data_function
def sku_detail(session: Session, *, viewer: Viewer, sku: str = "") -> SkuDetail:
    """One SKU's history, forecast with overrides, and model scores (empty when out of scope)."""
    require_viewer(viewer)
    sku = str(sku)
    ch = latest_choices(session, viewer=viewer, skus=[sku])
    fc = latest_forecast(session, viewer=viewer, skus=[sku])
    ov = overrides(session, viewer=viewer, skus=[sku])
    weeks = apply_overrides(fc, ov).rename(columns={"week": "forecast_week", "override": "override_units",
                                                    "final": "final_units"})
    sc = model_scores(session, viewer=viewer, skus=[sku])
    sc = sc.assign(forecast_model=sc["model"].map(lambda m: MODEL_LABELS.get(str(m), str(m))),
                   forecast_bias=sc["bias"]) if not sc.empty else sc
    return SkuDetail(sku=sku, choice=None if ch.empty else ch.iloc[0].to_dict(),
                     history=weekly_history(session, viewer=viewer, sku=sku), weeks=weeks, scores=sc, overrides=ov)
