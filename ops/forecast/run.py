"""The forecast job: backtest and choose a model per SKU, forecast, store everything in tables.

``run_forecast(engine, ...)`` (``python -m ops forecast``):

1. records a ``forecast_runs`` row (status ``running``, parameters as JSON, pid) or, with
   ``resume``, takes an unfinished run and its stored parameters;
2. reads weekly demand (:func:`ops.forecast.data.load_weekly`, censored weeks corrected);
3. fits the global gradient-boosting model twice in this process: on target weeks before the
   earliest backtest origin (for the backtest) and on all weeks (for the forecast);
4. splits the SKUs into chunks of ``chunk_size`` and runs them in ``jobs`` worker processes
   (joblib) or, with ``cluster``, on the workers of a Dask distributed cluster; each chunk
   backtests every model, chooses per SKU (:mod:`ops.forecast.backtest`) and forecasts
   ``horizon`` weeks with the chosen model;
5. stores each finished chunk (choices, every model's scores, weekly forecasts) and the progress
   count in one transaction, so a killed run resumes (``resume=RUN_ID``) without redoing them;
6. marks the run ``succeeded`` (or ``failed`` with the error; the exception propagates) and, in the
   same transaction, stores what the Forecast page shows of it that no viewer changes: its backtest
   totals per demand pattern and its choices, over the whole catalogue (:func:`store_summary`).

Prophet runs only on eligible series (:func:`ops.forecast.models.prophet_eligible`), at most
``prophet_max`` of them, the highest-volume first (default :data:`PROPHET_DEFAULT`; 0 leaves it out).
Measured at bench size (BENCHMARKS.md): on the 30 highest-volume eligible SKUs Prophet won the
backtest on 18 (WAPE 0.208 against 0.236 for the next best model) at about 0.33 s a fit, seven fits a
SKU; all 284 eligible SKUs would add about 11 minutes, so it is capped at the 30 where it wins most.

On a cluster (``cluster="tcp://host:port"``, the address of a running Dask scheduler) the chunks run
on its workers through the same :func:`chunk_result`: a chunk's task carries the chunk's weekly
history and returns plain rows, and the parts every chunk shares (calendar, fitted global models) are
sent to each worker once. Only this process reads and writes the database, so the workers need no
route to it; the scheduler and the workers need the same OpsDeck code and requirements (the scheduler
unpickles the tasks). At most :data:`CLUSTER_IN_FLIGHT` chunks
per worker thread are out at a time, and finished chunks are stored as they come back, exactly as in
a local run (a killed run resumes the same way, on the cluster or not). Same inputs, same code: the
stored forecasts equal a local run's (``tests/test_forecast_cluster.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, insert, inspect, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ops.db import analyze, read_session, run_in_transaction
from ops.forecast import backtest as bt
from ops.forecast.data import event_flags, load_weekly
from ops.forecast.models import (
    ETS,
    TSB,
    Combination,
    Context,
    Croston,
    GlobalGBM,
    Model,
    ProphetModel,
    SeasonalNaive,
    demand_pattern,
    intervals,
    prophet_eligible,
)
from ops.models import (
    ForecastCatalogue,
    ForecastChoice,
    ForecastRun,
    ForecastScore,
    ForecastSummary,
    ForecastWeek,
    Product,
)

PROPHET_DEFAULT = 30
CLUSTER_CONNECT_SECONDS = 30.0  # how long to wait for the Dask scheduler before the run fails
CLUSTER_IN_FLIGHT = 2  # chunks submitted per worker thread ahead of the results (bounds memory)


class ForecastError(RuntimeError):
    """A forecast run could not be done; the message says what and where."""


@dataclass(frozen=True)
class Params:
    horizon: int = 13
    origins: int = 6
    step: int = 2
    chunk_size: int = 250
    jobs: int = 1
    prophet_max: int = PROPHET_DEFAULT
    skus: tuple[str, ...] | None = None
    as_of: str | None = None  # ISO day: cut the history (for holdout evaluation)
    seed: int = 0

    def to_json(self) -> str:
        d = asdict(self)
        d["skus"] = list(self.skus) if self.skus else None
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Params:
        d = json.loads(text)
        d["skus"] = tuple(d["skus"]) if d.get("skus") else None
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def chunk_result(payload: dict[str, Any]) -> dict[str, Any]:
    """Backtest, choose and forecast one chunk of SKUs (runs in a worker process)."""
    y, observed, censored = payload["y"], payload["observed"], payload["censored"]
    h, p = payload["h"], payload["params"]
    weeks, event, promo = payload["weeks"], payload["event"], payload["promo"]
    pattern_bt, pattern = payload["pattern_bt"], payload["pattern"]
    skus, censored_days = payload["skus"], payload["censored_days"]
    prophet_rows = payload["prophet_rows"]
    models: list[Model] = [SeasonalNaive(), ETS(), Croston(), TSB()]
    if prophet_rows.any():
        models.append(ProphetModel())
    ctx_bt = Context(weeks=weeks, promo=promo, event=event, pattern=pattern_bt)
    res = bt.run_backtest(y, observed, censored, models, ctx_bt, h=h, n_origins=p["origins"], step=p["step"],
                          gbm=payload["gbm_bt"], prophet_rows=prophet_rows)
    n, t = y.shape
    hist_weeks = (~np.isnan(y)).sum(axis=1)
    choices = [bt.choose(res, i, str(pattern[i]), int(hist_weeks[i])) for i in range(n)]
    chosen = np.array([c.model for c in choices], dtype=object)
    final: dict[str, Model] = {m.name: m for m in models}
    if payload["gbm_final"] is not None:
        final["gbm"] = payload["gbm_final"]
        final[bt.COMBO] = Combination([ETS(), TSB(), payload["gbm_final"]])
    mean = np.zeros((n, h))
    sigma = np.zeros((n, h))
    used = chosen.copy()
    for name in sorted(set(chosen)):
        rows = np.nonzero(chosen == name)[0]
        sub = Context(weeks=weeks, promo=promo[rows], event=event, pattern=pattern[rows])
        try:
            pred = final[name].predict(y[rows], h, sub)
            bad = pred.failed if pred.failed is not None else np.zeros(rows.size, dtype=bool)
            bad = bad | ~np.isfinite(pred.mean).all(axis=1) | ~np.isfinite(pred.sigma).all(axis=1)
        except Exception:  # noqa: BLE001 - fall back to the baseline for these SKUs
            bad = np.ones(rows.size, dtype=bool)
            pred = None
        if pred is not None:
            mean[rows], sigma[rows] = pred.mean, pred.sigma
        if bad.any():
            fb = rows[bad]
            base = SeasonalNaive().predict(y[fb], h, Context(weeks=weeks, promo=promo[fb], event=event,
                                                              pattern=pattern[fb]))
            mean[fb], sigma[fb] = base.mean, base.sigma
            for i in fb:
                c = choices[i]
                choices[i] = bt.Choice(model=bt.BASELINE, wape=c.baseline_wape, mase=None, bias=None,
                                       sigma_week=None, baseline_wape=c.baseline_wape,
                                       fallback_reason=f"{name} failed on the full history")
                used[i] = bt.BASELINE
    iv = intervals(np.nan_to_num(mean), np.nan_to_num(sigma))
    future = weeks[t:t + h]
    week_rows = [{"sku": skus[i], "week": future[k].date(), "model": str(used[i]),
                  **{key: float(v[i, k]) for key, v in iv.items()}} for i in range(n) for k in range(h)]
    choice_rows = [{"sku": skus[i], "model": c.model, "pattern": str(pattern[i]), "wape": c.wape, "mase": c.mase,
                    "bias": c.bias, "sigma_week": c.sigma_week, "baseline_wape": c.baseline_wape,
                    "fallback_reason": c.fallback_reason, "censored_days": int(censored_days[i]),
                    "history_weeks": int(hist_weeks[i])} for i, c in enumerate(choices)]
    score_rows = []
    for name, s in res.scores.items():
        per = s.seconds / max(1, n if name != "prophet" else int(prophet_rows.sum()))
        if name == "gbm":
            per += payload["gbm_fit_per_series"]  # its two fits (backtest, final) spread over the catalogue
        for i in range(n):
            if name == "prophet" and not prophet_rows[i]:
                continue
            score_rows.append({"sku": skus[i], "model": name, "abs_error": float(s.abs_error[i]),
                               "error": float(s.error[i]), "actual": float(s.actual[i]),
                               "scale": None if not np.isfinite(res.scale[i]) else float(res.scale[i]),
                               "n": int(s.n[i]), "fit_seconds": per,
                               "failed": (s.reason or "failed") if s.failed is not None and s.failed[i] else None})
    return {"chunk": payload["chunk"], "weeks": week_rows, "choices": choice_rows, "scores": score_rows}


def chunk_result_shared(payload: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """:func:`chunk_result` on a chunk's own part and the part every chunk shares (a cluster task)."""
    return chunk_result({**shared, **payload})


