"""Business-hour arithmetic: ship-by deadlines and business hours across weekends, holidays and cut-off edges.

Calendar used unless said otherwise: Mon-Fri, 12:00 cut-off, New Year's Day 2024 (a Monday) a holiday.
2024-01-05 is a Friday, 2024-01-06/07 the weekend.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ops.business_time import Calendar, business_hours_between, calendar_hours_between, ship_by

CAL = Calendar(business_days="01234", holidays=(dt.date(2024, 1, 1),), cutoff=dt.time(12, 0), handling_days=0)


def T(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s)


@pytest.mark.parametrize(("paid", "handling", "deadline"), [
    ("2024-01-05 11:59:59", 0, "2024-01-05 23:59:59"),  # Friday, one second before cut-off: same day
    ("2024-01-05 12:00:00", 0, "2024-01-08 23:59:59"),  # exactly at cut-off: next business day (Monday)
    ("2024-01-05 18:30:00", 0, "2024-01-08 23:59:59"),  # after cut-off on Friday: Monday
    ("2024-01-06 09:00:00", 0, "2024-01-08 23:59:59"),  # Saturday morning: Monday
    ("2024-01-07 23:59:59", 0, "2024-01-08 23:59:59"),  # Sunday night: Monday
    ("2023-12-29 13:00:00", 0, "2024-01-02 23:59:59"),  # Friday after cut-off, Monday holiday: Tuesday
    ("2024-01-01 08:00:00", 0, "2024-01-02 23:59:59"),  # on the holiday itself, before cut-off: Tuesday
    ("2024-01-04 10:00:00", 1, "2024-01-05 23:59:59"),  # Thursday + 1 handling day: Friday
    ("2024-01-04 13:00:00", 1, "2024-01-08 23:59:59"),  # Thursday after cut-off: Friday + 1 = Monday
    ("2023-12-28 09:00:00", 2, "2024-01-02 23:59:59"),  # Thu + 2 skips weekend and holiday: Tuesday
])
def test_ship_by(paid: str, handling: int, deadline: str) -> None:
    cal = Calendar(business_days="01234", holidays=CAL.holidays, cutoff=CAL.cutoff, handling_days=handling)
    assert ship_by(T(paid), cal) == T(deadline)


def test_ship_by_vectorised_matches_scalar_and_keeps_missing() -> None:
    paid = pd.Series(pd.to_datetime(["2024-01-05 11:59:59", None, "2024-01-06 09:00:00"]), index=[10, 11, 12])
    out = ship_by(paid, CAL)
    assert list(out.index) == [10, 11, 12]
    assert out[10] == pd.Timestamp("2024-01-05 23:59:59")
    assert pd.isna(out[11])
    assert out[12] == pd.Timestamp("2024-01-08 23:59:59")


def test_weekend_warehouse_calendar() -> None:
    # A warehouse working Mon-Sat (Sunday off): Saturday counts, Sunday does not.
    cal = Calendar(business_days="012345", cutoff=dt.time(14, 0))
    assert ship_by(T("2024-01-06 13:00"), cal) == T("2024-01-06 23:59:59")
    assert ship_by(T("2024-01-06 14:00"), cal) == T("2024-01-08 23:59:59")
    assert ship_by(T("2024-01-07 10:00"), cal) == T("2024-01-08 23:59:59")


@pytest.mark.parametrize(("a", "b", "hours"), [
    ("2024-01-05 20:00", "2024-01-08 04:00", 8.0),        # Fri 4 h + Mon 4 h; the weekend is skipped
    ("2024-01-08 04:00", "2024-01-05 20:00", -8.0),       # reversed: negative
    ("2024-01-06 10:00", "2024-01-07 10:00", 0.0),        # all weekend
    ("2024-01-05 09:00", "2024-01-05 17:30", 8.5),        # same business day
    ("2023-12-29 12:00", "2024-01-02 12:00", 24.0),       # Fri 12 h + (weekend, holiday) + Tue 12 h
    ("2024-01-01 00:00", "2024-01-02 00:00", 0.0),        # the holiday itself counts nothing
    ("2024-01-02 00:00", "2024-01-09 00:00", 120.0),      # Tue..Mon: five whole business days
])
def test_business_hours_between(a: str, b: str, hours: float) -> None:
    assert business_hours_between(T(a), T(b), CAL) == pytest.approx(hours)


def test_business_hours_with_working_hours() -> None:
    cal = Calendar(work_start=dt.time(9), work_end=dt.time(17))
    # Fri 16:00 -> Mon 10:00: one hour on Friday and one on Monday.
    assert business_hours_between(T("2024-01-05 16:00"), T("2024-01-08 10:00"), cal) == pytest.approx(2.0)
    # Before opening to after closing on one day: the full 8-hour window.
    assert business_hours_between(T("2024-01-08 06:00"), T("2024-01-08 20:00"), cal) == pytest.approx(8.0)
    # Three whole working days in between (Tue, Wed, Thu) plus Mon 17:00 (0) and Fri 09:00 (0).
    assert business_hours_between(T("2024-01-08 17:00"), T("2024-01-12 09:00"), cal) == pytest.approx(24.0)


def test_vectorised_agrees_with_a_slow_hour_by_hour_count() -> None:
    rng = np.random.default_rng(3)
    base = np.datetime64("2023-12-25T00:00")
    a = base + rng.integers(0, 20 * 24 * 60, 300).astype("timedelta64[m]")
    b = a + rng.integers(0, 6 * 24 * 60, 300).astype("timedelta64[m]")
    got = business_hours_between(pd.Series(a), pd.Series(b), CAL)

    def slow(x: pd.Timestamp, y: pd.Timestamp) -> float:
        minutes = pd.date_range(x, y, freq="min", inclusive="left")
        ok = (minutes.dayofweek < 5) & ~minutes.normalize().isin([pd.Timestamp("2024-01-01")])
        return ok.sum() / 60.0

    want = [slow(pd.Timestamp(x), pd.Timestamp(y)) for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(got, want)


def test_missing_values_and_calendar_hours() -> None:
    got = business_hours_between(pd.Series(pd.to_datetime(["2024-01-05 10:00", None])),
                                 pd.Series(pd.to_datetime(["2024-01-05 12:00", "2024-01-05 12:00"])), CAL)
    assert got[0] == pytest.approx(2.0) and np.isnan(got[1])
    assert calendar_hours_between(T("2024-01-05 20:00"), T("2024-01-08 04:00")) == pytest.approx(56.0)


@pytest.mark.parametrize("days", ["", "017", "0123456x", "0012"])
def test_bad_business_days_are_refused_with_a_message(days: str) -> None:
    if days == "017":
        with pytest.raises(ValueError, match="digits 0-6"):
            Calendar(business_days=days)
        return
    with pytest.raises(ValueError, match="business days"):
        Calendar(business_days=days)
