"""Scoped reads of the forecast results: what pages, exports and the planner read.

Every function takes ``viewer`` and scopes in SQL with :func:`ops.access.product_condition` (joined
on the SKU): a supplier sees the forecasts of its own products only, other vendors none. Results
come from the **latest successful run** (the highest id with status ``succeeded``); a run still
going or failed never replaces it.

A finished run never changes, so what the Forecast page shows of it that does not depend on the
viewer is stored with it, in the transaction that marks it succeeded
(:func:`ops.forecast.run.store_summary`): ``forecast_summary``, the run's backtest totals per demand
pattern over the whole catalogue, and ``forecast_catalogue``, its choices over the whole catalogue
column-wise in one row. For a viewer who sees every product, :func:`pattern_summary` reads the
former's few rows and :func:`latest_choices_named` decodes the latter and joins only the current
product names. A supplier's figures cannot come from the catalogue's (nor from totals stored per
supplier: a SKU can change supplier after the run): its page is one scoped read of its own choices
with their names and scores (:func:`choices_and_summary`), summed per pattern in SKU order. A full
viewer gets the same frames computed on load (the choices read, the sums in SQL) when the run has
nothing stored (it succeeded before migration 0014, which stores nothing for earlier runs; the next
run stores its own) or when a SKU of the run is no longer a product.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import True_

from ops import access
from ops.access import Viewer, data_function, require_viewer
from ops.business_time import monday
from ops.db import driver_rows
from ops.forecast.data import EXCLUDED_STATUSES
from ops.inventory.queries import gc_paused
from ops.models import (
    ForecastCatalogue,
    ForecastChoice,
    ForecastRun,
    ForecastScore,
    ForecastSummary,
    ForecastWeek,
    Order,
    OrderLine,
    Product,
)

FORECAST_COLUMNS = ["sku", "week", "yhat", "lo80", "hi80", "lo95", "hi95", "model"]
CHOICE_COLUMNS = ["sku", "model", "pattern", "wape", "mase", "bias", "sigma_week", "baseline_wape",
                  "fallback_reason", "censored_days"]
RUN_COLUMNS = ["id", "started_at", "finished_at", "status", "n_skus", "n_done", "n_fallback", "error", "as_of",
               "heartbeat_at", "parameters"]
FLOATS = ["yhat", "lo80", "hi80", "lo95", "hi95"]
CHOICE_FLOATS = ["wape", "mase", "bias", "sigma_week", "baseline_wape"]
SUMMARY_COLUMNS = ["pattern", "skus", "chosen_wape", "naive_wape", "wape_ratio", "fallbacks"]
SUM_COLUMNS = ["pattern", "skus", "fallbacks", "ae", "act", "nae", "nact"]
CATALOGUE_TEXT = ["model", "pattern", "fallback_reason"]  # forecast_catalogue's coded text columns, in order
# latest_choices' columns as the driver's row tuples go into one structured array (see _choice_table)
_CHOICE_KINDS = {"sku": "O", "name": "O", "model": "O", "pattern": "O", "wape": "f8", "mase": "f8", "bias": "f8",
                 "sigma_week": "f8", "baseline_wape": "f8", "fallback_reason": "O", "censored_days": "i8",
                 "ae": "O", "act": "O", "nae": "O", "nact": "O"}  # the scores as the driver's floats, None = no row
_SCORE_SUMS = ["ae", "act", "nae", "nact"]
# the scores table twice, for a SKU's chosen model and its baseline (made once: aliasing costs ~1 ms)
_CHOSEN_SCORE = aliased(ForecastScore, name="chosen_score")
_NAIVE_SCORE = aliased(ForecastScore, name="naive_score")


def latest_run_id(session: Session) -> int | None:
    """Id of the latest successful run (not scoped: a run id carries no vendor data)."""
    rid = session.execute(select(func.max(ForecastRun.id)).where(ForecastRun.status == "succeeded")).scalar()
    return int(rid) if rid is not None else None


def _sees_every_product(viewer: Viewer) -> bool:
    """Whether the viewer's product scope (:func:`ops.access.product_condition`) is the whole catalogue:
    then a run's catalogue-wide figures are the viewer's own. The rule stays in ``ops.access``."""
    return isinstance(access.product_condition(viewer), True_)


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
def latest_choices(session: Session, *, viewer: Viewer, skus: Sequence[str] | None = None,
                   run_id: int | None = None) -> pd.DataFrame:
    """Per SKU of the latest successful run (or of run ``run_id``): ``sku, model, pattern``
    (smooth/erratic/intermittent/lumpy), backtest ``wape, mase, bias`` (fractions; MASE a ratio),
    ``sigma_week`` (std of one-week-ahead backtest errors, units), ``baseline_wape``,
    ``fallback_reason`` (str or None), ``censored_days`` (int). Definitions: :mod:`ops.forecast.backtest`
    and :mod:`ops.forecast.data`."""
    require_viewer(viewer)
    rid = latest_run_id(session) if run_id is None else int(run_id)
    if rid is None or (skus is not None and not len(skus)):
        return _empty_choices()
    cols = _choice_table(session, viewer=viewer, run_id=rid, skus=skus)
    if cols is None:
        return _empty_choices()
    return pd.DataFrame({k: cols[k] for k in CHOICE_COLUMNS}, copy=False)


@data_function
def latest_choices_named(session: Session, *, viewer: Viewer, run_id: int | None = None) -> pd.DataFrame:
    """:func:`latest_choices` of run ``run_id`` (default: the latest successful one) with each SKU's
    product ``name`` (str) after ``sku``: the Forecast page's table. For a viewer who sees every
    product, the run's stored ``forecast_catalogue`` with the products' current names; otherwise (or
    when none is stored) one scoped read of the choices joined to their products."""
    require_viewer(viewer)
    rid = latest_run_id(session) if run_id is None else int(run_id)
    cols = None
    if rid is not None:
        cols = _stored_choices(session, viewer=viewer, run_id=rid) if _sees_every_product(viewer) else None
        if cols is None:
            cols = _choice_table(session, viewer=viewer, run_id=rid, named=True)
    return _empty_named() if cols is None else _named_frame(cols)


def _named_frame(cols: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame({k: cols[k] for k in ["sku", "name", *CHOICE_COLUMNS[1:]]}, copy=False)


def _empty_named() -> pd.DataFrame:
    empty = _empty_choices()
    empty.insert(1, "name", pd.Series(dtype=object))
    return empty


def encode_catalogue(choices: pd.DataFrame) -> dict[str, Any]:
    """``forecast_catalogue``'s values (but ``run_id``) for a run's :func:`latest_choices` frame over the
    whole catalogue: the SKUs and each text column's distinct values as JSON, the codes into those,
    the scores and the censored days as little-endian arrays (layout: :class:`ops.models.ForecastCatalogue`)."""
    labels: dict[str, list[str]] = {}
    codes = []
    for k in CATALOGUE_TEXT:
        code, uniques = pd.factorize(choices[k].to_numpy(dtype=object))  # None -> -1
        labels[k] = [str(u) for u in uniques]
        codes.append(code)
    n = len(choices)
    return {"n": n, "skus": json.dumps([str(x) for x in choices["sku"]]), "labels": json.dumps(labels),
            "codes": np.vstack(codes).astype("<i4").reshape(len(CATALOGUE_TEXT), n).tobytes(),
            "scores": np.vstack([choices[k].to_numpy(dtype="float64") for k in CHOICE_FLOATS]).astype("<f8")
            .reshape(len(CHOICE_FLOATS), n).tobytes(),
            "censored_days": choices["censored_days"].to_numpy(dtype="int64").astype("<i8").tobytes()}


def _stored_choices(session: Session, *, viewer: Viewer, run_id: int) -> dict[str, np.ndarray] | None:
    """The run's stored catalogue decoded, with the products' names: :func:`_choice_table`'s arrays
    (``named``) for a viewer who sees every product. None when the run has none stored, or when a
    stored SKU is no longer a product (the names read, one per stored SKU that is a product, comes
    short): the caller then reads the rows."""
    f = ForecastCatalogue
    # in binary format PostgreSQL sends the arrays as they are, not as hex text
    got = driver_rows(session, select(f.n, f.skus, f.labels, f.codes, f.scores, f.censored_days)
                       .where(f.run_id == run_id), binary=True)
    if not got:
        return None
    row = got[0]
    n = int(row[0])
    c = ForecastChoice
    # the same join and order as _choice_table's, names only (the choices' side is its index)
    names = driver_rows(session, select(Product.name).select_from(c).join(Product, Product.sku == c.sku)
                         .where(c.run_id == run_id, access.product_condition(viewer)).order_by(c.sku))
    if len(names) != n:
        return None
    out: dict[str, np.ndarray] = {"sku": np.array(json.loads(row[1]), dtype=object)}
    out["name"] = np.array([r[0] for r in names], dtype=object)
    labels = json.loads(row[2])
    codes = np.frombuffer(row[3], dtype="<i4").reshape(len(CATALOGUE_TEXT), n)
    for i, k in enumerate(CATALOGUE_TEXT):
        values = np.empty(len(labels[k]) + 1, dtype=object)  # the last one, None, for code -1
        values[:-1] = labels[k]
        out[k] = values[codes[i]]
    scores = np.frombuffer(row[4], dtype="<f8").reshape(len(CHOICE_FLOATS), n)
    for i, k in enumerate(CHOICE_FLOATS):
        out[k] = scores[i].astype("float64")  # a native, writable, contiguous copy
    out["censored_days"] = np.frombuffer(row[5], dtype="<i8").astype("int64")
    return out


def _choice_table(session: Session, *, viewer: Viewer, run_id: int, skus: Sequence[str] | None = None,
                  named: bool = False, scored: bool = False) -> dict[str, np.ndarray] | None:
    """The run's choices in the viewer's scope, by SKU, one array per column (None when there are none).

    The driver's row tuples go into one structured numpy array, then one contiguous array per
    column: at bench size (10,000 choices) SQLAlchemy's Row objects and a DataFrame built from row
    tuples cost more than the read itself. Floats NULL in the table are NaN, ``censored_days`` NULL is
    0, ``fallback_reason`` NULL is None. ``named`` joins the product for its name (a join on the SKU
    adds nothing to the scope: a SKU is one product); ``scored`` adds each SKU's chosen model's and
    baseline's backtest totals (``ae, act, nae, nact``: floats, None where the SKU has no such score).
    """
    c = ForecastChoice
    names = ["sku", *(["name"] if named else []), *CHOICE_COLUMNS[1:], *(_SCORE_SUMS if scored else [])]
    chosen, naive = _CHOSEN_SCORE, _NAIVE_SCORE
    exprs = {"sku": c.sku, "name": Product.name, "model": c.model, "pattern": c.pattern, "wape": c.wape,
             "mase": c.mase, "bias": c.bias, "sigma_week": c.sigma_week, "baseline_wape": c.baseline_wape,
             "fallback_reason": c.fallback_reason, "censored_days": func.coalesce(c.censored_days, 0),
             "ae": chosen.abs_error, "act": chosen.actual, "nae": naive.abs_error, "nact": naive.actual}
    q = select(*(exprs[k] for k in names)).select_from(c)
    # the scope as ``sku IN (the viewer's products' SKUs)``: SQLite then looks up a supplier's few
    # choices by key instead of walking the run's 10,000 and their products (4.8 -> 2.0 ms CPU for a
    # supplier's 193 at bench size); with the product joined, its own condition too, which lets
    # PostgreSQL find the supplier's products by index instead of hashing the whole catalogue
    q = q.where(c.run_id == run_id, c.sku.in_(_scoped_skus(viewer, skus)))
    if named:
        q = q.join(Product, Product.sku == c.sku).where(access.product_condition(viewer))
    if scored:
        q = q.outerjoin(chosen, and_(chosen.run_id == c.run_id, chosen.sku == c.sku, chosen.model == c.model)) \
            .outerjoin(naive, and_(naive.run_id == c.run_id, naive.sku == c.sku, naive.model == "naive"))
    f = _sku_filter(c.sku, skus)
    if f is not None:
        q = q.where(f)
    layout = np.dtype([(k, _CHOICE_KINDS[k]) for k in names])
    with gc_paused():  # ~100 k short-lived values, no cyclic garbage among them
        rows = driver_rows(session, q.order_by(c.sku))
        if not rows:
            return None
        table = np.array(rows, dtype=layout)
        del rows
        return {k: np.ascontiguousarray(table[k]) for k in names}


def _sums_in_sku_order(cols: dict[str, np.ndarray]) -> list[tuple[Any, ...]]:
    """:func:`_pattern_sum_rows`' rows from :func:`_choice_table`'s ``scored`` arrays (in SKU order).

    Each sum is added up one SKU after another in SKU order, which is how SQLite's ``GROUP BY`` over
    the scoped choices added them: bit for bit the same sums there (every supplier's, checked at bench
    size). PostgreSQL's came in its join's order, so there the last bit may differ; now they do not
    depend on the plan. A pattern counts where a SKU has its chosen model's score; the baseline's
    sums take every SKU with a baseline score, as the two grouped joins did.
    """
    acc: dict[str, list[Any]] = {}
    for p, fb, ae, act, nae, nact in zip(cols["pattern"], cols["fallback_reason"], cols["ae"], cols["act"],
                                         cols["nae"], cols["nact"], strict=True):
        a = acc.setdefault(str(p), [0, 0, 0.0, 0.0, None, None])
        if ae is not None:
            a[0] += 1
            a[1] += fb is not None
            a[2] += ae
            a[3] += act
        if nae is not None:
            a[4] = nae if a[4] is None else a[4] + nae
            a[5] = nact if a[5] is None else a[5] + nact
    return [(p, *a) for p, a in sorted(acc.items()) if a[0]]


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
def pattern_summary(session: Session, *, viewer: Viewer, run_id: int | None = None) -> pd.DataFrame:
    """Per demand pattern (and all SKUs) of run ``run_id`` (default: the latest successful one): SKUs,
    WAPE of the chosen models and of the seasonal-naive baseline (volume-weighted: sum of absolute
    errors / sum of actuals), their ratio, fallbacks.

    Returns
    -------
    DataFrame with columns pattern (str; the patterns in order, then ``all``), skus (int64),
    chosen_wape, naive_wape, wape_ratio (float64; NaN where a denominator is not positive),
    fallbacks (int64). Empty (object columns) when there is no run or none of the viewer's SKUs.

    A full viewer's comes from the run's stored ``forecast_summary`` rows (or, when the run has none
    stored, from summing the scores in SQL); a supplier's from its own SKUs' scores, read scoped and
    summed in SKU order (module docstring).
    """
    require_viewer(viewer)
    rid = latest_run_id(session) if run_id is None else int(run_id)
    if rid is None:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    if not _sees_every_product(viewer):
        cols = _choice_table(session, viewer=viewer, run_id=rid, scored=True)
        return summary_frame([] if cols is None else _sums_in_sku_order(cols))
    return summary_frame(_stored_sums(session, rid) or _pattern_sum_rows(session, viewer=viewer, run_id=rid))


@data_function
def choices_and_summary(session: Session, *, viewer: Viewer, run_id: int | None = None
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`latest_choices_named` and :func:`pattern_summary` of run ``run_id`` (default: the latest
    successful one) together, as the Forecast page shows them: for a supplier one scoped read of its
    choices with their names and scores, summed per pattern in Python (:func:`_sums_in_sku_order`)."""
    require_viewer(viewer)
    rid = latest_run_id(session) if run_id is None else int(run_id)
    if rid is None or _sees_every_product(viewer):
        return (latest_choices_named(session, viewer=viewer, run_id=rid),
                pattern_summary(session, viewer=viewer, run_id=rid) if rid is not None
                else pd.DataFrame(columns=SUMMARY_COLUMNS))
    cols = _choice_table(session, viewer=viewer, run_id=rid, named=True, scored=True)
    if cols is None:
        return _empty_named(), pd.DataFrame(columns=SUMMARY_COLUMNS)
    return _named_frame(cols), summary_frame(_sums_in_sku_order(cols))


