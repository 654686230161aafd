"""Fulfilment exports: the page's tables as registered exports (``python -m ops export``, download buttons).

Thin wrappers over :mod:`ops.fulfillment.queries` and :mod:`ops.fulfillment.page`, so a file holds
the numbers the page shows, with the page's scoping.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function
from ops.exports import register
from ops.filters import Filters
from ops.fulfillment.metrics import PAGE
from ops.fulfillment.page import exceptions, kpis
from ops.fulfillment.queries import (
    backlog,
    hours_histogram,
    lane_attribution,
    lane_weekly,
    late_findings,
    late_heatmap,
    ontime_trend,
    sla_summary,
)
from ops.fulfillment.sla import sla_policies

EXPORTS = ("fulfilment_summary_warehouse", "fulfilment_summary_channel", "fulfilment_summary_seller_state",
           "fulfilment_trend", "fulfilment_c2s_histogram", "fulfilment_late_by", "fulfilment_heatmap",
           "fulfilment_lanes", "fulfilment_lane_weeks", "fulfilment_findings", "fulfilment_backlog",
           "fulfilment_kpis", "fulfilment_exceptions", "fulfilment_sla_policies")


@register("fulfilment_summary_warehouse", title="Fulfilment SLA by warehouse", page=PAGE)
@data_function
def export_summary_warehouse(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return sla_summary(session, viewer=viewer, filters=filters, by="warehouse")


@register("fulfilment_summary_channel", title="Fulfilment SLA by channel", page=PAGE)
@data_function
def export_summary_channel(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return sla_summary(session, viewer=viewer, filters=filters, by="channel")


@register("fulfilment_summary_seller_state", title="Fulfilment SLA by seller state", page=PAGE)
@data_function
def export_summary_seller_state(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return sla_summary(session, viewer=viewer, filters=filters, by="seller_region")


@register("fulfilment_trend", title="On-time ship rate by week", page=PAGE)
@data_function
def export_trend(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return ontime_trend(session, viewer=viewer, filters=filters, grain="week", by="warehouse")


@register("fulfilment_c2s_histogram", title="Click-to-ship hours histogram", page=PAGE)
@data_function
def export_c2s(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return hours_histogram(session, viewer=viewer, filters=filters, measure="c2s")


@register("fulfilment_late_by", title="Shipped late by how much", page=PAGE)
@data_function
def export_late_by(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return hours_histogram(session, viewer=viewer, filters=filters, measure="late")


@register("fulfilment_heatmap", title="Late shipments by weekday and hour paid", page=PAGE)
@data_function
def export_heatmap(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return late_heatmap(session, viewer=viewer, filters=filters)


@register("fulfilment_lanes", title="Late deliveries by carrier and lane", page=PAGE)
@data_function
def export_lanes(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return lane_attribution(session, viewer=viewer, filters=filters)


@register("fulfilment_lane_weeks", title="On-time delivery by carrier lane and week", page=PAGE)
@data_function
def export_lane_weeks(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return lane_weekly(session, viewer=viewer, filters=filters)


@register("fulfilment_findings", title="Late-shipping findings by warehouse and weekday", page=PAGE)
@data_function
def export_findings(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return late_findings(session, viewer=viewer, filters=filters)


@register("fulfilment_backlog", title="Backlog: orders not shipped", page=PAGE)
@data_function
def export_backlog(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return backlog(session, viewer=viewer, filters=filters)


@register("fulfilment_kpis", title="Fulfilment KPIs, week over week", page=PAGE)
@data_function
def export_kpis(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return kpis(session, viewer=viewer, filters=filters)


@register("fulfilment_exceptions", title="Fulfilment exceptions", page=PAGE)
@data_function
def export_exceptions(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return exceptions(session, viewer=viewer, filters=filters)


@register("fulfilment_sla_policies", title="Warehouse SLA policies", page=PAGE)
@data_function
def export_sla(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return sla_policies(session, viewer=viewer)
