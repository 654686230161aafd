"""Forecast & reorder: planned; the page says what is coming and where to look meanwhile."""

from ui.planned import planned_page

planned_page("planner")
