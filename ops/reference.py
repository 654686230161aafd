"""Reference lookups shared by pages: filter choices and the span of the data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
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


@data_function
def data_span(session: Session, *, viewer: Viewer) -> tuple[dt.date, dt.date] | None:
    """First and last day the viewer has order lines on (orders not cancelled), or None when none.

    Read from the fulfilment daily aggregate, whose rows carry the vendor keys: on the raw
    tables a vendor's span means probing every order (seconds at bench size, and it runs on
    every page load, before the page).
    """
    require_viewer(viewer)
    t = AggFulfilDaily
    lo, hi = session.execute(
        select(func.min(t.day), func.max(t.day)).where(access.fulfil_agg_condition(viewer, t), t.lines > 0)
    ).one()
    if lo is None or hi is None:
        return None
    return (_day(lo), _day(hi))


def _day(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if not isinstance(value, dt.date):
        raise TypeError(f"not a day: {value!r}")
    return value
