"""Business-hour arithmetic for fulfilment SLAs: pure functions, no database, no I/O.

A :class:`Calendar` holds one warehouse's SLA policy: which weekdays are business days,
its holidays, the daily cut-off time, the promised handling time (in business days) and,
optionally, the working hours of a business day. Times are naive local times (DST is not
modelled: warehouse clocks are taken as they are recorded).

Rules
-----
Ship-by deadline (:func:`ship_by`)
    An order paid on a business day strictly *before* the cut-off must ship by 23:59:59 of
    that day plus ``handling_days`` business days. An order paid exactly at the cut-off, after
    it, or on a non-business day (weekend, holiday) starts from the next business day, and must
    ship by 23:59:59 of that day plus ``handling_days`` business days. A shipment at exactly the
    deadline is on time (``shipped_at <= ship_by``).
Business hours (:func:`business_hours_between`)
    The hours between two timestamps that fall on business days and inside the working hours
    (``work_start``..``work_end``, the whole day by default). Non-business days contribute
    nothing. Negative when ``b`` is before ``a``.

Both functions accept scalars or array-likes (pandas Series, numpy arrays) and are vectorised
with :func:`numpy.busday_count` / :func:`numpy.busday_offset`, fast for millions of rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_CUTOFF = dt.time(14, 0)
DEFAULT_BUSINESS_DAYS = "01234"  # Mon=0 .. Sun=6
END_OF_DAY = np.timedelta64(86_399, "s")  # 23:59:59
DAY_SECONDS = 86_400.0


def monday(day: dt.date) -> dt.date:
    """The Monday of ``day``'s ISO week (the key of every sale, ship and forecast week)."""
    return day - dt.timedelta(days=day.weekday())


def _parse_business_days(days: str) -> str:
    bad = [c for c in days if c not in "0123456"]
    if bad or not days:
        raise ValueError(
            f"business days {days!r} must be digits 0-6 (Mon=0 .. Sun=6), e.g. '01234' for Mon-Fri"
        )
    if len(set(days)) != len(days):
        raise ValueError(f"business days {days!r} repeat a weekday")
    return "".join(sorted(days))


@dataclass(frozen=True)
class Calendar:
    """One warehouse's SLA calendar.

    Parameters
    ----------
    business_days
        Weekday digits, Mon=0 .. Sun=6 (``"01234"`` is Mon-Fri), as stored in
        ``warehouses.business_days``.
    holidays
        Non-working dates (the warehouse's own plus the global ones).
    cutoff
        Orders paid strictly before this time on a business day count from that day.
    handling_days
        Business days allowed after the start day (0 = ship the same business day).
    work_start, work_end
        Working hours that count as business hours (default: the whole day).
    """

    business_days: str = DEFAULT_BUSINESS_DAYS
    holidays: tuple[dt.date, ...] = field(default_factory=tuple)
    cutoff: dt.time = DEFAULT_CUTOFF
    handling_days: int = 0
    work_start: dt.time = dt.time(0, 0)
    work_end: dt.time | None = None  # None = midnight at the end of the day

    def __post_init__(self) -> None:
        object.__setattr__(self, "business_days", _parse_business_days(self.business_days))
        object.__setattr__(self, "holidays", tuple(sorted(set(self.holidays))))
        if self.handling_days < 0:
            raise ValueError(f"handling days must be 0 or more, got {self.handling_days}")
        if self.work_end is not None and self.work_end <= self.work_start:
            raise ValueError(f"working hours end {self.work_end} must be after their start {self.work_start}")

    @property
    def weekmask(self) -> str:
        """The numpy weekmask, Monday first (``"1111100"`` for Mon-Fri)."""
        return "".join("1" if str(d) in self.business_days else "0" for d in range(7))

    @property
    def busdaycal(self) -> np.busdaycalendar:
        return np.busdaycalendar(weekmask=self.weekmask, holidays=np.array(self.holidays, dtype="datetime64[D]"))

    def is_business_day(self, day: dt.date) -> bool:
        return bool(np.is_busday(np.datetime64(day, "D"), busdaycal=self.busdaycal))

    def _window_seconds(self) -> tuple[float, float]:
        start = self.work_start.hour * 3600 + self.work_start.minute * 60 + self.work_start.second
        if self.work_end is None:
            return float(start), DAY_SECONDS
        end = self.work_end.hour * 3600 + self.work_end.minute * 60 + self.work_end.second
        return float(start), float(end)


DEFAULT_CALENDAR = Calendar()
"""Mon-Fri, no holidays, 14:00 cut-off, same-day handling: used where no warehouse applies (Olist)."""


def _as_ns(values: Any) -> tuple[np.ndarray, bool]:
    """Timestamps as datetime64[ns] array (NaT for missing) and whether the input was scalar."""
    scalar = isinstance(values, dt.datetime | pd.Timestamp | np.datetime64) or values is None
    if not scalar and np.issubdtype(getattr(values, "dtype", np.dtype(object)), np.datetime64):
        return np.asarray(values, dtype="datetime64[ns]"), False  # already typed: skip parsing
    arr = pd.to_datetime(pd.Series([values] if scalar else list(values) if not hasattr(values, "dtype")
                                   else values), errors="raise")
    return arr.to_numpy(dtype="datetime64[ns]"), scalar


