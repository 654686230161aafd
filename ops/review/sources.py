"""The review's KPIs that a page already defines, read from that page's domain for whole ISO weeks.

The review summarises the pages, so where a domain defines a number the review shows the domain's
number, read through the domain's own queries and metrics over its ``agg_*`` tables, scoped to the
viewer exactly as the page is (the domain's ``ops.access`` condition). Weeks are ISO weeks, Monday
to Sunday, and each domain keys its rows by a day that falls in them:

- **Fulfilment SLA** (:mod:`ops.fulfillment`): order lines by their order's **placed day**.
  :func:`ops.fulfillment.queries.ontime_trend` (``grain="week"``: Monday weeks) gives the on-time
  ship and delivery counts; the median click-to-ship is the page's tile computed as the page does
  it, one week per window of its percentile read (``_window_percentiles`` over
  ``agg_fulfil_hours``, within a quarter hour of exact; ``tests/test_review_kpis.py`` checks the
  two agree, so a change of the page's method shows there). The marketplace late shipment rate is
  the late share (:func:`ops.fulfillment.metrics.late_share`) of the same counts over the
  marketplace channels. A week ending on or before the data's last day is exactly the page's KPI
  week for a date range of that week, and its previous week the page's "previous" (the page
  shortens a week running past the last day of data; the review keeps whole ISO weeks).
- **Returns root-cause** (:mod:`ops.returns`): order lines by their **sale week** (the Monday of
  the order's placed day); a return counts in the sale week of the line it returns, however late
  it arrives. :func:`returns_weeks` reads :func:`ops.returns.queries.weekly_sums` (the weekly
  breakdown rows of the chosen warehouses or channels, scoped by the domain); the rates are
  :mod:`ops.returns.metrics`. The
  cost of returns and the reason Pareto are :func:`ops.returns.queries.cost_of_returns` and
  :func:`ops.returns.queries.reason_pareto` for the week's sales.

The Returns page has no warehouse and channel filter; its breakdown table keeps one of them at a
time. So with a warehouse filter the return figures are the sum of the chosen warehouses'
breakdown rows, with a channel filter of the chosen channels' rows, and with both (which no
breakdown row holds) they are not measured (NaN), as are the cost of returns and the reasons with
either filter (their aggregate has neither key).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function, require_viewer
from ops.filters import Filters
from ops.fulfillment import metrics as fm

# window_percentiles: the Fulfilment page's own percentile read (its tile's median), used as the page uses it.
from ops.fulfillment.queries import Window, ontime_trend, window_percentiles
from ops.models import Channel
from ops.returns import metrics as rm

# The returns domain's read rules (the breakdown table a viewer may read, and its scope condition),
# reused rather than restated so this adapter cannot scope differently from the Returns page.
from ops.returns.queries import WEEK_SUM_COLUMNS, cost_of_returns, reason_pareto, weekly_sums
from ops.review.week import Week

MARKETPLACE_WORDS = ("marketplace", "olist", "amazon", "ebay", "etsy", "walmart")
FULFIL_COLUMNS = ["ds", "week", "ship_counted", "ship_on_time", "on_time_ship", "delivered", "delivered_on_time",
                  "on_time_delivery", "click_to_ship", "mp_ship_counted", "late_shipment_rate"]
RETURNS_COLUMNS = ["ds", "week", "units_sold", "units_returned", "return_rate", "shipped_lines", "wrong_item_lines",
                   "fulfilment_accuracy"]
REASON_COLUMNS = ["reason_code", "returned_units", "reason_share"]
_COUNTS = ("ship_counted", "ship_on_time", "delivered", "delivered_on_time")
TOP_REASONS = 3


def week_span(last: Week, weeks: int) -> list[Week]:
    """The ``weeks`` ISO weeks ending with ``last``, oldest first."""
    span = [last]
    for _ in range(max(1, int(weeks)) - 1):
        span.insert(0, span[0].previous())
    return span


def _last_week(session: Session, viewer: Viewer, week: str | Week | None) -> Week:
    from ops.review.kpis import resolve_week

    return resolve_week(session, viewer=viewer, week=week)


def _frame(span: Sequence[Week], columns: list[str]) -> pd.DataFrame:
    """``ds`` and ``week`` of each week of ``span``, the other ``columns`` NaN (float64)."""
    nothing = np.full(len(span), np.nan)
    return pd.DataFrame({"ds": pd.to_datetime([w.start for w in span]), "week": [w.label for w in span],
                         **dict.fromkeys(columns[2:], nothing)}, columns=columns)


def is_marketplace(code: str | None, name: str | None) -> bool:
    """A marketplace channel: its code or name says marketplace, olist, amazon, ebay, etsy or walmart."""
    text = f"{code or ''} {name or ''}".lower()
    return any(w in text for w in MARKETPLACE_WORDS)


def marketplace_channels(session: Session, filters: Filters) -> tuple[str, ...]:
    """The codes of the marketplace channels, within the filter's channels when it names some.

    Channels are reference data (every viewer sees their names in the filters), not vendor rows.
    """
    rows = session.execute(select(Channel.code, Channel.name).order_by(Channel.code)).all()
    codes = tuple(str(c) for c, n in rows if is_marketplace(c, n))
    return tuple(c for c in codes if c in filters.channels) if filters.channels else codes


# --- Fulfilment SLA ----------------------------------------------------------------------------


def _weekly_counts(session: Session, viewer: Viewer, span: Sequence[Week], f: Filters,
                   mp: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The Fulfilment page's weekly line counts of every channel in the filters, and of the marketplace
    channels ``mp`` among them: one read by channel, summed here (integer counts, so the sums are exact).

    Two float64 arrays, one row per week of ``span`` and one column per :data:`_COUNTS` (0 for a week
    without lines)."""
    rng = Filters(date_from=span[0].start, date_to=span[-1].end, warehouses=f.warehouses, channels=f.channels)
    tr = ontime_trend(session, viewer=viewer, filters=rng, grain="week", by="channel")
    where = {pd.Timestamp(w.start): i for i, w in enumerate(span)}
    row = np.array([where.get(p, -1) for p in tr["period"]], dtype=np.int64)
    counts = tr[list(_COUNTS)].to_numpy(dtype="float64")
    every, market = np.zeros((len(span), len(_COUNTS))), np.zeros((len(span), len(_COUNTS)))
    ours = row >= 0
    np.add.at(every, row[ours], counts[ours])
    theirs = ours & tr["group"].isin(mp).to_numpy(dtype=bool)
    np.add.at(market, row[theirs], counts[theirs])
    return every, market


