"""What the reorder planner page shows, assembled in one call per page load.

:func:`planner_page` reads the planning inputs once (:mod:`ops.planner.queries`), computes the plan
under the chosen policy (:func:`ops.planner.suggest.compute_plan`) and returns the suggested lines,
the draft POs, the notes on where the numbers came from (forecast or history, measured or stated
lead times) and the plan's fingerprint the approval checks against. Definitions of every number
are in :mod:`ops.planner.suggest`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function, require_role
from ops.domain import HEADLINE_EXCEPTION_COLUMNS, Headline, Kpi
from ops.filters import Filters
from ops.planner import queries
from ops.planner.queries import PLANNER_ROLES
from ops.planner.suggest import (
    Policy,
    compute_plan,
    draft_pos,
    plan_token,
    scenario_summary,
)

ALL = Filters()
PAGE = "planner"
LINE_COLUMNS = [
    "sku", "name", "supplier", "warehouse", "urgency", "suggested_qty", "order_value", "on_hand", "on_order",
    "cover_days", "lead_time_days", "safety_stock", "reorder_point", "order_up_to", "moq", "case_pack",
    "open_po", "open_po_expected", "late_po", "demand_source", "lead_time_source",
]


@dataclass(frozen=True)
class PlannerPage:
    """One load of the planner page (frames described in :mod:`ops.planner.suggest`)."""

    plan: pd.DataFrame  # every SKU x warehouse, PLAN_COLUMNS
    lines: pd.DataFrame  # suggested lines (qty > 0 or critical), LINE_COLUMNS, most urgent first
    drafts: pd.DataFrame  # DRAFT_COLUMNS
    summary: dict[str, float]
    notes: tuple[str, ...]
    as_of: dt.date | None
    token: str
    budget_message: str = ""
    empty_reason: str | None = None
    inputs: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    open_pos: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    lead: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    forecast: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


def source_notes(plan: pd.DataFrame, lead: pd.DataFrame, forecast: pd.DataFrame) -> tuple[str, ...]:
    """Plain-words notes on the sources the numbers came from (shown at the top of the page)."""
    notes = []
    if not queries.module_available(queries.FORECAST_MODULE) or len(forecast) == 0:
        notes.append("No forecast run yet: demand comes from the last 52 weeks of history per SKU and warehouse.")
    else:
        n_hist = int((plan["demand_source"] == "history").sum())
        if n_hist:
            notes.append(f"{n_hist:,} SKU x warehouse rows have no forecast and use their demand history.")
    if not queries.module_available(queries.LEADTIME_MODULE) or len(lead) == 0:
        notes.append("No measured lead times yet: every lead time is the stated one (product's, else supplier's), "
                     "with no spread.")
    else:
        stated = sorted(set(plan.loc[plan["lead_time_source"] == "stated", "supplier"]) - {""})
        if stated:
            shown = ", ".join(stated[:5]) + (f" and {len(stated) - 5} more" if len(stated) > 5 else "")
            notes.append(f"Stated lead time used for {shown}: fewer than 2 received PO lines to measure.")
    return tuple(notes)


def suggested_lines(plan: pd.DataFrame) -> pd.DataFrame:
    """The lines the planner acts on: something to order, or critical; most urgent, then most at risk, first."""
    keep = np.flatnonzero((plan["suggested_qty"].to_numpy() > 0) | (plan["urgency"].to_numpy() == "critical"))
    rank = plan["urgency_rank"].to_numpy()[keep]
    lost = plan["lost_revenue"].to_numpy(dtype="float64")[keep]
    if np.isnan(lost).any():  # NaN sorts last whatever the direction: leave that to pandas
        lines = plan.iloc[keep].sort_values(["urgency_rank", "lost_revenue", "sku"], ascending=[False, False, True],
                                            kind="mergesort")
        out = lines[LINE_COLUMNS].reset_index(drop=True)
    else:  # the same order by one stable lexsort (most urgent, most at risk, then SKU)
        sku_rank, _ = pd.factorize(plan["sku"].to_numpy()[keep], sort=True)
        order = keep[np.lexsort((sku_rank, -lost, -rank))]
        out = plan[LINE_COLUMNS].take(order).reset_index(drop=True)
    out.attrs = {}  # the plan's as-of day and budget note stay with the plan, not with shown tables
    return out


@data_function
def planner_page(session: Session, *, viewer: Viewer, filters: Filters = ALL, policy_json: str = "") -> PlannerPage:
    """Everything the page shows for ``viewer`` under the policy ``policy_json`` ("" = the baseline).

    Planners, managers and admins only (vendors: :class:`ops.access.AccessDenied`).
    """
    require_role(viewer, *PLANNER_ROLES)
    policy = Policy.from_json(policy_json) if policy_json else Policy()
    inputs = queries.planning_inputs(session, viewer=viewer, filters=filters)
    open_pos = queries.open_po_lines(session, viewer=viewer, filters=filters)
    lead = queries.lead_times(session, viewer=viewer)
    forecast = queries.forecast_demand(session, viewer=viewer)
    plan = compute_plan(inputs, open_pos, policy=policy, lead=lead, forecast=forecast)
    lines = suggested_lines(plan)
    as_of = plan.attrs.get("as_of")
    empty = None if len(inputs) else ("No stock positions yet: import inventory snapshots and orders "
                                      "(or seed the demo) and the planner will suggest orders.")
    drafts = draft_pos(plan, min_order_value=policy.min_order_value)
    return PlannerPage(
        plan=plan, lines=lines, drafts=drafts,
        summary=scenario_summary(plan, min_order_value=policy.min_order_value, drafts=drafts),
        notes=source_notes(plan, lead, forecast), as_of=as_of,
        token=plan_token(lines, policy, as_of), budget_message=str(plan.attrs.get("budget_message", "")),
        empty_reason=empty, inputs=inputs, open_pos=open_pos, lead=lead, forecast=forecast,
    )


@data_function
def headline(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> Headline:
    """The planner's headline: lines to order, critical SKUs, order value, expected fill rate; the
    critical lines as exceptions (most revenue at risk first)."""
    page = planner_page(session, viewer=viewer, filters=filters)
    s = page.summary
    kpis = (
        Kpi("lines", "Lines to order", "count", s.get("lines")),
        Kpi("critical", "Critical SKUs", "count", s.get("critical"), higher_is_better=False,
            help="Stock runs out before a new order could arrive and before an open PO lands."),
        Kpi("order_value", "Suggested order value", "money", s.get("order_value")),
        Kpi("fill_rate", "Expected fill rate", "pct", s.get("fill_rate"),
            help="1 - expected units short / demand of one review cycle, at the target service level."),
    )
    crit = page.plan[page.plan["urgency"] == "critical"].sort_values("lost_revenue", ascending=False).head(5)
    exc = pd.DataFrame({
        "subject": (crit["sku"] + " @ " + crit["warehouse"]).to_numpy(dtype=object),
        "kind": "critical",
        "detail": [f"runs out in {c:.0f} days, lead time {lt:.0f} days" + (f"; PO {po} late" if late else "")
                   for c, lt, po, late in zip(crit["cover_days"], crit["lead_time_days"], crit["open_po"],
                                              crit["late_po"], strict=True)],
        "value_at_risk": crit["lost_revenue"].to_numpy(dtype="float64"),
    }, columns=HEADLINE_EXCEPTION_COLUMNS)
    note = f"As of {page.as_of.isoformat()}" if page.as_of else ""
    return Headline(kpis=kpis, exceptions=exc, note=note, empty_reason=page.empty_reason)
