"""The forecasting models behind one interface, and the intermittent-demand reference functions.

Interface
---------
Every model takes history in long format (``unique_id, ds, y``: one row per series and week, ``ds``
the Monday) and a horizon ``h``, and returns ``unique_id, ds, yhat, lo80, hi80, lo95, hi95``
(:func:`forecast_long`). Internally each model works on a matrix (rows = series, columns = weeks,
NaN before a series starts) through :meth:`Model.predict`, which returns the point forecast and
the standard deviation of the forecast error per step; intervals are normal
(``yhat -/+ z * sigma``, z = 1.2816 for 80 %, 1.9600 for 95 %) with the lower bound cut at 0,
as demand is never negative.

Models
------
- ``naive`` (:class:`SeasonalNaive`, the baseline, always run): the same week a season (52 weeks)
  earlier; where the series is shorter than a season plus the step, the last observed week.
- ``ets`` (:class:`ETS`): exponential smoothing, statsforecast's ``AutoETS`` with additive errors,
  no trend and no seasonality (ETS(A,N,N), smoothing parameter fitted per series by likelihood).
  Measured at 0.7 ms per series and fit against 5 ms for the automatic model search (ZZN), which
  would not fit the nightly budget at 10,000 SKUs with several backtest origins.
- ``croston`` / ``tsb``: :func:`croston` and :func:`tsb` below, the project's own, vectorised
  across series; they reproduce the reference cases (see their docstrings for the conventions).
  statsforecast's TSB initialises differently and does not reproduce them, hence our own.
- ``gbm`` (:class:`GlobalGBM`): one scikit-learn ``HistGradientBoostingRegressor`` across all
  series, direct multi-step: a row is (series, origin, step) with features known at the origin
  (the last weeks scaled by the series level, the level, share of weeks with demand, the same week
  a year earlier, the step, the target week's week of year, promotion share and event flag, the
  series' demand pattern) and the target week's demand over the level as target (Poisson loss).
- ``combo`` (:class:`Combination`): the mean of the ETS, TSB and gradient-boosting forecasts
  (combinations are robust where single models' backtest wins are noise).
- ``prophet`` (:class:`ProphetModel`): only on eligible series (:func:`prophet_eligible`).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

SEASON = 52
Z80 = 1.2815515655446004
Z95 = 1.959963984540054
PATTERNS = ("smooth", "erratic", "intermittent", "lumpy")
ADI_CUT = 1.32  # Syntetos-Boylan-Croston cut-offs
CV2_CUT = 0.49


@dataclass
class Context:
    """What a model may know besides the history: calendar and known events of the forecast weeks.

    ``weeks`` are the Mondays of the history (len T) followed by the ``h`` forecast weeks;
    ``promo`` (n x (T+h)) and ``event`` ((T+h),) are known regressors (planned promotions and
    calendar events); ``pattern`` the demand pattern per series.
    """

    weeks: pd.DatetimeIndex
    promo: np.ndarray
    event: np.ndarray
    pattern: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prediction:
    mean: np.ndarray  # n x h
    sigma: np.ndarray  # n x h
    failed: np.ndarray | None = None  # bool per series: the model could not forecast it
    seconds: float = 0.0


class Model:
    """Base class: ``predict(y, h, ctx)`` on a matrix; ``name`` is stored in the results."""

    name: ClassVar[str] = "model"

    def predict(self, y: np.ndarray, h: int, ctx: Context) -> Prediction:  # pragma: no cover - interface
        raise NotImplementedError


# --- helpers -------------------------------------------------------------------------------


def _last_valid(y: np.ndarray) -> np.ndarray:
    """Last non-NaN value per row (0 when the row is all NaN)."""
    ok = ~np.isnan(y)
    idx = np.where(ok.any(axis=1), y.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1), -1)
    out = np.where(idx >= 0, y[np.arange(y.shape[0]), np.maximum(idx, 0)], 0.0)
    return np.nan_to_num(out)


def _resid_sigma(y: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """Std of one-step in-sample errors per row (NaN-aware; 0 when fewer than two)."""
    e = y - fitted
    ok = ~np.isnan(e)
    cnt = ok.sum(axis=1)
    e0 = np.where(ok, e, 0.0)
    mean = e0.sum(axis=1) / np.maximum(cnt, 1)
    var = (np.where(ok, (e - mean[:, None]) ** 2, 0.0)).sum(axis=1) / np.maximum(cnt - 1, 1)
    return np.where(cnt >= 2, np.sqrt(var), 0.0)


def intervals(mean: np.ndarray, sigma: np.ndarray) -> dict[str, np.ndarray]:
    """Normal 80 % and 95 % intervals, lower bounds cut at 0."""
    return {"yhat": np.maximum(mean, 0.0),
            "lo80": np.maximum(mean - Z80 * sigma, 0.0), "hi80": np.maximum(mean + Z80 * sigma, 0.0),
            "lo95": np.maximum(mean - Z95 * sigma, 0.0), "hi95": np.maximum(mean + Z95 * sigma, 0.0)}


def demand_pattern(y: np.ndarray) -> np.ndarray:
    """Syntetos-Boylan class per row: ADI = periods / periods with demand (cut 1.32), CV² of the
    non-zero sizes (cut 0.49): smooth (low, low), erratic (low ADI, high CV²), intermittent
    (high ADI, low CV²), lumpy (both high). A series with fewer than two demands is intermittent."""
    ok = ~np.isnan(y)
    nz = ok & (y > 0)
    periods = ok.sum(axis=1)
    k = nz.sum(axis=1)
    adi = np.where(k > 0, periods / np.maximum(k, 1), np.inf)
    v = np.where(nz, y, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        m = np.nanmean(v, axis=1)
        sd = np.nanstd(v, axis=1)
    cv2 = np.where(k >= 2, (sd / np.where(m > 0, m, 1.0)) ** 2, 0.0)
    out = np.where(adi < ADI_CUT, np.where(cv2 < CV2_CUT, "smooth", "erratic"),
                   np.where(cv2 < CV2_CUT, "intermittent", "lumpy"))
    out[k < 2] = "intermittent"
    return out.astype(object)


# --- baseline ------------------------------------------------------------------------------


class SeasonalNaive(Model):
    """ŷ(T+k) = y(T+k-52·ceil(k/52)) where observed, else the last observed week (naive).

    Error sigma: std of the in-sample one-step errors of the same rule, times sqrt(k) for the naive
    fallback (a random walk), constant for the seasonal part.
    """

    name = "naive"

    def predict(self, y: np.ndarray, h: int, ctx: Context) -> Prediction:
        n, t = y.shape
        last = _last_valid(y)
        mean = np.repeat(last[:, None], h, axis=1)
        seasonal = np.zeros((n, h), dtype=bool)
        for k in range(1, h + 1):
            j = t + k - 1 - SEASON * int(np.ceil(k / SEASON))
            if j >= 0:
                v = y[:, j]
                ok = ~np.isnan(v)
                mean[ok, k - 1] = v[ok]
                seasonal[ok, k - 1] = True
        fitted = np.full_like(y, np.nan)
        fitted[:, 1:] = y[:, :-1]
        if t > SEASON:
            seas = y[:, :-SEASON]
            okp = ~np.isnan(seas)
            fitted[:, SEASON:] = np.where(okp, seas, fitted[:, SEASON:])
        s1 = _resid_sigma(y, fitted)
        steps = np.sqrt(np.arange(1, h + 1))[None, :]
        sigma = np.where(seasonal, s1[:, None], s1[:, None] * steps)
        return Prediction(mean=mean, sigma=sigma)


# --- Croston and TSB (the project's own; checked against the reference cases) ----------------


def croston(y: np.ndarray, alpha: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Classic Croston (1972), vectorised over rows: returns (forecast per row, in-sample one-step fits).

    Convention of R's ``forecast::croston`` (reference cases CR-1 and CR-4): the initial demand size
    ``q`` is the first non-zero demand and the initial interval ``a`` is 1 + the (0-based) index of
    that first non-zero demand, counted from the series' start; both are then smoothed with the same
    ``alpha`` only in periods with demand (``q += alpha (y - q)``, ``a += alpha (interval - a)``,
    interval = periods since the previous demand). The forecast is ``q / a`` (no SBA bias
    correction); a series without demand forecasts 0. NaN cells (before a series starts) are skipped.
    """
    y = np.atleast_2d(np.asarray(y, dtype=float))
    n, t = y.shape
    q = np.full(n, np.nan)
    a = np.full(n, np.nan)
    since = np.zeros(n)
    fitted = np.full((n, t), np.nan)
    for j in range(t):
        v = y[:, j]
        valid = ~np.isnan(v)
        has = ~np.isnan(q)
        fitted[has & valid, j] = (q / a)[has & valid]
        since = since + valid
        dem = valid & (v > 0)
        first = dem & ~has
        q[first] = v[first]
        a[first] = since[first]
        upd = dem & has
        q[upd] += alpha * (v[upd] - q[upd])
        a[upd] += alpha * (since[upd] - a[upd])
        since[dem] = 0
    return np.nan_to_num(q / a), fitted


