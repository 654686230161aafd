"""Annotations as chart marks and as known events.

An annotation (``ops.decisions.add_annotation``) has a first day, an optional last day, the page
it was written on and an optional scope ("carrier" "SWX", "lane" "WH-EAST>NY"). It touches a time
chart when its page is the chart's page (or :data:`ALL_PAGES`) and its days overlap the chart's.

:func:`events` is the forecaster's read: every annotation overlapping a date range, as known
events (a promotion, a strike, a warehouse move), whatever page it was written on.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function, require_viewer
from ops.models import Annotation

ALL_PAGES = "all"  # an annotation written for every page's charts (e.g. "Black Friday promotion")
EVENT_COLUMNS = ["id", "start", "end", "page", "scope_kind", "scope_key", "text"]


def _overlapping(start: dt.date | None, end: dt.date | None) -> list[Any]:
    last = func.coalesce(Annotation.end_day, Annotation.day)
    cond: list[Any] = []
    if start is not None:
        cond.append(last >= start)
    if end is not None:
        cond.append(Annotation.day <= end)
    return cond


def _frame(rows: list[object]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    df["id"] = df["id"].astype("int64")
    df["end"] = [e if e is not None and not pd.isna(e) else s for s, e in zip(df["start"], df["end"], strict=True)]
    for c in ("scope_kind", "scope_key"):
        df[c] = df[c].astype(object).where(df[c].notna(), None)
    return df


def events(session: Session, start: dt.date | None = None, end: dt.date | None = None) -> pd.DataFrame:
    """Known events between ``start`` and ``end`` (inclusive; None = open), for the forecaster.

    A system read for batch jobs (annotations are internal notes: pages read them through
    :func:`chart_annotations`, which refuses vendors nothing but returns them nothing).

    Returns
    -------
    DataFrame
        id (int64), start (date: first day), end (date: last day, = start for a one-day note),
        page (str), scope_kind (str or None), scope_key (str or None), text (str); by start.
    """
    a = Annotation
    stmt = select(a.id, a.day, a.end_day, a.page, a.scope_kind, a.scope_key, a.text).where(*_overlapping(start, end))
    return _frame(list(session.execute(stmt.order_by(a.day, a.id)).all()))


@data_function
def chart_annotations(session: Session, *, viewer: Viewer, page: str = ALL_PAGES, start: dt.date | None = None,
                      end: dt.date | None = None) -> pd.DataFrame:
    """The annotations a time chart of ``page`` spanning ``start``..``end`` should draw; vendors get none.

    Returns
    -------
    DataFrame
        :data:`EVENT_COLUMNS` as in :func:`events`, for annotations of ``page`` or of every page.
    """
    require_viewer(viewer)
    if viewer.is_vendor:
        return _frame([])
    a = Annotation
    stmt = (select(a.id, a.day, a.end_day, a.page, a.scope_kind, a.scope_key, a.text)
            .where(or_(a.page == page, a.page == ALL_PAGES), *_overlapping(start, end)))
    return _frame(list(session.execute(stmt.order_by(a.day, a.id)).all()))
