"""Vendors' comments and disputes on their scorecard, and the manager's answer (open / accepted / rejected).

A vendor disputes one of *its own* shipments (a carrier, by tracking number), PO lines (a supplier,
``<po_number>:<line id>``) or weeks (any vendor, ISO week ``2026-W41``), with a reason. The
manager accepts or rejects it (or reopens it), quoting the version read: a stale answer is refused
and names who answered since. An accepted shipment or PO-line dispute excludes that row from every
scorecard figure, in the same transaction (``refresh.apply_exclusion``), and the scorecards show
how many rows each figure excludes. A week dispute is a comment: accepting it records the answer.

Every write and every refused attempt leaves one audit row (``ops.decisions.record`` /
``record_refusal``) carrying the vendor's kind and code, so the vendor reads its own history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import String, and_, case, false, insert, literal, null, select, true, update
from sqlalchemy.orm import Session

from ops.access import AccessDenied, Viewer, data_function, require_viewer
from ops.decisions import (
    ACCOUNT_MANAGER,
    MAX_NOTE_CHARS,
    DecisionError,
    StaleEdit,
    ValidationError,
    clean_text,
    record,
    record_refusal,
)
from ops.models import Carrier, PurchaseOrder, PurchaseOrderLine, ScorecardDispute, Shipment, Supplier, Warehouse
from ops.scorecards.queries import parse_week, period, week_label
from ops.scorecards.refresh import apply_exclusion, po_line_key, shipment_facts, supplier_as_of, supplier_facts

ENTITY = "scorecard_dispute"
SUBJECTS = {"shipment": "carrier", "po_line": "supplier", "week": None}  # subject -> the vendor kind it belongs to
DISPUTE_STATES = ("open", "accepted", "rejected")
DISPUTE_COLUMNS = ["id", "vendor_kind", "vendor_code", "subject_kind", "subject_key", "week", "reason", "state",
                   "decision_note", "raised_by", "raised_at", "decided_by", "decided_at", "version"]


def _owner(session: Session, subject_kind: str, subject_key: str) -> tuple[str, str, dt.date | None] | None:
    """``(vendor_kind, vendor_code, week)`` of a shipment or PO line, read from the data (None: no such row)."""
    if subject_kind == "shipment":
        row = session.execute(select(Carrier.code, Shipment.shipped_at).join(Carrier, Carrier.id == Shipment.carrier_id)
                              .where(Shipment.tracking_number == subject_key)).first()
        return None if row is None else ("carrier", str(row[0]), parse_week(pd.Timestamp(row[1]).date())
                                         if row[1] is not None else None)
    if subject_kind == "po_line":
        po = session.execute(select(Supplier.code, PurchaseOrder.expected_on)
                              .select_from(PurchaseOrderLine)
                              .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.po_id)
                              .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
                             .where(po_line_key() == subject_key)).first()
        return None if po is None else ("supplier", str(po[0]), parse_week(po[1]))
    return None


def raise_dispute(session: Session, *, viewer: Viewer, subject_kind: str, subject_key: str, reason: str) -> int:
    """A vendor disputes (or comments on) one of its shipments, PO lines or weeks; returns the dispute id.

    Refused (audited): non-vendors, a subject that is not the vendor's (or does not exist), an
    empty or over-long reason, and a second open dispute on the same subject.
    """
    require_viewer(viewer)
    subject_kind = str(subject_kind or "").strip()
    subject_key = str(subject_key or "").strip()
    text = clean_text(str(reason or "")).strip()
    audit: dict[str, Any] = {"viewer": viewer, "action": "scorecard.dispute", "entity_kind": ENTITY,
                             "entity_key": f"{subject_kind}:{subject_key}"[:200],
                             "attempted": {"reason": text[:200]}}
    week: dt.date | None = None
    try:
        from ops.auth import require_active

        require_active(session, viewer)
        if not viewer.is_vendor:
            raise AccessDenied(f"{viewer.username} ({viewer.role}) is not a vendor: disputes are raised by vendors")
        if subject_kind not in SUBJECTS:
            raise ValidationError(f"dispute subject {subject_kind!r}: use one of {', '.join(SUBJECTS)}")
        if not text:
            raise ValidationError("a dispute needs a reason: say what is wrong and why")
        if len(text) > MAX_NOTE_CHARS:
            raise ValidationError(f"the reason is {len(text)} characters; the limit is {MAX_NOTE_CHARS}")
        if subject_kind == "week":
            try:
                monday = parse_week(subject_key)
            except ValueError as exc:
                raise ValidationError(str(exc)) from None
            if monday is None:
                raise ValidationError("a week dispute needs the week, e.g. 2026-W41")
            subject_key, week = week_label(monday), monday
        else:
            owner = _owner(session, subject_kind, subject_key)
            if owner is None or owner[:2] != (viewer.vendor_kind, viewer.vendor_code):
                # the same words whether it is another vendor's or does not exist: nothing to learn from it
                raise AccessDenied(f"{subject_kind.replace('_', ' ')} {subject_key!r} is not one of yours")
            week = owner[2]
        dup = session.scalar(select(ScorecardDispute.id).where(
            ScorecardDispute.vendor_kind == viewer.vendor_kind, ScorecardDispute.vendor_code == viewer.vendor_code,
            ScorecardDispute.subject_kind == subject_kind, ScorecardDispute.subject_key == subject_key,
            ScorecardDispute.state == "open"))
        if dup is not None:
            raise ValidationError(f"{subject_kind.replace('_', ' ')} {subject_key} already has an open dispute "
                                  f"(#{dup}); wait for the answer")
    except (DecisionError, AccessDenied) as exc:
        record_refusal(session, message=str(exc), **audit)
        raise
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    new_id = session.execute(insert(ScorecardDispute).values(
        vendor_kind=viewer.vendor_kind, vendor_code=viewer.vendor_code, subject_kind=subject_kind,
        subject_key=subject_key, week=week, reason=text, state="open", raised_by=viewer.username, raised_at=now,
        version=1).returning(ScorecardDispute.id)).scalar_one()
    record(session, actor=viewer.username, action="scorecard.dispute", entity_kind=ENTITY,
           entity_key=f"{subject_kind}:{subject_key}", before=None,
           after={"id": new_id, "state": "open", "reason": text, "version": 1},
           vendor_code=viewer.vendor_code, vendor_kind=viewer.vendor_kind)
    return int(new_id)


def decide_dispute(session: Session, *, viewer: Viewer, dispute_id: int, state: str, expected_version: int,
                   note: str | None = None) -> int:
    """A manager accepts, rejects or reopens dispute ``dispute_id`` read at ``expected_version``.

    Returns the new version.

    Accepting a shipment or PO-line dispute excludes that row from the scorecard in this
    transaction; leaving ``accepted`` puts it back. Refused (audited): vendors, planners, an
    unknown id or state, and a stale version (naming who answered since, and when).
    """
    require_viewer(viewer)
    note_text = clean_text(note).strip() or None if note else None
    audit: dict[str, Any] = {"viewer": viewer, "action": "scorecard.dispute.decide", "entity_kind": ENTITY,
                             "entity_key": f"#{dispute_id}",
                             "attempted": {"state": state, "note": note_text, "expected_version": expected_version}}
    try:
        from ops.auth import require_active

        require_active(session, viewer)
        if viewer.role not in ("manager", "admin"):
            raise AccessDenied(f"{viewer.username} ({viewer.role}) may not answer disputes; a manager does")
        if state not in DISPUTE_STATES:
            raise ValidationError(f"dispute #{dispute_id}: state {state!r} is not one of {', '.join(DISPUTE_STATES)}")
        if note_text is not None and len(note_text) > MAX_NOTE_CHARS:
            raise ValidationError(f"dispute #{dispute_id}: the note is {len(note_text)} characters; "
                                  f"the limit is {MAX_NOTE_CHARS}")
        row = session.execute(select(ScorecardDispute).where(ScorecardDispute.id == int(dispute_id))
                              .execution_options(populate_existing=True)).scalar_one_or_none()
        if row is None:
            raise ValidationError(f"dispute #{dispute_id} does not exist")
        audit["entity_key"] = f"{row.subject_kind}:{row.subject_key}"
        audit["vendor_code"], audit["vendor_kind"] = row.vendor_code, row.vendor_kind
        if int(row.version) != int(expected_version):
            by = row.decided_by or row.raised_by
            when = row.decided_at or row.raised_at
            raise StaleEdit(f"dispute #{dispute_id} was changed by {by} at {when:%Y-%m-%d %H:%M} (now {row.state}, "
                            f"version {row.version}; you read version {expected_version}); nothing was saved. "
                            "Reload and try again.", changed_by=by, changed_at=when, current=row.state,
                            current_version=row.version)
    except (DecisionError, AccessDenied) as exc:
        record_refusal(session, message=str(exc), **audit)
        raise
    before = {"state": row.state, "decision_note": row.decision_note, "version": row.version}
    old_state, kind, key = row.state, row.subject_kind, row.subject_key
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    res = session.execute(update(ScorecardDispute)
                          .where(ScorecardDispute.id == row.id, ScorecardDispute.version == int(expected_version))
                          .values(state=state, decision_note=note_text, decided_by=viewer.username, decided_at=now,
                                  version=ScorecardDispute.version + 1)
                          .execution_options(synchronize_session=False))
    if res.rowcount != 1:  # type: ignore[attr-defined]
        race = StaleEdit(f"dispute #{dispute_id} was changed by someone else while you were saving; nothing was "
                         "saved. Reload and try again.")
        record_refusal(session, message=str(race), **audit)
        raise race
    if old_state != "accepted" and state == "accepted":
        apply_exclusion(session, subject_kind=kind, subject_key=key, sign=-1)
    elif old_state == "accepted" and state != "accepted":
        apply_exclusion(session, subject_kind=kind, subject_key=key, sign=+1)
    new_version = int(expected_version) + 1
    record(session, actor=viewer.username, action="scorecard.dispute.decide", entity_kind=ENTITY,
           entity_key=f"{kind}:{key}", before=before,
           after={"state": state, "decision_note": note_text, "version": new_version},
           vendor_code=row.vendor_code, vendor_kind=row.vendor_kind)
    return new_version


def _scope(viewer: Viewer) -> Any:
    require_viewer(viewer)
    if not viewer.is_vendor:
        return true()
    if viewer.vendor_kind and viewer.vendor_code:
        return and_(ScorecardDispute.vendor_kind == viewer.vendor_kind,
                    ScorecardDispute.vendor_code == viewer.vendor_code)
    return false()


def _actor(viewer: Viewer, col: Any) -> Any:
    """Vendors read their own people's names and "your account manager" for ours."""
    if not viewer.is_vendor:
        return col
    return case((col.is_(None), null()), (col == viewer.username, col), (col.in_(
        select(ScorecardDispute.raised_by).where(_scope(viewer))), col), else_=literal(ACCOUNT_MANAGER, String))


