"""Weekly KPI series for the review's time charts (the same definitions as ``ops.review.kpis``)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function, require_viewer
from ops.filters import Filters
from ops.review.kpis import KPI_BY_KEY, _cost_assumptions, _read_rows, resolve_week, week_values
from ops.review.week import Week

TREND_WEEKS = 13
TREND_KEYS = ("on_time_ship", "on_time_delivery", "return_rate", "late_shipment_rate")
TREND_COLUMNS = ["ds", "week", "key", "label", "value"]


@data_function
def kpi_trend(session: Session, *, viewer: Viewer, week: str | Week | None = None, weeks: int = TREND_WEEKS,
              filters: Filters | None = None, keys: tuple[str, ...] = TREND_KEYS) -> pd.DataFrame:
    """``keys`` for each of the ``weeks`` ISO weeks ending with ``week`` (long format, one read).

    Returns
    -------
    DataFrame
        ds (datetime64[ns]: the week's Monday), week (str ``YYYY-Www``), key (str), label (str),
        value (float64, NaN = nothing to measure); by ds, then key.
    """
    require_viewer(viewer)
    f = filters or Filters()
    last = resolve_week(session, viewer=viewer, week=week)
    span = [last]
    for _ in range(max(1, int(weeks)) - 1):
        span.insert(0, span[0].previous())
    rows = _read_rows(session, viewer, span[0].start, last.end, Filters(warehouses=f.warehouses, channels=f.channels))
    costs = _cost_assumptions(session, viewer)
    out = []
    for w in span:
        vals = week_values(rows, w, costs)
        out += [{"ds": pd.Timestamp(w.start), "week": w.label, "key": k, "label": KPI_BY_KEY[k].label,
                 "value": vals[k]} for k in keys]
    df = pd.DataFrame(out, columns=TREND_COLUMNS)
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype("float64")
    df["ds"] = pd.to_datetime(df["ds"])
    return df
