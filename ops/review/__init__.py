"""The weekly review: the KPIs a manager is judged on, one exceptions inbox, annotations, the report.

Built on the domain registry: the inbox and the KPI table loop over every registered domain's
``headline()``, so a new domain joins the review by registering; nothing here names a domain.

Modules: ``week`` (ISO weeks), ``kpis`` (the KPIs, defined in words), ``refresh`` (the
``agg_review_*`` tables of the KPIs defined here), ``sources`` (the KPIs a
page already defines, read from its domain for whole ISO weeks), ``trend`` (weekly series for
charts), ``inbox`` (exceptions, status, owner, links; the status write), ``annotations`` (chart
marks and the forecaster's known events), ``report`` (the HTML, XLSX and PDF report, the manager's
and one per vendor), ``exports`` (registered exports), ``cli``.
"""

from __future__ import annotations

from ops import fmt
from ops.decisions import define_entity_kind, define_threshold
from ops.domain import Domain, register_domain
from ops.review.exports import EXPORTS
from ops.review.inbox import ENTITY_KIND, STATUSES, item_key, set_status
from ops.review.kpis import KPI_DEFS, review_kpis, satisfaction_vs_lateness
from ops.review.refresh import refresh
from ops.review.week import Week, parse_week

__all__ = ["DOMAIN", "KPI_DEFS", "STATUSES", "THRESHOLD_NAMES", "Week", "item_key", "parse_week",
           "review_kpis", "satisfaction_vs_lateness", "set_status"]

PAGE = "review"
_MARKETPLACE = "Marketplace seller target (the limit marketplaces hold sellers to)"

# The marketplace seller targets are the marketplaces' published limits; the rest are house defaults.
define_threshold("mp_late_shipment_max", label="Late shipment rate limit", unit="%", default=4, page=PAGE,
                 help=f"{_MARKETPLACE}: shipments confirmed after their ship-by time.", plausible=(0.5, 20))
define_threshold("mp_cancel_rate_max", label="Pre-fulfilment cancel rate limit", unit="%", default=2.5, page=PAGE,
                 help=f"{_MARKETPLACE}: orders the seller cancels before shipping.", plausible=(0.5, 20))
define_threshold("mp_order_defect_max", label="Order defect rate limit", unit="%", default=1, page=PAGE,
                 help=f"{_MARKETPLACE}: orders with a negative review, a claim or a defect return.",
                 plausible=(0.1, 10))
define_threshold("mp_valid_tracking_min", label="Valid tracking rate floor", unit="%", default=95, page=PAGE,
                 help=f"{_MARKETPLACE}: shipments with a carrier and a tracking number.", plausible=(50, 100))
define_threshold("order_cycle_days_max", label="Order cycle time limit", unit="days", default=5, page=PAGE,
                 help="Median days from order to delivery.", plausible=(1, 30))
define_threshold("click_to_ship_hours_max", label="Click-to-ship limit", unit="hours", default=24, page=PAGE,
                 help="Median hours from payment to the parcel leaving the warehouse.", plausible=(1, 168))
define_threshold("cost_warehousing_per_order", label="Warehousing cost per order (assumption)", unit=fmt.currency(),
                 default=3.0, page=PAGE, max=1000,
                 help="Pick, pack and storage cost assumed per order shipped, in the shop's currency.",
                 plausible=(0.1, 50))
define_threshold("cost_per_order_max", label="Cost per order limit", unit=fmt.currency(), default=15.0, page=PAGE,
                 max=10000, plausible=(1, 200),
                 help="Shipping, warehousing and returns cost per order placed in the week and shipped.")
define_threshold("review_score_min", label="Review score floor", unit="stars", default=4.0, min=1, max=5, page=PAGE,
                 help="Mean star rating of the week's customer reviews.", plausible=(2, 5))

THRESHOLD_NAMES = ("mp_late_shipment_max", "mp_cancel_rate_max", "mp_order_defect_max", "mp_valid_tracking_min",
                   "order_cycle_days_max", "click_to_ship_hours_max", "cost_warehousing_per_order",
                   "cost_per_order_max", "review_score_min")

define_entity_kind(ENTITY_KIND, label="Weekly review item", page=PAGE)

fmt.define_columns({
    "item_key": fmt.Col("Item"), "owner": fmt.Col("Owner"), "link": fmt.Col("Open"),
    "definition": fmt.Col("Definition"), "target": fmt.Col("Target", "number"), "meets": fmt.Col("Meets target"),
    "target_from": fmt.Col("Target from"), "previous_week": fmt.Col("Compared with"),
    "mean_score": fmt.Col("Mean score", "number"), "low_share": fmt.Col("1-2 star share", "pct"),
    "reason_code": fmt.Col("Reason"), "returned_units": fmt.Col("Units returned", "count"),
    "reason_share": fmt.Col("Share of returns", "pct"),
})

DOMAIN = register_domain(Domain(
    id=PAGE,
    title="Weekly review",
    icon=":material/event_note:",
    section="Operations",
    roles=("admin", "manager", "planner"),
    vendor_kinds=("supplier", "carrier", "warehouse"),
    filters=("warehouses", "channels"),
    thresholds=THRESHOLD_NAMES,
    exception_kinds=(ENTITY_KIND,),
    exports=EXPORTS,
    refresher=refresh,
    order=15,
))