@data_function
def disputes(session: Session, *, viewer: Viewer, state: str | None = None) -> pd.DataFrame:
    """Disputes the viewer may read (vendors: their own), newest first.

    Returns
    -------
    DataFrame
        ``id`` (int64), ``vendor_kind``, ``vendor_code``, ``subject_kind``, ``subject_key`` (str),
        ``week`` (date or None), ``reason`` (str), ``state`` (open/accepted/rejected),
        ``decision_note`` (str or None), ``raised_by`` (str), ``raised_at`` (datetime64),
        ``decided_by`` (str or None; vendors read "your account manager" for our people),
        ``decided_at`` (datetime64), ``version`` (int64).
    """
    d = ScorecardDispute
    stmt = select(d.id, d.vendor_kind, d.vendor_code, d.subject_kind, d.subject_key, d.week, d.reason, d.state,
                  d.decision_note, _actor(viewer, d.raised_by), d.raised_at, _actor(viewer, d.decided_by),
                  d.decided_at, d.version).where(_scope(viewer))
    if state:
        stmt = stmt.where(d.state == state)
    df = pd.DataFrame(session.execute(stmt.order_by(d.raised_at.desc(), d.id.desc())).all(), columns=DISPUTE_COLUMNS)
    for c in ("id", "version"):
        df[c] = df[c].astype("int64")
    for c in ("raised_at", "decided_at"):
        df[c] = pd.to_datetime(df[c])
    return df