def ship_by(paid_at: Any, cal: Calendar = DEFAULT_CALENDAR) -> Any:
    """The ship-by deadline for orders paid at ``paid_at`` under ``cal`` (see the module rules).

    Parameters
    ----------
    paid_at
        A ``datetime`` or an array-like of them; missing values give NaT.

    Returns
    -------
    A ``datetime`` (``None`` when missing) for a scalar input, else a ``datetime64[ns]`` pandas
    Series aligned with the input.
    """
    ts, scalar = _as_ns(paid_at)
    valid = ~np.isnat(ts)
    day = ts.astype("datetime64[D]")
    tod = (ts - day.astype("datetime64[ns]")).astype("timedelta64[s]").astype(np.int64)
    cut = cal.cutoff.hour * 3600 + cal.cutoff.minute * 60 + cal.cutoff.second
    bdc = cal.busdaycal
    safe_day = np.where(valid, day, np.datetime64("2000-01-03", "D"))
    on_busday = np.is_busday(safe_day, busdaycal=bdc)
    # Before the cut-off on a business day: start today; otherwise the next business day.
    today = np.busday_offset(safe_day, 0, roll="forward", busdaycal=bdc)  # today if business, else next
    next_day = np.busday_offset(safe_day, 1, roll="forward", busdaycal=bdc)
    start = np.where(on_busday & (tod >= cut), next_day, today)
    deadline_day = np.busday_offset(start, cal.handling_days, roll="forward", busdaycal=bdc)
    out = deadline_day.astype("datetime64[ns]") + END_OF_DAY.astype("timedelta64[ns]")
    out = np.where(valid, out, np.datetime64("NaT", "ns"))
    if scalar:
        return None if np.isnat(out[0]) else pd.Timestamp(out[0]).to_pydatetime()
    index = paid_at.index if isinstance(paid_at, pd.Series) else None
    return pd.Series(out, index=index, dtype="datetime64[ns]")


def business_hours_between(a: Any, b: Any, cal: Calendar = DEFAULT_CALENDAR) -> Any:
    """Business hours from ``a`` to ``b`` under ``cal`` (negative when ``b`` is earlier).

    Parameters
    ----------
    a, b
        ``datetime`` scalars or equal-length array-likes; a missing value on either side gives NaN.

    Returns
    -------
    A float for scalar inputs, else a float64 numpy array.
    """
    ta, scalar_a = _as_ns(a)
    tb, scalar_b = _as_ns(b)
    if len(ta) != len(tb):
        raise ValueError(f"business_hours_between: {len(ta)} start times but {len(tb)} end times")
    missing = np.isnat(ta) | np.isnat(tb)
    sign = np.where(tb < ta, -1.0, 1.0)
    lo = np.where(tb < ta, tb, ta)
    hi = np.where(tb < ta, ta, tb)
    lo = np.where(missing, np.datetime64("2000-01-03", "ns"), lo)
    hi = np.where(missing, np.datetime64("2000-01-03", "ns"), hi)
    w0, w1 = cal._window_seconds()
    per_day = w1 - w0
    bdc = cal.busdaycal
    lo_day, hi_day = lo.astype("datetime64[D]"), hi.astype("datetime64[D]")
    lo_sec = (lo - lo_day.astype("datetime64[ns]")).astype(np.int64) / 1e9
    hi_sec = (hi - hi_day.astype("datetime64[ns]")).astype(np.int64) / 1e9
    lo_bus = np.is_busday(lo_day, busdaycal=bdc)
    hi_bus = np.is_busday(hi_day, busdaycal=bdc)
    # Whole business days strictly between the two dates.
    between = np.maximum(np.busday_count(lo_day + 1, hi_day, busdaycal=bdc), 0)
    same = lo_day == hi_day
    # Seconds of the working window after lo on lo's day, and before hi on hi's day.
    first = np.where(lo_bus, np.clip(w1 - np.clip(lo_sec, w0, w1), 0, None), 0.0)
    last = np.where(hi_bus, np.clip(np.clip(hi_sec, w0, w1) - w0, 0, None), 0.0)
    same_day = np.where(lo_bus, np.clip(np.clip(hi_sec, w0, w1) - np.clip(lo_sec, w0, w1), 0, None), 0.0)
    seconds = np.where(same, same_day, first + last + between * per_day)
    hours = np.where(missing, np.nan, sign * seconds / 3600.0)
    if scalar_a and scalar_b:
        return float(hours[0])
    return hours


def calendar_hours_between(a: Any, b: Any) -> Any:
    """Calendar (wall-clock) hours from ``a`` to ``b``; NaN where either is missing."""
    ta, scalar_a = _as_ns(a)
    tb, scalar_b = _as_ns(b)
    hours = (tb - ta).astype("timedelta64[s]").astype(np.float64) / 3600.0
    hours = np.where(np.isnat(ta) | np.isnat(tb), np.nan, hours)
    return float(hours[0]) if scalar_a and scalar_b else hours