@data_function
def fulfilment_weeks(session: Session, *, viewer: Viewer, week: str | Week | None = None, weeks: int = 2,
                     filters: Filters | None = None, click_to_ship: bool = True) -> pd.DataFrame:
    """The Fulfilment page's on-time ship, on-time delivery and median click-to-ship of each of the
    ``weeks`` ISO weeks ending with ``week`` (default: the last full week), and the marketplace
    late shipment rate; order lines by their order's placed day (see the module docstring).

    ``click_to_ship=False`` skips the hour histograms (one small read per week).

    Returns
    -------
    DataFrame, one row per week, oldest first: ds (datetime64[ns]: the Monday), week (str ``YYYY-Www``),
    ship_counted, ship_on_time, delivered, delivered_on_time (float64 line counts), on_time_ship,
    on_time_delivery (float64 fractions, NaN = no line), click_to_ship (float64 hours, NaN = no line or
    not asked), mp_ship_counted (float64: marketplace lines counted), late_shipment_rate (float64
    fraction of the marketplace lines, NaN = none).
    """
    require_viewer(viewer)
    f = filters or Filters()
    span = week_span(_last_week(session, viewer, week), weeks)
    mp = marketplace_channels(session, f)
    c, mc = _weekly_counts(session, viewer, span, f, mp)
    out: dict[str, Any] = {"ds": pd.to_datetime([w.start for w in span]), "week": [w.label for w in span]}
    out.update({col: c[:, i] for i, col in enumerate(_COUNTS)})
    out["on_time_ship"] = fm.on_time_ship_rate(out["ship_on_time"], out["ship_counted"])
    out["on_time_delivery"] = fm.on_time_delivery_rate(out["delivered_on_time"], out["delivered"])
    nothing = np.full(len(span), np.nan)
    if mp:  # an empty channel list would mean every channel: no marketplace channel measures nothing
        counted = mc[:, 0]
        out["mp_ship_counted"] = counted
        out["late_shipment_rate"] = fm.late_share(counted - mc[:, 1], counted)
    else:
        out["mp_ship_counted"], out["late_shipment_rate"] = np.zeros(len(span)), nothing
    out["click_to_ship"] = nothing
    if click_to_ship:
        # each week's median as the page computes its tile: one window per week, over all groups
        windows = [Window(w.label, w.start, w.end, grouped=False, measures=("c2s",), qs=(("median", 0.5),))
                   for w in span]
        pcts = window_percentiles(session, viewer=viewer, by="all", windows=windows,
                                  filters=Filters(warehouses=f.warehouses, channels=f.channels))
        out["click_to_ship"] = [float(pcts[w.label]["c2s_median_h"].iloc[0])
                                if w.label in pcts and len(pcts[w.label]) else np.nan for w in span]
    return pd.DataFrame(out, columns=FULFIL_COLUMNS).astype(dict.fromkeys(FULFIL_COLUMNS[2:], "float64"))