@data_function
def pattern_sums(session: Session, *, viewer: Viewer, run_id: int | None = None) -> pd.DataFrame:
    """The sums behind :func:`pattern_summary`, computed from the run's choices and scores in the
    viewer's scope: ``pattern`` (str, in order), ``skus``, ``fallbacks`` (int64; choices whose chosen
    model has a score row, and of those on the baseline by fallback), ``ae``, ``act`` (float64: the
    chosen models' summed backtest absolute errors and actuals), ``nae``, ``nact`` (float64, the same
    for the seasonal-naive baseline; NaN when the pattern has no baseline score)."""
    require_viewer(viewer)
    rid = latest_run_id(session) if run_id is None else int(run_id)
    rows = [] if rid is None else _pattern_sum_rows(session, viewer=viewer, run_id=rid)
    df = pd.DataFrame(rows, columns=SUM_COLUMNS)
    return df.astype({"pattern": object, "skus": "int64", "fallbacks": "int64", "ae": "float64", "act": "float64",
                      "nae": "float64", "nact": "float64"})


def _stored_sums(session: Session, run_id: int) -> list[tuple[Any, ...]]:
    """The run's stored ``forecast_summary`` rows (:data:`SUM_COLUMNS`), by pattern; none when not stored."""
    f = ForecastSummary
    rows = session.connection().execute(select(f.pattern, f.skus, f.fallbacks, f.ae, f.act, f.nae, f.nact)
                                        .where(f.run_id == run_id)).all()
    return sorted((tuple(r) for r in rows), key=lambda r: str(r[0]))


