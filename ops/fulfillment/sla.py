"""Warehouse SLA policies (cut-off, business days, handling days): who may read them, and the audited edit."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, func, insert, select, true, update
from sqlalchemy.orm import Session

from ops import access
from ops.access import AccessDenied, Viewer, data_function, require_role, require_viewer
from ops.fulfillment.metrics import DOW_NAMES, SLA_ENTITY
from ops.fulfillment.refresh import refresh
from ops.models import AggFulfilDaily, Decision, Holiday, Warehouse

SLA_COLUMNS = ["warehouse", "name", "cutoff_time", "business_days", "business_day_names", "handling_days",
               "holidays", "version"]


def _policy_warehouses(viewer: Viewer) -> ColumnElement[bool]:
    """Warehouses whose SLA policy ``viewer`` may read.

    Staff: all. A 3PL: the warehouses it operates. A supplier or carrier: only the warehouses
    that shipped order lines they sold or carried (the lines the page shows them), never the
    whole network with its operators.
    """
    require_viewer(viewer)
    if not viewer.is_vendor:
        return true()
    if viewer.is_kind("warehouse"):
        return access.warehouse_condition(viewer)
    t = AggFulfilDaily
    return Warehouse.id.in_(select(t.warehouse_id).where(access.fulfil_agg_condition(viewer, t),
                                                         t.warehouse_id.is_not(None)).distinct())


def day_names(business_days: str) -> str:
    """Mon=0 digits as people read them: ``"01234"`` -> ``"Mon, Tue, Wed, Thu, Fri"``."""
    return ", ".join(DOW_NAMES[int(d)] for d in str(business_days or "") if d.isdigit() and int(d) < 7)


@data_function
def sla_policies(session: Session, *, viewer: Viewer) -> pd.DataFrame:
    """The SLA policy of every warehouse relevant to the viewer (see :func:`_policy_warehouses`).

    A vendor other than the warehouse's own 3PL sees the warehouse code as its ``name``: the
    name may carry the operator's (another vendor's) name.

    Returns
    -------
    DataFrame with columns ``warehouse`` (str, code), ``name`` (str), ``cutoff_time`` (str HH:MM),
    ``business_days`` (str, Mon=0 digits), ``business_day_names`` (str, "Mon, Tue, ..."),
    ``handling_days`` (int64), ``holidays`` (int64, own plus global), ``version`` (int64).
    """
    require_viewer(viewer)
    global_n = session.scalar(select(func.count()).select_from(Holiday).where(Holiday.warehouse_id.is_(None))) or 0
    own = dict(session.execute(select(Holiday.warehouse_id, func.count()).where(Holiday.warehouse_id.is_not(None))
                               .group_by(Holiday.warehouse_id)).all())
    show_name = not viewer.is_vendor or viewer.is_kind("warehouse")
    rows = [{"warehouse": w.code, "name": w.name if show_name else w.code,
             "cutoff_time": (w.cutoff_time or dt.time(14)).strftime("%H:%M"),
             "business_days": w.business_days, "business_day_names": day_names(w.business_days),
             "handling_days": int(w.handling_days or 0),
             "holidays": int(global_n + own.get(w.id, 0)), "version": int(w.version or 1)}
            for w in session.scalars(select(Warehouse).where(_policy_warehouses(viewer)).order_by(Warehouse.code))]
    return pd.DataFrame(rows, columns=SLA_COLUMNS).astype({"handling_days": "int64", "holidays": "int64",
                                                           "version": "int64"})


def _parse_cutoff(value: Any, where: str) -> dt.time:
    if isinstance(value, dt.time):
        return value
    try:
        return dt.time.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"{where}: cut-off {value!r} is not a time (use HH:MM)") from None


def update_sla(session: Session, *, viewer: Viewer, warehouse_code: str, cutoff_time: Any,
               business_days: str, handling_days: int, expected_version: int,
               why: str | None = None) -> int:
    """Change one warehouse's SLA policy, guarded by its version and audited; returns the new version.

    Managers and admins only. Writes one ``decisions`` row (action ``warehouse_sla.set``, entity
    kind ``warehouse_sla``) in the caller's transaction, then rebuilds the fulfilment aggregates
    so derived deadlines follow the new policy. A refused attempt (bad input, stale version, no
    right) raises ``ops.decisions.ValidationError`` / ``StaleEdit`` / ``AccessDenied`` and is
    audited with outcome ``refused``.
    """
    from ops.business_time import _parse_business_days
    from ops.decisions import StaleEdit, ValidationError, record_refusal

    require_viewer(viewer)
    where = f"warehouse {warehouse_code} SLA"
    attempted = {"cutoff_time": str(cutoff_time), "business_days": business_days, "handling_days": handling_days,
                 "expected_version": expected_version}
    refusal: dict[str, Any] = {"viewer": viewer, "action": "warehouse_sla.set", "entity_kind": SLA_ENTITY,
               "entity_key": str(warehouse_code), "attempted": attempted, "why": why}
    try:
        require_role(viewer, "manager", "admin")
        wh = session.execute(select(Warehouse).where(Warehouse.code == warehouse_code)
                             .execution_options(populate_existing=True)).scalar_one_or_none()
        if wh is None:
            raise ValidationError(f"{where}: no warehouse with code {warehouse_code!r}")
        if not str(business_days or "").strip():
            raise ValidationError(f"Pick at least one business day for {warehouse_code}: a warehouse with no "
                                  "business day could never ship on time. Nothing was saved.")
        try:
            cut = _parse_cutoff(cutoff_time, where)
            days = _parse_business_days(str(business_days))
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        try:
            handling = int(handling_days)
        except (TypeError, ValueError):
            raise ValidationError(f"{where}: handling days {handling_days!r} is not a whole number") from None
        if not 0 <= handling <= 30:
            raise ValidationError(f"{where}: handling days must be 0..30, got {handling}")
        before = {"cutoff_time": wh.cutoff_time.strftime("%H:%M") if wh.cutoff_time else None,
                  "business_days": wh.business_days, "handling_days": wh.handling_days, "version": wh.version}
        if int(expected_version) != int(wh.version):
            raise StaleEdit(f"{where} changed since you loaded it (now version {wh.version}: cut-off "
                            f"{before['cutoff_time']}, days {wh.business_days}, handling {wh.handling_days}); "
                            "nothing was saved. Reload and try again.")
    except (ValidationError, StaleEdit, AccessDenied) as exc:
        record_refusal(session, message=str(exc), **refusal)
        raise
    res = session.execute(update(Warehouse).where(Warehouse.id == wh.id, Warehouse.version == wh.version)
                          .values(cutoff_time=cut, business_days=days, handling_days=handling,
                                  version=Warehouse.version + 1)
                          .execution_options(synchronize_session=False))
    if res.rowcount != 1:  # type: ignore[attr-defined]
        race = StaleEdit(f"{where} was changed by someone else while you were saving; nothing was saved.")
        record_refusal(session, message=str(race), **refusal)
        raise race
    new_version = int(wh.version) + 1
    after = {"cutoff_time": cut.strftime("%H:%M"), "business_days": days, "handling_days": handling,
             "version": new_version}
    session.execute(insert(Decision).values(
        actor=viewer.username, action="warehouse_sla.set", entity_kind=SLA_ENTITY, entity_key=warehouse_code,
        before=json.dumps(before, sort_keys=True), after=json.dumps(after, sort_keys=True), why=why,
        outcome="applied", vendor_code=wh.operator_code))
    refresh(session)
    return new_version
