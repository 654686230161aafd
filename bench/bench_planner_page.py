"""Reorder planner page load at bench size: ours vs the naive pandas approach vs DuckDB.

What the page reads on open (``app_pages/planner.py`` through ``ui.planner.load_page``) is one call of
:func:`ops.planner.planner_page` (planning inputs, open PO lines, measured lead times, the latest
forecast's demand, the plan of every SKU x warehouse, the suggested lines, the draft POs, the
summary tiles, the notes and the plan's fingerprint) and the approved-PO table for the ERP
(:func:`ops.planner.exports.export_erp_pos`, shown in an expander). Vendors cannot open the page.

- ``aggregates``: those two calls, cold (first on a new engine) and warm (median of later calls).
- ``naive pandas``: the whole raw tables read with ``read_sql`` (cold) and the planning inputs
  computed from them in pandas on every load (warm: unpickling the cached frames, as an
  ``st.cache_data`` hit does, plus the computation): stock as of the last snapshot day, 52 weekly
  demand buckets per SKU x warehouse and per SKU, open PO lines, lead times per supplier from the
  received lines, the latest forecast's first 8 weeks; then the same plan math.
- ``duckdb (raw)``: the same raw frames in an in-memory DuckDB (:mod:`bench.duckdb_ref`), the
  planning inputs computed by DuckDB SQL, then the same plan math (:func:`ops.planner.compute_plan`,
  the page's assembly): the data work in DuckDB, the replenishment formulas shared.

:func:`run` checks that each gives the same suggested quantity on every SKU x warehouse and the same
summary (counts exactly, money within 1e-9) as ours before it reports.
"""

from __future__ import annotations

import math
import pickle
import time
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from bench import duckdb_ref
from bench.bench_inventory import DUCK_PAIRS, DUCK_SCOPE, WINDOW, _read_raw, _statements
from bench.timing import ms_since, timed
from ops.access import Viewer
from ops.db import read_session
from ops.inventory import DEFAULT_LEAD_TIME_DAYS
from ops.inventory import metrics as im
from ops.planner import draft_pos, planner_page, scenario_summary
from ops.planner.exports import export_erp_pos
from ops.planner.page import suggested_lines
from ops.planner.queries import INPUT_COLUMNS
from ops.planner.suggest import compute_plan

WARM_RUNS = 5
NAIVE_WARM_RUNS = 3
PLANNER = Viewer(username="bench-planner", role="planner")


def _read_planner_raw(engine: Engine) -> dict[str, pd.DataFrame]:
    """The inventory bench's raw frames plus what the planner needs besides: MOQ, case pack and
    active flag per product, each PO's supplier, the latest successful forecast run's rows."""
    raw = _read_raw(engine)
    with engine.connect() as c:
        raw["pprod"] = pd.read_sql(text("SELECT id, moq, case_pack, active FROM products"), c)
        raw["po_sup"] = pd.read_sql(text("SELECT id, supplier_id FROM purchase_orders"), c)
        rid = c.execute(text("SELECT max(id) FROM forecast_runs WHERE status = 'succeeded'")).scalar()
        raw["fweeks"] = pd.read_sql(text("SELECT sku, week, yhat, model FROM forecast_weeks WHERE run_id = :r"), c,
                                    params={"r": rid if rid is not None else -1}, parse_dates=["week"])
        raw["fchoices"] = pd.read_sql(text("SELECT sku, sigma_week FROM forecast_choices WHERE run_id = :r"), c,
                                      params={"r": rid if rid is not None else -1})
    raw["pprod"]["active"] = raw["pprod"]["active"].astype(bool)
    return raw


def _assemble(inputs: pd.DataFrame, open_pos: pd.DataFrame, lead: pd.DataFrame,
              forecast: pd.DataFrame) -> dict[str, Any]:
    """The page's tables from the planning inputs (the shared replenishment math)."""
    plan = compute_plan(inputs, open_pos, lead=lead, forecast=forecast)
    drafts = draft_pos(plan)
    return {"plan": plan, "lines": suggested_lines(plan), "drafts": drafts,
            "summary": scenario_summary(plan, drafts=drafts)}


