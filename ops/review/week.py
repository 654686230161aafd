"""ISO weeks: the review's unit of time ("2026-W47" is Monday 16 to Sunday 22 November 2026)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_WEEK = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Week:
    """One ISO week: ``start`` is its Monday, ``end`` its Sunday (inclusive)."""

    year: int
    number: int

    @property
    def start(self) -> dt.date:
        return dt.date.fromisocalendar(self.year, self.number, 1)

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=6)

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    def previous(self) -> Week:
        return week_of(self.start - dt.timedelta(days=7))

    def __str__(self) -> str:
        return self.label


def week_of(day: dt.date) -> Week:
    """The ISO week holding ``day``."""
    y, w, _ = day.isocalendar()
    return Week(int(y), int(w))


def parse_week(text: str | Week) -> Week:
    """``"2026-W47"`` (or ``"2026W47"``) as a :class:`Week`; ValueError naming the problem otherwise."""
    if isinstance(text, Week):
        return text
    m = _WEEK.match(str(text or ""))
    if not m:
        raise ValueError(f"week {text!r} is not an ISO week; write it as YYYY-Www, e.g. 2026-W47")
    year, number = int(m.group(1)), int(m.group(2))
    try:
        dt.date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"week {text!r}: {year} has no ISO week {number}") from None
    return Week(year, number)


def last_full_week(last_day: dt.date) -> Week:
    """The last ISO week that ends on or before ``last_day`` (the data's settled last day)."""
    return week_of(last_day - dt.timedelta(days=(last_day.weekday() + 1) % 7))
