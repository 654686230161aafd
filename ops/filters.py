"""The shared filters every page and export takes: date range, warehouses, channels."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Filters:
    """Global filters from the sidebar (or the ``export`` command line).

    ``date_from``/``date_to`` are inclusive days; empty ``warehouses``/``channels`` mean all.
    Hashable, so cached loaders can take it as an ordinary argument.
    """

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    warehouses: tuple[str, ...] = field(default_factory=tuple)
    channels: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"date range is reversed: from {self.date_from} is after to {self.date_to}")

    def start(self) -> dt.datetime | None:
        """Inclusive lower bound as a timestamp."""
        return dt.datetime.combine(self.date_from, dt.time.min) if self.date_from else None

    def end(self) -> dt.datetime | None:
        """Exclusive upper bound as a timestamp (the day after ``date_to``)."""
        return dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time.min) if self.date_to else None


ALL = Filters()
