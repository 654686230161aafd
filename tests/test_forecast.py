"""Forecasting: reference cases, the look-ahead guard, demand and censoring, selection, the job and its reads.

Expected values come from the reference cases in ../shared/reference (Croston, TSB), from hand
arithmetic written out beside each assertion, or from the raw rows with plain pandas.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, select, text

from ops.access import SYSTEM, Viewer
from ops.db import read_session, transaction
from ops.forecast import backtest as bt
from ops.forecast.data import black_friday, correct_censored, event_flags, load_weekly
from ops.forecast.models import (
    ETS,
    TSB,
    Context,
    Croston,
    GlobalGBM,
    SeasonalNaive,
    croston,
    demand_pattern,
    forecast_long,
    tsb,
)
from ops.forecast.queries import CHOICE_COLUMNS, FORECAST_COLUMNS, latest_choices, latest_forecast
from ops.forecast.run import ForecastError, run_forecast
from ops.models import ForecastChoice, ForecastRun, ForecastWeek, Product, Supplier
from tests.conftest import REFERENCE, ROOT, SHARED_DATA, planner_estimate, sqlite_statistics

CASES = {c["id"]: c for c in json.loads((REFERENCE / "inventory_cases.json").read_text())["cases"]}
PBS = pd.read_csv(SHARED_DATA / "pbs_intermittent" / "PBS_dataset.csv")["Scripts"].to_numpy(float)


# --- reference cases -----------------------------------------------------------------------


def test_croston_matches_r_on_pbs() -> None:
    case = CASES["CR-1"]
    assert len(PBS) == 204
    f, _ = croston(PBS, alpha=case["inputs"]["alpha"])
    assert round(float(f[0]), 5) == round(case["expected"]["forecast"], 5)  # "5 decimal places"


def test_croston_golden_series() -> None:
    case = CASES["CR-4"]
    f, _ = croston(np.array(case["inputs"]["series"], dtype=float), alpha=case["inputs"]["alpha"])
    # q_final / a_final = 2.775 / 3.128 (hand arithmetic in the source)
    assert float(f[0]) == pytest.approx(case["expected"]["forecast"], rel=1e-12)
    assert float(f[0]) == pytest.approx(case["expected"]["q_final"] / case["expected"]["a_final"], rel=1e-12)


def test_tsb_matches_reference_on_pbs() -> None:
    case = CASES["TSB-1"]
    f, _ = tsb(PBS, alpha=case["inputs"]["alpha_demand"], beta=case["inputs"]["beta_probability"])
    assert abs(float(f[0]) - case["expected"]["forecast"]) < 0.5e-5  # 5 decimal places


def test_croston_and_tsb_are_vectorised_row_by_row() -> None:
    rows = np.vstack([PBS[:100], PBS[100:200]])
    f2, _ = croston(rows, 0.1)
    assert f2[0] == pytest.approx(croston(PBS[:100], 0.1)[0][0])
    assert f2[1] == pytest.approx(croston(PBS[100:200], 0.1)[0][0])
    # leading NaN (before a series starts) are skipped: same as the series without them
    padded = np.concatenate([[np.nan] * 5, PBS[:100]])
    assert tsb(padded)[0][0] == pytest.approx(tsb(PBS[:100])[0][0])
    assert croston(padded)[0][0] == pytest.approx(croston(PBS[:100])[0][0])


def test_croston_without_demand_forecasts_zero() -> None:
    assert croston(np.zeros(10))[0][0] == 0.0
    assert tsb(np.zeros(10))[0][0] == 0.0


# --- patterns, calendar, censoring -------------------------------------------------------------


def test_demand_pattern_classes_by_hand() -> None:
    y = np.array([
        [10, 11, 9, 10, 10, 11, 9, 10],  # ADI 1, CV² tiny: smooth
        [1, 30, 2, 40, 1, 35, 2, 50],  # ADI 1, sizes vary a lot: erratic
        [0, 0, 5, 0, 0, 5, 0, 6],  # ADI 8/3 = 2.67, CV² small: intermittent
        [0, 0, 1, 0, 0, 40, 0, 2],  # ADI 2.67, CV² large: lumpy
    ], dtype=float)
    assert list(demand_pattern(y)) == ["smooth", "erratic", "intermittent", "lumpy"]


def test_black_friday_and_event_weeks() -> None:
    assert black_friday(2025) == dt.date(2025, 11, 28)
    assert black_friday(2026) == dt.date(2026, 11, 27)
    weeks = pd.date_range("2025-11-17", periods=4, freq="W-MON")
    assert list(event_flags(weeks)) == [0.0, 1.0, 1.0, 0.0]  # BF week (Mon 24th) and Cyber Monday week
    assert list(event_flags(weeks, [dt.date(2025, 12, 10)])) == [0.0, 1.0, 1.0, 1.0]


def test_censored_weeks_are_scaled_or_imputed() -> None:
    observed = np.array([[10.0, 10.0, 10.0, 6.0, 1.0]])
    share = np.array([[0.0, 0.0, 0.0, 0.25, 0.75]])
    y = correct_censored(observed, share)
    assert y[0, 3] == pytest.approx(8.0)  # 6 / (1 - 0.25)
    assert y[0, 4] == pytest.approx(10.0)  # masked: mean of the uncensored weeks before (10, 10, 10)
    assert list(y[0, :3]) == [10.0, 10.0, 10.0]


# --- the backtest never looks ahead ---------------------------------------------------------


def _synthetic(n: int = 40, t: int = 60, seed: int = 3) -> tuple[np.ndarray, Context]:
    rng = np.random.default_rng(seed)
    lam = rng.uniform(0.3, 20, size=n)[:, None] * (1 + 0.3 * np.sin(np.arange(t) / 5))[None, :]
    y = rng.poisson(lam).astype(float)
    weeks = pd.date_range("2024-01-01", periods=t + 13, freq="W-MON")
    ctx = Context(weeks=weeks, promo=np.zeros((n, t + 13)), event=np.zeros(t + 13), pattern=demand_pattern(y))
    return y, ctx


def test_planted_future_spike_is_seen_by_no_origin() -> None:
    y, ctx = _synthetic()
    n, t = y.shape
    h, n_origins, step = 8, 4, 2
    origins = bt.origins_for(t, h, n_origins, step)
    assert origins == [t - 8 - 6, t - 8 - 4, t - 8 - 2, t - 8]
    spiked = y.copy()
    spiked[:, origins[-1]:] *= 1000.0  # a spike in every week at or after the last origin
    models = [SeasonalNaive(), ETS(), Croston(), TSB()]
    cens = np.zeros_like(y, dtype=bool)

    def forecasts(series: np.ndarray) -> dict[str, list[tuple[int, np.ndarray]]]:
        gbm = GlobalGBM(seed=0, max_iter=30).fit(series, origins[0], h, ctx)
        res = bt.run_backtest(series, series, cens, models, ctx, h=h, n_origins=n_origins, step=step, gbm=gbm,
                              keep_forecasts=True)
        return res.forecasts

    clean, dirty = forecasts(y), forecasts(spiked)
    assert set(clean) == {"naive", "ets", "croston", "tsb", "gbm", "combo"}
    for name in clean:
        for (o1, f1), (o2, f2) in zip(clean[name], dirty[name], strict=True):
            assert o1 == o2 and o1 <= origins[-1]
            np.testing.assert_allclose(f1, f2, err_msg=f"{name} at origin {o1} saw the spike")
    # and the spike is real: scored actuals differ, so the errors do
    assert forecasts(spiked) is not None
    res_dirty = bt.run_backtest(spiked, spiked, cens, models, ctx, h=h, n_origins=n_origins, step=step)
    res_clean = bt.run_backtest(y, y, cens, models, ctx, h=h, n_origins=n_origins, step=step)
    assert res_dirty.scores["naive"].abs_error.sum() > 100 * res_clean.scores["naive"].abs_error.sum()


def test_global_model_refuses_an_origin_before_its_training_end() -> None:
    y, ctx = _synthetic()
    gbm = GlobalGBM(seed=0, max_iter=20).fit(y, 40, 8, ctx)
    with pytest.raises(ValueError, match="look-ahead"):
        gbm.predict(y[:, :30], 8, ctx)


def test_scores_by_hand_for_the_naive_baseline() -> None:
    # one series, 16 weeks; h=2, one origin at 14: naive (no full season) repeats week 13's value
    y = np.array([[float(v) for v in range(1, 17)]])
    ctx = Context(weeks=pd.date_range("2024-01-01", periods=18, freq="W-MON"), promo=np.zeros((1, 18)),
                  event=np.zeros(18), pattern=np.array(["smooth"], dtype=object))
    res = bt.run_backtest(y, y, np.zeros_like(y, dtype=bool), [SeasonalNaive()], ctx, h=2, n_origins=1, step=1)
    assert res.origins == [14]
    s = res.scores["naive"]
    # forecast 14 for weeks valued 15 and 16: errors -1, -2
    assert s.abs_error[0] == 3 and s.error[0] == -3 and s.actual[0] == 31 and s.n[0] == 2
    assert res.scale[0] == 1.0  # mean |diff| of 1..14


def test_censored_weeks_are_not_scored() -> None:
    y = np.array([[float(v) for v in range(1, 17)]])
    cens = np.zeros_like(y, dtype=bool)
    cens[0, 15] = True
    ctx = Context(weeks=pd.date_range("2024-01-01", periods=18, freq="W-MON"), promo=np.zeros((1, 18)),
                  event=np.zeros(18), pattern=np.array(["smooth"], dtype=object))
    res = bt.run_backtest(y, y, cens, [SeasonalNaive()], ctx, h=2, n_origins=1, step=1)
    assert res.scores["naive"].n[0] == 1 and res.scores["naive"].abs_error[0] == 1


def test_choice_prior_and_fallbacks() -> None:
    n = 3
    res = bt.Backtest(origins=[20, 22], scale=np.ones(n), n_origins=np.array([2, 2, 1]), forecasts={}, scores={
        "naive": bt.ModelScore(abs_error=np.array([100.0, 100.0, 50.0]), error=np.zeros(n), actual=np.full(n, 200.0),
                               n=np.full(n, 10), one_step=[np.ones(n), -np.ones(n)]),
        "ets": bt.ModelScore(abs_error=np.array([95.0, 120.0, 10.0]), error=np.zeros(n), actual=np.full(n, 200.0),
                             n=np.full(n, 10), one_step=[np.ones(n), np.ones(n)], failed=np.zeros(n, bool)),
        "tsb": bt.ModelScore(abs_error=np.array([90.0, 130.0, 10.0]), error=np.zeros(n), actual=np.full(n, 200.0),
                             n=np.full(n, 10), one_step=[np.ones(n), np.ones(n)], failed=np.zeros(n, bool)),
    })
    # smooth SKU: tsb is not preferred, 90 * 1.1 = 99 > 95, so ets (preferred) wins
    c0 = bt.choose(res, 0, "smooth", 30)
    assert c0.model == "ets" and c0.fallback_reason is None
    assert c0.wape == pytest.approx(95 / 200) and c0.baseline_wape == pytest.approx(0.5)
    assert c0.sigma_week is None or c0.sigma_week == 0.0
    # intermittent: tsb preferred and lowest
    assert bt.choose(res, 0, "intermittent", 30).model == "tsb"
    c1 = bt.choose(res, 1, "smooth", 30)
    assert c1.model == "naive" and "no model beat" in (c1.fallback_reason or "")
    assert c1.sigma_week == pytest.approx(np.std([1.0, -1.0], ddof=1))
    c2 = bt.choose(res, 2, "smooth", 14)
    assert c2.model == "naive" and (c2.fallback_reason or "").startswith("short history: 14 weeks")


def test_forecast_long_interface() -> None:
    hist = pd.DataFrame({"unique_id": ["A"] * 20 + ["B"] * 20,
                         "ds": list(pd.date_range("2024-01-01", periods=20, freq="W-MON")) * 2,
                         "y": [0, 0, 3, 0, 0, 4, 0, 0, 3, 0] * 2 + [10.0] * 20})
    out = forecast_long(Croston(), hist, 3)
    assert list(out.columns) == ["unique_id", "ds", "yhat", "lo80", "hi80", "lo95", "hi95", "model"]
    assert len(out) == 6 and set(out["unique_id"]) == {"A", "B"}
    assert out["ds"].min() == pd.Timestamp("2024-05-20")  # the Monday after the last history week
    b = out[out["unique_id"] == "B"]
    assert np.allclose(b["yhat"], 10.0)
    a = out[out["unique_id"] == "A"]
    assert np.allclose(a["yhat"], croston(np.array([0, 0, 3, 0, 0, 4, 0, 0, 3, 0] * 2, float))[0][0])
    assert (out["lo95"] <= out["lo80"]).all() and (out["lo80"] <= out["yhat"]).all()
    assert (out["yhat"] <= out["hi80"]).all() and (out["hi80"] <= out["hi95"]).all() and (out["lo95"] >= 0).all()


# --- weekly demand from the raw rows ---------------------------------------------------------


@pytest.fixture
def small(engine: Engine) -> Engine:
    from ops.demo import seed

    seed(engine, size="small", seed=7)
    return engine


def _raw_weekly(engine: Engine) -> pd.DataFrame:
    with engine.connect() as c:
        df = pd.read_sql(text("SELECT p.sku, o.placed_at, o.status, l.qty FROM order_lines l "
                              "JOIN orders o ON o.id = l.order_id JOIN products p ON p.id = l.product_id"), c)
    df = df[~df["status"].isin(["cancelled", "unavailable"])]
    d = pd.to_datetime(df["placed_at"]).dt.normalize()
    df["week"] = d - pd.to_timedelta(d.dt.weekday, unit="D")
    return df.groupby(["sku", "week"])["qty"].sum()


def test_weekly_demand_matches_plain_pandas(small: Engine) -> None:
    with read_session(small) as s:
        data = load_weekly(s)
    raw = _raw_weekly(small)
    assert data.as_of is not None and data.as_of.weekday() == 6
    assert data.weeks[0].weekday() == 0
    checked = 0
    for i, sku in enumerate(data.skus):
        for j, w in enumerate(data.weeks):
            want = float(raw.get((sku, w), 0.0))
            got = data.observed[i, j]
            if np.isnan(got):
                assert want == 0.0  # before the SKU's first sale
            else:
                assert got == want, (sku, w)
                checked += 1
    assert checked > 100


def test_censored_days_match_snapshots(small: Engine) -> None:
    with read_session(small) as s:
        data = load_weekly(s)
    with small.connect() as c:
        snaps = pd.read_sql(text("SELECT p.sku, i.day FROM inventory_snapshots i "
                                 "JOIN products p ON p.id = i.product_id "
                                 "WHERE i.on_hand = 0"), c)
    snaps["day"] = pd.to_datetime(snaps["day"])
    start, end = data.weeks[0], pd.Timestamp(data.as_of)
    inside = snaps[(snaps["day"] >= start) & (snaps["day"] <= end)]
    want = inside.drop_duplicates().groupby("sku").size()
    got = pd.Series(data.censored_days, index=data.skus)
    assert int(got.sum()) == int(want.sum()) and int(got.sum()) > 0
    for sku, days in want.items():
        assert got[sku] == days


# --- the job, its tables and its scoped reads ---------------------------------------------------


def _supplier_skus(engine: Engine) -> tuple[str, set[str]]:
    with read_session(engine) as s:
        code, sid = s.execute(select(Supplier.code, Supplier.id).join(Product, Product.supplier_id == Supplier.id)
                              .order_by(Supplier.code)).first()  # type: ignore[misc]
        skus = set(s.execute(select(Product.sku).where(Product.supplier_id == sid)).scalars())
    return code, skus


def test_run_stores_a_forecast_per_sku_and_reads_are_scoped(small: Engine) -> None:
    rid = run_forecast(small, jobs=1, chunk_size=20)
    with read_session(small) as s:
        run = s.get(ForecastRun, rid)
        assert run is not None and run.status == "succeeded" and run.n_done == run.n_skus == 50
        as_of = run.as_of
        fc = latest_forecast(s, viewer=SYSTEM)
        ch = latest_choices(s, viewer=SYSTEM)
        code, own = _supplier_skus(small)
        sup = Viewer(username="s", role="vendor", vendor_kind="supplier", vendor_code=code)
        fc_sup, ch_sup = latest_forecast(s, viewer=sup), latest_choices(s, viewer=sup)
        carrier_code = s.execute(text("SELECT code FROM carriers LIMIT 1")).scalar()
        car = Viewer(username="c", role="vendor", vendor_kind="carrier", vendor_code=carrier_code)
        fc_car, ch_car = latest_forecast(s, viewer=car), latest_choices(s, viewer=car)
        some = sorted(own)[:2]
        fc_two = latest_forecast(s, viewer=SYSTEM, skus=some)
        tpl_code = s.execute(text("SELECT operator_code FROM warehouses WHERE operator_code IS NOT NULL")).scalar()
        tpl = Viewer(username="w", role="vendor", vendor_kind="warehouse", vendor_code=tpl_code)
        fc_tpl = latest_forecast(s, viewer=tpl)
        from ops.filters import Filters
        from ops.forecast.exports import export_choices, export_weeks

        ex_weeks, ex_choices = export_weeks(s, viewer=sup, filters=Filters()), export_choices(s, viewer=sup)
    assert list(fc.columns) == FORECAST_COLUMNS and list(ch.columns) == CHOICE_COLUMNS
    assert len(fc) == 50 * 13 and fc.groupby("sku").size().eq(13).all()
    assert all(w.weekday() == 0 for w in fc["week"]) and isinstance(fc["week"].iloc[0], dt.date)
    assert as_of is not None and fc["week"].min() == as_of + dt.timedelta(days=1)
    for col in ("yhat", "lo80", "hi80", "lo95", "hi95"):
        assert fc[col].dtype == np.float64
    # the small demo has about 12 weeks of history: every SKU falls back to the baseline, with the reason
    assert (ch["model"] == "naive").all()
    assert ch["fallback_reason"].str.startswith("short history").all()
    assert ch["censored_days"].dtype == np.int64
    assert set(fc_sup["sku"]) == own and set(ch_sup["sku"]) == own
    assert fc_car.empty and ch_car.empty and list(fc_car.columns) == FORECAST_COLUMNS
    assert tpl_code is None or fc_tpl.empty
    assert set(ex_weeks["sku"]) == own and set(ex_choices["sku"]) == own
    assert set(fc_two["sku"]) == set(some)


def test_no_successful_run_reads_empty(small: Engine) -> None:
    with read_session(small) as s:
        assert latest_forecast(s, viewer=SYSTEM).empty
        assert list(latest_choices(s, viewer=SYSTEM).columns) == CHOICE_COLUMNS


def test_killed_run_resumes_without_redoing_stored_skus(small: Engine) -> None:
    class Killed(Exception):
        pass

    seen: list[int] = []

    def kill_after_first(chunk: int) -> None:
        seen.append(chunk)
        raise Killed("killed")

    with pytest.raises(Killed):
        run_forecast(small, jobs=1, chunk_size=20, on_chunk=kill_after_first)
    with read_session(small) as s:
        run = s.execute(select(ForecastRun)).scalar_one()
        assert run.status == "failed" and run.n_done == 20 and "killed" in (run.error or "")
        run_id = run.id
        first = set(s.execute(select(ForecastChoice.sku).where(ForecastChoice.run_id == run_id)).scalars())
        assert latest_forecast(s, viewer=SYSTEM).empty  # a failed run is never read
    with transaction(small) as s:  # mark the stored rows: a redo would replace them
        s.execute(text("UPDATE forecast_weeks SET model = 'kept' WHERE run_id = :r"), {"r": run_id})
    done: list[int] = []
    rid = run_forecast(small, jobs=1, resume=run_id, on_chunk=done.append)
    assert rid == run_id and len(done) == 2  # the 30 remaining SKUs, in chunks of 20 (stored parameters)
    with read_session(small) as s:
        again = s.get(ForecastRun, rid)
        assert again is not None and again.status == "succeeded" and again.n_done == 50
        kept = set(s.execute(select(ForecastWeek.sku).where(ForecastWeek.model == "kept")).scalars())
    assert kept == first
    with pytest.raises(ForecastError, match="already finished"):
        run_forecast(small, resume=rid)


def test_unknown_sku_fails_the_run_with_a_clear_message(small: Engine) -> None:
    with pytest.raises(ForecastError, match="unknown SKU"):
        run_forecast(small, skus=["NOPE-1"])
    with read_session(small) as s:
        status, error = s.execute(select(ForecastRun.status, ForecastRun.error)).one()
    assert status == "failed" and "NOPE-1" in (error or "")


def test_cli_runs_and_fails_with_one_line(tmp_path: object) -> None:
    from ops.db import make_engine
    from ops.demo import seed
    from ops.migrate import upgrade

    db = f"sqlite:///{tmp_path}/cli.db"  # type: ignore[str-bytes-safe]
    eng = make_engine(db)
    upgrade(eng)
    seed(eng, size="small", seed=7)
    eng.dispose()
    ok = subprocess.run([sys.executable, "-m", "ops", "--db", db, "forecast", "--jobs", "2", "--chunk-size", "20"],
                        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert "forecast run 1: 50 SKUs, 50 on the baseline by fallback" in ok.stdout
    assert "50/50" in ok.stderr  # the progress bar
    bad = subprocess.run([sys.executable, "-m", "ops", "--db", db, "forecast", "--skus", "NOPE-1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines()[-1] == "forecast: unknown SKU(s): NOPE-1"
    res = subprocess.run([sys.executable, "-m", "ops", "--db", db, "forecast", "--resume", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and "already finished" in res.stderr


def test_a_successful_run_leaves_planner_statistics_on_postgresql(small: Engine) -> None:
    """A run is a bulk write: as it succeeds, PostgreSQL's planner gets statistics of what it wrote (a
    never-analyzed table has ``reltuples = -1``; a table this small is sampled whole, so the estimate is the
    exact row count)."""
    from ops.forecast.run import ANALYZED_TABLES

    if small.dialect.name == "sqlite":  # SQLite keeps its rule-based plans: no statistics are gathered there
        run_forecast(small, jobs=1, chunk_size=25)
        with small.connect() as conn:
            assert not sqlite_statistics(conn)
        return

    with small.begin() as conn:  # statistics from the seed, if any, are dropped first
        for t in ANALYZED_TABLES:
            conn.execute(text(f"UPDATE pg_class SET reltuples = -1 WHERE relname = '{t}'"))  # noqa: S608 - fixed
    run_forecast(small, jobs=1, chunk_size=25)
    with small.connect() as conn:
        for t in ("forecast_choices", "forecast_weeks", "forecast_scores", "agg_planner_forecast"):
            rows = conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()  # noqa: S608 - fixed names
            estimate = planner_estimate(conn, t)
            assert rows and estimate == rows, (t, rows, estimate)
