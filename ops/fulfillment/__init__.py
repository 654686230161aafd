"""Fulfilment SLA: did we ship on time, where are orders piling up, whose fault is a late delivery.

The package (the shape every domain shares, see :mod:`ops.domain`):

- :mod:`~ops.fulfillment.refresh`  ``agg_fulfil_*`` rebuilt in SQL (registered as ``"fulfillment"``);
- :mod:`~ops.fulfillment.metrics`  each ratio once (fractions 0..1), histogram percentiles, KPI weeks;
- :mod:`~ops.fulfillment.queries`  scoped reads of the aggregates (summary, trend, histograms, backlog...);
- :mod:`~ops.fulfillment.page`     :func:`fulfillment_page` (the page's load), :func:`kpis`, :func:`exceptions`,
  :func:`headline`;
- :mod:`~ops.fulfillment.sla`      warehouse SLA policies (read, and the audited edit);
- :mod:`~ops.fulfillment.exports`  the page's tables as registered exports.

Definitions (the page, the exports and the tests use exactly these)
--------------------------------------------------------------------
Every measure is counted per **order line** and grouped by the line's keys: the order's placed
day, warehouse and channel, the line's seller (``order_lines.seller_id``) and that seller's region
(``suppliers.region``: the seller state for Olist data), and the order's carrier.

- **Excluded orders**: status ``cancelled`` or ``unavailable`` count nowhere.
- **Order shipment**: an order's ``shipped_at`` is the earliest ``shipments.shipped_at`` of its
  shipments, ``promised_at`` the earliest promise, ``delivered_at`` the latest delivery when every
  shipment of it was delivered (else undelivered); its carrier and lane are the smallest id / lane.
- **Ship-by deadline** of a line: ``order_lines.ship_by`` (Olist ``shipping_limit_date``), else
  ``orders.ship_by``, else derived from ``paid_at`` with the warehouse's SLA calendar
  (:func:`ops.business_time.ship_by`: paid before the cut-off on a business day ships by 23:59:59
  of that day plus ``handling_days`` business days). Unpaid orders without a given deadline have none.
- **On-time ship rate** = on-time lines / counted lines (a fraction 0..1, as every rate). A line
  *counts* when it has a deadline and its order was shipped. *On time* means
  ``shipped_at <= ship_by``: a shipment exactly at the deadline is on time. Unshipped lines are
  not in the rate: they are the **backlog** (not shipped, order status not shipped/delivered), and
  backlog lines past their deadline at the as-of time are the separate "late and unshipped" figure.
- **On-time delivery rate** = on-time deliveries / delivered lines. A line counts when its order
  was delivered and has a promised date; undelivered lines are not in the rate. *On time* compares
  **days**: ``date(delivered_at) <= date(promised_at)`` (a promise is a day: Olist's estimated
  delivery date is a midnight timestamp, and a delivery any time on that day is on time).
- **Attribution** of a late delivery: to the *warehouse* when the line was shipped after its
  deadline, to the *carrier* when it was shipped on time, *unknown* when it has no ship time or
  deadline. A line both shipped late and carried slowly is the warehouse's (the first cause).
- **Click-to-ship hours** = ``shipped_at - paid_at`` of lines of non-excluded orders having both,
  in calendar hours and in business hours (the warehouse's calendar; Mon-Fri with the global
  holidays where the order has no warehouse, as for Olist). Negative values (a source recording the
  hand-over before the payment approval) are kept as they are.
- **Percentiles** (median, p90, p99) follow numpy's ``linear`` method over the lines. They are exact
  (computed from the raw lines) when the filtered range holds at most ``EXACT_PERCENTILE_MAX_ROWS``
  lines; above that they are read from half-hour histograms (``agg_fulfil_hours``, running totals
  by placed day: two index seeks per cell for any range; cells per warehouse alone for whoever sees
  whole warehouses), every line taken at its bucket's middle, which puts each figure within a quarter
  hour of the exact one (proof:
  :func:`ops.fulfillment.metrics.bucket_percentiles`); the frame then says ``exact=False``.
- **Order-to-delivery split** (delivered lines with a payment and a ship time): processing
  (paid -> shipped) and carrier pickup/transit (shipped -> delivered), mean calendar hours.
- **Dates**: the global date filter selects lines by their order's placed day.
- **As of**: the last inventory snapshot day (else the last order day); "now" for the backlog is
  the end of that day, never the wall clock, so results are deterministic.

Speed: the page reads ``agg_fulfil_*`` tables (one row per day and keys) that :func:`refresh`
rebuilds after every import and seed; raw fact tables are read only for exact percentiles of
small ranges and by the refresher.
"""

from __future__ import annotations

