"""Scoped reads of the forecast results: what pages, exports and the planner read.

Every function takes ``viewer`` and scopes in SQL with :func:`ops.access.product_condition` (joined
on the SKU): a supplier sees the forecasts of its own products only, other vendors none. Results
come from the **latest successful run** (the highest id with status ``succeeded``); a run still
going or failed never replaces it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from ops import access
from ops.access import Viewer, data_function, require_viewer
from ops.business_time import monday
from ops.forecast.data import EXCLUDED_STATUSES
from ops.models import ForecastChoice, ForecastRun, ForecastScore, ForecastWeek, Order, OrderLine, Product

FORECAST_COLUMNS = ["sku", "week", "yhat", "lo80", "hi80", "lo95", "hi95", "model"]
CHOICE_COLUMNS = ["sku", "model", "pattern", "wape", "mase", "bias", "sigma_week", "baseline_wape",
                  "fallback_reason", "censored_days"]
RUN_COLUMNS = ["id", "started_at", "finished_at", "status", "n_skus", "n_done", "n_fallback", "error", "as_of",
               "heartbeat_at", "parameters"]
FLOATS = ["yhat", "lo80", "hi80", "lo95", "hi95"]
CHOICE_FLOATS = ["wape", "mase", "bias", "sigma_week", "baseline_wape"]


def latest_run_id(session: Session) -> int | None:
    """Id of the latest successful run (not scoped: a run id carries no vendor data)."""
    rid = session.execute(select(func.max(ForecastRun.id)).where(ForecastRun.status == "succeeded")).scalar()
    return int(rid) if rid is not None else None


def _scoped_skus(viewer: Viewer, skus: Sequence[str] | None = None) -> Any:
    """The SKUs the viewer may see (of ``skus`` when given: for one SKU's reads, the subquery then
    looks up those products instead of listing the whole catalogue on every call)."""
    q = select(Product.sku).where(access.product_condition(viewer))
    return q if skus is None else q.where(Product.sku.in_([str(s) for s in skus]))


def _sku_filter(col: Any, skus: Sequence[str] | None) -> Any:
    if skus is None:
        return None
    return col.in_([str(s) for s in skus])


@data_function
def latest_forecast(session: Session, *, viewer: Viewer, skus: Sequence[str] | None = None) -> pd.DataFrame:
    """Weekly forecasts of the latest successful run: ``sku`` (str), ``week`` (date, the Monday),
    ``yhat, lo80, hi80, lo95, hi95`` (float64 units a week, all warehouses), ``model`` (str).
    Empty (with these columns) when there is no successful run or nothing in scope."""
    require_viewer(viewer)
    rid = latest_run_id(session)
    if rid is None or (skus is not None and not len(skus)):
        return _empty_forecast()
    q = select(ForecastWeek.sku, ForecastWeek.week, ForecastWeek.yhat, ForecastWeek.lo80, ForecastWeek.hi80,
               ForecastWeek.lo95, ForecastWeek.hi95, ForecastWeek.model) \
        .where(ForecastWeek.run_id == rid, ForecastWeek.sku.in_(_scoped_skus(viewer, skus)))
    f = _sku_filter(ForecastWeek.sku, skus)
    if f is not None:
        q = q.where(f)
    df = pd.DataFrame(session.execute(q.order_by(ForecastWeek.sku, ForecastWeek.week)).all(),
                      columns=FORECAST_COLUMNS)
    if df.empty:
        return _empty_forecast()
    df["sku"] = df["sku"].astype(str)
    df["week"] = pd.to_datetime(df["week"]).dt.date
    df[FLOATS] = df[FLOATS].astype("float64")
    df["model"] = df["model"].astype(str)
    return df


def _empty_forecast() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype="float64" if c in FLOATS else object) for c in FORECAST_COLUMNS})
    return df


@data_function
def latest_choices(session: Session, *, viewer: Viewer, skus: Sequence[str] | None = None) -> pd.DataFrame:
    """Per SKU of the latest successful run: ``sku, model, pattern`` (smooth/erratic/intermittent/lumpy),
    backtest ``wape, mase, bias`` (fractions; MASE a ratio), ``sigma_week`` (std of one-week-ahead
    backtest errors, units), ``baseline_wape``, ``fallback_reason`` (str or None), ``censored_days`` (int).
    Definitions: :mod:`ops.forecast.backtest` and :mod:`ops.forecast.data`."""
    require_viewer(viewer)
    rid = latest_run_id(session)
    if rid is None or (skus is not None and not len(skus)):
        return _empty_choices()
    c = ForecastChoice
    q = select(c.sku, c.model, c.pattern, c.wape, c.mase, c.bias, c.sigma_week, c.baseline_wape, c.fallback_reason,
               c.censored_days).where(c.run_id == rid, c.sku.in_(_scoped_skus(viewer, skus)))
    f = _sku_filter(c.sku, skus)
    if f is not None:
        q = q.where(f)
    df = pd.DataFrame(session.execute(q.order_by(c.sku)).all(), columns=CHOICE_COLUMNS)
    if df.empty:
        return _empty_choices()
    df[CHOICE_FLOATS] = df[CHOICE_FLOATS].astype("float64")
    df["censored_days"] = df["censored_days"].fillna(0).astype("int64")
    df["fallback_reason"] = df["fallback_reason"].astype(object).where(df["fallback_reason"].notna(), None)
    return df


def _empty_choices() -> pd.DataFrame:
    return pd.DataFrame({col: pd.Series(dtype="float64" if col in CHOICE_FLOATS else
                                        ("int64" if col == "censored_days" else object)) for col in CHOICE_COLUMNS})


@data_function
def model_scores(session: Session, *, viewer: Viewer, skus: Sequence[str] | None = None) -> pd.DataFrame:
    """Every model's backtest totals per SKU in the latest successful run, with WAPE, bias and MASE."""
    require_viewer(viewer)
    cols = ["sku", "model", "wape", "bias", "mase", "abs_error", "actual", "scored_weeks", "fit_seconds",
            "model_failed"]
    rid = latest_run_id(session)
    if rid is None or (skus is not None and not len(skus)):
        return pd.DataFrame(columns=cols)
    s = ForecastScore
    q = select(s.sku, s.model, s.abs_error, s.error, s.actual, s.scale, s.n, s.fit_seconds, s.failed) \
        .where(s.run_id == rid, s.sku.in_(_scoped_skus(viewer, skus)))
    f = _sku_filter(s.sku, skus)
    if f is not None:
        q = q.where(f)
    df = pd.DataFrame(session.execute(q.order_by(s.sku, s.model)).all(),
                      columns=["sku", "model", "abs_error", "error", "actual", "scale", "n", "fit_seconds", "failed"])
    if df.empty:
        return pd.DataFrame(columns=cols)
    act = df["actual"].astype(float)
    df["wape"] = np.where(act > 0, df["abs_error"] / act.where(act > 0), np.nan)
    df["bias"] = np.where(act > 0, df["error"] / act.where(act > 0), np.nan)
    denom = df["n"].astype(float) * df["scale"].astype(float)
    df["mase"] = np.where(denom > 0, df["abs_error"] / denom.where(denom > 0), np.nan)
    df = df.rename(columns={"n": "scored_weeks", "failed": "model_failed"})
    return df[cols]


