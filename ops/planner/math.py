"""Replenishment math: pure, vectorised functions (numpy arrays or scalars in, the same out).

Every function states the convention it follows. The known-answer cases in
``shared/reference/inventory_cases.json`` (Snyder & Shen, *Fundamentals of Supply Chain Theory*,
as tested by stockpyl) are checked against these functions in ``tests/test_replenishment.py``.

Conventions
-----------
- **Standard normal loss** ``L(z) = phi(z) - z * (1 - Phi(z)) = E[(Z - z)+]`` and its complement
  ``L_bar(z) = z + L(z) = E[(z - Z)+]`` (Snyder & Shen, section C.3; stockpyl ``loss_functions``).
- **Newsvendor / base-stock with a lead time** (:func:`newsvendor_normal`): demand is taken over
  ``L + 1`` periods, mean ``mu * (L + 1)``, spread ``sigma * sqrt(L + 1)`` (stockpyl's convention:
  the order placed this period covers this period and the L periods of lead time).
- **(r, Q)** (:func:`r_q_eoqss`): ``L`` is in the same time unit as the demand rate ``lam``
  (years in the reference cases); ``r = lam * L + z * sigma * sqrt(L)``, ``Q = EOQ``.
- **The planner's own policy** (:func:`safety_stock`, :func:`order_up_to`, :func:`reorder_point`)
  works in **days**: demand mean and spread are per day, lead time mean and spread in days, and the
  protection interval of a periodic-review order-up-to policy is ``L + R`` (lead time plus review
  period; *not* ``L + 1``). Lead-time variability enters as in Silver, Pyke & Thomas (eq. 6.7):
  ``sigma_P = sqrt(P * sigma_d**2 + mu_d**2 * sigma_L**2)``.
- **Cycle service level** (CSL) is the probability of no stockout in a replenishment cycle:
  ``z = Phi^-1(CSL)``. **Fill rate** (beta) is the share of demand served from stock:
  ``beta = 1 - sigma_P * L(z) / Q`` where ``Q`` is the demand of one cycle (one review period for
  order-up-to); :func:`z_for_fill_rate` inverts it.
- **Wagner-Whitin** returns 1-indexed lists with a dummy element at index 0, as the source does.
- Rates are fractions 0..1 everywhere (a service level of 95 % is ``0.95``).

Impossible inputs raise :class:`InputError` (a ``ValueError``) whose message names the field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ops import fmt

FloatArray = npt.NDArray[np.float64]
ArrayLike = float | int | Sequence[float] | npt.NDArray[Any]

__all__ = [
    "InputError", "RQResult", "BudgetCut", "apply_budget", "check_case_pack", "check_lead_time", "check_moq",
    "check_service_level", "complementary_loss", "economic_order_quantity", "eoq_cost",
    "eoq_with_backorders", "fill_rate", "lead_time_demand", "newsvendor_normal", "newsvendor_normal_cost",
    "newsvendor_poisson", "newsvendor_poisson_cost", "order_up_to", "r_q_eoqss", "reorder_point",
    "round_to_pack", "s_s_cost_poisson", "s_s_discrete_exact", "safety_stock", "standard_normal_loss",
    "supplier_minimum_shortfall", "wagner_whitin", "z_for_cycle_service_level", "z_for_fill_rate",
]


def _special() -> Any:
    """``scipy.special``, imported on first use: SciPy takes the best part of a second to import,
    and every ``python -m ops`` command imports this package through the domain registry."""
    from scipy import special

    return special


def _poisson() -> Any:
    """``scipy.stats.poisson``, imported on first use (see :func:`_special`)."""
    from scipy import stats

    return stats.poisson


class InputError(ValueError):
    """An impossible input; the message names the field (and the row, when one is given)."""


def _arr(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype="float64")


def _where(field: str, bad: npt.NDArray[np.bool_], labels: Sequence[str] | None, values: FloatArray,
           rule: str) -> None:
    if not bool(np.any(bad)):
        return
    i = int(np.flatnonzero(np.atleast_1d(bad))[0])
    v = np.atleast_1d(values)[i]
    at = f" for {labels[i]}" if labels is not None and len(labels) > i else ""
    n = int(np.count_nonzero(bad))
    more = f" ({n} rows)" if n > 1 else ""
    raise InputError(f"{field}: {v:g}{at}{more}: {rule}")


# --- validation ---------------------------------------------------------------------------------


def check_service_level(value: ArrayLike, *, field: str = "service_level",
                        labels: Sequence[str] | None = None) -> FloatArray:
    """A service level (CSL or fill rate) as a fraction strictly between 0 and 1."""
    v = _arr(value)
    _where(field, np.isnan(v), labels, v, "a service level is needed")
    _where(field, v >= 1.0, labels, v, "must be below 100 % (100 % would need infinite stock)")
    _where(field, v <= 0.0, labels, v, "must be above 0 %")
    return v


def check_lead_time(value: ArrayLike, *, field: str = "lead_time_days",
                    labels: Sequence[str] | None = None) -> FloatArray:
    """A lead time (or its spread): not negative, not missing."""
    v = _arr(value)
    _where(field, np.isnan(v), labels, v, "a lead time is needed")
    _where(field, v < 0, labels, v, "a lead time cannot be negative")
    return v


def check_moq(value: ArrayLike, *, field: str = "moq", labels: Sequence[str] | None = None) -> FloatArray:
    """A minimum order quantity: a whole number of at least 1."""
    v = _arr(value)
    _where(field, np.isnan(v) | (v < 1), labels, v, "the minimum order quantity must be at least 1")
    _where(field, v != np.floor(v), labels, v, "the minimum order quantity must be a whole number")
    return v


def check_case_pack(case_pack: ArrayLike, moq: ArrayLike, *, labels: Sequence[str] | None = None
                    ) -> tuple[FloatArray, FloatArray]:
    """Case pack (whole, >= 1) and MOQ, where the case pack must divide the MOQ."""
    cp = _arr(case_pack)
    mq = check_moq(moq, labels=labels)
    _where("case_pack", np.isnan(cp) | (cp < 1) | (cp != np.floor(cp)), labels, cp,
           "the case pack must be a whole number of at least 1")
    cp_b, mq_b = np.broadcast_arrays(cp, mq)
    _where("case_pack", np.mod(mq_b, cp_b) != 0, labels, cp_b,
           "the case pack must divide the minimum order quantity (MOQ) exactly")
    return cp, mq


# --- normal distribution and loss ---------------------------------------------------------------


def standard_normal_loss(z: ArrayLike) -> FloatArray:
    """``L(z) = E[(Z - z)+] = phi(z) - z * (1 - Phi(z))`` (expected shortfall of a standard normal)."""
    zz = _arr(z)
    pdf = np.exp(-0.5 * zz * zz) / math.sqrt(2.0 * math.pi)
    return pdf - zz * _special().ndtr(-zz)


def complementary_loss(z: ArrayLike) -> FloatArray:
    """``L_bar(z) = E[(z - Z)+] = z + L(z)`` (stockpyl's complementary standard normal loss)."""
    zz = _arr(z)
    return zz + standard_normal_loss(zz)


def z_for_cycle_service_level(csl: ArrayLike) -> FloatArray:
    """Safety factor ``z = Phi^-1(CSL)`` for a cycle service level strictly between 0 and 1."""
    return _special().ndtri(check_service_level(csl, field="service_level"))


def fill_rate(z: ArrayLike, cycle_demand: ArrayLike, sigma: ArrayLike) -> FloatArray:
    """Fill rate ``beta = 1 - sigma * L(z) / Q`` (Q = demand of one cycle, sigma = spread over the
    protection interval); 1 where there is no demand. Clipped to 0..1."""
    q, s = _arr(cycle_demand), _arr(sigma)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = 1.0 - s * standard_normal_loss(z) / q
    beta = np.where(q > 0, beta, 1.0)
    return np.clip(beta, 0.0, 1.0)


def z_for_fill_rate(beta: ArrayLike, cycle_demand: ArrayLike, sigma: ArrayLike, *,
                    z_min: float = -4.0, z_max: float = 8.0) -> FloatArray:
    """Smallest ``z`` (within ``z_min..z_max``) whose fill rate :func:`fill_rate` reaches ``beta``.

    Solves ``L(z) = (1 - beta) * Q / sigma`` by bisection, vectorised (60 halvings: exact to
    about 1e-17 of the bracket). Where ``sigma`` is 0 the target is met at any stock: ``z = 0``.
    """
    b = check_service_level(beta, field="fill_rate")
    q, s = np.broadcast_arrays(_arr(cycle_demand), _arr(sigma))
    b = np.broadcast_to(b, q.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        target = np.where(s > 0, (1.0 - b) * q / np.where(s > 0, s, 1.0), np.inf)
    lo = np.full(q.shape, z_min)
    hi = np.full(q.shape, z_max)
    for _ in range(60):  # L is decreasing in z
        mid = 0.5 * (lo + hi)
        above = standard_normal_loss(mid) > target
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    return np.where(s > 0, hi, 0.0)


# --- the planner's policy: safety stock, reorder point, order-up-to -----------------------------


def lead_time_demand(mean_daily: ArrayLike, sd_daily: ArrayLike, lead_days: ArrayLike, lead_sd_days: ArrayLike,
                     review_days: ArrayLike = 0.0) -> tuple[FloatArray, FloatArray]:
    """Mean and spread of demand over the protection interval ``P = L + R`` days.

    ``mean = mu_d * P``; ``sigma = sqrt(P * sigma_d**2 + mu_d**2 * sigma_L**2)`` (demand per day
    independent from day to day and of the lead time; Silver, Pyke & Thomas eq. 6.7).
    """
    mu, sd = _arr(mean_daily), _arr(sd_daily)
    lt = check_lead_time(lead_days)
    lsd = check_lead_time(lead_sd_days, field="lead_time_sd_days")
    r = check_lead_time(review_days, field="review_days")
    p = lt + r
    return mu * p, np.sqrt(p * sd * sd + mu * mu * lsd * lsd)


def safety_stock(z: ArrayLike, mean_daily: ArrayLike, sd_daily: ArrayLike, lead_days: ArrayLike,
                 lead_sd_days: ArrayLike, review_days: ArrayLike = 0.0) -> FloatArray:
    """Safety stock ``z * sigma_P`` over ``P = L + R`` days (see :func:`lead_time_demand`).

    ``z`` comes from :func:`z_for_cycle_service_level` (a CSL target) or :func:`z_for_fill_rate`
    (a fill-rate target). Negative ``z`` (a target below 50 %) gives negative safety stock.
    """
    _, sigma = lead_time_demand(mean_daily, sd_daily, lead_days, lead_sd_days, review_days)
    return _arr(z) * sigma


def reorder_point(mean_daily: ArrayLike, lead_days: ArrayLike, safety: ArrayLike) -> FloatArray:
    """Reorder point ``mu_d * L + SS``: the inventory position at which an order must go out now."""
    return _arr(mean_daily) * check_lead_time(lead_days) + _arr(safety)


def order_up_to(mean_daily: ArrayLike, lead_days: ArrayLike, review_days: ArrayLike, safety: ArrayLike
                ) -> FloatArray:
    """Order-up-to level ``S = mu_d * (L + R) + SS`` of a periodic-review (R, S) policy."""
    lt = check_lead_time(lead_days)
    r = check_lead_time(review_days, field="review_days")
    return _arr(mean_daily) * (lt + r) + _arr(safety)


def round_to_pack(qty: ArrayLike, moq: ArrayLike, case_pack: ArrayLike, *,
                  labels: Sequence[str] | None = None) -> FloatArray:
    """Round a wanted quantity to what can be ordered: 0 stays 0; otherwise at least the MOQ and a
    whole number of case packs, rounding up (never below what is wanted)."""
    cp, mq = check_case_pack(case_pack, moq, labels=labels)
    q = np.maximum(_arr(qty), 0.0)
    packs = np.ceil(np.maximum(q, mq) / cp - 1e-9)
    return np.where(q > 0, packs * cp, 0.0)


def supplier_minimum_shortfall(order_value: ArrayLike, minimum_value: ArrayLike) -> FloatArray:
    """How much order value is missing to reach a supplier's minimum order value (0 when met or
    when nothing is ordered)."""
    v, m = _arr(order_value), _arr(minimum_value)
    if bool(np.any(m < 0)):
        raise InputError("min_order_value: a supplier minimum order value cannot be negative")
    return np.where(v > 0, np.maximum(m - v, 0.0), 0.0)


@dataclass(frozen=True)
class BudgetCut:
    """The outcome of a budget cap: which lines stay, the value kept and cut, and the sentence saying so."""

    keep: npt.NDArray[np.bool_]
    kept_value: float
    cut_value: float
    cut_lines: int
    message: str


def apply_budget(value: ArrayLike, priority: ArrayLike, budget: float | None) -> BudgetCut:
    """Keep the highest-priority lines whose total value fits ``budget``; cut the lowest first.

    ``priority``: larger is more important. Lines are taken in decreasing priority (ties: input
    order) while the running total stays within the budget; a line that does not fit is cut and
    so is every line of lower priority (no cherry-picking smaller low-priority lines past a cut
    line). ``budget=None`` keeps everything.
    """
    v, p = _arr(value), _arr(priority)
    if budget is None:
        return BudgetCut(np.ones(v.shape, dtype=bool), float(v.sum()), 0.0, 0, "")
    if not math.isfinite(budget) or budget < 0:
        raise InputError(f"budget: {budget:g}: a budget must be a non-negative amount")
    order = np.lexsort((np.arange(v.size), -p))
    within = np.cumsum(v[order]) <= budget + 1e-9
    first_out = int(np.argmin(within)) if not bool(within.all()) else v.size
    keep = np.zeros(v.size, dtype=bool)
    keep[order[:first_out]] = True
    cut = int(v.size - first_out)
    kept, cut_v = float(v[keep].sum()), float(v[~keep].sum())
    msg = "" if cut == 0 else (f"The budget of {fmt.money(budget)} cuts {cut} of {v.size} lines worth "
                               f"{fmt.money(cut_v)}, "
                               "lowest priority first.")
    return BudgetCut(keep, kept, cut_v, cut, msg)


# --- EOQ, newsvendor, (r, Q), (s, S), Wagner-Whitin ---------------------------------------------


def economic_order_quantity(fixed_cost: float, holding_cost: float, demand_rate: float) -> tuple[float, float]:
    """EOQ ``Q* = sqrt(2 K lam / h)`` and its cost per time unit ``g* = sqrt(2 K h lam)``.

    Time unit: that of ``holding_cost`` and ``demand_rate`` (per year in the reference case).
    """
    if fixed_cost < 0:
        raise InputError("order_cost: must not be negative")
    if holding_cost <= 0:
        raise InputError("holding_cost: must be above 0")
    if demand_rate < 0:
        raise InputError("demand_rate: must not be negative")
    q = math.sqrt(2.0 * fixed_cost * demand_rate / holding_cost)
    return q, math.sqrt(2.0 * fixed_cost * holding_cost * demand_rate)


def eoq_cost(fixed_cost: float, holding_cost: float, demand_rate: float, order_quantity: float) -> float:
    """Cost per time unit of ordering ``Q``: ``K lam / Q + h Q / 2``."""
    if order_quantity <= 0:
        raise InputError("order_quantity: must be above 0")
    return fixed_cost * demand_rate / order_quantity + holding_cost * order_quantity / 2.0


def eoq_with_backorders(fixed_cost: float, holding_cost: float, stockout_cost: float, demand_rate: float
                        ) -> tuple[float, float, float]:
    """EOQ with planned backorders: ``Q*``, the stockout fraction ``x* = h / (h + p)`` and the cost.

    ``Q* = sqrt(2 K lam (h + p) / (h p))``, ``g* = sqrt(2 K lam h p / (h + p))`` (Snyder & Shen 3.5).
    """
    if stockout_cost <= 0:
        raise InputError("stockout_cost: must be above 0")
    economic_order_quantity(fixed_cost, holding_cost, demand_rate)  # validation
    h, p = holding_cost, stockout_cost
    q = math.sqrt(2.0 * fixed_cost * demand_rate * (h + p) / (h * p))
    return q, h / (h + p), math.sqrt(2.0 * fixed_cost * demand_rate * h * p / (h + p))


def newsvendor_normal_cost(base_stock: float, holding_cost: float, stockout_cost: float, mean: float, sd: float,
                           lead_time: int = 0) -> float:
    """Expected cost ``h E[(S - D)+] + p E[(D - S)+]`` of base-stock ``S``, normal demand over ``L + 1``
    periods (stockpyl's convention)."""
    m, s = mean * (lead_time + 1), sd * math.sqrt(lead_time + 1)
    z = (base_stock - m) / s
    return float(s * (holding_cost * complementary_loss(z) + stockout_cost * standard_normal_loss(z)))


def newsvendor_normal(holding_cost: float, stockout_cost: float, mean: float, sd: float, lead_time: int = 0
                      ) -> tuple[float, float]:
    """Optimal base-stock level ``S* = mu' + Phi^-1(p / (p + h)) sigma'`` and its expected cost.

    Demand over ``L + 1`` periods: ``mu' = mu (L + 1)``, ``sigma' = sigma sqrt(L + 1)`` (stockpyl's
    convention: a reorder point using ``L`` instead differs).
    """
    if holding_cost <= 0 or stockout_cost <= 0:
        raise InputError("holding_cost / stockout_cost: both must be above 0")
    if sd <= 0:
        raise InputError("sd: the demand spread must be above 0")
    check_lead_time(lead_time, field="lead_time")
    z = float(_special().ndtri(stockout_cost / (stockout_cost + holding_cost)))
    s = mean * (lead_time + 1) + z * sd * math.sqrt(lead_time + 1)
    return s, newsvendor_normal_cost(s, holding_cost, stockout_cost, mean, sd, lead_time)


def newsvendor_poisson_cost(base_stock: int, holding_cost: float, stockout_cost: float, mean: float) -> float:
    """Expected cost ``h E[(S - D)+] + p E[(D - S)+]`` for Poisson demand with ``mean``."""
    d = np.arange(0, int(base_stock) + 1)
    over = float(np.sum((base_stock - d) * _poisson().pmf(d, mean)))  # E[(S - D)+]
    under = over - (base_stock - mean)  # E[(D - S)+] = E[(S - D)+] - (S - mu)
    return holding_cost * over + stockout_cost * under


def newsvendor_poisson(holding_cost: float, stockout_cost: float, mean: float) -> tuple[int, float]:
    """Smallest ``S`` with ``F(S) >= p / (p + h)`` (Poisson demand) and its expected cost."""
    if holding_cost <= 0 or stockout_cost <= 0:
        raise InputError("holding_cost / stockout_cost: both must be above 0")
    ratio = stockout_cost / (stockout_cost + holding_cost)
    s = int(_poisson().ppf(ratio, mean))
    while _poisson().cdf(s, mean) < ratio - 1e-12:  # guard ppf's floating edge
        s += 1
    return s, newsvendor_poisson_cost(s, holding_cost, stockout_cost, mean)


@dataclass(frozen=True)
class RQResult:
    reorder_point: float
    order_quantity: float


def r_q_eoqss(holding_cost: float, stockout_cost: float, fixed_cost: float, demand_rate: float,
              demand_sd: float, lead_time: float) -> RQResult:
    """(r, Q) by the EOQ + safety-stock approximation: ``Q = EOQ``, ``r = lam L + z sigma sqrt(L)``,
    ``z = Phi^-1(p / (p + h))``; ``L`` in the time unit of ``lam`` and ``sigma`` (years in the cases)."""
    check_lead_time(lead_time, field="lead_time")
    q, _ = economic_order_quantity(fixed_cost, holding_cost, demand_rate)
    z = float(_special().ndtri(stockout_cost / (stockout_cost + holding_cost)))
    return RQResult(demand_rate * lead_time + z * demand_sd * math.sqrt(lead_time), q)


def _poisson_g(y: npt.NDArray[np.int64], h: float, p: float, mean: float, dmax: int) -> FloatArray:
    d = np.arange(dmax + 1)
    f = _poisson().pmf(d, mean)
    diff = y[:, None] - d[None, :]
    over = (np.maximum(diff, 0) * f).sum(axis=1)
    under = (np.maximum(-diff, 0) * f).sum(axis=1)
    return np.asarray(h * over + p * under, dtype="float64")


def s_s_cost_poisson(s: int, big_s: int, holding_cost: float, stockout_cost: float, fixed_cost: float,
                     mean: float) -> float:
    """Exact expected cost per period of periodic-review (s, S), Poisson demand, no lead time.

    Zheng & Federgruen (1991): ``c(s, S) = [K + sum_{d=0}^{S-s-1} m(d) G(S - d)] / M(S - s)`` with
    the renewal function ``m(0) = 1 / (1 - f0)``, ``m(j) = sum_{l=1}^{j} f(l) m(j - l) / (1 - f0)``
    and ``M(j) = sum_{d<j} m(d)``; an order is placed when the inventory position is at or below s.
    """
    n = big_s - s
    if n < 1:
        raise InputError("S: the order-up-to level must be above the reorder point s")
    f = _poisson().pmf(np.arange(n + 1), mean)
    m = np.zeros(n)
    m[0] = 1.0 / (1.0 - f[0])
    for j in range(1, n):
        m[j] = float(np.dot(f[1:j + 1], m[j - 1::-1][:j])) / (1.0 - f[0])
    dmax = int(_poisson().ppf(1 - 1e-15, mean)) + big_s + 10
    g = _poisson_g(big_s - np.arange(n), holding_cost, stockout_cost, mean, dmax)
    return float((fixed_cost + np.dot(m, g)) / m.sum())


def s_s_discrete_exact(holding_cost: float, stockout_cost: float, fixed_cost: float, mean: float
                       ) -> tuple[int, int, float]:
    """Optimal (s, S) for Poisson demand by exhaustive search over a bracket that holds the optimum
    (``S`` up to mean + 10 sd + 10; ``s`` from -1 up to the newsvendor level). Returns (s, S, cost)."""
    y_star, _ = newsvendor_poisson(holding_cost, stockout_cost, mean)
    top = int(mean + 10 * math.sqrt(mean) + 10)
    best = (0, 1, math.inf)
    for big_s in range(y_star, top + 1):
        for s in range(-1, min(y_star, big_s)):
            c = s_s_cost_poisson(s, big_s, holding_cost, stockout_cost, fixed_cost, mean)
            if c < best[2] - 1e-12:
                best = (s, big_s, c)
    return best


def wagner_whitin(periods: int, holding_cost: float, fixed_cost: float, demand: Sequence[float]
                  ) -> tuple[list[float], list[int], float]:
    """Wagner-Whitin lot sizing. Returns 1-indexed ``order_quantities`` and ``next_order_periods``
    (index 0 is a dummy 0, as the source's) and the total cost.

    ``next_order_periods[t]``: if an order is placed in ``t``, the next order is in that period
    (``T + 1`` = none). Holding is charged on inventory carried at the end of each period.
    """
    t_n = int(periods)
    d = [0.0] + [float(x) for x in demand]
    if len(d) != t_n + 1:
        raise InputError("demand: one value per period is needed")
    theta = [0.0] * (t_n + 2)
    nxt = [0] * (t_n + 2)
    for t in range(t_n, 0, -1):
        best, arg = math.inf, t_n + 1
        for s in range(t + 1, t_n + 2):
            c = fixed_cost + holding_cost * sum((j - t) * d[j] for j in range(t, s)) + theta[s]
            if c < best - 1e-9:
                best, arg = c, s
        theta[t], nxt[t] = best, arg
    q = [0.0] * (t_n + 1)
    t = 1
    while t <= t_n:
        q[t] = sum(d[t:nxt[t]])
        t = nxt[t]
    return q, [0] + nxt[1:t_n + 1], theta[1]
