"""Forecasting: every SKU gets the model that wins its backtest.

The package (the shape every domain shares, see :mod:`ops.domain`):

- :mod:`~ops.forecast.data`      weekly demand per SKU from the order lines, stockout weeks corrected;
- :mod:`~ops.forecast.models`    the models behind one interface (seasonal naive, ETS, Croston, TSB,
  a global gradient-boosting model, Prophet where eligible);
- :mod:`~ops.forecast.backtest`  rolling-origin backtest, WAPE / MASE / bias, the per-SKU choice;
- :mod:`~ops.forecast.run`       the job (``python -m ops forecast``): parallel, stored per chunk, resumable;
- :mod:`~ops.forecast.queries`   scoped reads of the latest successful run (what the planner reads);
- :mod:`~ops.forecast.overrides` planner overrides (+x % or a manual value for a week), through ops.decisions;
- :mod:`~ops.forecast.page`      the page's load; :mod:`~ops.forecast.exports` its registered exports.

The job runs outside the page (a command, or a background process the page starts); the page only
reads the tables and never fits a model.
"""

from __future__ import annotations

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

__all__ = ["CHOICE_COLUMNS", "FORECAST_COLUMNS", "latest_choices", "latest_forecast", "latest_run_id",
           "model_scores", "pattern_summary", "runs", "weekly_history"]