def _lead_frame(st: pd.DataFrame) -> pd.DataFrame:
    """Per supplier code: lt_n, lt_mean_days, lt_std_days as the planner reads them (measured: 2+ lines)."""
    measured = st["lt_n"] >= 2
    return pd.DataFrame({"supplier": st["supplier"].astype(str),
                         "lt_mean_days": st["lt_mean_days"].where(measured).astype("float64"),
                         "lt_std_days": st["lt_std_days"].where(measured).astype("float64"),
                         "lt_n": st["lt_n"].astype("int64"),
                         "lt_source": np.where(measured, "measured", "stated")})


def _forecast_frame(weeks: pd.DataFrame, choices: pd.DataFrame) -> pd.DataFrame:
    if weeks.empty:
        return pd.DataFrame({"sku": pd.Series(dtype=object), "fc_week_mean": pd.Series(dtype="float64"),
                             "fc_sigma_week": pd.Series(dtype="float64"), "fc_model": pd.Series(dtype=object)})
    first = weeks.sort_values(["sku", "week"]).groupby("sku").head(8)
    g = first.groupby("sku")
    out = pd.DataFrame({"fc_week_mean": g["yhat"].mean().clip(lower=0.0), "fc_model": g["model"].first()})
    out["fc_sigma_week"] = choices.set_index("sku")["sigma_week"].reindex(out.index).astype("float64")
    return out.reset_index()[["sku", "fc_week_mean", "fc_sigma_week", "fc_model"]]


