"""Pages that are planned: what each will show, and where to look until it lands."""

from __future__ import annotations

import streamlit as st

from ui.context import require_page
from ui.nav import BY_ID

PLANNED = {
    "carriers": (
        "On-time delivery against the promised date, transit-time percentiles, first-attempt delivery, damage "
        "and loss, and cost per package, by carrier, lane and week, shared with each carrier for its own rows.",
        "Until it lands, the Fulfilment SLA page's **Delivery by carrier & lane**, **Late lanes** and "
        "**Attribution** charts show late deliveries by carrier and lane.",
    ),
    "returns": (
        "Return rate by SKU, category, size and channel, the reason Pareto, comment themes, the cost of returns "
        "and a priority list of fixes.",
        "Returns are already loaded and counted; the analysis is what is coming.",
    ),
    "planner": (
        "Per-SKU forecasts chosen by backtest, safety stock at a target service level, suggested orders rounded "
        "to MOQ and case packs, what-if scenarios and draft POs to approve.",
        "Until it lands, the Inventory health page shows days of cover and projected stockouts counting open POs.",
    ),
}


def planned_page(page_id: str) -> None:
    """Render the planned page ``page_id``: its real title, what it will show, where to look meanwhile."""
    require_page(page_id)
    what, meanwhile = PLANNED[page_id]
    st.title(BY_ID[page_id].title)
    st.info(f"This page is planned and not built yet. It will show: {what}", icon=":material/construction:")
    st.caption(meanwhile)