@data_function
def excluded_shipments(session: Session, *, viewer: Viewer, week: Any = None, weeks: int = 13) -> pd.DataFrame:
    """Shipments of the period excluded by an accepted dispute, with their scorecard keys.

    Returns ``tracking_number``, ``carrier``, ``service``, ``lane`` (str), ``week`` (datetime64). A carrier
    reads its own; a 3PL those leaving its warehouses (it reads those carrier rows too); suppliers none.
    """
    require_viewer(viewer)
    cols = ["tracking_number", "carrier", "service", "lane", "week"]
    p = period(session, week=week, weeks=weeks)
    if p is None or (viewer.is_vendor and viewer.vendor_kind not in ("carrier", "warehouse")):
        return pd.DataFrame(columns=cols)
    d = ScorecardDispute
    found = select(d.subject_key).where(d.subject_kind == "shipment", d.state == "accepted")
    if viewer.is_kind("carrier"):
        found = found.where(_scope(viewer))
    keys = list(session.scalars(found))  # few: each one a manager accepted
    if not keys:
        return pd.DataFrame(columns=cols)
    f = shipment_facts(session.get_bind().dialect.name).add_columns(Shipment.tracking_number).where(
        Shipment.tracking_number.in_(keys)).subquery()
    stmt = select(f.c.tracking_number, f.c.carrier, f.c.service, f.c.lane, f.c.week).where(
        f.c.week >= p.start, f.c.week <= p.end)
    if viewer.is_kind("warehouse"):  # a 3PL sees the carriers' rows leaving its warehouses, so their exclusions
        operated = select(Warehouse.code).where(Warehouse.operator_code == viewer.vendor_code)
        stmt = stmt.where(f.c.warehouse.in_(operated))
    df = pd.DataFrame(session.execute(stmt).all(), columns=cols)
    df["week"] = pd.to_datetime(df["week"])
    return df