# --- Returns root-cause -------------------------------------------------------------------------


@data_function
def returns_weeks(session: Session, *, viewer: Viewer, week: str | Week | None = None, weeks: int = 2,
                  filters: Filters | None = None) -> pd.DataFrame:
    """The Returns page's return rate and fulfilment accuracy of each of the ``weeks`` sale weeks
    ending with ``week`` (default: the last full week), scoped as the Returns page (see the module docstring).

    Returns
    -------
    DataFrame, one row per sale week, oldest first: ds (datetime64[ns]: the Monday), week (str),
    units_sold, units_returned, shipped_lines, wrong_item_lines (float64; NaN when the filters
    cannot be answered), return_rate, fulfilment_accuracy (float64 fractions, NaN = nothing sold /
    shipped or not measured).
    """
    require_viewer(viewer)
    f = filters or Filters()
    span = week_span(_last_week(session, viewer, week), weeks)
    out = _frame(span, RETURNS_COLUMNS)
    raw = weekly_sums(session, viewer=viewer, filters=Filters(date_from=span[0].start, date_to=span[-1].end,
                                                               warehouses=f.warehouses, channels=f.channels))
    if raw is None:
        return out
    sums = WEEK_SUM_COLUMNS[1:]
    got = dict(zip(raw["sale_week"], raw[sums].fillna(0.0).to_numpy(dtype="float64"), strict=True))
    none = np.zeros(len(sums))
    vals = np.array([got.get(w.start, none) for w in span], dtype="float64").reshape(len(span), len(sums))
    for i, c in enumerate(sums):
        out[c] = vals[:, i]
    out["return_rate"] = rm.return_rate(out["units_returned"], out["units_sold"])
    out["fulfilment_accuracy"] = rm.fulfilment_accuracy(out["wrong_item_lines"], out["shipped_lines"])
    return out


def _sale_week(w: Week, f: Filters) -> Filters | None:
    """The Returns page's filters for one sale week, or None when a warehouse or channel filter is set."""
    if f.warehouses or f.channels:
        return None
    return Filters(date_from=w.start, date_to=w.end)


@data_function
def returns_cost(session: Session, *, viewer: Viewer, week: str | Week | None = None,
                 filters: Filters | None = None) -> float:
    """The Returns page's cost of returns (its ``total`` net cost) of the week's sales (default: the last
    full week); NaN with a warehouse or channel filter (the cost aggregate has neither), 0 when none of
    the sales came back."""
    require_viewer(viewer)
    rng = _sale_week(_last_week(session, viewer, week), filters or Filters())
    if rng is None:
        return float("nan")
    cost = cost_of_returns(session, viewer=viewer, filters=rng)
    total = cost.loc[cost["disposition"] == "total", "net_cost"]
    return float(total.iloc[0]) if len(total) else 0.0


@data_function
def week_return_reasons(session: Session, *, viewer: Viewer, week: str | Week | None = None,
                        filters: Filters | None = None, n: int = TOP_REASONS) -> pd.DataFrame:
    """The ``n`` reasons returning the most units from the week's sales: the head of the Returns page's
    reason Pareto for that sale week (empty with a warehouse or channel filter: see the module docstring).

    Returns
    -------
    DataFrame
        reason_code (str), returned_units (int64), reason_share (float64: of the units returned from
        the week's sales).
    """
    require_viewer(viewer)
    w = _last_week(session, viewer, week)
    rng = _sale_week(w, filters or Filters())
    if rng is None:
        return pd.DataFrame({"reason_code": pd.Series(dtype=object), "returned_units": pd.Series(dtype="int64"),
                             "reason_share": pd.Series(dtype="float64")})[REASON_COLUMNS]
    p = reason_pareto(session, viewer=viewer, filters=rng).head(n)
    out = p.rename(columns={"units_returned": "returned_units", "share": "reason_share"})[REASON_COLUMNS]
    return out.astype({"returned_units": "int64", "reason_share": "float64"}).reset_index(drop=True)
