"""Forecasting: the whole-catalogue run with model selection, an honest holdout, and the Prophet decision.

- ``catalogue``: ``ops.forecast.run.run_forecast`` over every SKU with 2 worker processes (the
  nightly job: load, backtest of every model at 6 origins, choice, 13-week forecast, storage),
  wall and CPU seconds, with the load average before and after (other work shares the cores).
- ``holdout``: the run repeated with the history cut 13 weeks early (``as_of``), its stored forecasts
  scored on the 13 held-out weeks (censored weeks left out) against the seasonal-naive baseline
  and each model fitted at the same cut, per demand pattern; plus each model's fit time per series.
  The selection never saw those weeks, so this is the out-of-sample answer to "does the chosen
  model beat the baseline", unlike the backtest scores the choice was made on.
- ``prophet``: on the SKUs eligible for Prophet (two years, smooth, >= 10 units a week), the
  backtest with Prophet added on the highest-volume ones: how often it wins and its time per
  series, the two numbers behind the default ``prophet_max=0``.

Run: ``OPS_BENCH_ONLY=forecast python -m bench.run`` (bench size), or
``python -m bench.bench_forecast sqlite:////tmp/copy_of_ops.db`` for another database (it writes
forecast runs into it: use a copy).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from ops.db import read_session
from ops.forecast import backtest as bt
from ops.forecast.data import event_flags, load_weekly
from ops.forecast.models import (
    ETS,
    TSB,
    Context,
    Croston,
    GlobalGBM,
    Model,
    ProphetModel,
    SeasonalNaive,
    demand_pattern,
    prophet_eligible,
)
from ops.forecast.run import run_forecast
from ops.models import ForecastChoice, ForecastRun, ForecastWeek

H = 13
PROPHET_SAMPLE = 30


def _load() -> str:
    try:
        return " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def catalogue(engine: Engine, jobs: int = 2) -> dict[str, Any]:
    load_before = _load()
    t0, c0 = time.perf_counter(), time.process_time()
    rid = run_forecast(engine, jobs=jobs)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    with read_session(engine) as s:
        run = s.get(ForecastRun, rid)
        assert run is not None and run.status == "succeeded"
        n, fb = run.n_done, run.n_fallback
    return {"name": "forecast", "approach": f"catalogue run, selection by backtest ({jobs} processes)",
            "skus": n, "fallbacks": fb, "wall_s": round(wall, 1), "main_cpu_s": round(cpu, 1),
            "load_before": load_before, "load_after": _load(), "run_id": rid}


def _wape(f: np.ndarray, a: np.ndarray, ok: np.ndarray) -> tuple[float, float]:
    return float(np.abs(np.where(ok, f - a, 0.0)).sum()), float(np.where(ok, a, 0.0).sum())


def holdout(engine: Engine, weeks: int = H, jobs: int = 2) -> list[dict[str, Any]]:
    with read_session(engine) as s:
        full = load_weekly(s)
    assert full.as_of is not None
    cut = full.as_of - dt.timedelta(days=7 * weeks)
    rid = run_forecast(engine, jobs=jobs, as_of=cut, horizon=weeks)
    t = full.y.shape[1] - weeks
    with read_session(engine) as s:
        fw = pd.DataFrame(s.execute(select(ForecastWeek.sku, ForecastWeek.week, ForecastWeek.yhat)
                                    .where(ForecastWeek.run_id == rid)).all(), columns=["sku", "week", "yhat"])
        ch = pd.DataFrame(s.execute(select(ForecastChoice.sku, ForecastChoice.model, ForecastChoice.pattern)
                                    .where(ForecastChoice.run_id == rid)).all(), columns=["sku", "model", "pattern"])
    fw["week"] = pd.to_datetime(fw["week"])
    chosen = fw.pivot(index="sku", columns="week", values="yhat").reindex(index=full.skus,
                                                                          columns=full.weeks[t:]).to_numpy(float)
    pattern = ch.set_index("sku")["pattern"].reindex(full.skus).to_numpy(object)
    model_of = ch.set_index("sku")["model"].reindex(full.skus).to_numpy(object)
    actual = np.nan_to_num(full.observed[:, t:])
    ok = ~np.isnan(full.observed[:, t:]) & ~full.censored[:, t:] & ~np.isnan(chosen)
    y = full.y[:, :t]
    n = y.shape[0]
    allw = full.weeks.append(pd.date_range(full.weeks[-1] + pd.Timedelta(days=7), periods=weeks, freq="W-MON"))
    ev = event_flags(allw[:t + weeks])
    ev[:t] = np.maximum(ev[:t], full.event[:t])
    promo = np.hstack([full.promo[:, :t], np.zeros((n, weeks))])
    ctx = Context(weeks=allw[:t + weeks], promo=promo, event=ev, pattern=demand_pattern(y))
    preds: dict[str, np.ndarray] = {"chosen": np.nan_to_num(chosen)}
    seconds: dict[str, float] = {}
    models: list[Model] = [SeasonalNaive(), ETS(), Croston(), TSB()]
    for m in models:
        t0 = time.perf_counter()
        preds[m.name] = m.predict(y, weeks, ctx).mean
        seconds[m.name] = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    gbm = GlobalGBM().fit(y, t, weeks, ctx)
    preds["gbm"] = gbm.predict(y, weeks, ctx).mean
    seconds["gbm"] = (time.perf_counter() - t0) / n
    rows = []
    for pat in ["all", *bt.PREFERRED]:
        sel = np.ones(n, dtype=bool) if pat == "all" else pattern == pat
        if not sel.any():
            continue
        row: dict[str, Any] = {"name": "forecast", "approach": f"holdout {weeks} weeks", "pattern": pat,
                               "skus": int(sel.sum())}
        base_ae, base_act = _wape(preds["naive"][sel], actual[sel], ok[sel])
        for name, f in preds.items():
            ae, act = _wape(f[sel], actual[sel], ok[sel])
            row[f"wape_{name}"] = round(ae / act, 3) if act else None
        row["ratio_chosen_naive"] = round(row["wape_chosen"] / row["wape_naive"], 3) if row.get("wape_naive") else None
        row["chosen_models"] = ", ".join(f"{k} {v}" for k, v in pd.Series(model_of[sel]).value_counts().items())
        _ = base_ae, base_act
        rows.append(row)
    rows.append({"name": "forecast", "approach": "fit seconds per series (one fit, holdout cut)",
                 **{k: f"{v * 1000:.3f} ms" for k, v in seconds.items()}})
    return rows


def prophet_check(engine: Engine, sample: int = PROPHET_SAMPLE) -> dict[str, Any]:
    with read_session(engine) as s:
        data = load_weekly(s)
    y = data.y
    n, t = y.shape
    pattern = demand_pattern(y)
    elig = np.nonzero(prophet_eligible(y, pattern))[0]
    if elig.size == 0:
        return {"name": "forecast", "approach": "prophet eligibility", "eligible": 0,
                "note": f"no SKU has {t} >= 104 weeks with a smooth pattern and 10 units a week"}
    top = elig[np.argsort(-np.nansum(y[elig], axis=1))][:sample]
    rows = y[top]
    weeks = data.weeks.append(pd.date_range(data.weeks[-1] + pd.Timedelta(days=7), periods=H, freq="W-MON"))
    orgs = bt.origins_for(t, H, 6, 2)
    pat_bt = demand_pattern(rows[:, :orgs[0]])
    ctx = Context(weeks=weeks, promo=np.hstack([data.promo[top], np.zeros((top.size, H))]),
                  event=event_flags(weeks), pattern=pat_bt)
    ctx_all = Context(weeks=weeks, promo=np.hstack([data.promo, np.zeros((n, H))]), event=event_flags(weeks),
                      pattern=demand_pattern(y[:, :orgs[0]]))
    gbm = GlobalGBM().fit(y, orgs[0], H, ctx_all)
    res = bt.run_backtest(rows, data.observed[top], data.censored[top],
                          [SeasonalNaive(), ETS(), Croston(), TSB(), ProphetModel()], ctx, h=H, n_origins=6, step=2,
                          gbm=gbm, prophet_rows=np.ones(top.size, dtype=bool))
    names = list(res.scores)
    ae = np.vstack([res.scores[m].abs_error for m in names])
    best = np.array(names, dtype=object)[np.argmin(ae, axis=0)]
    wins = int((best == "prophet").sum())
    act = res.scores["naive"].actual.sum()
    per = res.scores["prophet"].seconds / top.size / max(1, len(res.origins))
    return {"name": "forecast", "approach": "prophet on eligible SKUs (backtest)", "eligible": int(elig.size),
            "tried": int(top.size), "prophet_wins": wins, "best_counts": pd.Series(best).value_counts().to_dict(),
            "wape": {m: round(float(res.scores[m].abs_error.sum() / act), 3) for m in names},
            "prophet_s_per_fit": round(per, 3),
            "prophet_s_all_eligible": round(per * (len(res.origins) + 1) * elig.size, 1)}


def run(engine: Engine) -> list[dict[str, Any]]:
    from ops.models import Base

    Base.metadata.create_all(engine, tables=[t for t in Base.metadata.sorted_tables
                                             if t.name.startswith("forecast_")])
    out = [catalogue(engine)]
    print(f"  {out[-1]}", flush=True)
    out.append(prophet_check(engine))
    print(f"  {out[-1]}", flush=True)
    return out


if __name__ == "__main__":
    from ops.db import make_engine
    from ops.models import Base

    eng = make_engine(sys.argv[1])
    Base.metadata.create_all(eng, tables=[t for t in Base.metadata.sorted_tables if t.name.startswith("forecast_")])
    what = sys.argv[2:] or ["catalogue", "holdout", "prophet"]
    for w in what:
        got: Any = {"catalogue": catalogue, "holdout": holdout, "prophet": prophet_check}[w](eng)
        for r in got if isinstance(got, list) else [got]:
            print(r, flush=True)