def _pattern_sum_rows(session: Session, *, viewer: Viewer, run_id: int) -> list[tuple[Any, ...]]:
    """Per pattern of the run's choices in the viewer's scope: (pattern, skus, fallbacks, ae, act, nae,
    nact), by pattern; nae and nact None for a pattern without baseline scores. Two grouped joins: the
    choices with their chosen model's scores, and with the baseline's."""
    c, s = ForecastChoice, ForecastScore
    chosen = select(c.pattern, func.count().label("skus"),
                    func.sum(case((c.fallback_reason.is_not(None), 1), else_=0)).label("fallbacks"),
                    func.sum(s.abs_error).label("ae"), func.sum(s.actual).label("act")) \
        .join(s, and_(s.run_id == c.run_id, s.sku == c.sku, s.model == c.model)) \
        .where(c.run_id == run_id, c.sku.in_(_scoped_skus(viewer))).group_by(c.pattern)
    naive = select(c.pattern, func.sum(s.abs_error).label("ae"), func.sum(s.actual).label("act")) \
        .join(s, and_(s.run_id == c.run_id, s.sku == c.sku, s.model == "naive")) \
        .where(c.run_id == run_id, c.sku.in_(_scoped_skus(viewer))).group_by(c.pattern)
    conn = session.connection()
    nv = {str(r[0]): (r[1], r[2]) for r in conn.execute(naive).all()}
    rows = [(str(p), int(n), int(fb), ae, act, *nv.get(str(p), (None, None)))
            for p, n, fb, ae, act in conn.execute(chosen).all()]
    return sorted(rows, key=lambda r: r[0])


