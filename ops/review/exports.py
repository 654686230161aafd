"""The weekly review's registered exports: thin wrappers over ``ops.review`` (same columns)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function
from ops.exports import register
from ops.filters import Filters

EXPORTS = ("review_kpis", "review_inbox")


@register("review_kpis", title="Weekly review KPIs", page="review")
@data_function
def export_kpis(session: Session, *, viewer: Viewer, filters: Filters | None = None) -> pd.DataFrame:
    """:func:`ops.review.kpis.review_kpis` of the week holding the filters' last day (else the last full week)."""
    from ops.review.kpis import review_kpis
    from ops.review.week import week_of

    f = filters or Filters()
    week = week_of(f.date_to) if f.date_to else None
    return review_kpis(session, viewer=viewer, week=week, filters=f)


# The Overview's inbox: a vendor reads its own items on the review page and in its report, not here, because the
# manager's list holds rows of pages a vendor may not open (a stockout in a 3PL's warehouse is the supplier's).
@register("review_inbox", title="Exceptions inbox", page="home")
@data_function
def export_inbox(session: Session, *, viewer: Viewer, filters: Filters | None = None) -> pd.DataFrame:
    """:func:`ops.review.inbox.inbox` for the filters (same columns)."""
    from ops.review.inbox import inbox

    return inbox(session, viewer=viewer, filters=filters)
