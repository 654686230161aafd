"""Reference lookups shared by pages: filter choices and the span of the data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, PrimaryKeyConstraint, UniqueConstraint, cast, func, literal, select, true
from sqlalchemy.orm import Session

from ops import access
from ops.access import Viewer, data_function, require_viewer
from ops.models import AggFulfilDaily, Channel, Warehouse


@data_function
def filter_options(session: Session, *, viewer: Viewer) -> dict[str, list[str]]:
    """Codes the sidebar offers: warehouses the viewer may see and all channels.

    Returns
    -------
    dict with keys ``warehouses`` and ``channels``, each a sorted list of codes.
    """
    require_viewer(viewer)
    whs = session.scalars(select(Warehouse.code).where(access.warehouse_condition(viewer)).order_by(Warehouse.code))
    chs = session.scalars(select(Channel.code).order_by(Channel.code))
    return {"warehouses": list(whs), "channels": list(chs)}


# A last day further than this after the day before it is a stray (a typo'd 2099 snapshot or
# order), not the data's "now": it must not move the as-of day or the default date window.
STRAY_GAP_DAYS = 31
MIN_SETTLED_DAYS = 7  # days a cluster needs to count as the data rather than strays
_LAST_DAYS = 64  # how many of the latest distinct days are looked at


def settled_last_day(days_desc: list[dt.date]) -> dt.date | None:
    """The last day of the data, ignoring stray days at the end (pure; ``days_desc`` newest first).

    Days split into clusters wherever two consecutive days are more than :data:`STRAY_GAP_DAYS`
    apart; the answer is the last day of the newest cluster holding at least
    :data:`MIN_SETTLED_DAYS` days (or as many as the largest cluster, for small data). So one or
    two snapshots or orders dated 2099 leave the as-of day where the rest of the data ends.
    Clock independent, so demo data and old exports behave the same on any machine.
    """
    days = sorted({_day(d) for d in days_desc}, reverse=True)
    clusters: list[list[dt.date]] = []
    for day in days:
        if clusters and (clusters[-1][-1] - day).days <= STRAY_GAP_DAYS:
            clusters[-1].append(day)
        else:
            clusters.append([day])
    if not clusters:
        return None
    need = min(MIN_SETTLED_DAYS, max(len(c) for c in clusters))
    return next(c[0] for c in clusters if len(c) >= need)


def newest_days(session: Session, column: Any, *where: Any, k: int = _LAST_DAYS) -> list[dt.date]:
    """The newest ``k`` distinct days of a date or timestamp column (rows matching ``where``), newest first.

    Walked one day at a time in one recursive statement: each step is the newest value before the previous
    day began (``max(column) WHERE column < that day``), one backward index seek when ``column`` is indexed,
    however many rows or instants a day holds. (Reading the newest distinct values instead sees only as many
    days as a fixed number of instants covers: under two days of shipments at bench size, so two stray
    far-future days outnumbered them.) PostgreSQL takes the step as a ``LATERAL`` subquery (it allows no
    recursive reference inside a scalar subquery), SQLite as a correlated scalar subquery (it has no
    ``LATERAL``); on SQLite a day begins at the first ten characters of the stored ISO text.

    A column no index leads (a purchase order's dates) would be scanned whole at every step: its days are
    read in one scan instead, distinct and newest first.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    rows = [column.is_not(None), *where]
    if not _indexed(column):
        day = cast(column, Date) if postgres else func.substr(column, 1, 10)
        return [_day(v) for v in session.scalars(select(day).where(*rows).distinct().order_by(day.desc()).limit(k))]

    def newest(*more: Any) -> Any:
        # the newest value as the first row in index order, not max(): PostgreSQL reads max() through the index
        # only when nothing else is joined, and a scope condition (a 3PL's warehouses IN a subquery) is a join
        return select(column.label("v")).where(*rows, *more).order_by(column.desc()).limit(1)

    first = newest().subquery("newest_day")
    walk = select(first.c.v, literal(1).label("n")).cte("newest_days", recursive=True)

    def before(v: Any) -> Any:  # the previous value's day began at
        return column < (cast(v, Date) if postgres else func.substr(v, 1, 10))

    if postgres:
        prev = newest(before(walk.c.v)).lateral("previous_day")
        step = (select(prev.c.v, walk.c.n + 1).select_from(walk).join(prev, true())
                .where(walk.c.v.is_not(None), walk.c.n < k))
    else:
        prev_v = newest(before(walk.c.v)).scalar_subquery()
        step = select(prev_v, walk.c.n + 1).where(walk.c.v.is_not(None), walk.c.n < k)
    walk = walk.union_all(step)
    return [_day(v) for v in session.scalars(select(walk.c.v).where(walk.c.v.is_not(None)).order_by(walk.c.n))]


def _indexed(column: Any) -> bool:
    """True when an index (or the primary key, or a unique constraint) of the column's table leads with it."""
    col = getattr(column, "expression", column)
    table = getattr(col, "table", None)
    if table is None:
        return False
    leads = [list(ix.columns) for ix in table.indexes]
    leads += [list(c.columns) for c in table.constraints if isinstance(c, (PrimaryKeyConstraint, UniqueConstraint))]
    return any(cols and cols[0].name == col.name for cols in leads)


def last_day(session: Session, column: Any, *where: Any) -> dt.date | None:
    """:func:`settled_last_day` of a date or timestamp column's newest :data:`_LAST_DAYS` distinct days
    (:func:`newest_days`)."""
    return settled_last_day(newest_days(session, column, *where))


@data_function
def data_span(session: Session, *, viewer: Viewer) -> tuple[dt.date, dt.date] | None:
    """First and last day the viewer has order lines on (orders not cancelled), or None when none.

    Read from the fulfilment daily aggregate, whose rows carry the vendor keys: on the raw
    tables a vendor's span means probing every order (seconds at bench size, and it runs on
    every page load, before the page).
    """
    require_viewer(viewer)
    t = AggFulfilDaily
    scope = access.fulfil_agg_condition(viewer, t)
    lo = session.scalar(select(func.min(t.day)).where(scope, t.lines > 0))
    hi = last_day(session, t.day, scope, t.lines > 0)  # a stray 2099 order does not move the window
    if lo is None or hi is None:
        return None
    return (_day(lo), hi)


def _day(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if not isinstance(value, dt.date):
        raise TypeError(f"not a day: {value!r}")
    return value
