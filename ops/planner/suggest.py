"""Suggested orders for the whole catalogue, vectorised: one row per SKU x warehouse.

The policy is periodic review, order-up-to (R, S), in days (see :mod:`ops.planner.math` for the
conventions). For each SKU x warehouse, as of the inventory aggregates' day:

1. **Demand per day** ``mu_d`` and its spread ``sigma_d``: from the latest forecast when there is one
   (the SKU's weekly forecast split over its warehouses by their share of the SKU's 52-week units;
   ``sigma_d = sigma_week * share / sqrt(7)``), else from the 52-week history (weekly mean / 7 and
   weekly variance / 7). A scenario's demand change multiplies both.
2. **Lead time** ``L`` (mean, days) and spread ``sigma_L``: measured per supplier (scorecard) when it has
   two or more receipts, else the stated lead time with spread 0. A scenario adds days per supplier.
3. **Protection interval** ``P = L + R`` (R = review period, 7 days by default);
   ``sigma_P = sqrt(P sigma_d^2 + mu_d^2 sigma_L^2)``.
4. **Safety stock** ``SS = z sigma_P``: ``z = Phi^-1(CSL)`` for a cycle-service-level target, or the ``z``
   whose fill rate ``1 - sigma_P L(z) / (mu_d R)`` meets a fill-rate target.
5. **Reorder point** ``ROP = mu_d L + SS``; **order-up-to** ``S = mu_d P + SS``.
6. **Inventory position** ``IP = on hand + open PO units`` (every open PO counts).
7. **Need** ``S - IP``; when positive it is rounded up to the MOQ and to whole case packs.
8. **Budget**: when a budget is set, lines are cut lowest priority first (:func:`ops.planner.math.apply_budget`).
9. **Supplier minimum order value**: draft POs (supplier x warehouse) below it are flagged with the
   shortfall; nothing is added silently.

Urgency (most urgent first)
---------------------------
- ``critical``: the stock runs out before a new order could arrive (``cover < L``) and before an
  open PO lands: only expediting helps; the open PO that arrives after the stockout is *late* and
  is named.
- ``high``: the inventory position is below the reorder point: order now.
- ``normal``: below the order-up-to level: the routine order of this review.
- ``none``: nothing to order.

``cover`` (days) is on hand / ``mu_d``, extended by the open PO units when the first open PO lands
before the stock runs out. A PO is *late* when its expected day is before the as-of day (overdue)
or after the day the stock runs out.

Expected shortage per cycle ``sigma_P L(z)`` (units short in one review cycle at steady state) plus
the *certain* gap units ``mu_d * (gap end - cover)`` when the stock runs out before the earlier of
a new order (``L``) and the first late PO; lost revenue is that times the price.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import overload

import numpy as np
import pandas as pd

from ops import fmt
from ops.planner import math as rm

URGENCY = ("none", "normal", "high", "critical")  # rank = index
DEFAULT_REVIEW_DAYS = 7.0
DEFAULT_SERVICE_LEVEL = 0.95
WEEKS = 52.0
PLAN_COLUMNS = [
    "sku", "name", "category", "supplier", "warehouse", "urgency", "suggested_qty", "order_value", "on_hand",
    "on_order", "inventory_position", "demand_per_day", "demand_sd_per_day", "demand_source",
    "lead_time_days", "lead_time_sd_days", "lead_time_source", "review_days", "z", "safety_stock",
    "reorder_point", "order_up_to", "need", "moq", "case_pack", "unit_cost", "price", "cover_days",
    "open_po", "open_po_expected", "late_po", "exp_short_units", "lost_revenue", "fill_rate", "cut_by_budget",
    "below_minimum", "product_id", "warehouse_id", "urgency_rank", "priority",
]


@dataclass(frozen=True)
class Policy:
    """What a plan is computed with (a scenario's parameters; every field has the baseline default).

    ``target`` is ``"csl"`` (cycle service level) or ``"fill_rate"``; ``service_level`` is its value
    as a fraction. ``demand_change`` maps ``"category:<name>"`` or ``"sku:<sku>"`` to a fractional
    change (+0.2 = 20 % more; a SKU's own change wins over its category's). ``lead_time_change``
    maps supplier codes to days added. ``moq_factor`` multiplies every MOQ (then rounded up to
    whole case packs). ``budget`` caps the order value (None = no cap); ``min_order_value`` is the
    suppliers' minimum order value per PO.
    """

    service_level: float = DEFAULT_SERVICE_LEVEL
    target: str = "csl"
    review_days: float = DEFAULT_REVIEW_DAYS
    demand_change: dict[str, float] = field(default_factory=dict)
    lead_time_change: dict[str, float] = field(default_factory=dict)
    moq_factor: float = 1.0
    budget: float | None = None
    min_order_value: float = 0.0

    def __post_init__(self) -> None:
        check_policy(self)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Policy:
        raw = json.loads(text)
        return cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})

    def __hash__(self) -> int:
        return hash(self.to_json())


def check_policy(p: Policy) -> None:
    """Refuse impossible parameters with a message naming the field."""
    if p.target not in ("csl", "fill_rate"):
        raise rm.InputError(f"target: {p.target!r}: use 'csl' (cycle service level) or 'fill_rate'")
    rm.check_service_level(p.service_level, field="service_level" if p.target == "csl" else "fill_rate")
    rm.check_lead_time(p.review_days, field="review_days")
    if p.target == "fill_rate" and p.review_days <= 0:
        raise rm.InputError("review_days: a fill-rate target needs a review period above 0 days")
    if not (p.moq_factor > 0 and math.isfinite(p.moq_factor)):
        raise rm.InputError(f"moq_factor: {p.moq_factor:g}: the MOQ multiplier must be above 0")
    if p.budget is not None and not (p.budget >= 0 and math.isfinite(p.budget)):
        raise rm.InputError(f"budget: {p.budget:g}: a budget must be a non-negative amount")
    if not (p.min_order_value >= 0 and math.isfinite(p.min_order_value)):
        raise rm.InputError(f"min_order_value: {p.min_order_value:g}: cannot be negative")
    for key, v in p.demand_change.items():
        if not key.startswith(("category:", "sku:")):
            raise rm.InputError(f"demand_change: {key!r}: name a 'category:<name>' or 'sku:<sku>'")
        if not (v > -1 and math.isfinite(v)):
            raise rm.InputError(f"demand_change: {key}: {v:g}: a change must be above -100 %")


def _demand(inputs: pd.DataFrame, forecast: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-day demand mean and spread, and the source ("forecast" / "history") of each row."""
    wk = inputs["wk_units"].to_numpy(dtype="float64")
    mean_w = wk / WEEKS
    var_w = np.maximum(inputs["wk_sumsq"].to_numpy(dtype="float64") / WEEKS - mean_w * mean_w, 0.0)
    mu, sd = mean_w / 7.0, np.sqrt(var_w / 7.0)
    source = np.full(len(inputs), "history", dtype=object)
    if forecast is not None and len(forecast):
        # each input row's forecast row, found once (-1: none), instead of a map per column
        at = pd.Index(forecast["sku"]).get_indexer(inputs["sku"])
        week_mean = _take(forecast["fc_week_mean"].to_numpy(dtype="float64"), at)
        sigma_w = _take(forecast["fc_sigma_week"].to_numpy(dtype="float64"), at)
        sku_units = inputs["sku_wk_units"].to_numpy(dtype="float64")
        codes, _ = pd.factorize(inputs["sku"])  # the SKU's number of warehouses (rows)
        n_wh = np.bincount(codes)[codes].astype("float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(sku_units > 0, wk / sku_units, 1.0 / n_wh)
        has = ~np.isnan(week_mean)
        mu = np.where(has, share * np.nan_to_num(week_mean) / 7.0, mu)
        sd = np.where(has & ~np.isnan(sigma_w), share * np.nan_to_num(sigma_w) / math.sqrt(7.0), sd)
        source = np.where(has, "forecast", source)
    return mu, sd, source


def _take(values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``values[at]`` as float64, NaN where ``at`` is -1 (no match)."""
    if len(values) == 0:
        return np.full(len(at), np.nan)
    return np.where(at >= 0, values[np.maximum(at, 0)], np.nan)


class _Labels(Sequence[str]):
    """``"<sku> in <warehouse>"`` of each row, made only when a message names one (rarely)."""

    def __init__(self, inputs: pd.DataFrame) -> None:
        self._sku, self._wh = inputs["sku"].to_numpy(), inputs["warehouse"].to_numpy()

    def __len__(self) -> int:
        return len(self._sku)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...

    def __getitem__(self, i: int | slice) -> str | Sequence[str]:
        if isinstance(i, slice):
            return [f"{a} in {b}" for a, b in zip(self._sku[i], self._wh[i], strict=True)]
        return f"{self._sku[i]} in {self._wh[i]}"


def _change_factor(inputs: pd.DataFrame, changes: dict[str, float]) -> np.ndarray:
    factor = np.ones(len(inputs))
    if not changes:
        return factor
    cat = {k.split(":", 1)[1]: v for k, v in changes.items() if k.startswith("category:")}
    sku = {k.split(":", 1)[1]: v for k, v in changes.items() if k.startswith("sku:")}
    by_cat = inputs["category"].map(cat).to_numpy(dtype="float64")
    by_sku = inputs["sku"].map(sku).to_numpy(dtype="float64")
    change = np.where(~np.isnan(by_sku), by_sku, np.nan_to_num(by_cat))
    return 1.0 + change


def _first_po(inputs: pd.DataFrame, open_pos: pd.DataFrame) -> pd.DataFrame:
    """On-order units and the earliest open PO (number, expected day) per input row.

    The earliest: the smallest expected day (none last), then the smallest PO number, then the
    first listed. Grouped by integer codes in numpy (a pandas groupby on two key columns, a sort
    and a reindex by a MultiIndex cost several times more at bench size).
    """
    n = len(inputs)
    if len(open_pos) == 0:
        return pd.DataFrame({"on_order": np.zeros(n, dtype="int64"),
                             "open_po": np.full(n, None, dtype=object),
                             "open_po_expected": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")})
    # one int64 key per pair (product id x warehouse id): factorized and looked up by hash
    pid, wid = open_pos["product_id"].to_numpy(dtype="int64"), open_pos["warehouse_id"].to_numpy(dtype="int64")
    in_pid, in_wid = inputs["product_id"].to_numpy(dtype="int64"), inputs["warehouse_id"].to_numpy(dtype="int64")
    span = int(max(wid.max(), in_wid.max() if n else 0, 0)) + 1
    grp, pairs = pd.factorize(pid * span + wid)  # each PO line's pair
    at = pd.Index(pairs).get_indexer(in_pid * span + in_wid)
    qty = open_pos["qty_open"].to_numpy(dtype="int64")
    on_order = np.zeros(len(pairs), dtype="int64")
    np.add.at(on_order, grp, qty)
    exp_col = open_pos["expected_on"]
    if not pd.api.types.is_datetime64_dtype(exp_col.dtype):  # (to_datetime of datetimes iterates them)
        exp_col = pd.to_datetime(exp_col)
    expected = exp_col.to_numpy(dtype="datetime64[ns]")
    exp_key = expected.view("int64").copy()
    exp_key[np.isnat(expected)] = np.iinfo("int64").max  # no expected day: last
    po_rank, _ = pd.factorize(open_pos["po_number"].to_numpy(dtype=object), sort=True)
    order = np.lexsort((po_rank, exp_key, grp))  # stable: ties keep the listed order
    firsts = order[np.r_[True, grp[order][1:] != grp[order][:-1]]]  # one line per pair, in pair order
    first = np.empty(len(pairs), dtype="int64")
    first[grp[firsts]] = firsts
    found = at >= 0
    row = first[np.maximum(at, 0)]
    numbers = open_pos["po_number"].to_numpy(dtype=object)
    return pd.DataFrame({
        "on_order": np.where(found, on_order[np.maximum(at, 0)], 0).astype("int64"),
        "open_po": np.where(found, numbers[row], np.nan).astype(object),
        "open_po_expected": np.where(found, expected[row], np.datetime64("NaT")).astype("datetime64[ns]"),
    })


def compute_plan(inputs: pd.DataFrame, open_pos: pd.DataFrame, *, policy: Policy | None = None,
                 lead: pd.DataFrame | None = None, forecast: pd.DataFrame | None = None) -> pd.DataFrame:
    """The suggested order of every SKU x warehouse under ``policy`` (see the module docstring).

    Parameters
    ----------
    inputs, open_pos, lead, forecast
        Frames of :func:`ops.planner.queries.planning_inputs`, ``open_po_lines``, ``lead_times`` and
        ``forecast_demand`` (``lead``/``forecast`` empty or None: stated lead times / history).

    Returns
    -------
    DataFrame with :data:`PLAN_COLUMNS`: keys and names (str); urgency (str, :data:`URGENCY`);
    suggested_qty, on_hand, on_order, moq, case_pack (int64); money and unit figures (float64);
    open_po (str or None), open_po_expected (datetime64); late_po, cut_by_budget, below_minimum
    (bool); urgency_rank (int64), priority (float64). Rows in input order.
    """
    p = policy or Policy()
    n = len(inputs)
    labels = _Labels(inputs)
    mu, sd, demand_source = _demand(inputs, forecast)
    factor = _change_factor(inputs, p.demand_change)
    mu, sd = mu * factor, sd * factor

    stated = inputs["lead_time_stated"].to_numpy(dtype="float64")
    lt, lsd = stated.copy(), np.zeros(n)
    lt_source = np.full(n, "stated", dtype=object)
    if lead is not None and len(lead):
        at = pd.Index(lead["supplier"]).get_indexer(inputs["supplier"])
        m_mean = _take(lead["lt_mean_days"].to_numpy(dtype="float64"), at)
        m_std = _take(lead["lt_std_days"].to_numpy(dtype="float64"), at)
        ok = ~np.isnan(m_mean)
        lt = np.where(ok, m_mean, lt)
        lsd = np.where(ok, np.nan_to_num(m_std), lsd)
        lt_source = np.where(ok, "measured", lt_source)
    if p.lead_time_change:
        lt = lt + inputs["supplier"].map(p.lead_time_change).fillna(0.0).to_numpy(dtype="float64")
    lt = rm.check_lead_time(lt, labels=labels)

    review = float(p.review_days)
    mean_p, sigma_p = rm.lead_time_demand(mu, sd, lt, lsd, review)
    cycle = mu * review
    if p.target == "csl":
        z = np.full(n, float(rm.z_for_cycle_service_level(p.service_level)))
    else:
        z = rm.z_for_fill_rate(p.service_level, cycle, sigma_p)
    ss = z * sigma_p
    rop = rm.reorder_point(mu, lt, ss)
    s_level = mean_p + ss

    po = _first_po(inputs, open_pos)
    on_hand = inputs["on_hand"].to_numpy(dtype="float64")
    on_order = po["on_order"].to_numpy(dtype="float64")
    ip = on_hand + on_order
    need = s_level - ip

    case_pack = inputs["case_pack"].to_numpy(dtype="float64")
    moq = inputs["moq"].to_numpy(dtype="float64")
    if p.moq_factor != 1.0:
        moq = np.maximum(np.ceil(moq * p.moq_factor / case_pack - 1e-9), 1.0) * case_pack
    qty = rm.round_to_pack(np.where(need > 0, need, 0.0), moq, case_pack, labels=labels)

    as_of = inputs["as_of"].iloc[0] if n else pd.NaT
    with np.errstate(divide="ignore", invalid="ignore"):
        cover = np.where(mu > 0, on_hand / mu, np.inf)
        days_to_po = ((po["open_po_expected"] - as_of).dt.days).to_numpy(dtype="float64")
        lands_first = ~np.isnan(days_to_po) & (days_to_po <= cover)
        cover = np.where(lands_first & (mu > 0), ip / mu, cover)
    has_po = po["open_po"].notna().to_numpy()
    late = has_po & ((days_to_po < 0) | (days_to_po > cover))
    gap_end = np.where(late, np.minimum(lt, np.nan_to_num(days_to_po, nan=np.inf)), lt)
    critical = (mu > 0) & (cover < lt) & ~lands_first
    urgency_rank = np.where(critical, 3, np.where(ip < rop, 2, np.where(qty > 0, 1, 0)))
    urgency_rank = np.where((qty > 0) | critical, np.maximum(urgency_rank, 1), 0)

    certain_gap = np.where(critical, mu * np.maximum(gap_end - cover, 0.0), 0.0)
    exp_short = sigma_p * rm.standard_normal_loss(z) + certain_gap
    with np.errstate(divide="ignore", invalid="ignore"):
        fill = np.where(cycle > 0, np.clip(1.0 - exp_short / np.where(cycle > 0, cycle, 1.0), 0.0, 1.0), 1.0)
    price = inputs["price"].to_numpy(dtype="float64")
    unit_cost = inputs["unit_cost"].to_numpy(dtype="float64")
    lost_revenue = exp_short * price
    value = qty * unit_cost
    # Priority for the budget: urgency first, then the revenue at risk.
    priority = urgency_rank * 1e12 + np.minimum(lost_revenue, 1e11)
    ordered = qty > 0  # only lines with something to order compete for the budget
    cut = rm.apply_budget(value[ordered], priority[ordered], p.budget)
    keep = np.ones(n, dtype=bool)
    keep[ordered] = cut.keep
    cut_by_budget = ~keep
    qty = np.where(keep, qty, 0.0)
    value = qty * unit_cost

    out = pd.DataFrame({
        "sku": inputs["sku"].to_numpy(), "name": inputs["name"].to_numpy(), "category": inputs["category"].to_numpy(),
        "supplier": inputs["supplier"].to_numpy(), "warehouse": inputs["warehouse"].to_numpy(),
        "urgency": np.asarray(URGENCY, dtype=object)[urgency_rank],
        "suggested_qty": qty.astype("int64"), "order_value": value, "on_hand": on_hand.astype("int64"),
        "on_order": on_order.astype("int64"), "inventory_position": ip, "demand_per_day": mu,
        "demand_sd_per_day": sd, "demand_source": demand_source, "lead_time_days": lt, "lead_time_sd_days": lsd,
        "lead_time_source": lt_source, "review_days": np.full(n, review), "z": z, "safety_stock": ss,
        "reorder_point": rop, "order_up_to": s_level, "need": need, "moq": moq.astype("int64"),
        "case_pack": case_pack.astype("int64"), "unit_cost": unit_cost, "price": price, "cover_days": cover,
        "open_po": po["open_po"].to_numpy(dtype=object), "open_po_expected": po["open_po_expected"].to_numpy(),
        "late_po": late, "exp_short_units": exp_short, "lost_revenue": lost_revenue, "fill_rate": fill,
        "cut_by_budget": cut_by_budget, "below_minimum": np.zeros(n, dtype=bool),
        "product_id": inputs["product_id"].to_numpy(dtype="int64"),
        "warehouse_id": inputs["warehouse_id"].to_numpy(dtype="int64"),
        "urgency_rank": urgency_rank.astype("int64"), "priority": priority,
    })
    if p.min_order_value > 0 and n:
        po_value = out.groupby(["supplier", "warehouse"], sort=False)["order_value"].transform("sum").to_numpy()
        out["below_minimum"] = rm.supplier_minimum_shortfall(po_value, p.min_order_value) > 0
    out.attrs["budget_message"] = cut.message
    out.attrs["as_of"] = None if pd.isna(as_of) else pd.Timestamp(as_of).date()
    return out


DRAFT_COLUMNS = ["supplier", "warehouse", "lines", "order_units", "order_value", "urgency", "min_order_shortfall",
                 "expected_on"]


def draft_pos(plan: pd.DataFrame, *, min_order_value: float = 0.0) -> pd.DataFrame:
    """Suggested lines grouped into one draft PO per supplier x warehouse, most urgent first.

    Returns
    -------
    DataFrame with columns supplier, warehouse (str); lines, units (int64); order_value (float64);
    urgency (str: the most urgent line's); min_order_shortfall (float64: value missing to reach the
    supplier minimum, 0 when met); expected_on (datetime64: as-of day + the longest line lead time).
    """
    ordered = plan["suggested_qty"].to_numpy() > 0
    if not ordered.any():
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("lines", "order_units") else
                                          "float64" if c in ("order_value", "min_order_shortfall") else
                                          "datetime64[ns]" if c == "expected_on" else object) for c in DRAFT_COLUMNS})
    # one integer per supplier x warehouse, numbered in order of first appearance (as groupby sort=False)
    sup, sups = pd.factorize(plan["supplier"].to_numpy()[ordered])
    wh, whs = pd.factorize(plan["warehouse"].to_numpy()[ordered])
    width = max(len(whs), 1)
    code, pairs = pd.factorize(sup * width + wh)
    n = len(pairs)
    units = np.zeros(n, dtype="int64")
    np.add.at(units, code, plan["suggested_qty"].to_numpy(dtype="int64")[ordered])
    rank = np.zeros(n, dtype="int64")
    np.maximum.at(rank, code, plan["urgency_rank"].to_numpy(dtype="int64")[ordered])
    lt = np.full(n, -np.inf)
    np.maximum.at(lt, code, plan["lead_time_days"].to_numpy(dtype="float64")[ordered])
    # money: pandas' own grouped sum (compensated), so the totals are those of a groupby to the last bit
    value = pd.Series(plan["order_value"].to_numpy(dtype="float64")[ordered]).groupby(code, sort=False).sum()
    out = pd.DataFrame({
        "supplier": np.asarray(sups, dtype=object)[pairs // width],
        "warehouse": np.asarray(whs, dtype=object)[pairs % width],
        "lines": np.bincount(code, minlength=n).astype("int64"), "order_units": units,
        "order_value": value.to_numpy(dtype="float64"), "rank": rank, "lt": lt,
    })
    out["urgency"] = np.asarray(URGENCY, dtype=object)[out["rank"].to_numpy()]
    out["min_order_shortfall"] = rm.supplier_minimum_shortfall(out["order_value"].to_numpy(), min_order_value)
    as_of = plan.attrs.get("as_of")
    base = pd.Timestamp(as_of) if as_of else pd.NaT
    out["expected_on"] = base + pd.to_timedelta(np.ceil(out["lt"].to_numpy()), unit="D")
    out = out.sort_values(["rank", "order_value"], ascending=[False, False], kind="mergesort", ignore_index=True)
    out = out[DRAFT_COLUMNS].astype({"lines": "int64", "order_units": "int64"})
    out.attrs = {}
    return out


def plan_token(lines: pd.DataFrame, policy: Policy, as_of: dt.date | None) -> str:
    """A fingerprint of what the planner was shown: the plan day, the policy and, per line,
    (sku, warehouse, suggested quantity). Approving compares it with a fresh computation."""
    rows = sorted(zip(lines["sku"].astype(str), lines["warehouse"].astype(str),
                      lines["suggested_qty"].astype("int64").tolist(), strict=True))
    payload = json.dumps([str(as_of), policy.to_json(), rows])
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _num(x: float, places: int = 1) -> str:
    return fmt.number(x, places)


def explain(plan: pd.DataFrame, sku: str) -> list[str]:
    """The steps from demand, lead time and variability through safety stock, reorder point and
    rounding to the suggested quantity of ``sku``, in plain words (one paragraph per warehouse)."""
    rows = plan[plan["sku"] == sku]
    if len(rows) == 0:
        return [f"{sku} is not in the plan (inactive, or no stock row in any warehouse)."]
    out = []
    as_of = plan.attrs.get("as_of")
    for r in rows.itertuples(index=False):
        src = ("the latest forecast" if r.demand_source == "forecast"
               else "the last 52 weeks of demand history (no forecast run yet)")
        lt_src = ("measured from this supplier's received POs" if r.lead_time_source == "measured"
                  else "the stated lead time (no measured lead time for this supplier yet)")
        steps = [
            f"**{r.sku} in {r.warehouse}** (supplier {r.supplier or 'none'}): demand is {_num(r.demand_per_day, 2)} "
            f"units a day (spread {_num(r.demand_sd_per_day, 2)} a day), from {src}.",
            f"Lead time is {_num(r.lead_time_days)} days (spread {_num(r.lead_time_sd_days)}), {lt_src}; with a "
            f"review every {_num(r.review_days, 0)} days an order must cover "
            f"{_num(r.lead_time_days + r.review_days)} days.",
            f"Safety stock = z {r.z:.2f} x demand spread over those days = {_num(r.safety_stock, 0)} units; "
            f"reorder point = {_num(r.demand_per_day * r.lead_time_days, 0)} expected in the lead time + safety stock "
            f"= {_num(r.reorder_point, 0)}; order-up-to level = {_num(r.order_up_to, 0)}.",
            f"On hand {fmt.count(r.on_hand)} + on order {fmt.count(r.on_order)} = inventory position "
            f"{_num(r.inventory_position, 0)}; "
            f"need {_num(max(r.need, 0.0), 0)} units.",
        ]
        if r.suggested_qty > 0:
            steps.append(f"Rounded up to the MOQ of {fmt.count(r.moq)} and whole case packs of "
                         f"{fmt.count(r.case_pack)}: order **{fmt.count(r.suggested_qty)} units** "
                         f"({fmt.money(r.order_value)} at cost). Urgency: **{r.urgency}**.")
        elif r.cut_by_budget:
            steps.append("The budget cap cut this line (lower priority than the lines kept).")
        else:
            steps.append("Nothing to order: the inventory position covers the order-up-to level.")
        if r.open_po is not None and isinstance(r.open_po, str):
            exp = pd.Timestamp(r.open_po_expected)
            when = "with no expected day" if pd.isna(exp) else f"expected on {exp.date().isoformat()}"
            if r.late_po:
                if not pd.isna(exp) and as_of and exp.date() < as_of:
                    why = "overdue"
                else:
                    why = f"after the stock runs out in about {_num(r.cover_days, 0)} days"
                steps.append(f"Open PO **{r.open_po}** is {when}: late ({why}).")
            else:
                steps.append(f"Open PO {r.open_po} is {when}, in time.")
        if r.urgency == "critical":
            steps.append(f"The stock runs out in about {_num(r.cover_days, 0)} days, before a new order could "
                         f"arrive ({_num(r.lead_time_days, 0)} days): expedite, about {_num(r.exp_short_units, 0)} "
                         f"units short otherwise.")
        out.append(" ".join(steps))
    return out


def scenario_summary(plan: pd.DataFrame, *, min_order_value: float = 0.0,
                     drafts: pd.DataFrame | None = None) -> dict[str, float]:
    """The comparison figures of one plan.

    - ``investment``: value at cost of the stock the policy holds on average, safety stock plus half
      a review period's demand, summed over SKU x warehouse;
    - ``order_value``: value at cost of the suggested orders; ``po_count``: draft POs (supplier x warehouse);
    - ``exp_short_units`` / ``lost_revenue``: expected units short in the next cycle (and at price);
    - ``fill_rate``: 1 - expected short units / demand of one review cycle, over all rows with demand;
    - ``lines``, ``critical``: suggested lines and critical ones; ``below_minimum``: draft POs under
      the supplier minimum order value.

    ``drafts``: the plan's :func:`draft_pos` at ``min_order_value`` when the caller has them already.
    """
    held = np.maximum(plan["safety_stock"], 0.0) + plan["demand_per_day"] * plan["review_days"] / 2.0
    cycle = float((plan["demand_per_day"] * plan["review_days"]).sum())
    short = float(plan["exp_short_units"].sum())
    if drafts is None:
        drafts = draft_pos(plan, min_order_value=min_order_value)
    return {
        "investment": float((held * plan["unit_cost"]).sum()),
        "order_value": float(plan["order_value"].sum()),
        "exp_short_units": short,
        "lost_revenue": float(plan["lost_revenue"].sum()),
        "fill_rate": (1.0 - short / cycle) if cycle > 0 else 1.0,
        "po_count": float(len(drafts)),
        "lines": float((plan["suggested_qty"] > 0).sum()),
        "critical": float((plan["urgency"] == "critical").sum()),
        "below_minimum": float((drafts["min_order_shortfall"] > 0).sum()),
    }
