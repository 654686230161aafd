"""Returns root-cause: which products come back, why, what it costs, and what to fix first.

The package (the shape every domain shares, see :mod:`ops.domain`):

- :mod:`~ops.returns.refresh`  ``agg_returns_*`` rebuilt in SQL (registered as ``"returns"``);
- :mod:`~ops.returns.metrics`  each ratio once (fractions 0..1), the reason sets, Pareto, priority;
- :mod:`~ops.returns.queries`  scoped reads (rates by breakdown, priority, reasons, cost, accuracy,
  and :func:`supplier_return_rates` for the supplier scorecards);
- :mod:`~ops.returns.page`     :func:`returns_page` (the page's load), :func:`kpis`, :func:`headline`;
- :mod:`~ops.returns.actions`  actions on priority rows and theme names, as ``ops.decisions`` change sets;
- :mod:`~ops.returns.themes`   comment themes (TF-IDF + NMF), the background job and its tables;
- :mod:`~ops.returns.exports`  the page's tables as registered exports; :mod:`~ops.returns.cli` the commands.

Definitions (the page, the exports and the tests use exactly these)
--------------------------------------------------------------------
- **Sales** are order lines of orders not cancelled or unavailable; **units sold** their ``qty``,
  **sales value** ``qty x unit_price``.
- **Sale week**: the Monday of the order's placed day. Every return is counted in the sale week of
  the order line it returns, however late it arrives, so a rate's numerator and denominator are the
  same sales. Recent weeks are therefore still filling up (returns arrive days to weeks after the
  sale). A date range selects the sale weeks whose Monday lies between the Monday of the first
  day's week and the last day.
- **Return rate** = units returned / units sold; **value return rate** = returned units x their
  line's unit price / sales value. Both fractions.
- **Breakdowns**: SKU, size (the product's size or variant), category, channel, warehouse (the
  order's), carrier (the order's first shipment's), supplier (the product's supplier, whose
  vendor account sees exactly these rows), sale week. A group selling fewer units than the
  ``returns_min_units`` threshold is flagged and listed last, so a SKU sold twice never tops a list.
- **Defect** reasons: :data:`~ops.returns.metrics.DEFECT_REASONS`; **wrong item** (mis-pick)
  reasons: :data:`~ops.returns.metrics.WRONG_ITEM_REASONS`.
- **Reason Pareto**: returned units per reason code, largest first, share and cumulative share.
- **Heatmaps**: reason x category and reason x size, coloured by the reason's return rate
  (units returned for that reason / units sold of that category or size).
- **Cost of returns** by disposition: return shipping per return line, handling per unit, and the
  value lost (units x unit cost x the disposition's loss share); thresholds hold each assumption.
  Refunds are shown beside the net cost, not added to it.
- **Fulfilment accuracy** = 1 - order lines returned as the wrong item / order lines shipped, by
  sale week and warehouse, against ``fulfilment_accuracy_target``.
- **Priority** = (SKU return rate - its category's return rate) x the SKU's units sold: the
  returned units above what the category norm would give; only SKUs at or above the minimum
  volume returning more than their category are listed. The category rate is over what the viewer
  may see. The 4-week trend compares the SKU's rate in the last 4 settled sale weeks with the 4 before.
- **Settled week**: a sale week at least ``SETTLE_WEEKS`` (4) weeks older than the newest sales, so
  most of its returns have arrived. **KPIs** are the last settled sale week of the range against the
  week before; the priority trend compares the last 4 settled weeks with the 4 before.
"""

from __future__ import annotations

from ops import fmt
from ops.decisions import define_entity_kind, define_threshold
from ops.domain import Domain, register_domain
from ops.fmt import Col, currency
from ops.returns import metrics
from ops.returns.actions import (
    ACTION_COLUMNS,
    STATUS_LABELS,
    action_change,
    action_key,
    action_owner,
    parse_note,
    theme_change,
    theme_key,
    theme_names,
)
from ops.returns.exports import EXPORTS
from ops.returns.metrics import (
    ACCURACY_TARGET_THRESHOLD,
    ACTION_KIND,
    ACTIONS,
    DEFECT_REASONS,
    HANDLING_COST_THRESHOLD,
    LOSS_THRESHOLDS,
    MIN_UNITS_THRESHOLD,
    PAGE,
    RATE_ALERT_THRESHOLD,
    SHIP_COST_THRESHOLD,
    THEME_KIND,
    WRONG_ITEM_REASONS,
)
from ops.returns.page import KPIS, ReturnsPage, headline, kpis, returns_page
from ops.returns.queries import (
    BREAKDOWNS,
    cost_of_returns,
    fulfilment_accuracy,
    priority_list,
    reason_heatmap,
    reason_pareto,
    return_rates,
    supplier_return_rates,
)
from ops.returns.refresh import refresh
from ops.returns.themes import start_job, theme_runs, theme_table

define_threshold(MIN_UNITS_THRESHOLD, label="Minimum units sold to rank", unit="units", default=30,
                 page=PAGE, help="A SKU or group selling fewer units in the range is not ranked by return rate.",
                 plausible=(1, 1000))
define_threshold(ACCURACY_TARGET_THRESHOLD, label="Fulfilment accuracy target", unit="%", default=99.5,
                 scopes=("global", "warehouse"), page=PAGE,
                 help="Share of shipped order lines not returned as the wrong item (mis-pick).", plausible=(90, 100))