def tsb(y: np.ndarray, alpha: float = 0.1, beta: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Teunter-Syntetos-Babai (2011), vectorised over rows: (forecast per row, in-sample one-step fits).

    Convention of the reference case TSB-1 (sktime's implementation): the initial demand size ``d``
    is the first non-zero demand and the initial probability ``p`` is 0.5; from the series' first
    period on, ``p`` is updated in every period (``p += beta (1[y > 0] - p)``) and ``d`` only in
    periods with demand (``d += alpha (y - d)``). The forecast is ``p * d``; a series without demand
    forecasts 0. NaN cells (before a series starts) are skipped.
    """
    y = np.atleast_2d(np.asarray(y, dtype=float))
    n, t = y.shape
    ok = ~np.isnan(y) & (y > 0)
    first_idx = np.where(ok.any(axis=1), np.argmax(ok, axis=1), -1)
    d = np.where(first_idx >= 0, y[np.arange(n), np.maximum(first_idx, 0)], 0.0)
    p = np.full(n, 0.5)
    fitted = np.full((n, t), np.nan)
    for j in range(t):
        v = y[:, j]
        valid = ~np.isnan(v)
        fitted[valid, j] = (p * d)[valid]
        dem = valid & (v > 0)
        p[valid] += beta * (dem[valid].astype(float) - p[valid])
        d[dem] += alpha * (v[dem] - d[dem])
    return np.where(first_idx >= 0, p * d, 0.0), fitted


class Croston(Model):
    """:func:`croston` with alpha 0.1; sigma from its in-sample one-step errors (flat over the horizon)."""

    name = "croston"
    alpha = 0.1

    def predict(self, y: np.ndarray, h: int, ctx: Context) -> Prediction:
        f, fitted = croston(y, self.alpha)
        s = _resid_sigma(y, fitted)
        return Prediction(mean=np.repeat(f[:, None], h, axis=1), sigma=np.repeat(s[:, None], h, axis=1))


class TSB(Model):
    """:func:`tsb` with alpha = beta = 0.1; sigma from its in-sample one-step errors."""

    name = "tsb"
    alpha = 0.1
    beta = 0.1

    def predict(self, y: np.ndarray, h: int, ctx: Context) -> Prediction:
        f, fitted = tsb(y, self.alpha, self.beta)
        s = _resid_sigma(y, fitted)
        return Prediction(mean=np.repeat(f[:, None], h, axis=1), sigma=np.repeat(s[:, None], h, axis=1))


# --- exponential smoothing (statsforecast) ---------------------------------------------------


class ETS(Model):
    """statsforecast ``AutoETS(model="ANN")``: see the module docstring. Series with fewer than
    ``MIN_WEEKS`` observed weeks, or that statsforecast cannot fit, are marked failed."""

    name = "ets"
    MIN_WEEKS = 8

    def predict(self, y: np.ndarray, h: int, ctx: Context) -> Prediction:
        from statsforecast import StatsForecast
        from statsforecast.models import AutoETS

        n, t = y.shape
        mean = np.zeros((n, h))
        sigma = np.zeros((n, h))
        failed = np.ones(n, dtype=bool)
        counts = (~np.isnan(y)).sum(axis=1)
        rows = np.nonzero(counts >= self.MIN_WEEKS)[0]
        if rows.size == 0:
            return Prediction(mean=mean, sigma=sigma, failed=failed)
        weeks = ctx.weeks[:t]
        ids = np.repeat(rows, t)
        df = pd.DataFrame({"unique_id": ids, "ds": np.tile(weeks.values, rows.size), "y": y[rows].ravel()})
        df = df.dropna(subset=["y"])
        sf = StatsForecast(models=[AutoETS(season_length=1, model="ANN")], freq="W-MON", n_jobs=1)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = sf.forecast(df=df, h=h, level=[95])
        except Exception:  # noqa: BLE001 - a library failure fails this model for these series only
            return Prediction(mean=mean, sigma=sigma, failed=failed)
        out = out.sort_values(["unique_id", "ds"])
        got = out["unique_id"].to_numpy().reshape(-1, h)[:, 0]
        m = out["AutoETS"].to_numpy(float).reshape(-1, h)
        hi = out["AutoETS-hi-95"].to_numpy(float).reshape(-1, h)
        bad = ~np.isfinite(m).all(axis=1)
        r = got.astype(int)
        mean[r] = np.nan_to_num(m)
        sigma[r] = np.nan_to_num((hi - m) / Z95)
        failed[r] = bad
        return Prediction(mean=mean, sigma=sigma, failed=failed)


# --- global gradient boosting ----------------------------------------------------------------

LAGS = (1, 2, 3, 4, 8, 13)
MAX_RATIO = 50.0  # the global model's target and forecast: at most 50 times the series level
FEATURES = ["lag1", "lag2", "lag3", "lag4", "lag8", "lag13", "mean4", "mean13", "mean26", "nz13", "log_level",
            "last_year", "step", "woy", "promo", "event", "pattern"]


def _level(hist: np.ndarray) -> np.ndarray:
    """Series level at an origin: mean of the last 13 observed weeks, else of all, else 1."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        lvl = np.nanmean(hist[:, -13:], axis=1)
        alt = np.nanmean(hist, axis=1)
    lvl = np.where(np.isfinite(lvl) & (lvl > 0), lvl, alt)
    return np.where(np.isfinite(lvl) & (lvl > 0), lvl, 1.0)


def _features(y: np.ndarray, origin: int, steps: Sequence[int], ctx: Context, rows: np.ndarray) -> tuple[np.ndarray,
                                                                                                          np.ndarray]:
    """Feature matrix for series ``rows`` at ``origin`` (weeks < origin known), one block per step."""
    hist = y[rows, :origin]
    lvl = _level(hist)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        cols = {f"lag{k}": (hist[:, -k] if origin >= k else np.full(rows.size, np.nan)) / lvl for k in LAGS}
        cols["mean4"] = np.nanmean(hist[:, -4:], axis=1) / lvl
        cols["mean13"] = np.nanmean(hist[:, -13:], axis=1) / lvl
        cols["mean26"] = np.nanmean(hist[:, -26:], axis=1) / lvl
        cols["nz13"] = np.nanmean(np.where(np.isnan(hist[:, -13:]), np.nan, hist[:, -13:] > 0), axis=1)
    cols["log_level"] = np.log(lvl)
    pat = np.array([PATTERNS.index(p) if p in PATTERNS else 2 for p in ctx.pattern[rows]], dtype=float)
    blocks = []
    for k in steps:
        tgt = origin + k - 1
        ly = tgt - SEASON
        last_year = (y[rows, ly] / lvl) if ly >= 0 else np.full(rows.size, np.nan)
        woy = float(ctx.weeks[tgt].isocalendar()[1]) if tgt < len(ctx.weeks) else np.nan
        promo = ctx.promo[rows, tgt] if tgt < ctx.promo.shape[1] else np.zeros(rows.size)
        event = ctx.event[tgt] if tgt < ctx.event.shape[0] else 0.0
        blocks.append(np.column_stack([cols["lag1"], cols["lag2"], cols["lag3"], cols["lag4"], cols["lag8"],
                                       cols["lag13"], cols["mean4"], cols["mean13"], cols["mean26"], cols["nz13"],
                                       cols["log_level"], last_year, np.full(rows.size, float(k)),
                                       np.full(rows.size, woy), promo, np.full(rows.size, event), pat]))
    return np.vstack(blocks), lvl


class GlobalGBM(Model):
    """One gradient-boosting model across all series (module docstring). ``fit(y, end, h, ctx)``
    trains on target weeks before ``end`` only; ``predict`` then forecasts from any origin
    ``>= end`` without refitting (the backtest fits once at its first origin, the run once on all)."""

    name = "gbm"
    MAX_ROWS = 100_000
    MIN_ORIGIN = 8

    def __init__(self, *, seed: int = 0, max_iter: int = 150) -> None:
        self.seed = seed
        self.max_iter = max_iter
        self.model: Any = None
        self.sigma_step: np.ndarray | None = None
        self.fit_seconds = 0.0
        self.trained_until: int | None = None
        self.keep: np.ndarray | None = None

    def fit(self, y: np.ndarray, end: int, h: int, ctx: Context) -> GlobalGBM:
        from sklearn.ensemble import HistGradientBoostingRegressor

        t0 = time.perf_counter()
        rng = np.random.default_rng(self.seed)
        origins = list(range(self.MIN_ORIGIN, end))
        xs, ys, ks = [], [], []
        budget = max(1, self.MAX_ROWS // max(1, len(origins)))
        for o in origins:
            steps = [k for k in range(1, h + 1) if o + k - 1 < end]
            if not steps:
                continue
            started = ~np.isnan(y[:, o - 1])
            cand = np.nonzero(started)[0]
            if cand.size == 0:
                continue
            per = max(1, budget // len(steps))
            rows = rng.choice(cand, size=min(per, cand.size), replace=False)
            x, lvl = _features(y, o, steps, ctx, rows)
            tgt = np.concatenate([y[rows, o + k - 1] / lvl for k in steps])
            xs.append(x)
            ys.append(tgt)
            ks.append(np.repeat(np.asarray(steps), rows.size))
        if not xs:
            raise ValueError("not enough history to train the global model")
        xm = np.vstack(xs)
        ym = np.concatenate(ys)
        km = np.concatenate(ks)
        ok = np.isfinite(ym)
        # demand over the level, capped: a first sale after months of nothing would otherwise dominate
        # the Poisson fit (and overflow its exp link on sparse data such as Olist's)
        xm, ym, km = xm[ok], np.clip(ym[ok], 0.0, MAX_RATIO), km[ok]
        # columns with fewer than two distinct values (e.g. last year's week in a one-year history) say nothing
        keep = np.array([np.unique(c[~np.isnan(c)]).size > 1 for c in xm.T])
        self.keep = keep
        xm = xm[:, keep]
        cat = [int(keep[:FEATURES.index("pattern")].sum())] if keep[FEATURES.index("pattern")] else None
        model = HistGradientBoostingRegressor(loss="poisson", max_iter=self.max_iter, learning_rate=0.08,
                                              max_leaf_nodes=31, min_samples_leaf=40, random_state=self.seed,
                                              categorical_features=cat)
        model.fit(xm, ym)
        with np.errstate(over="ignore"):
            resid = ym - np.clip(np.nan_to_num(model.predict(xm), posinf=MAX_RATIO), 0.0, MAX_RATIO)
        resid = np.where(np.isfinite(resid), resid, 0.0)
        sig = np.array([np.std(resid[km == k]) if (km == k).sum() > 1 else np.std(resid) for k in range(1, h + 1)])
        self.model, self.sigma_step = model, sig
        self.trained_until = end
        self.fit_seconds = time.perf_counter() - t0
        return self

    def predict(self, y: np.ndarray, h: int, ctx: Context) -> Prediction:
        if self.model is None or self.sigma_step is None:
            raise RuntimeError("GlobalGBM.predict before fit")
        n, origin = y.shape
        if self.trained_until is not None and origin < self.trained_until:
            raise ValueError("the global model was trained on weeks after this origin (look-ahead)")
        rows = np.arange(n)
        x, lvl = _features(y, origin, list(range(1, h + 1)), ctx, rows)
        with np.errstate(over="ignore"):
            p = self.model.predict(x[:, self.keep] if self.keep is not None else x).reshape(h, n).T
        p = np.clip(np.nan_to_num(p, nan=0.0, posinf=MAX_RATIO), 0.0, MAX_RATIO)
        mean = p * lvl[:, None]
        sigma = self.sigma_step[None, :h] * lvl[:, None]
        failed = np.isnan(y).all(axis=1)
        return Prediction(mean=mean, sigma=sigma, failed=failed)


# --- combination -----------------------------------------------------------------------------


class Combination(Model):
    """The mean of its members' forecasts (and of their error sigmas, a conservative spread); failed
    where any member failed. The backtest scores it from the members' own backtest forecasts."""

    name = "combo"

    def __init__(self, members: Sequence[Model]) -> None:
        self.members = list(members)

    def predict(self, y: np.ndarray, h: int, ctx: Context) -> Prediction:
        preds = [m.predict(y, h, ctx) for m in self.members]
        failed = np.any([p.failed if p.failed is not None else np.zeros(y.shape[0], dtype=bool) for p in preds],
                        axis=0)
        return Prediction(mean=np.mean([p.mean for p in preds], axis=0),
                          sigma=np.mean([p.sigma for p in preds], axis=0), failed=failed)


# --- Prophet ---------------------------------------------------------------------------------

PROPHET_MIN_WEEKS = 104
PROPHET_MIN_MEAN = 10.0


def prophet_eligible(y: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """Series Prophet may be tried on: two full years observed (yearly seasonality can be
    estimated), a smooth pattern, and at least ``PROPHET_MIN_MEAN`` units a week on average."""
    counts = (~np.isnan(y)).sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = np.nanmean(y, axis=1)
    return (counts >= PROPHET_MIN_WEEKS) & (pattern == "smooth") & (np.nan_to_num(mean) >= PROPHET_MIN_MEAN)


class ProphetModel(Model):
    """Prophet with yearly seasonality, the promotion share and event flag as regressors; one fit per
    series (only the rows passed in; callers pass eligible series). Failed fits are marked failed."""

    name = "prophet"

    def predict(self, y: np.ndarray, h: int, ctx: Context) -> Prediction:
        logging.getLogger("cmdstanpy").disabled = True
        logging.getLogger("prophet").setLevel(logging.WARNING)
        from prophet import Prophet

        n, t = y.shape
        mean = np.zeros((n, h))
        sigma = np.zeros((n, h))
        failed = np.ones(n, dtype=bool)
        weeks = ctx.weeks[:t + h]
        for i in range(n):
            ok = ~np.isnan(y[i])
            if ok.sum() < 2:
                continue
            hist = pd.DataFrame({"ds": weeks[:t][ok], "y": y[i, ok], "promo": ctx.promo[i, :t][ok],
                                 "event": ctx.event[:t][ok]})
            try:
                m = Prophet(yearly_seasonality=True, weekly_seasonality=False, daily_seasonality=False,
                            interval_width=0.95, uncertainty_samples=0)
                m.add_regressor("promo")
                m.add_regressor("event")
                m.fit(hist)
                fut = pd.DataFrame({"ds": weeks[t:t + h], "promo": ctx.promo[i, t:t + h] if ctx.promo.shape[1] >= t + h
                                    else np.zeros(h), "event": ctx.event[t:t + h]})
                fc = m.predict(fut)
                fit_res = hist["y"].to_numpy() - m.predict(hist)["yhat"].to_numpy()
                mean[i] = fc["yhat"].to_numpy()
                sigma[i] = np.std(fit_res) * np.sqrt(1 + np.arange(h) / 13)
                failed[i] = False
            except Exception:  # noqa: BLE001, S112 - a failed fit fails this series only (marked failed)
                continue
        return Prediction(mean=mean, sigma=sigma, failed=failed)


# --- long-format wrapper ---------------------------------------------------------------------


def to_matrix(history: pd.DataFrame) -> tuple[list[str], pd.DatetimeIndex, np.ndarray]:
    """Long ``unique_id, ds, y`` to (ids, weekly Mondays, matrix with NaN where a week is missing)."""
    missing = {"unique_id", "ds", "y"} - set(history.columns)
    if missing:
        raise ValueError(f"history needs columns unique_id, ds, y; missing {', '.join(sorted(missing))}")
    ds = pd.to_datetime(history["ds"])
    weeks = pd.date_range(ds.min(), ds.max(), freq="W-MON") if len(ds) else pd.DatetimeIndex([])
    wide = history.assign(ds=ds).pivot_table(index="unique_id", columns="ds", values="y", aggfunc="sum",
                                             dropna=False).reindex(columns=weeks)
    return [str(u) for u in wide.index], weeks, wide.to_numpy(dtype=float)


def forecast_long(model: Model, history: pd.DataFrame, h: int, *, promo: pd.DataFrame | None = None) -> pd.DataFrame:
    """Fit ``model`` on long-format history and forecast ``h`` weeks: ``unique_id, ds, yhat, lo80,
    hi80, lo95, hi95`` (and ``model``). ``ds`` must be Mondays. ``promo`` (optional) holds known
    promotion shares ``unique_id, ds, promo`` for history and future weeks."""
    ids, weeks, y = to_matrix(history)
    allw = weeks.append(pd.date_range(weeks[-1] + pd.Timedelta(days=7), periods=h, freq="W-MON"))
    pm = np.zeros((len(ids), len(allw)))
    if promo is not None and len(promo):
        pw = promo.assign(ds=pd.to_datetime(promo["ds"])).pivot_table(index="unique_id", columns="ds", values="promo")
        pm = pw.reindex(index=ids, columns=allw).fillna(0.0).to_numpy(float)
    from ops.forecast.data import event_flags

    ctx = Context(weeks=allw, promo=pm, event=event_flags(allw), pattern=demand_pattern(y))
    if isinstance(model, GlobalGBM) and model.model is None:
        model.fit(y, y.shape[1], h, ctx)
    pred = model.predict(y, h, ctx)
    iv = intervals(pred.mean, pred.sigma)
    out = pd.DataFrame({"unique_id": np.repeat(ids, h), "ds": np.tile(allw[-h:].values, len(ids))})
    for k, v in iv.items():
        out[k] = v.ravel()
    out["model"] = model.name
    return out


def default_models() -> list[Model]:
    return [SeasonalNaive(), ETS(), Croston(), TSB()]