@data_function
def pattern_summary(session: Session, *, viewer: Viewer) -> pd.DataFrame:
    """Per demand pattern (and all SKUs): SKUs, WAPE of the chosen models and of the seasonal-naive
    baseline (volume-weighted: sum of absolute errors / sum of actuals), their ratio, fallbacks."""
    require_viewer(viewer)
    cols = ["pattern", "skus", "chosen_wape", "naive_wape", "wape_ratio", "fallbacks"]
    rid = latest_run_id(session)
    if rid is None:
        return pd.DataFrame(columns=cols)
    c, s = ForecastChoice, ForecastScore
    chosen = select(c.pattern, func.count().label("skus"),
                    func.sum(case((c.fallback_reason.is_not(None), 1), else_=0)).label("fallbacks"),
                    func.sum(s.abs_error).label("ae"), func.sum(s.actual).label("act")) \
        .join(s, and_(s.run_id == c.run_id, s.sku == c.sku, s.model == c.model)) \
        .where(c.run_id == rid, c.sku.in_(_scoped_skus(viewer))).group_by(c.pattern)
    naive = select(c.pattern, func.sum(s.abs_error).label("ae"), func.sum(s.actual).label("act")) \
        .join(s, and_(s.run_id == c.run_id, s.sku == c.sku, s.model == "naive")) \
        .where(c.run_id == rid, c.sku.in_(_scoped_skus(viewer))).group_by(c.pattern)
    a = pd.DataFrame(session.execute(chosen).all(), columns=["pattern", "skus", "fallbacks", "ae", "act"])
    b = pd.DataFrame(session.execute(naive).all(), columns=["pattern", "nae", "nact"])
    if a.empty:
        return pd.DataFrame(columns=cols)
    df = a.merge(b, on="pattern", how="left")
    tot = pd.DataFrame([{"pattern": "all", "skus": df["skus"].sum(), "fallbacks": df["fallbacks"].sum(),
                         "ae": df["ae"].sum(), "act": df["act"].sum(), "nae": df["nae"].sum(),
                         "nact": df["nact"].sum()}])
    df = pd.concat([df, tot], ignore_index=True)
    df["chosen_wape"] = df["ae"] / df["act"].where(df["act"] > 0)
    df["naive_wape"] = df["nae"] / df["nact"].where(df["nact"] > 0)
    df["wape_ratio"] = df["chosen_wape"] / df["naive_wape"].where(df["naive_wape"] > 0)
    return df[cols].astype({"skus": "int64", "fallbacks": "int64"})


