"""Forecasting: every SKU gets the model that wins its backtest.

The package (the shape every domain shares, see :mod:`ops.domain`):

- :mod:`~ops.forecast.data`      weekly demand per SKU from the order lines, stockout weeks corrected;
- :mod:`~ops.forecast.models`    the models behind one interface (seasonal naive, ETS, Croston, TSB,
  a global gradient-boosting model, Prophet where eligible);
- :mod:`~ops.forecast.backtest`  rolling-origin backtest, WAPE / MASE / bias, the per-SKU choice;
- :mod:`~ops.forecast.run`       the job (``python -m ops forecast``): parallel, stored per chunk, resumable;
- :mod:`~ops.forecast.job`       starting the job in the background from the page, and its state;
- :mod:`~ops.forecast.queries`   scoped reads of the latest successful run (what the planner reads:
  :func:`latest_forecast`, :func:`latest_choices`);
- :mod:`~ops.forecast.overrides` planner overrides (+x % or a manual value for a week), through ops.decisions;
- :mod:`~ops.forecast.page`      the page's load; :mod:`~ops.forecast.exports` its registered exports.

The job runs outside the page (a command, or a background process the page starts); the page only
reads the tables and never fits a model. There is no refresher: the forecast is a job, not an
aggregate rebuilt on every import.
"""

from __future__ import annotations

from ops import fmt
from ops.domain import Domain, register_domain
from ops.fmt import Col
from ops.forecast.exports import EXPORTS, export_choices, export_patterns, export_weeks
from ops.forecast.job import JOB_KIND, active_run, launch, request_change
from ops.forecast.overrides import OVERRIDE_KIND, apply_overrides, clear_change, override_change, overrides
from ops.forecast.page import MODEL_LABELS, PAGE, ForecastPage, SkuDetail, forecast_page, run_status, sku_detail
from ops.forecast.queries import (
    CHOICE_COLUMNS,
    FORECAST_COLUMNS,
    latest_choices,
    latest_forecast,
    latest_run_id,
    model_scores,
    pattern_summary,
    runs,
    weekly_history,
)

fmt.define_columns({
    "forecast_model": Col("Model"), "forecast_week": Col("Week of", "date"),
    "wape": Col("WAPE", "pct", help="Backtest error: sum of absolute errors / units sold (lower is better)."),
    "baseline_wape": Col("Baseline WAPE", "pct", help="WAPE of the seasonal-naive baseline on the same weeks."),
    "mase": Col("MASE", "number", help="Mean absolute error / mean week-to-week change before the backtest."),
    "forecast_bias": Col("Bias", "pct", help="Sum of (forecast - actual) / units sold: above 0 over-forecasts."),
    "sigma_week": Col("Weekly error spread", "number", 1, help="Std of one-week-ahead backtest errors, units."),
    "censored_days": Col("Stockout days corrected", "count",
                         help="Days with no stock on hand in a warehouse; their weeks were corrected before fitting."),
    "fallback_reason": Col("Why the baseline"), "yhat": Col("Forecast", "number", 1),
    "lo80": Col("80 % low", "number", 1), "hi80": Col("80 % high", "number", 1),
    "lo95": Col("95 % low", "number", 1), "hi95": Col("95 % high", "number", 1),
    "override_units": Col("Override", "number", 1), "override_reason": Col("Override reason"),
    "final_units": Col("Plan", "number", 1, help="The override where there is one, else the model's forecast."),
    "chosen_wape": Col("WAPE, chosen models", "pct"), "naive_wape": Col("WAPE, seasonal naive", "pct"),
    "wape_ratio": Col("Chosen / naive", "number"), "fallbacks": Col("On the baseline by fallback", "count"),
    "skus": Col("SKUs", "count"), "scored_weeks": Col("Weeks scored", "count"),
    "fit_seconds": Col("Fit time per series (s)", "number", 4), "model_failed": Col("Failure"),
})

DOMAIN = register_domain(Domain(
    id=PAGE,
    title="Forecasts",
    icon=":material/insights:",
    section="Planning",
    roles=("admin", "manager", "planner"),
    vendor_kinds=("supplier",),
    exports=EXPORTS,
    order=55,
))

__all__ = [
    "CHOICE_COLUMNS", "DOMAIN", "EXPORTS", "FORECAST_COLUMNS", "JOB_KIND", "MODEL_LABELS", "OVERRIDE_KIND", "PAGE",
    "ForecastPage", "SkuDetail", "active_run", "apply_overrides", "clear_change", "export_choices",
    "export_patterns", "export_weeks", "forecast_page", "latest_choices", "latest_forecast", "latest_run_id",
    "launch", "model_scores", "override_change", "overrides", "pattern_summary", "request_change", "run_status",
    "runs", "sku_detail", "weekly_history",
]
