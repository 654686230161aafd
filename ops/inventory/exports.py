"""Inventory exports: the page's tables at the default window, with the page's scoping.

Registered in :mod:`ops.exports` (``python -m ops export``, the page's download buttons); each is a
thin wrapper over :func:`ops.inventory.page.inventory_health`.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function
from ops.exports import register
from ops.filters import ALL, Filters
from ops.inventory.page import inventory_health

EXPORTS = ("inventory_exceptions", "inventory_positions", "inventory_skus", "inventory_aging", "inventory_kpis",
           "inventory_open_pos")


@register("inventory_exceptions", title="Inventory exceptions (open)", page="inventory")
@data_function
def export_exceptions(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """The open exceptions list at the default window (see :func:`inventory_health`)."""
    return inventory_health(session, viewer=viewer, filters=filters).exceptions


@register("inventory_positions", title="Stock by SKU and warehouse", page="inventory")
@data_function
def export_positions(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """One row per SKU x warehouse at the default window (see :func:`inventory_health`)."""
    return inventory_health(session, viewer=viewer, filters=filters).positions


@register("inventory_skus", title="Stock by SKU with ABC / XYZ", page="inventory")
@data_function
def export_skus(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """One row per SKU with ABC, XYZ and demand pattern (see :func:`inventory_health`)."""
    return inventory_health(session, viewer=viewer, filters=filters).skus


@register("inventory_aging", title="Stock aging", page="inventory")
@data_function
def export_aging(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """Units and value by warehouse and age bucket (see :func:`inventory_health`)."""
    return inventory_health(session, viewer=viewer, filters=filters).aging


@register("inventory_kpis", title="Inventory KPIs", page="inventory")
@data_function
def export_kpis(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """The KPI tiles with their previous-week values (see :func:`inventory_health`)."""
    return inventory_health(session, viewer=viewer, filters=filters).kpis


@register("inventory_open_pos", title="Open purchase-order lines", page="inventory")
@data_function
def export_open_pos(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """Open PO lines feeding the projection (see :func:`inventory_health`)."""
    return inventory_health(session, viewer=viewer, filters=filters).open_pos
