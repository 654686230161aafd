"""The scorecard pages' tables as registered exports (thin wrappers over ``queries`` / ``page``).

Each table is registered twice, with the same function and scoping: once for the managers' page
(``scorecards_<table>``, page "carriers") and once for a vendor's landing page
(``my_scorecard_<table>``, page "scorecard"). The filters' ``date_to`` picks the period's last week
(default: the data's last week); the period is :data:`~ops.scorecards.metrics.TREND_WEEKS` weeks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from ops.access import Viewer, require_viewer
from ops.exports import register
from ops.filters import ALL, Filters
from ops.scorecards import queries as q
from ops.scorecards.disputes import disputes
from ops.scorecards.metrics import PAGE, VENDOR_PAGE
from ops.scorecards.page import suppliers_with_returns, weights_frame

Loader = Callable[[Session, Viewer, Any], pd.DataFrame]

TABLES: dict[str, tuple[str, Loader]] = {
    "carriers": ("Carrier scorecard by lane", lambda s, v, w: q.carrier_scorecard(s, viewer=v, week=w)),
    "carrier_services": ("Carrier scorecard by service and lane",
                         lambda s, v, w: q.carrier_scorecard(s, viewer=v, week=w, by="service_lane")),
    "carrier_trend": ("Carrier weekly trend", lambda s, v, w: q.carrier_trend(s, viewer=v, week=w)),
    "lane_weeks": ("Carrier lanes by week, with late flags", lambda s, v, w: q.lane_weeks(s, viewer=v, week=w)),
    "transit": ("Transit time distribution", lambda s, v, w: q.transit_distribution(s, viewer=v, week=w)),
    "suppliers": ("Supplier scorecard", lambda s, v, w: suppliers_with_returns(s, viewer=v, week=w)[0]),
    "supplier_trend": ("Supplier weekly OTIF", lambda s, v, w: q.supplier_trend(s, viewer=v, week=w)),
    "tpl": ("3PL scorecard", lambda s, v, w: q.tpl_scorecard(s, viewer=v, week=w)),
    "disputes": ("Scorecard disputes", lambda s, v, w: disputes(s, viewer=v)),
    "weights": ("Scorecard weights", lambda s, v, w: weights_frame(q.settings(s, viewer=v))),
}


def _make(table: str, loader: Loader) -> Callable[..., pd.DataFrame]:
    def export(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
        require_viewer(viewer)
        return loader(session, viewer, filters.date_to)

    export.__name__ = export.__qualname__ = f"export_{table}"
    export.__doc__ = f"The scorecard's {TABLES[table][0].lower()} for the filters' last week (see the module)."
    return export


EXPORT_FUNCS: dict[str, Callable[..., pd.DataFrame]] = {t: _make(t, f) for t, (_, f) in TABLES.items()}
EXPORTS: tuple[str, ...] = tuple(f"scorecards_{t}" for t in TABLES)
VENDOR_EXPORTS: tuple[str, ...] = tuple(f"my_scorecard_{t}" for t in TABLES)
for _t, (_title, _) in TABLES.items():
    register(f"scorecards_{_t}", title=_title, page=PAGE)(EXPORT_FUNCS[_t])
    register(f"my_scorecard_{_t}", title=_title, page=VENDOR_PAGE)(EXPORT_FUNCS[_t])
