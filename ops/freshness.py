"""Data freshness: when data last arrived, how many rows each table holds (scoped), and the data version.

``data_version`` is what keeps several app processes on one database coherent: each process caches
page data in memory, reads this cheap version once per rerun and drops its caches when the version
differs from the one it last saw. It reads only counters that every write path moves:

- the newest audit row (``decisions``): every write-back, account event and refused attempt;
- the newest import or seed (``import_runs``, written in the import's own transaction);
- the forecast runs and the return-theme runs: the newest run, how many finished (set when a job
  ends, cleared when a forecast is resumed) and how many succeeded (a resumed run that succeeds
  adds one). A job's progress is not part of it: the pages read progress fresh, not cached.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ops import access
from ops.access import Viewer, data_function, require_viewer
from ops.exports import register
from ops.filters import Filters
from ops.models import (
    AggFulfilDaily,
    Decision,
    ForecastRun,
    ImportRun,
    Order,
    OrderLine,
    Product,
    PurchaseOrder,
    Return,
    ReturnThemeRun,
    Shipment,
    Supplier,
)


@register("row_counts", title="Rows per table", page="any")
@data_function
def row_counts(session: Session, *, viewer: Viewer, filters: Filters | None = None) -> pd.DataFrame:
    """Rows per main table that ``viewer`` may see.

    Staff see the raw tables' counts. A vendor sees the records that carry its own key, counted
    through an index (products and purchase orders of a supplier, shipments of a carrier,
    purchase orders into a 3PL's warehouses), and its order lines from the fulfilment daily
    aggregate (``order_lines``: lines of orders not cancelled; ``delivered_lines``): counting a
    vendor's orders on the raw tables probes every order, seconds at bench size on each page load.

    Returns
    -------
    DataFrame with columns ``table`` (str), ``rows`` (int64).
    """
    require_viewer(viewer)
    rows = []
    if not viewer.is_vendor:
        for name, model in (("products", Product), ("orders", Order), ("order_lines", OrderLine),
                            ("shipments", Shipment), ("purchase_orders", PurchaseOrder), ("returns", Return),
                            ("suppliers", Supplier)):
            rows.append({"table": name, "rows": int(session.scalar(select(func.count()).select_from(model)) or 0)})
        return pd.DataFrame(rows, columns=["table", "rows"]).astype({"rows": "int64"})
    keyed = {"supplier": (("products", Product, access.product_condition),
                          ("purchase_orders", PurchaseOrder, access.purchase_order_condition)),
             "carrier": (("shipments", Shipment, access.shipment_condition),),
             "warehouse": (("purchase_orders", PurchaseOrder, access.purchase_order_condition),)}
    for name, model, cond in keyed.get(viewer.vendor_kind or "", ()):
        n = session.scalar(select(func.count()).select_from(model).where(cond(viewer))) or 0
        rows.append({"table": name, "rows": int(n)})
    t = AggFulfilDaily
    lines, delivered = session.execute(
        select(func.coalesce(func.sum(t.lines), 0), func.coalesce(func.sum(t.delivered), 0))
        .where(access.fulfil_agg_condition(viewer, t))).one()
    rows += [{"table": "order_lines", "rows": int(lines)}, {"table": "delivered_lines", "rows": int(delivered)}]
    return pd.DataFrame(rows, columns=["table", "rows"]).astype({"rows": "int64"})


@register("data_freshness", title="Last imports", page="any")
@data_function
def data_freshness(session: Session, *, viewer: Viewer, filters: Filters | None = None) -> pd.DataFrame:
    """The ten most recent imports and seeds, newest first; for a vendor only when data last arrived.

    Staff see what was loaded, from where, by whom and how many rows. A vendor sees one row
    with one column: when the last successful import or seed finished. Kinds, sources and row
    counts describe every vendor's data at once (how many orders a competitor's import carried),
    so they stay with staff.

    Returns
    -------
    For staff, a DataFrame with columns ``kind`` (str), ``source`` (str), ``actor`` (str),
    ``finished_at`` (datetime64), ``rows_in`` (int64), ``rows_changed`` (int64), ``status`` (str).
    For a vendor, a DataFrame with the one column ``finished_at`` (datetime64): one row, or none
    before the first import.
    """
    require_viewer(viewer)
    if viewer.is_vendor:
        last = session.scalar(select(func.max(ImportRun.finished_at)).where(ImportRun.status == "ok"))
        return pd.DataFrame({"finished_at": pd.to_datetime(pd.Series([last] if last is not None else [],
                                                                      dtype="object"))})
    stmt = select(
        ImportRun.kind, ImportRun.source, ImportRun.actor, ImportRun.finished_at,
        ImportRun.rows_in, ImportRun.rows_changed, ImportRun.status,
    ).order_by(ImportRun.id.desc()).limit(10)
    df = pd.DataFrame(session.execute(stmt).all(), columns=[
        "kind", "source", "actor", "finished_at", "rows_in", "rows_changed", "status"])
    df["finished_at"] = pd.to_datetime(df["finished_at"])
    return df.astype({"rows_in": "int64", "rows_changed": "int64"})


# Statuses that mean a job's results are in place (the pages show the latest such run).
FORECAST_DONE = "succeeded"
THEMES_DONE = "done"


def data_version(session: Session) -> tuple[int, ...]:
    """A cheap version of everything the pages cache: equal tuples mean no write in between.

    One statement of eight indexed or tiny-table aggregates (``max`` of primary keys, counts over
    the job tables, which hold one row per run). Not scoped and takes no viewer: the numbers say
    only that something changed, not what. See the module docstring for what each number follows.

    Returns
    -------
    ``(audit_max_id, import_max_id, forecast_max_id, forecasts_finished, forecasts_succeeded,
    themes_max_id, themes_finished, themes_done)``, all ``int``.
    """
    f, t = ForecastRun, ReturnThemeRun
    parts = (
        select(func.coalesce(func.max(Decision.id), 0)),
        select(func.coalesce(func.max(ImportRun.id), 0)),
        select(func.coalesce(func.max(f.id), 0)),
        select(func.count(f.finished_at)),
        select(func.count()).select_from(f).where(f.status == FORECAST_DONE),
        select(func.coalesce(func.max(t.id), 0)),
        select(func.count(t.finished_at)),
        select(func.count()).select_from(t).where(t.status == THEMES_DONE),
    )
    row = session.execute(select(*(p.scalar_subquery() for p in parts))).one()
    return tuple(int(v or 0) for v in row)
