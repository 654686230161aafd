"""Carrier, supplier and 3PL scorecards (the domain registration comes with the page)."""

from __future__ import annotations

from ops.scorecards.leadtime import LEAD_TIME_COLUMNS, lead_time_stats

__all__ = ["LEAD_TIME_COLUMNS", "lead_time_stats"]
