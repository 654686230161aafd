"""Every returns number defined once: rates are fractions 0..1 (percent is formatting, ``ops.fmt``).

Plain functions over numbers, Series or small frames; no database. Definitions in words are in
the package docstring (:mod:`ops.returns`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ops.business_time import monday

PAGE = "returns"

# Reason codes (compared lower-cased, so imported codes such as Amazon's "DEFECTIVE" match) meaning the
# product itself was faulty or arrived broken: the supplier's defect rate.
DEFECT_REASONS: tuple[str, ...] = ("defective", "damaged", "damaged_in_transit", "broken", "faulty", "not_working",
                                   "damaged_by_carrier", "damaged_by_fc", "quality_unacceptable", "missing_parts")
# Reason codes meaning the warehouse sent the wrong thing (fulfilment accuracy).
WRONG_ITEM_REASONS: tuple[str, ...] = ("wrong_item", "mis_pick", "mispick", "wrong_size_sent", "wrong_colour_sent",
                                       "wrong_item_sent")
FIT_REASONS: tuple[str, ...] = ("runs_small", "runs_large")

# The breakdowns the aggregates keep (agg_returns_dim.dim); "total" has one member, "".
DIMS: tuple[str, ...] = ("total", "category", "size", "channel", "warehouse", "carrier")
NONE_MEMBER = "(none)"

# Thresholds (ops.decisions): names here, definitions in ops/returns/__init__.py.
MIN_UNITS_THRESHOLD = "returns_min_units"
RATE_ALERT_THRESHOLD = "return_rate_alert"
ACCURACY_TARGET_THRESHOLD = "fulfilment_accuracy_target"
SHIP_COST_THRESHOLD = "return_shipping_cost"
HANDLING_COST_THRESHOLD = "return_handling_cost"
LOSS_THRESHOLDS: dict[str, str] = {
    "restock": "return_loss_restock",
    "refurbish": "return_loss_refurbish",
    "liquidate": "return_loss_liquidate",
    "scrap": "return_loss_scrap",
}
# Entity kinds written through ops.decisions.
ACTION_KIND = "return_action"
THEME_KIND = "return_theme"
ACTIONS: dict[str, str] = {"fix_listing": "Fix the listing", "size_chart": "Update the size chart",
                           "change_supplier": "Change supplier", "quality_check": "Quality check with supplier"}
TREND_WEEKS = 4
# Returns arrive days to weeks after the sale: a sale week is "settled" when it ended at least this many
# weeks before the last sale week of the data. KPIs and the priority trend read settled weeks only.
SETTLE_WEEKS = 4


def ratio(num: Any, den: Any) -> Any:
    """``num / den`` with NaN where the denominator is 0 (element-wise for Series)."""
    if isinstance(num, pd.Series) or isinstance(den, pd.Series):
        n = pd.Series(num, dtype="float64") if not isinstance(num, pd.Series) else num.astype("float64")
        d = pd.Series(den, dtype="float64") if not isinstance(den, pd.Series) else den.astype("float64")
        return n / d.where(d != 0)
    n, d = float(num), float(den)
    return n / d if d else float("nan")


def return_rate(units_returned: Any, units_sold: Any) -> Any:
    """Units returned / units sold, both of the same sale weeks (a fraction)."""
    return ratio(units_returned, units_sold)


def value_return_rate(returned_value: Any, sales_value: Any) -> Any:
    """Returned units x their line price / sales value of the same sale weeks (a fraction)."""
    return ratio(returned_value, sales_value)


def mispick_rate(wrong_item_lines: Any, shipped_lines: Any) -> Any:
    """Order lines returned as wrong item or mis-pick / order lines shipped (same sale weeks)."""
    return ratio(wrong_item_lines, shipped_lines)


def fulfilment_accuracy(wrong_item_lines: Any, shipped_lines: Any) -> Any:
    """1 - :func:`mispick_rate`: the share of shipped lines not returned as the wrong item."""
    return 1.0 - mispick_rate(wrong_item_lines, shipped_lines)


def priority(sku_rate: Any, category_rate: Any, units_sold: Any) -> Any:
    """(SKU return rate - its category's rate) x units sold: the returned units in excess of the category."""
    return (sku_rate - category_rate) * units_sold


week_start = monday  # the Monday of a day's week: the sale-week key (ops.business_time.monday)


def pareto(counts: pd.Series) -> pd.DataFrame:
    """A Pareto table of ``counts`` (index: reason), largest first.

    Returns
    -------
    DataFrame with ``reason_code`` (str), ``units_returned`` (int64), ``share`` (float64, of the
    total) and ``cumulative_share`` (float64); empty when the counts sum to 0.
    """
    c = counts[counts > 0]
    out = pd.DataFrame({"reason_code": c.index.astype(str), "units_returned": c.to_numpy().astype("int64")})
    out = out.sort_values(["units_returned", "reason_code"], ascending=[False, True], kind="mergesort",
                          ignore_index=True)
    total = float(out["units_returned"].sum())
    out["share"] = out["units_returned"] / total if total else np.nan
    out["cumulative_share"] = out["share"].cumsum()
    return out.astype({"share": "float64", "cumulative_share": "float64"})


def disposition_loss(cost_value: pd.Series, disposition: pd.Series, loss_pct: dict[str, float]) -> pd.Series:
    """Value lost per row: the returned units' cost x the disposition's loss share (thresholds in %).

    A row with no (or an unknown) disposition loses nothing by this measure.
    """
    share = disposition.map({k: v / 100.0 for k, v in loss_pct.items()}).astype("float64").fillna(0.0)
    return cost_value.astype("float64") * share
