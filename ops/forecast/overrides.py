"""Planner overrides of a week's forecast, written through ``ops.decisions`` (audited, version-guarded).

An override is an entity state of kind ``forecast_override`` keyed ``"<SKU>@<Monday ISO date>"``:
state ``flagged`` while it applies, ``open`` once cleared; the note holds the adjustment in one of
two canonical forms, built only by :func:`override_change`:

- ``"+30%"`` / ``"-15%"``: the model's forecast for that week times (1 + percent / 100);
- ``"=120"``: a manual forecast of 120 units for that week.

The reason is required and stored as the decision's ``why`` (the audit row) and shown beside the
model's forecast. The owning supplier is looked up in the data (the product's supplier), so the
supplier sees the overrides of its own SKUs; vendors cannot set overrides (``ops.decisions.apply``
refuses them, audited). Stale edits are refused by version like every other state.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function, require_viewer
from ops.decisions import Change, ChangeSet, ValidationError, VendorRef, define_entity_kind, entity_states
from ops.models import Decision, Product, Supplier

OVERRIDE_KIND = "forecast_override"
OVERRIDE_COLUMNS = ["sku", "week", "kind", "value", "reason", "state", "version", "updated_by", "updated_at",
                    "entity_key"]
MAX_PCT = 500.0  # +500 % at most; -100 % is the floor (no negative demand)
MAX_UNITS = 1_000_000.0
_NOTE = re.compile(r"^(?:([+-]\d+(?:\.\d+)?)%|=(\d+(?:\.\d+)?))$")


def override_key(sku: str, week: dt.date) -> str:
    return f"{sku}@{week.isoformat()}"


def parse_key(key: str) -> tuple[str, dt.date]:
    sku, _, day = key.rpartition("@")
    return sku, dt.date.fromisoformat(day)


def override_owner(session: Session, key: str) -> VendorRef | None:
    """The supplier of the overridden SKU (looked up in the data)."""
    sku, _, _ = key.rpartition("@")
    code = session.scalar(select(Supplier.code).join(Product, Product.supplier_id == Supplier.id)
                          .where(Product.sku == sku))
    return VendorRef("supplier", code) if code else None


define_entity_kind(OVERRIDE_KIND, label="Forecast override", owner=override_owner, page="forecast")


def canonical_note(kind: str, value: Any) -> str:
    """``+30%`` or ``=120`` for a validated adjustment (raises :class:`ValidationError` with what is wrong)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"override value {value!r} is not a number") from None
    if not math.isfinite(v):
        raise ValidationError(f"override value {value!r} is not a finite number")
    if kind == "pct":
        if v < -100 or v > MAX_PCT:
            raise ValidationError(f"a percent override must be between -100 % and +{MAX_PCT:.0f} %, not {v:g} %")
        return f"{v:+g}%"
    if kind == "units":
        if v < 0 or v > MAX_UNITS:
            raise ValidationError(f"a manual forecast must be between 0 and {MAX_UNITS:,.0f} units, not {v:g}")
        return f"={v:g}"
    raise ValidationError(f"override kind {kind!r} must be 'pct' or 'units'")


def parse_note(note: str | None) -> tuple[str, float] | None:
    """(kind, value) of a canonical note, or None when it is not one."""
    m = _NOTE.match((note or "").strip())
    if not m:
        return None
    return ("pct", float(m.group(1))) if m.group(1) is not None else ("units", float(m.group(2)))


def override_change(*, sku: str, week: dt.date | str, kind: str, value: Any, reason: str,
                    expected_version: int = 0) -> ChangeSet:
    """The change set that sets (or replaces) the override of ``sku`` for ``week`` (a Monday).

    ``kind`` ``pct`` (``value`` percent, e.g. 30 for +30 %) or ``units`` (a manual forecast); the
    reason is required. Apply it with :func:`ops.decisions.apply` (``why`` is the reason; one audit
    row; the version guard refuses a stale edit). Raises :class:`ValidationError` naming what is wrong.
    """
    sku = str(sku or "").strip()
    if not sku:
        raise ValidationError("override: pick a SKU")
    day = _week(week)
    if not str(reason or "").strip():
        raise ValidationError(f"override of {sku} for the week of {day}: a reason is required")
    note = canonical_note(kind, value)
    key = override_key(sku, day)
    return ChangeSet(changes=(Change(OVERRIDE_KIND, key, "state", None, "flagged", int(expected_version)),
                              Change(OVERRIDE_KIND, key, "note", None, note, int(expected_version))),
                     why=str(reason).strip())


