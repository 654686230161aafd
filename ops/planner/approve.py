"""Approving suggested orders: the edited lines become open purchase orders, audited, in one transaction.

The path (STYLE.md, "Write-back has one path")::

    data editor (suggested_qty shown, qty edited) -> approval_lines(...) -> approve(session, ...)
        -> purchase_orders + purchase_order_lines (status "open", created_by)
        -> one ``decisions`` row per PO (action ``planner.po.approve``), same transaction
        -> refresh_open_pos(...) of the SKUs ordered, same transaction: the Inventory page's open-PO
           figures change in the very commit that writes the POs (another app process rerunning
           between two commits would otherwise cache the page without them), and a failing refresh
           rolls the approval and its audit rows back with it

Rules
-----
- Only admins, managers and planners approve; the account must be active (``ops.auth.require_active``).
- **Stale approval**: the plan is recomputed from the database with the same policy; when a shown
  line's suggested quantity differs from what the planner was shown (a PO was received or
  placed, stock changed, the as-of day moved), nothing is written and :class:`ops.decisions.StaleEdit`
  names the lines that changed.
- **Idempotency**: the page sends a key made when the plan was shown; a second approval with the
  same key writes nothing and returns the POs of the first (``created=False``). The key is a unique
  column, so two concurrent presses cannot both write.
- Quantities: whole numbers >= 0; a positive quantity must reach the MOQ and be a whole number of
  case packs (the message names the SKU and the field). Lines at 0 are skipped.
- One PO per supplier x warehouse: ``ordered_on`` is the plan day (the data's as-of day),
  ``expected_on`` the plan day plus the longest lead time of its lines (rounded up).
- Every refusal is audited (``ops.decisions.record_refusal``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ops import decisions, fmt
from ops.access import AccessDenied, Viewer, require_role
from ops.decisions import StaleEdit, ValidationError
from ops.models import (
    AggInventoryPair,
    AggInventoryPo,
    PlannerApproval,
    PlannerSharedDraft,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    Warehouse,
)
from ops.planner import queries
from ops.planner.suggest import Policy, compute_plan, plan_token

APPROVE_ROLES = ("admin", "manager", "planner")
ACTION = "planner.po.approve"
SHARE_ACTION = "planner.draft.share"
ENTITY = "purchase_order"
LINE_COLUMNS = ["sku", "warehouse", "supplier", "suggested_qty", "qty"]
# Write functions take a viewer but change data; the isolation test calls read functions only.
WRITE_FUNCTIONS: tuple[str, ...] = ("approve", "share_draft")
REFRESH_CHUNK = 2_000  # SKUs per statement of refresh_open_pos (bound parameters stay far below limits)


@dataclass(frozen=True)
class ApprovalResult:
    """What an approval wrote: the PO numbers, lines and value; ``created`` False for a repeat."""

    po_numbers: tuple[str, ...]
    lines: int
    order_value: float
    created: bool
    pairs: tuple[tuple[int, int], ...] = ()


def _int_qty(value: Any, where: str) -> int:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"qty: {value!r} for {where} is not a number") from None
    if not math.isfinite(f) or f < 0 or f != math.floor(f):
        raise ValidationError(f"qty: {value!r} for {where} must be a whole number of units, 0 or more")
    return int(f)


def _plan_now(session: Session, viewer: Viewer, policy: Policy) -> pd.DataFrame:
    inputs = queries.planning_inputs(session, viewer=viewer)
    return compute_plan(inputs, queries.open_po_lines(session, viewer=viewer), policy=policy,
                        lead=queries.lead_times(session, viewer=viewer),
                        forecast=queries.forecast_demand(session, viewer=viewer))


def _refuse(session: Session, viewer: Viewer, exc: Exception, key: str, attempted: Any) -> Exception:
    decisions.record_refusal(session, viewer=viewer, action=ACTION, entity_kind="planner_approval",
                             entity_key=key, message=str(exc), attempted=attempted)
    return exc


def approve(session: Session, *, viewer: Viewer, lines: pd.DataFrame, policy: Policy, idempotency_key: str,
            why: str | None = None) -> ApprovalResult:
    """Write the approved lines as open POs with their audit rows, in the caller's transaction.

    ``lines`` has :data:`LINE_COLUMNS`: the sku, warehouse and supplier of each line, the
    ``suggested_qty`` the planner was shown and the ``qty`` to order (edited). Raises
    :class:`ValidationError`, :class:`StaleEdit` or ``AccessDenied`` (all audited); the caller
    must roll back. The open-PO aggregates of the SKUs ordered are refreshed here, in the same
    transaction (:func:`refresh_open_pos`). Returns :class:`ApprovalResult`.
    """
    key = str(idempotency_key or "").strip()[:64]
    attempted = {"lines": int(len(lines)), "key": key}
    try:
        require_role(viewer, *APPROVE_ROLES)
        decisions._require_active(session, viewer)  # noqa: SLF001 - the one account check every write uses
    except AccessDenied as exc:
        raise _refuse(session, viewer, exc, key or "-", attempted) from None
    if not key:
        raise _refuse(session, viewer, ValidationError("idempotency_key: an approval needs its key"), "-", attempted)
    done = session.scalar(select(PlannerApproval).where(PlannerApproval.idempotency_key == key))
    if done is not None:
        return ApprovalResult(tuple(json.loads(done.po_numbers)), done.lines, done.order_value, created=False)
    missing = [c for c in LINE_COLUMNS if c not in lines.columns]
    if missing:
        raise _refuse(session, viewer, ValidationError(f"lines: columns {missing} are missing"), key, attempted)

    shown = lines.reset_index(drop=True)
    labels = (shown["sku"].astype(str) + " in " + shown["warehouse"].astype(str)).tolist()
    try:
        qty = [_int_qty(v, w) for v, w in zip(shown["qty"], labels, strict=True)]
        shown_suggested = [_int_qty(v, w) for v, w in zip(shown["suggested_qty"], labels, strict=True)]
    except ValidationError as exc:
        raise _refuse(session, viewer, exc, key, attempted) from None
    now_plan = _plan_now(session, viewer, policy)
    idx = now_plan.set_index(["sku", "warehouse"])
    changed, unknown = [], []
    for (sku, wh), want in zip(zip(shown["sku"].astype(str), shown["warehouse"].astype(str), strict=True),
                               shown_suggested, strict=True):
        if (sku, wh) not in idx.index:
            unknown.append(f"{sku} in {wh}")
        elif int(idx.at[(sku, wh), "suggested_qty"]) != want:
            now = int(idx.at[(sku, wh), "suggested_qty"])
            changed.append(f"{sku} in {wh} ({fmt.count(want)} shown, {fmt.count(now)} now)")
    if unknown:
        err = ValidationError(f"sku: {', '.join(unknown[:5])} not in the plan (or not yours to plan)")
        raise _refuse(session, viewer, err, key, attempted)
    if changed:
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        stale = StaleEdit(f"The suggested quantities changed since they were shown: {', '.join(changed[:5])}{more}. "
                          "Nothing was ordered; review the refreshed plan and approve again.")
        raise _refuse(session, viewer, stale, key, attempted)

    picked = idx.loc[list(zip(shown["sku"].astype(str), shown["warehouse"].astype(str), strict=True))].reset_index()
    picked["qty"] = qty
    problems = []
    for r in picked.itertuples(index=False):
        if r.qty > 0 and (r.qty < r.moq or r.qty % r.case_pack):
            problems.append(f"{r.sku} in {r.warehouse}: {fmt.count(r.qty)} (MOQ {fmt.count(r.moq)}, "
                            f"case pack {fmt.count(r.case_pack)})")
    if problems:
        err = ValidationError("qty: an ordered quantity must reach the MOQ and be whole case packs: "
                              + "; ".join(problems[:5]))
        raise _refuse(session, viewer, err, key, attempted)
    token = plan_token(picked, policy, now_plan.attrs.get("as_of"))  # what was shown, as it checked out
    picked = picked[picked["qty"] > 0]
    if picked.empty:
        raise _refuse(session, viewer, ValidationError("qty: every quantity is 0: there is nothing to order"),
                      key, attempted)
    as_of = now_plan.attrs.get("as_of") or dt.date.today()

    approval = PlannerApproval(idempotency_key=key, plan_token="", approved_by=viewer.username[:100],
                               po_numbers="[]", lines=0, order_value=0.0)
    session.add(approval)
    try:
        session.flush()  # claims the key first: a concurrent duplicate fails here, before any PO
    except IntegrityError:
        raise StaleEdit("This approval was already submitted.") from None

    sup_ids = dict(session.execute(select(Supplier.code, Supplier.id)).all())
    wh_ids = dict(session.execute(select(Warehouse.code, Warehouse.id)).all())
    numbers: list[str] = []
    total = 0.0
    pairs: list[tuple[int, int]] = []
    for n, ((sup, wh), grp) in enumerate(picked.groupby(["supplier", "warehouse"], sort=True), start=1):
        if sup not in sup_ids:
            err = ValidationError(f"supplier: {', '.join(grp['sku'])} in {wh} have no supplier to order from")
            raise _refuse(session, viewer, err, key, attempted)
        po_number = f"PO-{as_of:%y%m%d}-{approval.id:05d}-{n:02d}"
        lead = int(math.ceil(float(grp["lead_time_days"].max())))
        po_id = session.execute(insert(PurchaseOrder).values(
            po_number=po_number, supplier_id=sup_ids[sup], warehouse_id=wh_ids[wh], status="open",
            ordered_on=as_of, expected_on=as_of + dt.timedelta(days=lead), created_by=viewer.username[:100],
        ).returning(PurchaseOrder.id)).scalar_one()
        rows = [{"po_id": po_id, "product_id": int(r.product_id), "qty_ordered": int(r.qty), "qty_received": 0,
                 "unit_cost": float(r.unit_cost)} for r in grp.itertuples(index=False)]
        session.execute(insert(PurchaseOrderLine), rows)
        value = float((grp["qty"] * grp["unit_cost"]).sum())
        total += value
        numbers.append(po_number)
        pairs += [(int(r.product_id), int(r.warehouse_id)) for r in grp.itertuples(index=False)]
        decisions.record(
            session, actor=viewer.username, action=ACTION, entity_kind=ENTITY, entity_key=po_number,
            before=None,
            after={"supplier": sup, "warehouse": wh, "status": "open", "order_value": round(value, 2),
                   "lines": [{"sku": r.sku, "qty": int(r.qty), "suggested_qty": int(r.suggested_qty)}
                             for r in grp.itertuples(index=False)]},
            why=why, vendor_code=sup, vendor_kind="supplier")
    session.execute(update(PlannerApproval).where(PlannerApproval.id == approval.id).values(
        plan_token=token, po_numbers=json.dumps(numbers), lines=len(pairs), order_value=total))
    refresh_open_pos(session, pairs)
    return ApprovalResult(tuple(numbers), len(pairs), total, created=True, pairs=tuple(pairs))


def refresh_open_pos(session: Session, pairs: tuple[tuple[int, int], ...] | list[tuple[int, int]]) -> None:
    """Bring the inventory aggregates' open-PO figures up to date for the SKUs of ``pairs`` (product
    id, warehouse id), in every warehouse: the same definitions as ``ops.inventory.refresh`` (open
    POs, units not yet received, ordered on or before the as-of day), so an approval shows on the
    Inventory page at once without rebuilding every aggregate.

    Set-based, by SKU (a few statements per 2,000 SKUs, whatever the number of lines): the SKUs'
    ``agg_inventory_po`` rows are rebuilt from the PO tables, then their pairs' ``on_order`` and
    ``next_po`` recomputed from those rows (index seeks on ``ix_agg_inventory_po_pair``).
    """
    products = sorted({int(p) for p, _ in pairs})
    if not products:
        return
    as_of = session.scalar(select(AggInventoryPair.as_of).limit(1))
    if as_of is None:
        return
    if isinstance(as_of, str):
        as_of = dt.date.fromisoformat(as_of)
    P, A = AggInventoryPo, AggInventoryPair
    qty_open = PurchaseOrderLine.qty_ordered - PurchaseOrderLine.qty_received
    mine = and_(P.product_id == A.product_id, P.warehouse_id == A.warehouse_id)
    bulk = {"synchronize_session": False}  # no ORM objects of these tables are loaded in the session
    for i in range(0, len(products), REFRESH_CHUNK):
        chunk = products[i:i + REFRESH_CHUNK]
        session.execute(delete(P).where(P.product_id.in_(chunk)).execution_options(**bulk))
        session.execute(insert(P).from_select(
            ["product_id", "warehouse_id", "po_number", "ordered_on", "expected_on", "qty_open"],
            select(PurchaseOrderLine.product_id, PurchaseOrder.warehouse_id, PurchaseOrder.po_number,
                   PurchaseOrder.ordered_on, PurchaseOrder.expected_on, qty_open)
            .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.po_id)
            .where(PurchaseOrder.status == "open", qty_open > 0, PurchaseOrder.ordered_on <= as_of,
                   PurchaseOrderLine.product_id.in_(chunk))))
        session.execute(update(A).where(A.product_id.in_(chunk)).values(
            on_order=func.coalesce(select(func.sum(P.qty_open)).where(mine).scalar_subquery(), 0),
            next_po=select(func.min(P.expected_on)).where(mine).scalar_subquery()).execution_options(**bulk))


def share_draft(session: Session, *, viewer: Viewer, supplier: str, warehouse: str, lines: pd.DataFrame,
                why: str | None = None) -> int:
    """Share one draft PO (its lines: sku, qty, unit_cost, expected_on) with its supplier, replacing
    what was shared before for that supplier x warehouse; managers and admins only; audited once.
    Returns the number of lines shared."""
    share_key = f"{supplier}|{warehouse}"[:100]
    try:
        require_role(viewer, "admin", "manager")
        decisions._require_active(session, viewer)  # noqa: SLF001
    except AccessDenied as exc:
        decisions.record_refusal(session, viewer=viewer, action=SHARE_ACTION, entity_kind="planner_draft",
                                 entity_key=share_key, message=str(exc))
        raise
    sup_id = session.scalar(select(Supplier.id).where(Supplier.code == supplier))
    wh_id = session.scalar(select(Warehouse.id).where(Warehouse.code == warehouse))
    if sup_id is None or wh_id is None:
        raise ValidationError(f"supplier/warehouse: {supplier} / {warehouse} is not known")
    prods = dict(session.execute(select(Product.sku, Product.id).where(
        Product.sku.in_(lines["sku"].astype(str).tolist()), Product.supplier_id == sup_id)).all())
    foreign = sorted(set(lines["sku"].astype(str)) - set(prods))
    if foreign:
        raise ValidationError(f"sku: {', '.join(foreign[:5])} are not supplied by {supplier}")
    before = session.scalar(select(func.count()).select_from(PlannerSharedDraft)
                            .where(PlannerSharedDraft.share_key == share_key))
    session.execute(delete(PlannerSharedDraft).where(PlannerSharedDraft.share_key == share_key))
    rows = [{"share_key": share_key, "supplier_id": sup_id, "warehouse_id": wh_id, "product_id": prods[str(r.sku)],
             "qty": _int_qty(r.qty, str(r.sku)), "unit_cost": float(r.unit_cost),
             "expected_on": None if pd.isna(r.expected_on) else pd.Timestamp(r.expected_on).date(),
             "shared_by": viewer.username[:100]} for r in lines.itertuples(index=False)]
    if rows:
        session.execute(insert(PlannerSharedDraft), rows)
    decisions.record(session, actor=viewer.username, action=SHARE_ACTION, entity_kind="planner_draft",
                     entity_key=share_key, before={"lines": int(before or 0)},
                     after={"lines": len(rows), "skus": sorted(set(lines["sku"].astype(str)))[:50]},
                     why=why, vendor_code=supplier, vendor_kind="supplier")
    return len(rows)


__all__ = ["ACTION", "APPROVE_ROLES", "ApprovalResult", "LINE_COLUMNS", "WRITE_FUNCTIONS", "approve",
           "refresh_open_pos", "share_draft"]