def summary_frame(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    """:func:`pattern_summary`'s frame from its sums (:data:`SUM_COLUMNS` tuples in pattern order):
    one row per pattern, then ``all`` (every sum over the patterns; a missing baseline sum counts
    as nothing), the WAPEs and their ratio."""
    if not rows:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    pattern = np.array([*(r[0] for r in rows), "all"], dtype=object)

    def column(i: int, dtype: str) -> np.ndarray:
        v = np.array([np.nan if r[i] is None else r[i] for r in rows], dtype=dtype)
        # the total as pandas' Series.sum() gives it (NaN skipped, numpy's reduction over the rest)
        return np.append(v, np.where(np.isnan(v), 0.0, v).sum() if dtype == "float64" else v.sum())

    skus, fallbacks = column(1, "int64"), column(2, "int64")
    ae, act, nae, nact = (column(i, "float64") for i in (3, 4, 5, 6))
    with np.errstate(all="ignore"):  # NaN where a denominator is not positive; inf as pandas gives it
        chosen = ae / np.where(act > 0, act, np.nan)
        naive = nae / np.where(nact > 0, nact, np.nan)
        ratio = chosen / np.where(naive > 0, naive, np.nan)
    return pd.DataFrame({"pattern": pattern, "skus": skus, "chosen_wape": chosen, "naive_wape": naive,
                         "wape_ratio": ratio, "fallbacks": fallbacks}, copy=False)


# what a vendor is not shown of a run: its parameters (the SKU list may name other vendors' products),
# its error text and its fallback count (the whole catalogue's)
VENDOR_HIDDEN: dict[str, Any] = {"parameters": None, "error": None, "n_fallback": 0}


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
        for col, value in VENDOR_HIDDEN.items():
            df[col] = value
    return df


@data_function
def latest_run(session: Session, *, viewer: Viewer) -> dict[str, Any] | None:
    """The newest run as :func:`runs`' first row (the same columns, hidden the same way from vendors),
    as a dict of plain values (datetimes as ``datetime``, missing as None); None when there is none.
    One row read, no frame: the page polls it."""
    require_viewer(viewer)
    r = ForecastRun
    row = session.connection().execute(
        select(r.id, r.started_at, r.finished_at, r.status, r.n_skus, r.n_done, r.n_fallback, r.error, r.as_of,
               r.heartbeat_at, r.parameters).order_by(r.id.desc()).limit(1)).first()
    if row is None:
        return None
    out = dict(zip(RUN_COLUMNS, row, strict=True))
    if viewer.is_vendor:
        out.update(VENDOR_HIDDEN)
    return out


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