def clear_change(*, sku: str, week: dt.date | str, reason: str, expected_version: int) -> ChangeSet:
    """The change set that stops applying an override (state ``open``), with the reason."""
    day = _week(week)
    if not str(reason or "").strip():
        raise ValidationError(f"clearing the override of {sku} for the week of {day}: a reason is required")
    key = override_key(str(sku).strip(), day)
    return ChangeSet(changes=(Change(OVERRIDE_KIND, key, "state", None, "open", int(expected_version)),),
                     why=str(reason).strip())


def _week(week: dt.date | str) -> dt.date:
    try:
        day = week if isinstance(week, dt.date) else dt.date.fromisoformat(str(week).strip()[:10])
    except ValueError:
        raise ValidationError(f"override week {week!r} is not a date (use YYYY-MM-DD)") from None
    if day.weekday() != 0:
        raise ValidationError(f"override week {day} is not a Monday (forecast weeks start on Monday)")
    return day


@data_function
def overrides(session: Session, *, viewer: Viewer, skus: Sequence[str] | None = None,
              include_cleared: bool = False) -> pd.DataFrame:
    """Overrides the viewer may see (suppliers: their SKUs'), with the reason from the audit log:
    ``sku, week (date), kind (pct/units), value (float), reason, state, version, updated_by, updated_at``."""
    require_viewer(viewer)
    st = entity_states(session, viewer=viewer, entity_kind=OVERRIDE_KIND)
    if not include_cleared:
        st = st[st["state"] == "flagged"]
    rows = []
    for r in st.itertuples(index=False):
        sku, day = parse_key(str(r.entity_key))
        if skus is not None and sku not in set(skus):
            continue
        parsed = parse_note(r.note)
        rows.append({"sku": sku, "week": day, "kind": parsed[0] if parsed else None,
                     "value": parsed[1] if parsed else float("nan"), "state": r.state, "version": int(r.version),
                     "updated_by": r.updated_by, "updated_at": r.updated_at, "entity_key": r.entity_key})
    df = pd.DataFrame(rows, columns=[c for c in OVERRIDE_COLUMNS if c != "reason"])
    if df.empty:
        df["reason"] = pd.Series(dtype=object)
        return df[OVERRIDE_COLUMNS]
    keys = list(df["entity_key"])
    why = session.execute(select(Decision.entity_key, Decision.why, Decision.id)
                          .where(Decision.entity_kind == OVERRIDE_KIND, Decision.entity_key.in_(keys),
                                 Decision.outcome == "applied").order_by(Decision.id)).all()
    last = {k: w for k, w, _ in why}
    df["reason"] = df["entity_key"].map(last)
    df["value"] = df["value"].astype("float64")
    return df[OVERRIDE_COLUMNS].sort_values(["sku", "week"]).reset_index(drop=True)


def apply_overrides(forecast: pd.DataFrame, ovr: pd.DataFrame) -> pd.DataFrame:
    """``forecast`` (``sku, week, yhat, ...``) with ``override`` (the adjusted units, NaN where none),
    ``override_reason`` and ``final`` (the override where there is one, else ``yhat``)."""
    out = forecast.copy()
    out["override"] = float("nan")
    out["override_reason"] = None
    if ovr.empty or out.empty:
        out["final"] = out["yhat"]
        return out
    m = out.merge(ovr[["sku", "week", "kind", "value", "reason"]], on=["sku", "week"], how="left")
    pct = m["kind"] == "pct"
    units = m["kind"] == "units"
    adj = pd.Series(float("nan"), index=m.index)
    adj[pct] = m.loc[pct, "yhat"] * (1 + m.loc[pct, "value"] / 100.0)
    adj[units] = m.loc[units, "value"]
    out["override"] = adj.to_numpy()
    out["override_reason"] = m["reason"].where(m["kind"].notna(), None).to_numpy()
    out["final"] = out["override"].where(out["override"].notna(), out["yhat"])
    return out