def _distributed() -> Any:
    """The ``distributed`` package (imported only for a cluster run; its API is untyped, hence Any)."""
    try:
        import distributed
    except ImportError:
        raise ForecastError("running on a cluster needs dask[distributed] (pip install -r requirements.txt)") from None
    return distributed


def _connect(address: str) -> Any:
    """A ``distributed.Client`` on the Dask scheduler at ``address``, with at least one worker."""
    dist = _distributed()
    try:
        dist.comm.get_address_host_port(address)  # checked first: a client made on a bad one fails noisily
    except ValueError as exc:
        raise ForecastError(f"{address!r} is not a Dask scheduler address (tcp://host:port): {exc}") from None
    try:
        client = dist.Client(address, timeout=CLUSTER_CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ForecastError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        client.wait_for_workers(1, timeout=CLUSTER_CONNECT_SECONDS)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise ForecastError(f"the Dask cluster at {address} has no workers "
                            f"(waited {CLUSTER_CONNECT_SECONDS:g} s): {exc}") from None
    return client


def _missing_code(exc: Exception) -> ForecastError | None:
    """The plain message when the cluster's scheduler or a worker cannot import OpsDeck (it unpickles
    the tasks, a worker also the fitted models); None for any other error."""
    text = str(exc)
    if "No module named" not in text and "deserialization of the task graph" not in text:
        return None
    first = text.splitlines()[0].split(". ")[0] if text else type(exc).__name__
    return ForecastError(f"the Dask cluster cannot load the forecast code ({first}): its scheduler and workers "
                         "need the OpsDeck code and requirements installed, as on this machine")


def _on_cluster(client: Any, run_id: int, parts: Iterable[dict[str, Any]],
                shared: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Run the chunks on the cluster's workers; yields each chunk's result as it finishes."""
    try:
        [shared_future] = client.scatter([shared], broadcast=True)  # once per worker, not once per chunk
    except Exception as exc:
        if (plain := _missing_code(exc)) is not None:
            raise plain from exc
        raise
    ahead = max(2, CLUSTER_IN_FLIGHT * sum(client.nthreads().values()))
    tag = uuid.uuid4().hex[:8]
    todo = iter(parts)

    def submit(part: dict[str, Any]) -> Any:
        return client.submit(chunk_result_shared, part, shared_future,
                             key=f"opsdeck-forecast-{run_id}-{tag}-chunk-{part['chunk']}")

    first = [submit(part) for _, part in zip(range(ahead), todo, strict=False)]
    pending = _distributed().as_completed(first, loop=client.loop)  # not the default client: there is none
    for future in pending:
        try:
            result = future.result()  # a chunk's exception is raised here, as in a local run
        except Exception as exc:
            if (plain := _missing_code(exc)) is not None:
                raise plain from exc
            raise
        future.release()
        nxt = next(todo, None)
        if nxt is not None:
            pending.add(submit(nxt))
        yield result


def _start(engine: Engine, params: Params) -> int:
    def work(s: Any) -> int:
        rid = s.execute(insert(ForecastRun).values(started_at=_now(), parameters=params.to_json(), status="running",
                                                   n_skus=0, n_done=0, n_fallback=0, pid=os.getpid(),
                                                   heartbeat_at=_now()).returning(ForecastRun.id)).scalar_one()
        return int(rid)
    return run_in_transaction(engine, work)


def _resume(engine: Engine, run_id: int) -> Params:
    with read_session(engine) as s:
        row = s.execute(select(ForecastRun.status, ForecastRun.parameters).where(ForecastRun.id == run_id)).first()
    if row is None:
        raise ForecastError(f"forecast run {run_id} does not exist")
    if row[0] == "succeeded":
        raise ForecastError(f"forecast run {run_id} already finished; nothing to resume")
    run_in_transaction(engine, lambda s: s.execute(update(ForecastRun).where(ForecastRun.id == run_id).values(
        status="running", error=None, pid=os.getpid(), heartbeat_at=_now(), finished_at=None)))
    return Params.from_json(row[1])


# What a successful run writes, given planner statistics as it commits.
ANALYZED_TABLES = ("forecast_runs", "forecast_choices", "forecast_scores", "forecast_weeks", "forecast_summary",
                   "forecast_catalogue", "agg_planner_forecast")


def _done_skus(engine: Engine, run_id: int) -> set[str]:
    with read_session(engine) as s:
        return set(s.execute(select(ForecastChoice.sku).where(ForecastChoice.run_id == run_id)).scalars())


def _store(engine: Engine, run_id: int, result: dict[str, Any]) -> None:
    def work(s: Any) -> None:
        skus = [c["sku"] for c in result["choices"]]
        # idempotent: a chunk half-written by a killed run is replaced as a whole
        for table in (ForecastWeek, ForecastScore, ForecastChoice):
            s.execute(delete(table).where(table.run_id == run_id, table.sku.in_(skus)))
        chunk = result["chunk"]
        s.execute(insert(ForecastChoice), [{**c, "run_id": run_id, "chunk": chunk} for c in result["choices"]])
        if result["scores"]:
            s.execute(insert(ForecastScore), [{**c, "run_id": run_id} for c in result["scores"]])
        if result["weeks"]:
            s.execute(insert(ForecastWeek), [{**c, "run_id": run_id} for c in result["weeks"]])
        done = s.execute(select(func.count()).select_from(ForecastChoice)
                         .where(ForecastChoice.run_id == run_id)).scalar_one()
        fb = s.execute(select(func.count()).select_from(ForecastChoice).where(
            ForecastChoice.run_id == run_id, ForecastChoice.fallback_reason.is_not(None))).scalar_one()
        s.execute(update(ForecastRun).where(ForecastRun.id == run_id).values(n_done=done, n_fallback=fb,
                                                                              heartbeat_at=_now()))
    run_in_transaction(engine, work)


def store_summary(session: Session, *, run_id: int) -> int:
    """Store what the Forecast page shows of run ``run_id`` that no viewer changes: its backtest totals
    per demand pattern (``forecast_summary``) and its choices (``forecast_catalogue``), both over the
    whole catalogue, replacing any stored before; returns the pattern rows written.

    Both are read with :mod:`ops.forecast.queries`' own reads for a viewer who sees every product
    (:func:`~ops.forecast.queries.pattern_sums`, :func:`~ops.forecast.queries.latest_choices`), so the
    stored rows give the frames those reads would. Called as the run succeeds, in its transaction; a
    database not yet migrated to 0014 (no tables) is left alone and its page computes them on load.
    """
    from ops.access import SYSTEM
    from ops.forecast.queries import encode_catalogue, latest_choices, pattern_sums

    conn = session.connection()
    if not all(inspect(conn).has_table(t.__tablename__) for t in (ForecastSummary, ForecastCatalogue)):
        return 0
    for table in (ForecastSummary, ForecastCatalogue):
        session.execute(delete(table).where(table.run_id == run_id))
    sums = pattern_sums(session, viewer=SYSTEM, run_id=run_id)
    rows = [{"run_id": run_id, "pattern": str(r.pattern), "skus": int(r.skus), "fallbacks": int(r.fallbacks),
             **{k: None if pd.isna(v) else float(v) for k, v in (("ae", r.ae), ("act", r.act), ("nae", r.nae),
                                                                   ("nact", r.nact))}}
            for r in sums.itertuples(index=False)]
    if rows:
        session.execute(insert(ForecastSummary), rows)
    choices = latest_choices(session, viewer=SYSTEM, run_id=run_id)
    if len(choices):
        session.execute(insert(ForecastCatalogue).values(run_id=run_id, **encode_catalogue(choices)))
    return len(rows)


def _fail(engine: Engine, run_id: int, message: str) -> None:
    run_in_transaction(engine, lambda s: s.execute(update(ForecastRun).where(ForecastRun.id == run_id).values(
        status="failed", error=message[:2000], finished_at=_now())))


def _progress(total: int, initial: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="SKU", desc="forecast", file=sys.stderr, dynamic_ncols=True)


def run_forecast(engine: Engine, *, skus: Sequence[str] | None = None, jobs: int = 1, resume: int | None = None,
                 horizon: int = 13, origins: int = 6, step: int = 2, chunk_size: int = 250,
                 prophet_max: int = PROPHET_DEFAULT,
                 as_of: dt.date | None = None, progress: bool = False,
                 on_chunk: Callable[[int], None] | None = None, cluster: str | None = None) -> int:
    """Run (or resume) a forecast; returns the run id. See the module docstring.

    ``cluster`` is the address of a Dask scheduler (``tcp://host:port``) to run the chunks on
    (``jobs`` is then unused); without it they run here in ``jobs`` processes.
    """
    if resume is not None:
        params = _resume(engine, resume)
        run_id = resume
        params = Params(**{**asdict(params), "jobs": jobs})
    else:
        if horizon < 1 or origins < 1 or step < 1 or chunk_size < 1 or jobs < 1:
            raise ForecastError("horizon, origins, step, chunk size and jobs must be at least 1")
        params = Params(horizon=horizon, origins=origins, step=step, chunk_size=chunk_size, jobs=jobs,
                        prophet_max=prophet_max, skus=tuple(skus) if skus else None,
                        as_of=as_of.isoformat() if as_of else None)
        run_id = _start(engine, params)
    try:
        with ExitStack() as stack:
            client = stack.enter_context(_connect(cluster)) if cluster else None
            _execute(engine, run_id, params, progress=progress, on_chunk=on_chunk, client=client)
    except BaseException as exc:
        msg = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ForecastError) else str(exc)
        if isinstance(exc, KeyboardInterrupt):
            msg = f"interrupted; resume with: python -m ops forecast --resume {run_id}"
        _fail(engine, run_id, msg)
        raise
    return run_id


def _execute(engine: Engine, run_id: int, p: Params, *, progress: bool,
             on_chunk: Callable[[int], None] | None, client: Any = None) -> None:
    as_of = dt.date.fromisoformat(p.as_of) if p.as_of else None
    with read_session(engine) as s:
        if p.skus:
            known = set(s.execute(select(Product.sku).where(Product.sku.in_(list(p.skus)))).scalars())
            unknown = [k for k in p.skus if k not in known]
            if unknown:
                raise ForecastError(f"unknown SKU(s): {', '.join(unknown[:10])}")
        data = load_weekly(s, skus=p.skus, as_of=as_of)
    n, t = data.y.shape
    run_in_transaction(engine, lambda s: s.execute(update(ForecastRun).where(ForecastRun.id == run_id).values(
        n_skus=n, as_of=data.as_of)))
    if t == 0:
        raise ForecastError("no complete week of order lines to forecast from (import or seed data first)")
    h = p.horizon
    weeks = data.weeks.append(pd.date_range(data.weeks[-1] + pd.Timedelta(days=7), periods=h, freq="W-MON"))
    event = event_flags(weeks, [])
    event[:t] = np.maximum(event[:t], data.event)
    promo = np.hstack([data.promo, np.zeros((n, h))])  # no promotions are planned ahead in the data
    pattern = demand_pattern(data.y)
    orgs = bt.origins_for(t, h, p.origins, p.step)
    first = orgs[0] if orgs else t
    pattern_bt = demand_pattern(data.y[:, :first])
    ctx_bt = Context(weeks=weeks, promo=promo, event=event, pattern=pattern_bt)
    ctx = Context(weeks=weeks, promo=promo, event=event, pattern=pattern)
    gbm_bt: GlobalGBM | None = None
    gbm_final: GlobalGBM | None = None
    if orgs and first > GlobalGBM.MIN_ORIGIN + 1:
        try:
            gbm_bt = GlobalGBM(seed=p.seed).fit(data.y, first, h, ctx_bt)
            gbm_final = GlobalGBM(seed=p.seed).fit(data.y, t, h, ctx)
        except Exception:  # noqa: BLE001 - without the global model the others still run
            gbm_bt = gbm_final = None
    gbm_share = ((gbm_bt.fit_seconds if gbm_bt else 0.0) + (gbm_final.fit_seconds if gbm_final else 0.0)) / max(1, n)
    prophet_rows = np.zeros(n, dtype=bool)
    if p.prophet_max > 0:
        elig = np.nonzero(prophet_eligible(data.y, pattern))[0]
        vol = np.nansum(data.y[elig], axis=1)
        prophet_rows[elig[np.argsort(-vol)][:p.prophet_max]] = True
    done = _done_skus(engine, run_id)
    todo = np.array([i for i, sku in enumerate(data.skus) if sku not in done], dtype=int)
    chunks = [todo[i:i + p.chunk_size] for i in range(0, todo.size, p.chunk_size)]
    bar = _progress(n, n - todo.size, progress)

    shared = {"weeks": weeks, "event": event, "h": h, "params": asdict(p), "gbm_bt": gbm_bt, "gbm_final": gbm_final,
              "gbm_fit_per_series": gbm_share}

    def parts() -> Iterator[dict[str, Any]]:
        for ci, rows in enumerate(chunks):
            yield {"chunk": ci, "y": data.y[rows], "observed": data.observed[rows], "censored": data.censored[rows],
                   "promo": promo[rows], "pattern_bt": pattern_bt[rows], "pattern": pattern[rows],
                   "skus": [data.skus[i] for i in rows], "censored_days": data.censored_days[rows],
                   "prophet_rows": prophet_rows[rows]}

    def payloads() -> Iterator[dict[str, Any]]:
        return ({**shared, **part} for part in parts())

    results: Iterable[dict[str, Any]]
    if client is not None:
        results = _on_cluster(client, run_id, parts(), shared) if chunks else iter(())
    elif p.jobs > 1 and len(chunks) > 1:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=p.jobs, return_as="generator_unordered")(
            delayed(chunk_result)(pl) for pl in payloads())
    else:
        results = (chunk_result(pl) for pl in payloads())
    for res in results:
        _store(engine, run_id, res)
        if bar is not None:
            bar.update(len(res["choices"]))
        if on_chunk is not None:
            on_chunk(res["chunk"])
    if bar is not None:
        bar.close()

    def succeed(s: Session) -> None:
        s.execute(update(ForecastRun).where(ForecastRun.id == run_id).values(
            status="succeeded", finished_at=_now(), heartbeat_at=_now()))
        store_summary(s, run_id=run_id)  # a finished run never changes: its catalogue-wide summary is kept
        # The planner's demand per SKU is derived from the latest successful run: rebuilt in the
        # same commit, so the planner page never reads another run's figures (ops.planner.refresh).
        from ops.planner.refresh import after_forecast_run

        after_forecast_run(s)
        # a run is a bulk write: the pages' first reads of it are planned with statistics (ops.db.analyze);
        # without them PostgreSQL read a supplier's choices in 26 ms instead of 4 at bench size
        conn = s.connection()
        if conn.dialect.name == "postgresql":  # a database before migration 0014 lacks the page's tables
            analyze(conn, [t for t in ANALYZED_TABLES if inspect(conn).has_table(t)])

    run_in_transaction(engine, succeed)

