"""Reorder planner at bench size: a what-if scenario recomputed for the whole catalogue, and a
10,000-path Monte Carlo of one SKU, each beside a straightforward pandas / Python implementation.

- ``scenario``: :func:`ops.planner.compute_plan` (vectorised numpy over every SKU x warehouse) under
  a scenario (+20 % demand in one category, +5 days lead time at one supplier, a 98 % cycle service
  level, MOQ x 2, a budget cap). Cold = reading the planning inputs (stock, demand stats, open POs,
  measured lead times) and computing; warm = the recompute alone (median of 5), which is what
  pressing "Apply" on a changed what-if costs once the inputs are loaded.
- ``naive pandas``: the same plan written as a typical notebook would, ``DataFrame.apply`` of a
  Python function per row (``statistics.NormalDist`` for z, ``math`` for the rest), a
  ``groupby().apply`` for the open POs and a row loop for the budget. Cold adds reading the raw
  tables it needs (products, PO lines, received lines for the lead times) with ``read_sql``.
  :func:`run` checks both give the same suggested quantity on every row before reporting.
- ``simulation``: :func:`ops.planner.simulate` of the planted stockout SKU, 10,000 paths x 91 days
  (fan chart included); naive: the same model path by path in plain Python loops. The two agree on
  the stockout probability and fill rate within Monte Carlo error (checked).
"""

from __future__ import annotations

import math
import statistics
import time
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from bench.timing import ms_since
from ops.access import SYSTEM
from ops.db import read_session
from ops.planner import Policy, compute_plan, sim_input, simulate
from ops.planner import queries as q

WARM_RUNS = 5
PATHS = 10_000


def _cpu_ms(t0: float) -> float:
    return (time.process_time() - t0) * 1000


def _inputs(engine: Engine) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    with read_session(engine) as s:
        return (q.planning_inputs(s, viewer=SYSTEM), q.open_po_lines(s, viewer=SYSTEM),
                q.lead_times(s, viewer=SYSTEM))


def _scenario(inputs: pd.DataFrame) -> Policy:
    cat = str(inputs["category"].value_counts().index[0])
    sup = str(inputs["supplier"].value_counts().index[0])
    return Policy(service_level=0.98, demand_change={f"category:{cat}": 0.2}, lead_time_change={sup: 5.0},
                  moq_factor=2.0, budget=250_000.0)


def naive_plan(inputs: pd.DataFrame, po_lines: pd.DataFrame, lead: pd.DataFrame, p: Policy) -> pd.DataFrame:
    """The plan, one Python call per row (what a straightforward pandas notebook does)."""
    on_order = po_lines.groupby(["product_id", "warehouse_id"])["qty_open"].apply(lambda g: g.sum())
    lt_mean = {r.supplier: r.lt_mean_days for r in lead.itertuples() if not pd.isna(r.lt_mean_days)}
    lt_sd = {r.supplier: r.lt_std_days for r in lead.itertuples() if not pd.isna(r.lt_mean_days)}
    z = NormalDist().inv_cdf(p.service_level)
    cat_change = {k.split(":", 1)[1]: v for k, v in p.demand_change.items() if k.startswith("category:")}
    sku_change = {k.split(":", 1)[1]: v for k, v in p.demand_change.items() if k.startswith("sku:")}

    def row(r: pd.Series) -> pd.Series:
        mean_w = r["wk_units"] / 52.0
        factor = 1.0 + sku_change.get(r["sku"], cat_change.get(r["category"], 0.0))
        mu = mean_w / 7.0 * factor
        sd = math.sqrt(max(r["wk_sumsq"] / 52.0 - mean_w * mean_w, 0.0) / 7.0) * factor
        lt = lt_mean.get(r["supplier"], float(r["lead_time_stated"])) + p.lead_time_change.get(r["supplier"], 0.0)
        lsd = lt_sd.get(r["supplier"], 0.0) if r["supplier"] in lt_mean else 0.0
        period = lt + p.review_days
        s_level = mu * period + z * math.sqrt(period * sd * sd + mu * mu * lsd * lsd)
        ip = r["on_hand"] + on_order.get((r["product_id"], r["warehouse_id"]), 0)
        need = s_level - ip
        moq = max(math.ceil(r["moq"] * p.moq_factor / r["case_pack"] - 1e-9), 1) * r["case_pack"]
        qty = math.ceil(max(need, moq) / r["case_pack"] - 1e-9) * r["case_pack"] if need > 0 else 0
        return pd.Series({"qty": qty, "value": qty * r["unit_cost"]})

    out = pd.concat([inputs[["sku", "warehouse"]], inputs.apply(row, axis=1)], axis=1)
    return out


def _naive_read(engine: Engine) -> None:
    with engine.connect() as c:
        pd.read_sql(text("SELECT id, sku, moq, case_pack, supplier_id, lead_time_days FROM products"), c)
        pd.read_sql(text("SELECT l.product_id, p.warehouse_id, p.status, l.qty_ordered, l.qty_received, "
                         "p.ordered_on, l.received_on, p.supplier_id FROM purchase_order_lines l "
                         "JOIN purchase_orders p ON p.id = l.po_id"), c)
        pd.read_sql(text("SELECT * FROM agg_inventory_pair"), c)


