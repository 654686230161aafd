"""Reference lookups shared by pages: filter choices and the span of the data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ops import access
from ops.access import Viewer, data_function, require_viewer
from ops.models import Channel, Order, Warehouse


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
    """First and last order day the viewer may see, or None when there are no orders."""
    require_viewer(viewer)
    lo, hi = session.execute(
        select(func.min(Order.placed_at), func.max(Order.placed_at)).where(access.order_condition(viewer))
    ).one()
    if lo is None or hi is None:
        return None
    return (lo.date() if isinstance(lo, dt.datetime) else lo, hi.date() if isinstance(hi, dt.datetime) else hi)