define_threshold(SHIP_COST_THRESHOLD, label="Return shipping per return", unit=currency(), default=6.5, page=PAGE,
                 help="What the return label and carriage cost per returned order line.", plausible=(0, 50))
define_threshold(HANDLING_COST_THRESHOLD, label="Handling per returned unit", unit=currency(), default=2.0, page=PAGE,
                 help="Receiving, inspecting and re-shelving one returned unit.", plausible=(0, 30))
for _disp, _default in (("restock", 0), ("refurbish", 35), ("liquidate", 70), ("scrap", 100)):
    define_threshold(LOSS_THRESHOLDS[_disp], label=f"Value lost: {_disp}", unit="%", default=_default, page=PAGE,
                     help=f"Share of the unit cost lost when a returned unit is sent to {_disp}.",
                     plausible=(0, 100))
fmt.define_columns({
    "units_sold": Col("Units sold", "count"), "units_returned": Col("Units returned", "count"),
    "return_rate": Col("Return rate", "pct", help="Units returned / units sold, same sale weeks."),
    "value_return_rate": Col("Value return rate", "pct", help="Returned value / sales value, same sale weeks."),
    "sales_value": Col("Sales", "money", 0), "returned_value": Col("Returned value", "money", 0),
    "refund_value": Col("Refunds", "money", 0), "below_min_volume": Col("Below minimum volume", "bool"),
    "category_rate": Col("Category return rate", "pct"), "excess_rate": Col("Excess over category", "pct"),
    "priority": Col("Priority (excess units)", "number", 1,
                    help="(SKU return rate - category return rate) x units sold."),
    "recent_rate": Col("Rate, last 4 settled weeks", "pct"), "prior_rate": Col("Rate, 4 weeks before", "pct"),
    "trend_pts": Col("4-week trend", "pts"), "reason_code": Col("Reason"), "share": Col("Share", "pct"),
    "cumulative_share": Col("Cumulative share", "pct"), "member": Col("Group"),
    "reason_rate": Col("Reason return rate", "pct"), "share_of_returns": Col("Share of returns", "pct"),
    "disposition": Col("Disposition"), "return_lines": Col("Return lines", "count"),
    "return_shipping_cost": Col("Return shipping", "money", 0), "handling_cost": Col("Handling", "money", 0),
    "value_lost": Col("Value lost", "money", 0), "net_cost": Col("Cost of returns", "money", 0),
    "sale_week": Col("Sale week", "date"), "shipped_lines": Col("Lines shipped", "count"),
    "wrong_item_lines": Col("Wrong-item returns", "count"), "mispick_rate": Col("Mis-pick rate", "pct", 2),
    "fulfilment_accuracy": Col("Fulfilment accuracy", "pct", 2), "below_target": Col("Below target", "bool"),
    "top_terms": Col("Top terms"), "n_docs": Col("Comments", "count"), "examples": Col("Example comments"),
    "theme_no": Col("Theme", "count"), "run_id": Col("Run", "count"), "owner": Col("Owner"),
    "rank": Col("Rank", "count"), "defect_rate": Col("Defect rate", "pct"), "size": Col("Size"),
    "progress": Col("Progress", "pct", 0), "theme_name": Col("Theme name"), "n_themes": Col("Themes", "count"),
    "started_by": Col("Started by"),
})
define_entity_kind(ACTION_KIND, label="Return action", owner=action_owner, page=PAGE)
define_entity_kind(THEME_KIND, label="Return comment theme", page=PAGE)

DOMAIN = register_domain(Domain(
    id=PAGE,
    title="Returns root-cause",
    icon=":material/assignment_return:",
    section="Operations",
    roles=("admin", "manager"),
    vendor_kinds=("supplier",),
    filters=("dates",),
    thresholds=(MIN_UNITS_THRESHOLD, RATE_ALERT_THRESHOLD, ACCURACY_TARGET_THRESHOLD, SHIP_COST_THRESHOLD,
                HANDLING_COST_THRESHOLD, *LOSS_THRESHOLDS.values()),
    exception_kinds=(ACTION_KIND,),
    refresher=refresh,
    exports=EXPORTS,
    headline=headline,
    order=50,
))

__all__ = [
    "ACCURACY_TARGET_THRESHOLD", "ACTIONS", "ACTION_COLUMNS", "ACTION_KIND", "BREAKDOWNS", "DEFECT_REASONS",
    "DOMAIN", "EXPORTS", "HANDLING_COST_THRESHOLD", "KPIS", "LOSS_THRESHOLDS", "MIN_UNITS_THRESHOLD", "PAGE",
    "RATE_ALERT_THRESHOLD", "SHIP_COST_THRESHOLD", "STATUS_LABELS", "THEME_KIND", "WRONG_ITEM_REASONS",
    "ReturnsPage", "action_change", "action_key", "action_owner", "cost_of_returns", "fulfilment_accuracy",
    "headline", "kpis", "metrics", "parse_note", "priority_list", "reason_heatmap", "reason_pareto", "refresh",
    "return_rates", "returns_page", "start_job", "supplier_return_rates", "theme_change", "theme_key",
    "theme_names", "theme_runs", "theme_table",
]