def _naive_simulation(x: Any, n_paths: int, horizon: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    short_paths = 0
    served_all = demanded_all = 0.0
    for _ in range(n_paths):
        on_hand, pipeline, short = x.on_hand, dict(x.open_pos), False
        for t in range(horizon):
            on_hand += pipeline.pop(t, 0.0)
            if t % x.review_days == 0:
                want = x.order_up_to - on_hand - sum(pipeline.values())
                if want > 0:
                    qty = math.ceil(max(want, x.moq) / x.case_pack - 1e-9) * x.case_pack
                    lt = max(int(round(rng.normal(x.lead_time_mean, x.lead_time_sd))), 0)
                    pipeline[t + lt] = pipeline.get(t + lt, 0.0) + qty
            d = max(rng.normal(x.demand_mean, x.demand_sd), 0.0)
            served = min(d, on_hand)
            short |= d > on_hand + 1e-12
            on_hand -= served
            served_all += served
            demanded_all += d
        short_paths += short
    return short_paths / n_paths, served_all / demanded_all


def run(engine: Engine) -> list[dict[str, Any]]:
    from ops.demo import anomalies

    t0 = time.perf_counter()
    inputs, po_lines, lead = _inputs(engine)
    pol = _scenario(inputs)
    plan = compute_plan(inputs, po_lines, policy=pol, lead=lead)
    cold = ms_since(t0)
    warm, warm_cpu = [], []
    for _ in range(WARM_RUNS):
        t, c = time.perf_counter(), time.process_time()
        plan = compute_plan(inputs, po_lines, policy=pol, lead=lead)
        warm.append(ms_since(t))
        warm_cpu.append(_cpu_ms(c))
    # The naive plan has no budget step: compare against ours without the cap, then time both.
    uncapped = Policy(**{**pol.__dict__, "budget": None})
    ours_uncapped = compute_plan(inputs, po_lines, policy=uncapped, lead=lead)
    t = time.perf_counter()
    _naive_read(engine)
    naive = naive_plan(inputs, po_lines, lead, uncapped)
    naive_warm = ms_since(t)
    t, c = time.perf_counter(), time.process_time()
    naive = naive_plan(inputs, po_lines, lead, uncapped)
    naive_compute, naive_cpu = ms_since(t), _cpu_ms(c)
    diff = int((naive["qty"].to_numpy() != ours_uncapped["suggested_qty"].to_numpy()).sum())
    if diff:
        raise AssertionError(f"naive and vectorised plans differ on {diff} rows")
    rows = [
        {"name": "planner scenario", "approach": "vectorised (numpy)", "cold_ms": cold,
         "warm_ms": statistics.median(warm), "rows": len(plan), "cpu_ms": statistics.median(warm_cpu)},
        {"name": "planner scenario", "approach": "naive pandas (apply per row)", "cold_ms": naive_warm,
         "warm_ms": naive_compute, "rows": len(naive), "cpu_ms": naive_cpu},
    ]
    a = anomalies()
    row = plan[plan["sku"] == a.stockout_sku]
    row = row.iloc[0] if len(row) else plan.sort_values("urgency_rank").iloc[-1]
    x = sim_input(row, plan.attrs.get("as_of"))
    sims, sims_cpu = [], []
    for _ in range(WARM_RUNS):
        t, c = time.perf_counter(), time.process_time()
        res = simulate(x, n_paths=PATHS)
        sims.append(ms_since(t))
        sims_cpu.append(_cpu_ms(c))
    bare, bare_cpu = [], []
    for _ in range(WARM_RUNS):
        t, c = time.perf_counter(), time.process_time()
        simulate(x, n_paths=PATHS, fan=False)
        bare.append(ms_since(t))
        bare_cpu.append(_cpu_ms(c))
    t, c = time.perf_counter(), time.process_time()
    n_naive = 1_000  # 10,000 Python paths take ~10x longer: time 1,000 and scale
    p_naive, fill_naive = _naive_simulation(x, n_naive, 91, 7)
    naive_sim, naive_sim_cpu = ms_since(t) * PATHS / n_naive, _cpu_ms(c) * PATHS / n_naive
    if abs(p_naive - res.stockout_probability) > 0.05 or abs(fill_naive - res.fill_rate) > 0.03:
        raise AssertionError(f"simulations disagree: {p_naive:.3f}/{fill_naive:.3f} vs "
                             f"{res.stockout_probability:.3f}/{res.fill_rate:.3f}")
    rows += [
        {"name": "planner simulation (10,000 paths)", "approach": "vectorised (numpy)", "cold_ms": sims[0],
         "warm_ms": statistics.median(sims), "rows": PATHS, "cpu_ms": statistics.median(sims_cpu)},
        {"name": "planner simulation (10,000 paths)", "approach": "vectorised, risk figures only (no fan chart)",
         "cold_ms": bare[0], "warm_ms": statistics.median(bare), "rows": PATHS, "cpu_ms": statistics.median(bare_cpu)},
        {"name": "planner simulation (10,000 paths)", "approach": "naive Python loops (scaled from 1,000)",
         "cold_ms": naive_sim, "warm_ms": naive_sim, "rows": PATHS, "cpu_ms": naive_sim_cpu},
    ]
    return rows
