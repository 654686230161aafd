"""Actions on the priority list and names of comment themes, written through ``ops.decisions``.

An **action** is an entity of kind :data:`ACTION_KIND` keyed ``sku:<SKU>``: its ``state`` is the
status (open = to do, acknowledged = in progress, flagged = blocked, snoozed = parked until a
day) and its ``note`` holds the chosen action and the person who owns it, as JSON
(``{"action": "size_chart", "owner": "maria", "note": "..."}``). The kind's owner rule reads
the SKU's supplier from the data, so the supplier can answer (``ops.decisions.respond``) and sees
only its own SKUs' actions. A **theme name** is an entity of kind :data:`THEME_KIND` keyed
``theme:<run>:<n>`` whose note holds ``{"name": ..., "reason_code": ...}``.

The page never writes itself: :func:`action_change` / :func:`theme_change` turn a form into a
validated :class:`~ops.decisions.ChangeSet` for :func:`ops.decisions.apply` (one transaction, one
audit row per row, a stale version refused with who changed it and when).
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function, require_viewer
from ops.decisions import STATES, Change, ChangeSet, ValidationError, VendorRef, entity_states
from ops.models import Product, Supplier
from ops.returns.metrics import ACTION_KIND, ACTIONS, THEME_KIND

ACTION_COLUMNS = ["key", "action", "owner", "status", "version"]
STATUS_LABELS = {"open": "To do", "acknowledged": "In progress", "flagged": "Blocked", "snoozed": "Parked"}
MAX_OWNER_CHARS = 100
MAX_NAME_CHARS = 80


def action_key(sku: str) -> str:
    return f"sku:{sku}"


def theme_key(run_id: int, theme_no: int) -> str:
    return f"theme:{int(run_id)}:{int(theme_no)}"


def action_owner(session: Session, key: str) -> VendorRef | None:
    """Owner rule of :data:`ACTION_KIND`: the supplier of the SKU named by the key, read from the data."""
    if not key.startswith("sku:"):
        return None
    code = session.scalar(select(Supplier.code).join(Product, Product.supplier_id == Supplier.id)
                          .where(Product.sku == key[4:]))
    return VendorRef("supplier", code) if code else None


def parse_note(note: Any) -> dict[str, Any]:
    """The JSON object stored in an action's or theme's note ({} when empty or not JSON)."""
    if not isinstance(note, str) or not note.strip():
        return {}
    try:
        found = json.loads(note)
    except ValueError:
        return {"note": note}
    return found if isinstance(found, dict) else {}


def action_change(*, sku: str, action: str, owner: str, status: str, expected_version: int,
                  note: str = "") -> ChangeSet:
    """The change set that sets the action, owner and status of ``sku``'s priority row.

    Raises :class:`~ops.decisions.ValidationError` naming the bad field.
    """
    sku = str(sku or "").strip()
    if not sku:
        raise ValidationError("action: pick a SKU from the priority list")
    if action not in ACTIONS:
        raise ValidationError(f"action for {sku}: {action!r} is not one of {', '.join(ACTIONS)}")
    owner = str(owner or "").strip()
    if not owner:
        raise ValidationError(f"action for {sku}: name who owns it")
    if len(owner) > MAX_OWNER_CHARS:
        raise ValidationError(f"action for {sku}: the owner is {len(owner)} characters; the limit is "
                              f"{MAX_OWNER_CHARS}")
    if status not in STATES or status == "snoozed":
        raise ValidationError(f"action for {sku}: status {status!r} is not one of open, acknowledged, flagged")
    body = {"action": action, "owner": owner}
    if note.strip():
        body["note"] = note.strip()
    key = action_key(sku)
    return ChangeSet(changes=(
        Change(ACTION_KIND, key, "state", None, status, int(expected_version)),
        Change(ACTION_KIND, key, "note", None, json.dumps(body, sort_keys=True), int(expected_version))))


def theme_change(*, run_id: int, theme_no: int, name: str, reason_code: str, expected_version: int) -> ChangeSet:
    """The change set that names theme ``theme_no`` of run ``run_id`` and maps it to a reason code."""
    name = str(name or "").strip()
    if not name:
        raise ValidationError(f"theme {theme_no}: give it a name")
    if len(name) > MAX_NAME_CHARS:
        raise ValidationError(f"theme {theme_no}: the name is {len(name)} characters; the limit is {MAX_NAME_CHARS}")
    body = {"name": name, "reason_code": str(reason_code or "").strip() or None}
    key = theme_key(run_id, theme_no)
    return ChangeSet(changes=(
        Change(THEME_KIND, key, "state", None, "acknowledged", int(expected_version)),
        Change(THEME_KIND, key, "note", None, json.dumps(body, sort_keys=True), int(expected_version))))


def _with_actions(session: Session, *, viewer: Viewer, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (with a ``sku`` column) plus :data:`ACTION_COLUMNS` from the stored action states."""
    require_viewer(viewer)
    states = entity_states(session, viewer=viewer, entity_kind=ACTION_KIND)
    by_key = {str(k): (s, n, int(v)) for k, s, n, v in zip(states["entity_key"], states["state"], states["note"],
                                                           states["version"], strict=True)}
    out = frame.copy()
    out["key"] = [action_key(s) for s in out["sku"]]
    found = [by_key.get(k, ("open", None, 0)) for k in out["key"]]
    notes = [parse_note(n) for _, n, _ in found]
    out["action"] = pd.Series([ACTIONS.get(n.get("action", ""), "") for n in notes], index=out.index, dtype=object)
    out["owner"] = pd.Series([n.get("owner", "") for n in notes], index=out.index, dtype=object)
    out["status"] = pd.Series([STATUS_LABELS.get(s, s) for s, _, _ in found], index=out.index, dtype=object)
    out["version"] = pd.Series([v for _, _, v in found], index=out.index, dtype="int64")
    return out


@data_function
def theme_names(session: Session, *, viewer: Viewer) -> pd.DataFrame:
    """Names and reason codes given to themes (internal users only; vendors get no rows).

    Returns
    -------
    DataFrame with ``key`` (str), ``run_id``, ``theme_no`` (int64), ``name``, ``reason_code``
    (str or None), ``version`` (int64).
    """
    require_viewer(viewer)
    cols = ["key", "run_id", "theme_no", "name", "reason_code", "version"]
    if viewer.is_vendor:
        return pd.DataFrame(columns=cols).astype({"run_id": "int64", "theme_no": "int64", "version": "int64"})
    states = entity_states(session, viewer=viewer, entity_kind=THEME_KIND)
    rows = []
    for k, n, v in zip(states["entity_key"], states["note"], states["version"], strict=True):
        parts = str(k).split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            continue
        body = parse_note(n)
        rows.append({"key": k, "run_id": int(parts[1]), "theme_no": int(parts[2]), "name": body.get("name"),
                     "reason_code": body.get("reason_code"), "version": int(v)})
    return pd.DataFrame(rows, columns=cols).astype({"run_id": "int64", "theme_no": "int64", "version": "int64"})