@data_function
def runs(session: Session, *, viewer: Viewer, limit: int = 10) -> pd.DataFrame:
    """The latest forecast runs, newest first (status and progress). Vendors get no parameters
    (a run's SKU list may name other vendors' products) and no error text."""
    require_viewer(viewer)
    r = ForecastRun
    rows = session.execute(select(r.id, r.started_at, r.finished_at, r.status, r.n_skus, r.n_done, r.n_fallback,
                                  r.error, r.as_of, r.heartbeat_at, r.parameters)
                           .order_by(r.id.desc()).limit(int(limit))).all()
    df = pd.DataFrame(rows, columns=RUN_COLUMNS)
    if viewer.is_vendor and not df.empty:
        df["parameters"] = None
        df["error"] = None
        df["n_fallback"] = 0
    return df


@data_function
def weekly_history(session: Session, *, viewer: Viewer, sku: str = "", weeks: int = 104) -> pd.DataFrame:
    """Units sold per week (Monday) of one SKU over all warehouses, up to the latest run's ``as_of``:
    ``week`` (date), ``units`` (float64). Same demand definition as the forecast
    (:mod:`ops.forecast.data`); empty when the SKU is out of the viewer's scope."""
    require_viewer(viewer)
    allowed = session.execute(select(Product.id).where(Product.sku == str(sku), access.product_condition(viewer))) \
        .scalar()
    if allowed is None:
        return pd.DataFrame({"week": pd.Series(dtype=object), "units": pd.Series(dtype="float64")})
    as_of = session.execute(select(ForecastRun.as_of).where(ForecastRun.id == latest_run_id(session))).scalar()
    q = select(func.date(Order.placed_at), func.sum(OrderLine.qty)).join(Order, Order.id == OrderLine.order_id) \
        .where(OrderLine.product_id == allowed, Order.status.not_in(EXCLUDED_STATUSES))
    if as_of is not None:
        start = as_of - dt.timedelta(days=7 * int(weeks) - 1)
        q = q.where(Order.placed_at >= dt.datetime.combine(start, dt.time()),
                    Order.placed_at < dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time()))
    daily = pd.DataFrame(session.execute(q.group_by(func.date(Order.placed_at))).all(), columns=["day", "units"])
    if daily.empty:
        return pd.DataFrame({"week": pd.Series(dtype=object), "units": pd.Series(dtype="float64")})
    daily["week"] = [monday(pd.Timestamp(d).date()) for d in daily["day"]]
    out = daily.groupby("week", as_index=False)["units"].sum()
    if as_of is not None:
        full = pd.DataFrame({"week": [monday(as_of) - dt.timedelta(days=7 * i) for i in range(int(weeks))][::-1]})
        out = full.merge(out, on="week", how="left").fillna({"units": 0.0})
        first = out.index[out["units"] > 0]
        out = out.loc[first[0]:] if len(first) else out.iloc[0:0]
    out["units"] = out["units"].astype("float64")
    return out.reset_index(drop=True)


def run_parameters(text: str | None) -> dict[str, Any]:
    """A run's parameters as a dict (empty when none)."""
    return json.loads(text) if text else {}