from ops.decisions import define_entity_kind, define_threshold
from ops.domain import Domain, register_domain
from ops.fulfillment import metrics
from ops.fulfillment.exports import (
    EXPORTS,
    export_backlog,
    export_c2s,
    export_exceptions,
    export_findings,
    export_heatmap,
    export_kpis,
    export_lane_weeks,
    export_lanes,
    export_late_by,
    export_sla,
    export_summary_channel,
    export_summary_seller_state,
    export_summary_warehouse,
    export_trend,
)
from ops.fulfillment.metrics import (
    AGE_BANDS,
    BACKLOG_THRESHOLD,
    DOW_NAMES,
    EXACT_PERCENTILE_MAX_ROWS,
    EXCEPTION_KIND,
    EXCLUDED_STATUSES,
    GROUPS,
    HIST_EDGES,
    HIST_MEASURES,
    KEY_COLS,
    NONE_LABEL,
    PAGE,
    SHIPPED_STATUSES,
    SLA_ENTITY,
    TARGET_THRESHOLD,
    hist_percentile,
)
from ops.fulfillment.page import (
    EXCEPTION_COLUMNS,
    EXCEPTION_KINDS,
    KPI_COLUMNS,
    KPIS,
    FulfilmentPage,
    exceptions,
    fulfillment_page,
    headline,
    kpis,
)
from ops.fulfillment.queries import (
    ALL_LANES,
    BACKLOG_COLUMNS,
    FINDING_COLUMNS,
    LANE_WEEK_COLUMNS,
    SUMMARY_COLUMNS,
    Window,
    as_of,
    backlog,
    backlog_by_warehouse,
    calendars,
    exception_owner,
    hours_histogram,
    lane_attribution,
    lane_weekly,
    late_findings,
    late_heatmap,
    line_facts,
    ontime_trend,
    sla_summary,
    window_percentiles,
    worst_lane_weeks,
)
from ops.fulfillment.refresh import refresh
from ops.fulfillment.sla import SLA_COLUMNS, day_names, sla_policies, update_sla

# The domain's thresholds: defaults, plausible ranges (outside them a save needs a confirmation)
# and plain-words definitions, shown wherever the threshold is.
define_threshold("on_time_ship_target", label="On-time ship target", unit="%", default=95,
                 scopes=("global", "warehouse"), page="fulfillment",
                 help="Share of orders shipped by their ship-by time.", plausible=(50, 100))
define_threshold("backlog_age_alert_hours", label="Backlog age alert", unit="hours", default=24,
                 scopes=("global", "warehouse"), page="fulfillment",
                 help="Alert on unshipped orders older than this.", plausible=(1, 336))
define_entity_kind(EXCEPTION_KIND, label="Fulfilment exception", owner=exception_owner, page=PAGE)

DOMAIN = register_domain(Domain(
    id="fulfillment",
    title="Fulfilment SLA",
    icon=":material/local_shipping:",
    section="Operations",
    roles=("admin", "manager"),
    vendor_kinds=("supplier", "warehouse"),
    filters=("dates", "warehouses", "channels"),
    thresholds=(TARGET_THRESHOLD, BACKLOG_THRESHOLD),
    exception_kinds=EXCEPTION_KINDS,
    refresher=refresh,
    exports=EXPORTS,
    headline=headline,
    order=30,
))

__all__ = [
    "AGE_BANDS", "ALL_LANES", "BACKLOG_COLUMNS", "BACKLOG_THRESHOLD", "DOMAIN", "DOW_NAMES",
    "EXACT_PERCENTILE_MAX_ROWS", "EXCEPTION_COLUMNS", "EXCEPTION_KIND", "EXCEPTION_KINDS", "EXCLUDED_STATUSES",
    "EXPORTS", "FINDING_COLUMNS", "GROUPS", "HIST_EDGES", "HIST_MEASURES", "KEY_COLS", "KPIS", "KPI_COLUMNS",
    "LANE_WEEK_COLUMNS", "NONE_LABEL", "PAGE", "SHIPPED_STATUSES", "SLA_COLUMNS", "SLA_ENTITY", "SUMMARY_COLUMNS",
    "TARGET_THRESHOLD", "FulfilmentPage", "as_of", "backlog", "backlog_by_warehouse", "calendars", "day_names",
    "exception_owner", "exceptions", "export_backlog", "export_c2s", "export_exceptions", "export_findings",
    "export_heatmap", "export_kpis", "export_lane_weeks", "export_lanes", "export_late_by", "export_sla",
    "export_summary_channel", "export_summary_seller_state", "export_summary_warehouse", "export_trend",
    "fulfillment_page", "headline", "hist_percentile", "hours_histogram", "kpis", "lane_attribution", "lane_weekly",
    "late_findings", "late_heatmap", "line_facts", "metrics", "ontime_trend", "refresh", "sla_policies",
    "sla_summary", "update_sla", "Window", "window_percentiles", "worst_lane_weeks",
]
