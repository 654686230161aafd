"""Weekly demand per SKU from the order lines, with stockout (censored) weeks corrected.

Definitions (the run, the page and the tests use exactly these)
----------------------------------------------------------------
- **Demand** of a SKU in a week = the units of its order lines whose order was placed in that week
  (Monday 00:00 to Sunday 23:59:59), over all warehouses and channels, excluding orders with status
  ``cancelled`` or ``unavailable``. Weeks are labelled by their Monday.
- **History window**: from the first complete week of the data to the last complete week (``as_of``
  is that week's Sunday); a partial week at either end is dropped. A SKU's series starts at its
  first week with demand: the weeks before it are not zero demand but "not yet sold" (NaN).
- **Censored day**: a day on which an inventory snapshot of the SKU shows ``on_hand == 0`` in at
  least one warehouse (end of day; sales that day were limited by stock). ``censored_days`` counts
  the distinct such days of a SKU inside the history window.
- **Censored share** of a week = mean over the week's snapshot days of (warehouses at zero /
  warehouses that ever hold a snapshot of the SKU). Snapshots are daily for recent months and
  weekly (Sundays) before that, so older weeks are judged by their Sunday.
- **Correction** before fitting: a week with censored share ``c`` in (0, 0.5] has its demand scaled
  up by ``1 / (1 - c)`` (demand over the in-stock share of the week); a week with ``c > 0.5`` is
  masked and replaced by the larger of its observed demand and the mean of the SKU's last eight
  uncensored weeks. Censored weeks are left out of backtest scoring (their actuals are not demand).
- **Promotion share** of a week = the share of its units sold more than 3 % below the product's
  list price (the demo's and the shop's promotions are price discounts on the line).
- **Event weeks**: the Black Friday week and the following (Cyber Monday) week, and every week
  holding a chart annotation (``annotations``, e.g. "Black Friday"), as a 0/1 calendar regressor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from ops.business_time import monday
from ops.models import Annotation, InventorySnapshot, Order, OrderLine, Product

EXCLUDED_STATUSES = ("cancelled", "unavailable")
PROMO_DISCOUNT = 0.03  # a line sold more than 3 % below list price is on promotion
CENSOR_MASK_SHARE = 0.5  # above this censored share a week is masked and imputed
IMPUTE_WEEKS = 8


@dataclass
class WeeklyData:
    """Weekly series of a set of SKUs as matrices (rows = SKUs, columns = weeks, Monday labels)."""

    skus: list[str]
    weeks: pd.DatetimeIndex  # Mondays
    y: np.ndarray  # corrected demand (float; NaN before the SKU's first sale)
    observed: np.ndarray  # demand as sold (float; NaN before the first sale)
    censored: np.ndarray  # bool: week had stockout days (excluded from scoring)
    promo: np.ndarray  # promotion share of the week's units (0..1)
    event: np.ndarray  # 1-D over weeks (+ future weeks appended by ``future_event``): 0/1
    censored_days: np.ndarray  # int per SKU
    as_of: dt.date | None
    extra: dict[str, object] = field(default_factory=dict)

    def subset(self, idx: np.ndarray | slice) -> WeeklyData:
        return WeeklyData(skus=list(np.asarray(self.skus, dtype=object)[idx]), weeks=self.weeks, y=self.y[idx],
                          observed=self.observed[idx], censored=self.censored[idx], promo=self.promo[idx],
                          event=self.event, censored_days=self.censored_days[idx], as_of=self.as_of)

    def long(self) -> pd.DataFrame:
        """The corrected series in long format ``unique_id, ds, y`` (NaN weeks before a start dropped)."""
        n, t = self.y.shape
        df = pd.DataFrame({"unique_id": np.repeat(np.asarray(self.skus, dtype=object), t),
                           "ds": np.tile(self.weeks.values, n), "y": self.y.ravel()})
        return df.dropna(subset=["y"]).reset_index(drop=True)




def black_friday(year: int) -> dt.date:
    """The day after the fourth Thursday of November."""
    nov1 = dt.date(year, 11, 1)
    first_thu = nov1 + dt.timedelta(days=(3 - nov1.weekday()) % 7)
    return first_thu + dt.timedelta(days=22)


def event_flags(weeks: pd.DatetimeIndex, annotation_days: Sequence[dt.date] = ()) -> np.ndarray:
    """0/1 per week: Black Friday week, the week after it (Cyber Monday), or an annotated week."""
    mondays = {w.date() for w in weeks}
    flagged: set[dt.date] = set()
    for y in {w.year for w in weeks} | {w.year - 1 for w in weeks}:
        bf = monday(black_friday(y))
        flagged |= {bf, bf + dt.timedelta(days=7)}
    flagged |= {monday(d) for d in annotation_days}
    return np.array([1.0 if w.date() in flagged and w.date() in mondays else 0.0 for w in weeks])


def load_weekly(session: Session, *, skus: Sequence[str] | None = None, as_of: dt.date | None = None) -> WeeklyData:
    """Read order lines and stockout snapshots and build :class:`WeeklyData` (see the module docstring).

    ``as_of`` (a day) cuts the history at the last complete week ending on or before it (used to
    hold out weeks for an honest evaluation); by default the last complete week of the data.
    Not viewer-scoped: the forecast job runs for the whole catalogue as the system; pages read
    its results through :mod:`ops.forecast.queries`, which scope.
    """
    prod = select(Product.id, Product.sku, Product.price)
    if skus:
        prod = prod.where(Product.sku.in_(list(skus)))
    products = pd.DataFrame(session.execute(prod.order_by(Product.sku)).all(), columns=["product_id", "sku", "price"])
    # Plain reads aggregated here, not GROUP BY in SQL: at 2 M lines SQLite's join + GROUP BY took
    # 33-45 s against 9 s for reading the two tables (see BENCHMARKS.md, forecasting).
    bounds = session.execute(select(func.min(Order.placed_at), func.max(Order.placed_at))).one()
    ann = [r[0] for r in session.execute(select(Annotation.day)).all()]
    n = len(products)
    if bounds[0] is None:
        return WeeklyData(skus=list(products["sku"]), weeks=pd.DatetimeIndex([]), y=np.zeros((n, 0)),
                          observed=np.zeros((n, 0)), censored=np.zeros((n, 0), bool), promo=np.zeros((n, 0)),
                          event=np.zeros(0), censored_days=np.zeros(n, dtype=int), as_of=None)
    first_day = pd.Timestamp(bounds[0]).date()
    last_day = pd.Timestamp(bounds[1]).date()
    if as_of is not None:
        last_day = min(last_day, as_of)
    start = monday(first_day) if first_day.weekday() == 0 else monday(first_day) + dt.timedelta(days=7)
    end_sunday = last_day if last_day.weekday() == 6 else monday(last_day) - dt.timedelta(days=1)
    weeks = pd.date_range(start, end_sunday - dt.timedelta(days=6), freq="W-MON")
    t = len(weeks)
    pid_row = dict(zip(products["product_id"], range(n), strict=True))
    units = np.zeros((n, t))
    promo_u = np.zeros((n, t))
    if t:
        lo = dt.datetime.combine(start, dt.time())
        hi = dt.datetime.combine(end_sunday + dt.timedelta(days=1), dt.time())
        orders = pd.DataFrame(session.execute(
            select(Order.id, cast(Order.placed_at, String(32)))
            .where(Order.placed_at >= lo, Order.placed_at < hi, Order.status.not_in(EXCLUDED_STATUSES))).all(),
            columns=["order_id", "placed"])
        lq = select(OrderLine.order_id, OrderLine.product_id, OrderLine.qty, OrderLine.unit_price)
        if skus:
            lq = lq.where(OrderLine.product_id.in_(list(products["product_id"])))
        lines = pd.DataFrame(session.execute(lq).all(), columns=["order_id", "product_id", "qty", "unit_price"])
        if not orders.empty and not lines.empty:
            day = pd.to_datetime(orders["placed"].str.slice(0, 10))
            week_of = pd.Series(((day - pd.Timestamp(start)).dt.days // 7).to_numpy(), index=orders["order_id"])
            wk = lines["order_id"].map(week_of)
            row = lines["product_id"].map(pid_row)
            ok = (wk.notna() & row.notna()).to_numpy()
            wk_i = wk[ok].to_numpy(dtype=int)
            row_i = row[ok].to_numpy(dtype=int)
            qty = lines.loc[ok, "qty"].to_numpy(dtype=float)
            price = products["price"].to_numpy(dtype=float)[row_i]
            disc = lines.loc[ok, "unit_price"].to_numpy(dtype=float) < price * (1 - PROMO_DISCOUNT)
            np.add.at(units, (row_i, wk_i), qty)
            np.add.at(promo_u, (row_i, wk_i), np.where(disc, qty, 0.0))
    # stockouts: per product and day, warehouses at zero / warehouses stocking the product; the
    # denominator of a week is its number of snapshot days (daily recently, Sundays before)
    snap_day = InventorySnapshot.day
    zq = select(InventorySnapshot.product_id, snap_day, func.count().label("zero")) \
        .where(InventorySnapshot.on_hand == 0, snap_day >= start, snap_day <= end_sunday) \
        .group_by(InventorySnapshot.product_id, snap_day)
    sn = pd.DataFrame(session.execute(zq).all(), columns=["product_id", "day", "zero"])
    stocked = dict(session.execute(select(InventorySnapshot.product_id,
                                          func.count(func.distinct(InventorySnapshot.warehouse_id)))
                                   .group_by(InventorySnapshot.product_id)).all())
    days = pd.to_datetime(pd.Series(list(session.execute(select(snap_day).distinct().where(
        snap_day >= start, snap_day <= end_sunday)).scalars()), dtype=object))
    week_days = np.zeros(t)
    if len(days):
        np.add.at(week_days, ((days - pd.Timestamp(start)).dt.days // 7).to_numpy(dtype=int), 1.0)
    share_sum = np.zeros((n, t))
    censored_days = np.zeros(n, dtype=int)
    if not sn.empty and t:
        sn["day"] = pd.to_datetime(sn["day"])
        sn = sn[sn["product_id"].isin(pid_row)]
        wk = ((sn["day"] - pd.Timestamp(start)).dt.days // 7).to_numpy()
        rows = sn["product_id"].map(pid_row).to_numpy(dtype=int)
        n_wh = sn["product_id"].map(stocked).fillna(1).to_numpy(float)
        share = np.minimum(sn["zero"].to_numpy(float) / np.maximum(n_wh, 1), 1.0)
        np.add.at(share_sum, (rows, wk), share)
        np.add.at(censored_days, rows, 1)
    snap_days = np.broadcast_to(week_days, (n, t))
    cshare = np.divide(share_sum, snap_days, out=np.zeros_like(share_sum), where=snap_days > 0)
    observed = units.copy()
    started = np.cumsum(units > 0, axis=1) > 0
    observed[~started] = np.nan
    censored = (cshare > 0) & started
    y = correct_censored(observed, cshare)
    promo = np.divide(promo_u, units, out=np.zeros_like(units), where=units > 0)
    sku_list = list(products["sku"])
    return WeeklyData(skus=sku_list, weeks=weeks, y=y, observed=observed, censored=censored, promo=promo,
                      event=event_flags(weeks, ann), censored_days=censored_days, as_of=end_sunday)


def correct_censored(observed: np.ndarray, cshare: np.ndarray) -> np.ndarray:
    """Corrected demand (module docstring): scale weeks with a censored share <= 0.5, impute the others."""
    y = observed.copy()
    scale = (cshare > 0) & (cshare <= CENSOR_MASK_SHARE)
    y[scale] = observed[scale] / (1.0 - cshare[scale])
    mask = cshare > CENSOR_MASK_SHARE
    if mask.any():
        clean = np.where((cshare > 0) | np.isnan(observed), np.nan, observed)
        for i, j in zip(*np.nonzero(mask), strict=True):
            if np.isnan(observed[i, j]):
                continue
            prev = clean[i, max(0, j - IMPUTE_WEEKS * 3):j]
            prev = prev[~np.isnan(prev)][-IMPUTE_WEEKS:]
            fill = float(prev.mean()) if prev.size else observed[i, j]
            y[i, j] = max(observed[i, j], fill)
    return y
