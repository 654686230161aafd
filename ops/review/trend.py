"""Weekly KPI series for the review's time charts (the same definitions and sources as ``ops.review.kpis``)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function, require_viewer
from ops.filters import Filters
from ops.review.kpis import KPI_BY_KEY, resolve_week, weekly_values
from ops.review.sources import week_span
from ops.review.week import Week

TREND_WEEKS = 13
TREND_KEYS = ("on_time_ship", "on_time_delivery", "return_rate", "late_shipment_rate")
TREND_COLUMNS = ["ds", "week", "key", "label", "value"]


@data_function
def kpi_trend(session: Session, *, viewer: Viewer, week: str | Week | None = None, weeks: int = TREND_WEEKS,
              filters: Filters | None = None, keys: tuple[str, ...] = TREND_KEYS) -> pd.DataFrame:
    """``keys`` for each of the ``weeks`` ISO weeks ending with ``week`` (long format).

    The default keys are all read from the pages' domains (:mod:`ops.review.sources`): one read of
    their aggregates for all the weeks, no fact-table rows.

    Returns
    -------
    DataFrame
        ds (datetime64[ns]: the week's Monday), week (str ``YYYY-Www``), key (str), label (str),
        value (float64, NaN = nothing to measure); by ds, then key.
    """
    require_viewer(viewer)
    span = week_span(resolve_week(session, viewer=viewer, week=week), weeks)
    vals = weekly_values(session, viewer=viewer, week=span[-1], weeks=len(span), filters=filters, keys=keys)
    out = [{"ds": pd.Timestamp(w.start), "week": w.label, "key": k, "label": KPI_BY_KEY[k].label,
            "value": vals[w.label].get(k)} for w in span for k in keys]
    df = pd.DataFrame(out, columns=TREND_COLUMNS)
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype("float64")
    df["ds"] = pd.to_datetime(df["ds"])
    return df