def naive_page(raw: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """The planner page's tables computed in pandas from the whole raw tables."""
    keys = ["product_id", "warehouse_id"]
    snap = raw["snap"]
    as_of = snap["day"].max()
    day = pd.Timedelta(days=1)
    recent = snap[(snap["day"] > as_of - im.WINDOWS[-1] * day) & (snap["day"] <= as_of)]
    stock = recent[keys].drop_duplicates().set_index(keys)
    stock["on_hand"] = recent[recent["day"] == as_of].groupby(keys)["on_hand"].max()
    o = raw["orders"]
    o = o[(o["status"] != "cancelled") & o["warehouse_id"].notna() & (o["placed_at"] < as_of + day)]
    lines = raw["lines"].merge(o[["id", "warehouse_id", "placed_at"]], left_on="order_id", right_on="id")
    lines["wk"] = (as_of - lines["placed_at"].dt.normalize()).dt.days // 7
    lines["warehouse_id"] = lines["warehouse_id"].astype("int64")
    year = lines[lines["wk"] < im.WEEKS]
    weekly = year.groupby([*keys, "wk"])["qty"].sum().rename("u").reset_index()
    weekly["sq"] = weekly["u"].astype(float) ** 2
    per_pair = weekly.groupby(keys).agg(wk_units=("u", "sum"), wk_sumsq=("sq", "sum"))
    units_28 = lines[lines["wk"] < 4].groupby(keys)["qty"].sum().rename("units_28")
    sku_units = year.groupby("product_id")["qty"].sum().rename("sku_wk_units")
    pol = raw["pol"].merge(raw["po"], left_on="po_id", right_on="id")
    po = pol[(pol["status"] == "open") & (pol["qty_ordered"] > pol["qty_received"]) & (pol["ordered_on"] <= as_of)]
    po = po.assign(qty_open=po["qty_ordered"] - po["qty_received"])
    idx = stock.index.union(po.groupby(keys).size().index)
    p = (stock.reindex(idx).join(per_pair).join(units_28).fillna(0)).reset_index()
    sup = raw["suppliers"].rename(columns={"id": "supplier_id", "code": "supplier", "lead_time_days": "sup_lead"})
    prod = raw["products"].merge(sup, on="supplier_id", how="left").merge(raw["pprod"], on="id")
    prod["lead_time_stated"] = prod["lead_time_days"].fillna(prod["sup_lead"]).fillna(DEFAULT_LEAD_TIME_DAYS)
    prod = prod[prod["active"]].rename(columns={"id": "product_id"})
    p = p.merge(prod, on="product_id").merge(
        raw["warehouses"].rename(columns={"id": "warehouse_id", "code": "warehouse"}), on="warehouse_id")
    p["sku_wk_units"] = p["product_id"].map(sku_units).astype("float64")
    p["supplier"] = p["supplier"].fillna("")
    p["as_of"] = as_of
    p["moq"], p["case_pack"] = p["moq"].fillna(1), p["case_pack"].fillna(1)
    for c in ("on_hand", "wk_units", "units_28", "lead_time_stated", "moq", "case_pack"):
        p[c] = p[c].astype("int64")
    inputs = p[INPUT_COLUMNS].sort_values(["sku", "warehouse"], kind="mergesort", ignore_index=True)
    open_pos = po[[*keys, "po_number", "ordered_on", "expected_on", "qty_open"]].sort_values(
        [*keys, "expected_on", "po_number"], kind="mergesort", ignore_index=True)
    rec = raw["pol"][raw["pol"]["received_on"].notna()].merge(raw["po"], left_on="po_id", right_on="id") \
        .merge(raw["po_sup"], left_on="po_id", right_on="id", suffixes=("", "_s")).merge(sup, on="supplier_id")
    rec["days"] = (rec["received_on"] - rec["ordered_on"]).dt.days
    st = rec.groupby("supplier")["days"].agg(lt_n="size", lt_mean_days="mean", lt_std_days="std").reset_index()
    lead = _lead_frame(st)
    return _assemble(inputs, open_pos, lead, _forecast_frame(raw["fweeks"], raw["fchoices"]))


DUCK_PLANNER = """
CREATE OR REPLACE TEMP TABLE p_inputs AS
WITH sku_wk AS (SELECT product_id, sum(u) AS sku_wk_units FROM d_weekly GROUP BY ALL)
SELECT b.product_id, b.warehouse_id, b.sku, b.name, b.category, COALESCE(b.supplier, '') AS supplier, b.warehouse,
       b.unit_cost, b.price, a.d::TIMESTAMP AS as_of, b.on_hand, b.wk_units, b.wk_sumsq,
       k.sku_wk_units::DOUBLE AS sku_wk_units, b.units_28, b.lead_time_days AS lead_time_stated,
       COALESCE(pp.moq, 1) AS moq, COALESCE(pp.case_pack, 1) AS case_pack
FROM d_base b JOIN pprod pp ON pp.id = b.product_id CROSS JOIN d_asof a LEFT JOIN sku_wk k USING (product_id)
WHERE pp.active
ORDER BY b.sku, b.warehouse;
CREATE OR REPLACE TEMP TABLE p_lead AS
SELECT s.code AS supplier, count(*) AS lt_n, avg(l.received_on::DATE - o.ordered_on::DATE) AS lt_mean_days,
       stddev_samp(l.received_on::DATE - o.ordered_on::DATE) AS lt_std_days
FROM pol l JOIN po o ON o.id = l.po_id JOIN po_sup ps ON ps.id = l.po_id JOIN suppliers s ON s.id = ps.supplier_id
WHERE l.received_on IS NOT NULL GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE p_forecast AS
WITH ranked AS (SELECT sku, yhat, model, row_number() OVER (PARTITION BY sku ORDER BY week) AS k FROM fweeks)
SELECT r.sku, greatest(avg(r.yhat::DOUBLE), 0) AS fc_week_mean, any_value(c.sigma_week)::DOUBLE AS fc_sigma_week,
       arg_min(r.model, r.k) AS fc_model
FROM ranked r LEFT JOIN fchoices c USING (sku) WHERE r.k <= 8 GROUP BY r.sku ORDER BY r.sku;
"""


def duckdb_page(con: Any) -> dict[str, Any]:
    """The planner page's tables with the planning inputs computed by DuckDB SQL from the raw tables."""
    params: dict[str, Any] = {"window": WINDOW, "supplier": None, "default_lead": DEFAULT_LEAD_TIME_DAYS}
    for st in _statements(DUCK_SCOPE + DUCK_PAIRS + DUCK_PLANNER):
        con.execute(st, {k: v for k, v in params.items() if f"${k}" in st})
    inputs = duckdb_ref.frame(con, "SELECT * FROM p_inputs")
    for c in ("product_id", "warehouse_id", "on_hand", "wk_units", "units_28", "lead_time_stated", "moq", "case_pack"):
        inputs[c] = inputs[c].astype("int64")
    inputs["as_of"] = inputs["as_of"].astype("datetime64[ns]")
    open_pos = duckdb_ref.frame(con, "SELECT product_id, warehouse_id, po_number, ordered_on::TIMESTAMP AS ordered_on, "
                                     "expected_on::TIMESTAMP AS expected_on, qty AS qty_open FROM d_open "
                                     "ORDER BY product_id, warehouse_id, expected_on NULLS LAST, po_number")
    for c in ("ordered_on", "expected_on"):
        open_pos[c] = open_pos[c].astype("datetime64[ns]")
    lead = _lead_frame(duckdb_ref.frame(con, "SELECT * FROM p_lead ORDER BY supplier"))
    forecast = duckdb_ref.frame(con, "SELECT * FROM p_forecast")
    return _assemble(inputs[INPUT_COLUMNS], open_pos, lead, forecast)


def _agree(ours: Any, other: dict[str, Any], label: str) -> str:
    """Same suggested quantity on every SKU x warehouse, same summary (counts exact, money to 1e-9)."""
    a = ours.plan.set_index(["sku", "warehouse"])["suggested_qty"]
    b = other["plan"].set_index(["sku", "warehouse"])["suggested_qty"].reindex(a.index)
    diff = int((a != b).sum())
    if diff:
        raise AssertionError(f"{label}: suggested quantities differ on {diff} of {len(a)} SKU x warehouse rows")
    for k, v in ours.summary.items():
        w = other["summary"][k]
        if not math.isclose(v, w, rel_tol=1e-9, abs_tol=1e-9):
            raise AssertionError(f"{label}: summary {k} {v!r} vs {w!r}")
    if len(ours.drafts) != len(other["drafts"]) or len(ours.lines) != len(other["lines"]):
        raise AssertionError(f"{label}: {len(other['drafts'])} drafts / {len(other['lines'])} lines vs ours")
    return f"{len(a):,} rows, {len(ours.lines):,} lines, {len(ours.drafts):,} drafts"


def run(engine: Engine) -> list[dict[str, Any]]:
    """Ours, naive pandas and DuckDB for a planner (the page is internal only: no vendor row)."""

    def ours() -> Any:
        with read_session(engine) as s:
            page = planner_page(s, viewer=PLANNER)
            export_erp_pos(s, viewer=PLANNER, filters=page_filters())
            return page

    page, cold, warm, warm_cpu = timed(ours, WARM_RUNS)
    t0 = time.perf_counter()
    raw = _read_planner_raw(engine)
    read_ms = ms_since(t0)
    cached = pickle.dumps(raw)

    def naive_run() -> dict[str, Any]:
        return naive_page(pickle.loads(cached))  # noqa: S301 - our own frames

    naive, n_cold, n_warm, n_warm_cpu = timed(naive_run, NAIVE_WARM_RUNS)
    n_cold += read_ms
    duck, dt_ = duckdb_ref.reference(raw, duckdb_page)
    print(f"  planner page: ours and naive pandas agree on {_agree(page, naive, 'naive pandas')}", flush=True)
    print(f"  planner page: ours and DuckDB agree on {_agree(page, duck, 'DuckDB')}", flush=True)
    name = "planner page"
    return [
        {"name": name, "approach": "aggregates (agg_inventory_*, agg_planner_*)", "cold_ms": cold, "warm_ms": warm,
         "warm_cpu_ms": warm_cpu, "rows": len(page.plan)},
        {"name": name, "approach": "naive pandas (read_sql whole tables)", "cold_ms": n_cold, "warm_ms": n_warm,
         "warm_cpu_ms": n_warm_cpu, "rows": len(naive["plan"])},
        {"name": name, "approach": "duckdb (raw)", "cold_ms": dt_.cold_ms, "warm_ms": dt_.warm_ms,
         "warm_cpu_ms": dt_.warm_cpu_ms, "rows": len(duck["plan"])},
    ]


def page_filters() -> Any:
    from ops.filters import Filters

    return Filters()
