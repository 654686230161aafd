"""Forecast exports: the latest run's weekly forecasts (with planner overrides) and per-SKU choices.

Thin wrappers over :mod:`ops.forecast.queries` with the same scoping (suppliers: their own SKUs).
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function
from ops.exports import register
from ops.filters import Filters
from ops.forecast.overrides import apply_overrides, overrides
from ops.forecast.page import PAGE
from ops.forecast.queries import latest_choices, latest_forecast, pattern_summary

EXPORTS = ("forecast_weeks", "forecast_choices", "forecast_patterns")


@register("forecast_weeks", title="Weekly forecasts with intervals and overrides", page=PAGE)
@data_function
def export_weeks(session: Session, *, viewer: Viewer, filters: Filters | None = None) -> pd.DataFrame:
    fc = latest_forecast(session, viewer=viewer)
    out = apply_overrides(fc, overrides(session, viewer=viewer))
    return out.rename(columns={"week": "forecast_week", "model": "forecast_model", "override": "override_units",
                               "final": "final_units"})


@register("forecast_choices", title="Forecast model per SKU with backtest scores", page=PAGE)
@data_function
def export_choices(session: Session, *, viewer: Viewer, filters: Filters | None = None) -> pd.DataFrame:
    return latest_choices(session, viewer=viewer).rename(columns={"model": "forecast_model", "bias": "forecast_bias"})


@register("forecast_patterns", title="Forecast accuracy by demand pattern", page=PAGE)
@data_function
def export_patterns(session: Session, *, viewer: Viewer, filters: Filters | None = None) -> pd.DataFrame:
    return pattern_summary(session, viewer=viewer)
