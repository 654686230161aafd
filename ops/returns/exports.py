"""Returns exports: the page's tables as registered exports (``python -m ops export``, download buttons).

Thin wrappers over :mod:`ops.returns.queries`, :mod:`ops.returns.page` and
:mod:`ops.returns.themes`, so a file holds the numbers the page shows, with the page's scoping.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function
from ops.exports import register
from ops.filters import Filters
from ops.returns.metrics import PAGE
from ops.returns.page import kpis, returns_page
from ops.returns.queries import (
    cost_of_returns,
    fulfilment_accuracy,
    reason_heatmap,
    reason_pareto,
    return_rates,
)
from ops.returns.themes import theme_table

RATE_EXPORTS = {"sku": "SKU", "category": "category", "size": "size", "channel": "channel",
                "warehouse": "warehouse", "carrier": "carrier", "supplier": "supplier", "week": "sale week"}
EXPORTS = (*(f"returns_by_{b}" for b in RATE_EXPORTS), "returns_priority", "returns_pareto",
           "returns_heat_category", "returns_heat_size", "returns_cost", "returns_accuracy", "returns_kpis",
           "returns_themes")


def _rates(by: str) -> None:
    @register(f"returns_by_{by}", title=f"Return rate by {RATE_EXPORTS[by]}", page=PAGE)
    def export(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
        return return_rates(session, viewer=viewer, filters=filters, by=by)

    export.__name__ = export.__qualname__ = f"export_by_{by}"
    data_function(export)


for _by in RATE_EXPORTS:
    _rates(_by)


@register("returns_priority", title="Returns priority list", page=PAGE)
@data_function
def export_priority(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    page = returns_page(session, viewer=viewer, filters=filters, priority_limit=500)
    return page.priority.drop(columns=["product_id"])


@register("returns_pareto", title="Return reasons (Pareto)", page=PAGE)
@data_function
def export_pareto(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return reason_pareto(session, viewer=viewer, filters=filters)


@register("returns_heat_category", title="Return reasons by category", page=PAGE)
@data_function
def export_heat_category(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return reason_heatmap(session, viewer=viewer, filters=filters, by="category")


@register("returns_heat_size", title="Return reasons by size", page=PAGE)
@data_function
def export_heat_size(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return reason_heatmap(session, viewer=viewer, filters=filters, by="size")


@register("returns_cost", title="Cost of returns by disposition", page=PAGE)
@data_function
def export_cost(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return cost_of_returns(session, viewer=viewer, filters=filters)


@register("returns_accuracy", title="Fulfilment accuracy by warehouse and week", page=PAGE)
@data_function
def export_accuracy(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return fulfilment_accuracy(session, viewer=viewer, filters=filters)


@register("returns_kpis", title="Returns KPIs", page=PAGE)
@data_function
def export_kpis(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return kpis(session, viewer=viewer, filters=filters)


@register("returns_themes", title="Return comment themes", page=PAGE)
@data_function
def export_themes(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return theme_table(session, viewer=viewer)
