"""Carrier, supplier and 3PL scorecards, shared with each vendor.

The package (the shape every domain shares, see :mod:`ops.domain`):

- :mod:`~ops.scorecards.refresh`     ``agg_scorecard_*`` rebuilt in SQL (registered as ``"scorecards"``);
- :mod:`~ops.scorecards.metrics`     every measure's definition (read it first), exact histogram percentiles;
- :mod:`~ops.scorecards.queries`     scoped reads: carrier scorecard, trend, lane weeks and flags, transit,
  suppliers, 3PLs, the anonymous lane benchmark;
- :mod:`~ops.scorecards.leadtime`    supplier lead time stated vs measured (the planner reads it);
- :mod:`~ops.scorecards.disputes`    vendors' disputes and the manager's answers (audited, stale refused);
- :mod:`~ops.scorecards.thresholds`  minimum volume, late-lane rate, score weights and bands, on-time target;
- :mod:`~ops.scorecards.page`        :func:`scorecard_page` (one load per page) and :func:`headline`;
- :mod:`~ops.scorecards.exports`     every table of the pages as registered exports;
- :mod:`~ops.scorecards.files`       one HTML + CSV file per vendor for a week (``python -m ops scorecards export``).

Two pages, two registrations: "carriers" (*Scorecards*, managers and admins: every vendor, ranks,
flags, disputes to answer, weights) and "scorecard" (*My scorecard*, a vendor's landing page: its own
rows, trend, definitions, the anonymous lane benchmark, and its disputes).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ops import fmt
from ops.decisions import VendorRef, define_entity_kind
from ops.domain import Domain, register_domain
from ops.fmt import Col
from ops.models import Carrier, Supplier
from ops.scorecards.disputes import (
    DISPUTE_STATES,
    decide_dispute,
    disputes,
    excluded_po_lines,
    excluded_shipments,
    raise_dispute,
)
from ops.scorecards.exports import EXPORTS, VENDOR_EXPORTS
from ops.scorecards.leadtime import LEAD_TIME_COLUMNS, lead_time_stats
from ops.scorecards.metrics import PAGE, TREND_WEEKS, VENDOR_PAGE
from ops.scorecards.page import ScorecardPage, headline, scorecard_page, weights_problem
from ops.scorecards.queries import (
    Period,
    carrier_scorecard,
    carrier_trend,
    lane_weeks,
    late_lanes,
    parse_week,
    period,
    supplier_scorecard,
    supplier_trend,
    tpl_scorecard,
    transit_distribution,
)
from ops.scorecards.refresh import refresh
from ops.scorecards.thresholds import ALL_THRESHOLDS, CRITERIA

LANE_ENTITY = "scorecard_lane"
SUPPLIER_ENTITY = "scorecard_supplier"


def lane_owner(session: Session, key: str) -> VendorRef | None:
    """Owner of a flagged carrier lane ``CARRIER|LANE``: the carrier, looked up in the data."""
    code, _, _lane = key.partition("|")
    found = session.scalar(select(Carrier.code).where(Carrier.code == code))
    return VendorRef("carrier", str(found)) if found else None


def supplier_owner(session: Session, key: str) -> VendorRef | None:
    """Owner of a flagged supplier (its code), looked up in the data."""
    found = session.scalar(select(Supplier.code).where(Supplier.code == key))
    return VendorRef("supplier", str(found)) if found else None


define_entity_kind(LANE_ENTITY, label="Carrier lane (scorecard)", owner=lane_owner, page=PAGE)
define_entity_kind(SUPPLIER_ENTITY, label="Supplier (scorecard)", owner=supplier_owner, page=PAGE)

fmt.define_columns({
    "service": Col("Service"),
    "operator": Col("3PL"),
    "week": Col("Week of", "date"),
    "week_label": Col("Week"),
    "shipments": Col("Shipments", "count"),
    "attempted": Col("With an attempt", "count"),
    "on_time_rate": Col("On time", "pct", help="First attempt on or before the promised day."),
    "first_attempt_rate": Col("First attempt", "pct", help="Delivered parcels delivered at the first attempt."),
    "transit_p50_bdays": Col("Transit median (bus. days)", "days"),
    "transit_p90_bdays": Col("Transit p90 (bus. days)", "days"),
    "transit_p95_bdays": Col("Transit p95 (bus. days)", "days"),
    "lost_rate": Col("Lost", "pct"),
    "damaged_rate": Col("Damaged", "pct"),
    "rts_rate": Col("Returned to sender", "pct"),
    "intact_rate": Col("Arrived intact", "pct"),
    "cost_per_package": Col("Cost per package", "money", decimals=2),
    "score": Col("Score", "pct", help="Weighted mean of the criteria, by the weights in force."),
    "band": Col("Band"),
    "quality_rate": Col("Free of defects", "pct", help="1 minus the defect-return rate of the supplier's SKUs."),
    "scorecard": Col("Scorecard"),
    "ranked": Col("Ranked", "bool", help="At least the minimum volume: ranked, flagged and benchmarked."),
    "score_rank": Col("Rank", "count"),
    "target_on_time_rate": Col("On-time target", "pct"),
    "benchmark_on_time_rate": Col("Lane benchmark", "pct",
                                  help="Median on-time rate of all carriers with enough volume on the lane."),
    "excluded": Col("Excluded (disputes)", "count", help="Rows left out because a dispute on them was accepted."),
    "flagged": Col("Late lane", "bool"),
    "bdays": Col("Business days", "count"),
    "transit_share": Col("Share", "pct"),
    "po_lines": Col("PO lines", "count"),
    "in_full_rate": Col("In full", "pct"),
    "otif_rate": Col("OTIF", "pct", help="Received by the expected date and in full."),
    "fill_rate": Col("Fill rate", "pct"),
    "lt_stated_days": Col("Lead time stated", "days"),
    "lt_n": Col("Lines received", "count"),
    "lt_mean_days": Col("Lead time mean", "days"),
    "lt_std_days": Col("Lead time spread (sd)", "days"),
    "lt_p90_days": Col("Lead time p90", "days"),
    "lt_gap_days": Col("Measured - stated", "days"),
    "subject_kind": Col("About"),
    "subject_key": Col("Shipment / PO line / week"),
    "reason": Col("Reason"),
    "decision_note": Col("Answer"),
    "raised_by": Col("Raised by"),
    "raised_at": Col("Raised", "datetime"),
    "decided_by": Col("Answered by"),
    "decided_at": Col("Answered", "datetime"),
    "criterion": Col("Criterion"),
    "weight_pct": Col("Weight (%)", "number"),
})

DOMAIN = register_domain(Domain(
    id=PAGE,
    title="Scorecards",
    icon=":material/leaderboard:",
    section="Operations",
    roles=("admin", "manager"),
    thresholds=ALL_THRESHOLDS,
    exception_kinds=(LANE_ENTITY, SUPPLIER_ENTITY),
    refresher=refresh,
    exports=EXPORTS,
    headline=headline,
    order=40,
))
VENDOR_DOMAIN = register_domain(Domain(
    id=VENDOR_PAGE,
    title="My scorecard",
    icon=":material/leaderboard:",
    section="Vendor",
    roles=(),
    vendor_kinds=("supplier", "carrier", "warehouse"),
    exports=VENDOR_EXPORTS,
    order=5,  # before every other page a vendor may open: the vendor lands here
))

__all__ = [
    "ALL_THRESHOLDS", "CRITERIA", "DISPUTE_STATES", "DOMAIN", "EXPORTS", "LANE_ENTITY", "LEAD_TIME_COLUMNS", "PAGE",
    "SUPPLIER_ENTITY", "TREND_WEEKS", "VENDOR_DOMAIN", "VENDOR_EXPORTS", "VENDOR_PAGE", "Period", "ScorecardPage",
    "carrier_scorecard", "carrier_trend", "decide_dispute", "disputes", "excluded_po_lines", "excluded_shipments",
    "headline", "lane_owner", "lane_weeks", "late_lanes", "lead_time_stats", "parse_week", "period", "raise_dispute",
    "refresh", "scorecard_page", "supplier_owner", "supplier_scorecard", "supplier_trend", "tpl_scorecard",
    "transit_distribution", "weights_problem",
]
