"""Rolling-origin backtest, scores and the per-SKU model choice.

Backtest
--------
Origins ``o_i = T - h - step * i`` for ``i = 0 .. origins-1`` (``T`` weeks of history, ``h`` the
horizon): at each origin every model sees only the weeks before ``o`` (``y[:, :o]``) and forecasts
the next ``min(h, T - o)`` weeks. The global model is fitted once on target weeks before the
*earliest* origin and reused at the later ones, so it never learned from a week any origin scores.
A series takes part in an origin only when it has at least ``MIN_TRAIN_WEEKS`` observed weeks
before it. Weeks before a series' start and censored (stockout) weeks are not scored.

Scores (per SKU and model, over every scored week of every origin)
-----------------------------------------------------------------
- ``WAPE`` = sum |forecast - actual| / sum actual (a fraction; NaN when nothing sold);
- ``MASE`` = mean |forecast - actual| / mean |y_t - y_(t-1)| over the weeks before the earliest
  origin (the in-sample one-step naive error; NaN when that is 0);
- ``bias`` = sum (forecast - actual) / sum actual (positive: over-forecast);
- ``sigma_week`` = standard deviation of the chosen model's one-week-ahead errors over the origins.

Choice
------
Among the models that forecast the SKU at every origin, the lowest total absolute error wins
(for one SKU the same ranking as WAPE) after a pattern prior: models not suited to the SKU's demand
pattern (:data:`PREFERRED`) must beat the suited ones by ``PRIOR_MARGIN`` (their error is multiplied
by ``1 + PRIOR_MARGIN``). The baseline is chosen, with the reason recorded, when the history is too
short for ``MIN_ORIGINS`` origins, when no model beat it, or when every other model failed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ops.forecast.models import Context, GlobalGBM, Model, Prediction

MIN_TRAIN_WEEKS = 13
MIN_ORIGINS = 2
PRIOR_MARGIN = 0.10
BASELINE = "naive"
COMBO = "combo"
COMBO_MEMBERS = ("ets", "tsb", "gbm")  # the combination: the mean of their forecasts
PREFERRED: dict[str, tuple[str, ...]] = {
    "smooth": ("ets", "gbm", "prophet", COMBO),
    "erratic": ("ets", "gbm", COMBO),
    "intermittent": ("croston", "tsb", COMBO),
    "lumpy": ("croston", "tsb", "gbm", COMBO),
}


def origins_for(t: int, h: int, n_origins: int, step: int) -> list[int]:
    """The backtest origins (number of weeks each one may see), earliest first."""
    out = [t - h - step * i for i in range(n_origins)]
    return sorted(o for o in out if o >= MIN_TRAIN_WEEKS)


@dataclass
class ModelScore:
    abs_error: np.ndarray
    error: np.ndarray
    actual: np.ndarray
    n: np.ndarray
    one_step: list[np.ndarray] = field(default_factory=list)  # per origin, NaN where not scored
    failed: np.ndarray | None = None
    reason: str | None = None
    seconds: float = 0.0


@dataclass
class Backtest:
    origins: list[int]
    scale: np.ndarray  # MASE scale per series
    n_origins: np.ndarray  # origins each series took part in
    scores: dict[str, ModelScore]
    forecasts: dict[str, list[tuple[int, np.ndarray]]]  # model -> [(origin, mean n x h)], for tests


def run_backtest(y: np.ndarray, observed: np.ndarray, censored: np.ndarray, models: Sequence[Model],
                 ctx: Context, *, h: int, n_origins: int, step: int, gbm: GlobalGBM | None = None,
                 prophet_rows: np.ndarray | None = None, keep_forecasts: bool = False) -> Backtest:
    """Score ``models`` (and the pre-fitted ``gbm``) at rolling origins; see the module docstring.

    ``y`` is the corrected history the models fit on, ``observed`` the demand as sold (scored where
    not ``censored``). ``prophet_rows`` (bool per series) limits the model named ``prophet``.
    """
    n, t = y.shape
    origins = origins_for(t, h, n_origins, step)
    counts_before = np.stack([(~np.isnan(y[:, :o])).sum(axis=1) for o in origins], axis=1) if origins else \
        np.zeros((n, 0), dtype=int)
    takes = counts_before >= MIN_TRAIN_WEEKS
    first = origins[0] if origins else t
    d = np.abs(np.diff(y[:, :first], axis=1))
    with np.errstate(all="ignore"):
        cnt = (~np.isnan(d)).sum(axis=1)
        scale = np.where(cnt > 0, np.nansum(d, axis=1) / np.maximum(cnt, 1), np.nan)
    all_models: list[Model] = list(models) + ([gbm] if gbm is not None else [])
    scores: dict[str, ModelScore] = {}
    kept: dict[str, list[tuple[int, np.ndarray]]] = {}
    for model in all_models:
        failed = np.zeros(n, dtype=bool)
        rows = np.arange(n)
        if model.name == "prophet":
            rows = np.nonzero(prophet_rows)[0] if prophet_rows is not None else rows[:0]
            failed[:] = True
            failed[rows] = False
        sc = ModelScore(abs_error=np.zeros(n), error=np.zeros(n), actual=np.zeros(n), n=np.zeros(n, dtype=int),
                        failed=failed)
        t0 = time.perf_counter()
        for j, o in enumerate(origins):
            hh = min(h, t - o)
            part = rows[takes[rows, j]]
            if part.size == 0:
                sc.one_step.append(np.full(n, np.nan))
                kept.setdefault(model.name, []).append((o, np.full((n, hh), np.nan)))
                continue
            sub = Context(weeks=ctx.weeks, promo=ctx.promo[part], event=ctx.event, pattern=ctx.pattern[part])
            try:
                pred: Prediction = model.predict(y[part, :o], hh, sub)
            except Exception as exc:  # noqa: BLE001 - a model failing fails that model, never the run
                failed[part] = True
                sc.reason = f"{model.name} failed: {type(exc).__name__}: {exc}"[:300]
                sc.one_step.append(np.full(n, np.nan))
                kept.setdefault(model.name, []).append((o, np.full((n, hh), np.nan)))
                continue
            if pred.failed is not None:
                failed[part[pred.failed]] = True
            full = np.full((n, hh), np.nan)
            full[part] = pred.mean[:, :hh]
            _score(sc, full, part, observed, censored, o, hh, n)
            kept.setdefault(model.name, []).append((o, full))
        sc.seconds = time.perf_counter() - t0  # forecasting time at the origins (a global model's fit is apart)
        scores[model.name] = sc
    members = [m for m in COMBO_MEMBERS if m in kept]
    if len(members) == len(COMBO_MEMBERS):
        failed = np.any([f if (f := scores[m].failed) is not None else np.zeros(n, dtype=bool)
                         for m in members], axis=0)
        sc = ModelScore(abs_error=np.zeros(n), error=np.zeros(n), actual=np.zeros(n), n=np.zeros(n, dtype=int),
                        failed=failed, seconds=sum(scores[m].seconds for m in members))
        for j, o in enumerate(origins):
            mean = np.mean([kept[m][j][1] for m in members], axis=0)  # NaN where a member did not forecast
            part = np.nonzero(~np.isnan(mean).any(axis=1))[0]
            _score(sc, mean, part, observed, censored, o, mean.shape[1], n)
            kept.setdefault(COMBO, []).append((o, mean))
        scores[COMBO] = sc
    forecasts = kept if keep_forecasts else {}
    return Backtest(origins=origins, scale=scale, n_origins=takes.sum(axis=1), scores=scores, forecasts=forecasts)


def _score(sc: ModelScore, full: np.ndarray, part: np.ndarray, observed: np.ndarray, censored: np.ndarray, o: int,
           hh: int, n: int) -> None:
    """Add the errors of forecasts ``full`` (n x hh, from origin ``o``) of series ``part`` to ``sc``."""
    act = observed[part, o:o + hh]
    ok = ~np.isnan(act) & ~censored[part, o:o + hh]
    e = np.where(ok, full[part] - np.nan_to_num(act), 0.0)
    sc.abs_error[part] += np.abs(e).sum(axis=1)
    sc.error[part] += e.sum(axis=1)
    sc.actual[part] += np.where(ok, np.nan_to_num(act), 0.0).sum(axis=1)
    sc.n[part] += ok.sum(axis=1)
    one = np.full(n, np.nan)
    one[part] = np.where(ok[:, 0], e[:, 0], np.nan)
    sc.one_step.append(one)


@dataclass
class Choice:
    model: str
    wape: float | None
    mase: float | None
    bias: float | None
    sigma_week: float | None
    baseline_wape: float | None
    fallback_reason: str | None


def _ratio(a: float, b: float) -> float | None:
    return float(a / b) if b > 0 else None


def choose(bt: Backtest, i: int, pattern: str, history_weeks: int) -> Choice:
    """The model for series ``i`` (module docstring), with its scores and the fallback reason."""
    base = bt.scores[BASELINE]

    def summary(name: str, reason: str | None) -> Choice:
        s = bt.scores[name]
        n = int(s.n[i])
        one = np.array([o[i] for o in s.one_step], dtype=float)
        one = one[~np.isnan(one)]
        mase = float(s.abs_error[i] / n / bt.scale[i]) if n and np.isfinite(bt.scale[i]) and bt.scale[i] > 0 else None
        return Choice(model=name, wape=_ratio(s.abs_error[i], s.actual[i]), mase=mase,
                      bias=_ratio(s.error[i], s.actual[i]), sigma_week=float(np.std(one, ddof=1)) if one.size > 1
                      else None, baseline_wape=_ratio(base.abs_error[i], base.actual[i]), fallback_reason=reason)

    if bt.n_origins[i] < MIN_ORIGINS:
        return summary(BASELINE, f"short history: {history_weeks} weeks observed; the backtest needs "
                                 f"{MIN_TRAIN_WEEKS} weeks before each of {MIN_ORIGINS} origins")
    preferred = PREFERRED.get(pattern, ())
    # the baseline keeps a SKU only when it beats every model by the prior margin as well
    best, best_score = BASELINE, float(base.abs_error[i]) * (1.0 + PRIOR_MARGIN)
    failed = []
    for name, s in bt.scores.items():
        if name == BASELINE:
            continue
        if s.failed is not None and s.failed[i]:
            if name != "prophet" or (s.reason is not None):
                failed.append(name)
            continue
        if s.n[i] == 0:
            continue
        score = float(s.abs_error[i]) * (1.0 if name in preferred else 1.0 + PRIOR_MARGIN)
        if score < best_score - 1e-12:
            best, best_score = name, score
    if best == BASELINE:
        reason = "no model beat the seasonal-naive baseline in the backtest by 10 %"
        if base.n[i] == 0:
            reason = "no scored weeks in the backtest (every week censored)"
        if failed:
            reason += f" (failed: {', '.join(sorted(failed))})"
        return summary(BASELINE, reason)
    return summary(best, None)
