"""What-if scenarios: a :class:`~ops.planner.suggest.Policy` saved by name, recomputed for the whole
catalogue and compared side by side with the baseline (the default policy) and with each other.

Saving is a write (admins, managers, planners), audited through ``ops.decisions.record`` in the
caller's transaction, with optimistic concurrency: overwriting a scenario needs the version that
was read (``expected_version``; 0 = "a new name"); a stale save is refused and says who saved it.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ops import decisions
from ops.access import AccessDenied, Viewer, data_function, require_role
from ops.decisions import StaleEdit, ValidationError
from ops.models import PlannerScenario
from ops.planner import math as rm
from ops.planner.queries import PLANNER_ROLES
from ops.planner.suggest import Policy, compute_plan, scenario_summary

BASELINE = "Baseline"
ACTION = "planner.scenario.save"
MAX_NAME = 100
SCENARIO_COLUMNS = ["name", "params", "created_by", "updated_at", "version"]
COMPARE_ROWS = ("investment", "order_value", "exp_short_units", "lost_revenue", "fill_rate", "po_count", "lines",
                "critical", "below_minimum")
WRITE_FUNCTIONS: tuple[str, ...] = ("save_scenario",)


@data_function
def list_scenarios(session: Session, *, viewer: Viewer) -> pd.DataFrame:
    """Saved scenarios, by name.

    Returns
    -------
    DataFrame with columns name, params (JSON text), created_by (str); updated_at (datetime64);
    version (int64).
    """
    require_role(viewer, *PLANNER_ROLES)
    rows = session.execute(select(PlannerScenario.name, PlannerScenario.params, PlannerScenario.created_by,
                                  PlannerScenario.updated_at, PlannerScenario.version)
                           .order_by(PlannerScenario.name)).all()
    df = pd.DataFrame(rows, columns=SCENARIO_COLUMNS)
    df["updated_at"] = pd.to_datetime(df["updated_at"])
    df["version"] = df["version"].astype("int64")
    return df


def save_scenario(session: Session, *, viewer: Viewer, name: str, policy: Policy, expected_version: int = 0,
                  why: str | None = None) -> int:
    """Save ``policy`` as scenario ``name`` (new when ``expected_version`` is 0); returns the new version."""
    clean = decisions.clean_text(name or "").strip()
    attempt = {"name": clean, "params": policy.to_json()}

    def refuse(exc: Exception) -> Exception:
        decisions.record_refusal(session, viewer=viewer, action=ACTION, entity_kind="planner_scenario",
                                 entity_key=clean or "-", message=str(exc), attempted=attempt)
        return exc

    try:
        require_role(viewer, *PLANNER_ROLES)
        decisions._require_active(session, viewer)  # noqa: SLF001 - the account check every write uses
    except AccessDenied as exc:
        raise refuse(exc) from None
    if not clean or len(clean) > MAX_NAME:
        raise refuse(ValidationError(f"name: a scenario needs a name of 1 to {MAX_NAME} characters"))
    if clean.lower() == BASELINE.lower():
        raise refuse(ValidationError(f"name: {BASELINE!r} is the default policy; pick another name"))
    row = session.scalar(select(PlannerScenario).where(PlannerScenario.name == clean)
                         .execution_options(populate_existing=True))
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if row is None:
        if expected_version:
            raise refuse(StaleEdit(f"Scenario {clean!r} was deleted or renamed since it was read."))
        session.add(PlannerScenario(name=clean, params=policy.to_json(), created_by=viewer.username[:100],
                                    updated_at=now, version=1))
        try:
            session.flush()
        except IntegrityError:
            raise refuse(StaleEdit(f"Scenario {clean!r} was saved by someone else meanwhile.")) from None
        decisions.record(session, actor=viewer.username, action=ACTION, entity_kind="planner_scenario",
                         entity_key=clean, before=None, after=attempt, why=why)
        return 1
    if expected_version != row.version:
        raise refuse(StaleEdit(f"Scenario {clean!r} was changed by {row.created_by} at {row.updated_at:%Y-%m-%d %H:%M} "
                               f"(version {row.version}); reload it before saving.", changed_by=row.created_by,
                               changed_at=row.updated_at, current_version=row.version))
    before = {"name": clean, "params": row.params}
    res = session.execute(update(PlannerScenario).where(PlannerScenario.id == row.id,
                                                        PlannerScenario.version == expected_version)
                          .values(params=policy.to_json(), created_by=viewer.username[:100], updated_at=now,
                                  version=PlannerScenario.version + 1))
    if res.rowcount != 1:  # type: ignore[attr-defined]
        raise refuse(StaleEdit(f"Scenario {clean!r} was changed meanwhile; reload it."))
    decisions.record(session, actor=viewer.username, action=ACTION, entity_kind="planner_scenario",
                     entity_key=clean, before=before, after=attempt, why=why)
    return expected_version + 1


def policies(saved: pd.DataFrame, names: list[str] | None = None) -> dict[str, Policy]:
    """The baseline plus the saved scenarios named (all when ``names`` is None), by name."""
    out = {BASELINE: Policy()}
    for r in saved.itertuples(index=False):
        if names is None or r.name in names:
            out[str(r.name)] = Policy.from_json(str(r.params))
    return out


def compare(inputs: pd.DataFrame, open_pos: pd.DataFrame, pols: dict[str, Policy], *,
            lead: pd.DataFrame | None = None, forecast: pd.DataFrame | None = None
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Recompute every policy for the whole catalogue and compare them.

    Returns
    -------
    (summary, by_supplier): ``summary`` has one column per scenario (float64) and one row per
    figure in :data:`COMPARE_ROWS` (index ``measure``; definitions in
    :func:`ops.planner.suggest.scenario_summary`); ``by_supplier`` has columns supplier (str) and
    one order-value column per scenario (float64).
    """
    summary: dict[str, dict[str, float]] = {}
    per_supplier: dict[str, pd.Series] = {}
    for name, pol in pols.items():
        try:
            plan = compute_plan(inputs, open_pos, policy=pol, lead=lead, forecast=forecast)
        except rm.InputError as exc:
            raise ValidationError(f"scenario {name!r}: {exc}") from None
        summary[name] = scenario_summary(plan, min_order_value=pol.min_order_value)
        per_supplier[name] = plan.groupby("supplier")["order_value"].sum()
    s = pd.DataFrame(summary).reindex(list(COMPARE_ROWS))
    s.index.name = "measure"
    by = pd.DataFrame(per_supplier).fillna(0.0)
    by.index.name = "supplier"
    by = by.reset_index()
    return s, by