@data_function
def excluded_po_lines(session: Session, *, viewer: Viewer, week: Any = None, weeks: int = 13) -> pd.DataFrame:
    """PO lines of the period excluded by an accepted dispute: ``po_line`` (str), ``supplier`` (str), ``week``."""
    require_viewer(viewer)
    cols = ["po_line", "supplier", "week"]
    p = period(session, week=week, weeks=weeks)
    if p is None or (viewer.is_vendor and viewer.vendor_kind != "supplier"):
        return pd.DataFrame(columns=cols)
    d = ScorecardDispute
    keys = list(session.scalars(select(d.subject_key).where(d.subject_kind == "po_line", d.state == "accepted",
                                                           _scope(viewer))))
    if not keys:
        return pd.DataFrame(columns=cols)
    ids = [int(k.rpartition(":")[2]) for k in keys if k.rpartition(":")[2].isdigit()]
    f = supplier_facts(supplier_as_of(session)).add_columns(po_line_key().label("po_line")).where(
        PurchaseOrderLine.id.in_(ids), po_line_key().in_(keys)).subquery()
    df = pd.DataFrame(session.execute(select(f.c.po_line, f.c.supplier, f.c.week)
                                      .where(f.c.week >= p.start, f.c.week <= p.end)).all(), columns=cols)
    df["week"] = pd.to_datetime(df["week"])
    return df
