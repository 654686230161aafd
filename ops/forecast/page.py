"""What the forecast page shows, in one call per load (plus one per selected SKU); nothing is fitted here.

- :func:`forecast_page`: the latest run's status and progress, the latest successful run's date,
  the results per demand pattern (chosen model against the seasonal-naive baseline), and the
  per-SKU choices with backtest scores and corrected (stockout) days. A finished run stores the
  part no viewer changes (:func:`ops.forecast.run.store_summary`), so a full viewer's load is a
  few reads: the stored per-pattern rows, the stored catalogue and the products' current names
  (about 10 ms at bench size). A supplier's is one scoped read of its own SKUs' choices, names and
  scores, summed in Python (about 4 ms). A run with nothing stored (finished before migration 0014)
  gives the same frames computed on load (:mod:`ops.forecast.queries`);
- :func:`sku_detail`: one SKU's weekly history, its forecast with 80 % / 95 % intervals, the
  planner overrides beside the model's numbers, and every model's backtest scores.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function, require_viewer
from ops.forecast.job import is_stale
from ops.forecast.overrides import apply_overrides, overrides
from ops.forecast.queries import (
    choices_and_summary,
    latest_choices,
    latest_forecast,
    latest_run,
    model_scores,
    weekly_history,
)
from ops.models import ForecastRun

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
    """The latest run's status (a stale ``running`` run reads ``interrupted``); its times as pandas
    Timestamps."""
    return _run_status(latest_run(session, viewer=viewer))


def _run_status(row: dict[str, Any] | None) -> RunStatus:
    if row is None:
        return RunStatus()
    status = str(row["status"])
    if is_stale(status, row["heartbeat_at"]):
        status = "interrupted"
    return RunStatus(run_id=int(row["id"]), status=status, n_skus=int(row["n_skus"]), n_done=int(row["n_done"]),
                     started_at=_timestamp(row["started_at"]), finished_at=_timestamp(row["finished_at"]),
                     error=row["error"])


def _timestamp(value: Any) -> Any:
    return None if value is None else pd.Timestamp(value)


@data_function
def forecast_page(session: Session, *, viewer: Viewer) -> ForecastPage:
    """Everything the page shows on load (module docstring): the latest run's status, then the latest
    successful run's date, its choices with product names and its per-pattern summary
    (:func:`ops.forecast.queries.choices_and_summary`: stored with the run for a full viewer, one
    scoped read of a supplier's own rows otherwise)."""
    require_viewer(viewer)
    newest = latest_run(session, viewer=viewer)
    latest = _run_status(newest)
    if newest is not None and newest["status"] == "succeeded":  # the usual case: it is the latest successful one
        last: Any = (newest["id"], newest["finished_at"], newest["as_of"])
    else:
        r = ForecastRun
        last = session.connection().execute(select(r.id, r.finished_at, r.as_of).where(r.status == "succeeded")
                                            .order_by(r.id.desc()).limit(1)).first()
    rid, fin, as_of = (None, None, None) if last is None else (int(last[0]), last[1], last[2])
    ch, summary = choices_and_summary(session, viewer=viewer, run_id=rid)
    reason = None
    if rid is None:
        reason = ("No forecast has finished yet. Start one with the button above (or `python -m ops forecast`); "
                  "the page shows its progress.")
    elif ch.empty:
        reason = "The latest forecast holds none of your SKUs."
    return ForecastPage(latest=latest, success_id=rid, success_finished=fin, as_of=as_of, summary=summary,
                        choices=_choice_view(ch), empty_reason=reason)


def _choice_view(ch: pd.DataFrame) -> pd.DataFrame:
    """The page's choices table (:data:`CHOICE_VIEW`) from :func:`latest_choices_named`'s frame: the
    model's label in place of its name, ``bias`` as ``forecast_bias``."""
    # one label per distinct model (a handful), not a Python call per SKU (the model is never NULL)
    codes, models = pd.factorize(ch["model"].to_numpy())
    labels = np.array([MODEL_LABELS.get(str(m), str(m)) for m in models], dtype=object)
    source = {"forecast_model": labels[codes], "forecast_bias": ch["bias"]}
    return pd.DataFrame({k: np.asarray(source[k] if k in source else ch[k]) for k in CHOICE_VIEW}, copy=False)


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
