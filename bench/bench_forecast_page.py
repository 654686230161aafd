"""Forecast page load at bench size (the stored forecasts; nothing is fitted on load).

On open the page reads :func:`ops.forecast.forecast_page` (latest run's status, the results per
demand pattern, the model chosen per SKU with its scores) and, for the SKU its picker shows first,
:func:`ops.forecast.sku_detail` (history, weekly forecast with intervals and overrides, every
model's backtest). Timed for a planner and for the supplier with the most SKUs (suppliers see their
own SKUs' forecasts).

Like with like: DuckDB and naive pandas compute the catalogue part only (the choices with names and
labels, the per-pattern summary), so ``ours`` is :func:`forecast_page` alone (which also reads the run's
status), and the SKU's detail is timed on its own row (``one SKU's detail``, no reference beside it).
The whole page load is the two rows' sum.

- ``ours``: :func:`forecast_page`, cold and warm (median of :data:`WARM_RUNS`, as for the other two
  approaches). The approach names where the figures came from: stored with the run
  (``forecast_summary``, ``forecast_catalogue``: a full viewer), summed from the viewer's own SKUs'
  rows (a supplier), or computed on load because the run has none stored (it finished before
  migration 0014: run ``python -m ops forecast`` again on the bench copy to time the stored path).
- ``naive pandas``: the latest run's choice and score tables and the products read whole (cold) and
  the catalogue part computed in pandas on every load (warm: unpickling the cached frames plus the
  computation).
- ``duckdb (raw)``: the same frames in an in-memory DuckDB and the same catalogue part in SQL.

The bench database needs a finished forecast run; this module does not make one (a whole-catalogue
run takes minutes): ``bench_forecast`` (run first by ``make bench``) leaves one, or
``python -m ops --db <url> forecast``. Without one the page is its empty state and only ``ours`` is
reported. :func:`run` checks that the three agree on the per-pattern summary (SKU counts and
fallbacks exactly, WAPEs within 1e-9) and the SKU count.
"""

from __future__ import annotations

import pickle
import time
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from bench import duckdb_ref
from bench.timing import timed
from ops.access import Viewer
from ops.db import read_session
from ops.forecast import MODEL_LABELS, forecast_page, sku_detail

WARM_RUNS = 15  # every approach's warm median over as many calls: a supplier's load is a few ms, noise is not
PLANNER = Viewer(username="bench-planner", role="planner")


def _read_raw(engine: Engine, rid: int) -> dict[str, pd.DataFrame]:
    with engine.connect() as c:
        return {
            "choices": pd.read_sql(text("SELECT sku, model, pattern, wape, mase, bias, sigma_week, baseline_wape, "
                                        "fallback_reason, censored_days FROM forecast_choices WHERE run_id = :r"), c,
                                   params={"r": rid}),
            "scores": pd.read_sql(text("SELECT sku, model, abs_error, actual FROM forecast_scores WHERE run_id = :r"),
                                  c, params={"r": rid}),
            "products": pd.read_sql(text("SELECT p.sku, p.name, s.code AS supplier FROM products p "
                                         "LEFT JOIN suppliers s ON s.id = p.supplier_id"), c),
        }


def _scoped(raw: dict[str, pd.DataFrame], supplier: str | None) -> dict[str, pd.DataFrame]:
    if supplier is None:
        return raw
    skus = set(raw["products"].loc[raw["products"]["supplier"] == supplier, "sku"])
    return {"choices": raw["choices"][raw["choices"]["sku"].isin(skus)],
            "scores": raw["scores"][raw["scores"]["sku"].isin(skus)],
            "products": raw["products"][raw["products"]["sku"].isin(skus)]}


def _summary(per: pd.DataFrame) -> pd.DataFrame:
    tot = per.sum(numeric_only=True).to_frame().T.assign(pattern="all")
    df = pd.concat([per, tot], ignore_index=True)
    df["chosen_wape"] = df["ae"] / df["act"]
    df["naive_wape"] = df["nae"] / df["nact"]
    return df[["pattern", "skus", "fallbacks", "chosen_wape", "naive_wape"]]


def naive_catalogue(raw: dict[str, pd.DataFrame]) -> dict[str, Any]:
    ch = raw["choices"].merge(raw["products"][["sku", "name"]], on="sku", how="inner")
    ch["forecast_model"] = ch["model"].map(lambda m: MODEL_LABELS.get(str(m), str(m)))
    sc = raw["scores"]
    chosen = ch.merge(sc, on=["sku", "model"])
    naive = ch.merge(sc[sc["model"] == "naive"], on="sku", suffixes=("", "_n"))
    per = chosen.groupby("pattern").agg(skus=("sku", "size"), fallbacks=("fallback_reason", "count"),
                                        ae=("abs_error", "sum"), act=("actual", "sum"))
    per = per.join(naive.groupby("pattern").agg(nae=("abs_error", "sum"), nact=("actual", "sum"))).reset_index()
    return {"choices": ch.sort_values("sku", ignore_index=True), "summary": _summary(per)}


DUCK_SUMMARY = """
SELECT c.pattern, count(*) AS skus, count(c.fallback_reason) AS fallbacks, sum(s.abs_error) AS ae,
       sum(s.actual) AS act, sum(n.abs_error) AS nae, sum(n.actual) AS nact
FROM choices c JOIN products p USING (sku) JOIN scores s ON s.sku = c.sku AND s.model = c.model
LEFT JOIN scores n ON n.sku = c.sku AND n.model = 'naive'
GROUP BY c.pattern ORDER BY c.pattern
"""


def duckdb_catalogue(con: Any) -> dict[str, Any]:
    choices = duckdb_ref.frame(con, "SELECT c.*, p.name FROM choices c JOIN products p USING (sku) ORDER BY c.sku")
    labels = {m: MODEL_LABELS.get(str(m), str(m)) for m in pd.unique(choices["model"])}
    choices["forecast_model"] = choices["model"].map(labels)
    return {"choices": choices, "summary": _summary(duckdb_ref.frame(con, DUCK_SUMMARY))}


def _agree(page: Any, other: dict[str, Any], label: str) -> str:
    mine = page.summary.set_index("pattern")
    theirs = other["summary"].set_index("pattern").reindex(mine.index)
    if len(page.choices) != len(other["choices"]):
        raise AssertionError(f"{label}: {len(other['choices'])} SKUs vs {len(page.choices)}")
    for c in ("skus", "fallbacks"):
        if not (mine[c].astype(int) == theirs[c].astype(int)).all():
            raise AssertionError(f"{label}: {c} per pattern differ")
    for c in ("chosen_wape", "naive_wape"):
        np.testing.assert_allclose(mine[c].astype(float), theirs[c].astype(float), rtol=1e-9, err_msg=label)
    return f"{len(page.choices):,} SKUs, {len(mine) - 1} patterns"


def _busiest_supplier(engine: Engine) -> str:
    with engine.connect() as c:
        return str(c.execute(text("SELECT s.code FROM products p JOIN suppliers s ON s.id = p.supplier_id "
                                  "GROUP BY s.code ORDER BY count(*) DESC, s.code LIMIT 1")).scalar_one())


def _summary_source(engine: Engine, rid: int | None, viewer: Viewer) -> str:
    if rid is None:
        return "no run"
    if viewer.is_vendor:
        return "own SKUs' rows"
    with engine.connect() as c:
        stored = c.execute(text("SELECT count(*) FROM forecast_catalogue WHERE run_id = :r"), {"r": rid}).scalar()
    return "stored with the run" if stored else "computed on load: none stored"


def run(engine: Engine) -> list[dict[str, Any]]:
    supplier = _busiest_supplier(engine)
    vendor = Viewer(username="bench-vendor", role="vendor", vendor_kind="supplier", vendor_code=supplier)
    with engine.connect() as c:
        rid = c.execute(text("SELECT max(id) FROM forecast_runs WHERE status = 'succeeded'")).scalar()
    raw = _read_raw(engine, int(rid)) if rid is not None else None
    rows: list[dict[str, Any]] = []
    viewers = (("forecast page", PLANNER, None), (f"forecast page, supplier {supplier}", vendor, supplier))
    for name, viewer, code in viewers:
        def ours(viewer: Viewer = viewer) -> Any:
            with read_session(engine) as s:
                return forecast_page(s, viewer=viewer)

        page, cold, warm, cpu = timed(ours, WARM_RUNS)
        rows.append({"name": name, "approach": f"ops.forecast ({_summary_source(engine, rid, viewer)})",
                     "cold_ms": cold, "warm_ms": warm, "warm_cpu_ms": cpu, "rows": len(page.choices)})
        if len(page.choices):
            sku = str(page.choices["sku"].iloc[0])

            def detail(viewer: Viewer = viewer, sku: str = sku) -> Any:
                with read_session(engine) as s:
                    return sku_detail(s, viewer=viewer, sku=sku)

            got, d_cold, d_warm, d_cpu = timed(detail, WARM_RUNS)
            rows.append({"name": f"{name}: one SKU's detail", "approach": "ops.forecast.sku_detail",
                         "cold_ms": d_cold, "warm_ms": d_warm, "warm_cpu_ms": d_cpu, "rows": len(got.weeks)})
        if raw is None:
            print(f"  {name}: no finished forecast run, the page's empty state only", flush=True)
            continue
        scoped = _scoped(raw, code)
        cached = pickle.dumps(scoped)
        t0 = time.perf_counter()
        _read_raw(engine, int(rid))
        read_ms = (time.perf_counter() - t0) * 1000
        naive, n_cold, n_warm, n_cpu = timed(lambda cached=cached: naive_catalogue(pickle.loads(cached)),  # noqa: S301
                                              WARM_RUNS)
        duck, dt_ = duckdb_ref.reference(scoped, duckdb_catalogue, warm_runs=WARM_RUNS)
        print(f"  {name}: ours and naive pandas agree on {_agree(page, naive, 'naive pandas')}", flush=True)
        print(f"  {name}: ours and DuckDB agree on {_agree(page, duck, 'DuckDB')}", flush=True)
        rows += [
            {"name": name, "approach": "naive pandas (read_sql whole tables)", "cold_ms": n_cold + read_ms,
             "warm_ms": n_warm, "warm_cpu_ms": n_cpu, "rows": len(naive["choices"])},
            {"name": name, "approach": "duckdb (raw)", "cold_ms": dt_.cold_ms, "warm_ms": dt_.warm_ms,
             "warm_cpu_ms": dt_.warm_cpu_ms, "rows": len(duck["choices"])},
        ]
    return rows
