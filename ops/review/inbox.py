"""The exceptions inbox: every breached threshold the registered domains report, one list.

Each registered domain's ``headline()`` gives its top exceptions (``subject``, ``kind``,
``detail``, ``value_at_risk``); the inbox lists them all, for the domains the viewer may open, as
the viewer may see them (vendors: their own rows only, because each domain's headline is scoped
to the viewer). A new domain joins the inbox by registering a headline; nothing here changes.

Each item carries a review status (``new`` / ``acknowledged`` / ``assigned`` / ``resolved``),
its owner (the person it is assigned to) and a link: the domain's page with the query
parameters (``from``, ``to``, ``wh``) that show the row which raised it. A domain may give the
link's parameters itself in an optional ``link`` column of its exceptions (a dict of query
parameters); otherwise the warehouse codes named in the row become the ``wh`` parameter.

Status changes go through :func:`set_status`: managers and admins only (vendors are refused
and see the assignee as "your account manager"), refused when stale (the version read), one
audit row through ``ops.decisions.record`` in the caller's transaction, refusals audited too.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pandas as pd
from sqlalchemy import String, case, insert, literal, null, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ops import access
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
from ops.filters import Filters
from ops.models import ReviewItem, User, Warehouse

log = logging.getLogger(__name__)

ENTITY_KIND = "review_item"
STATUSES = ("new", "acknowledged", "assigned", "resolved")
OPEN_STATUSES = ("new", "acknowledged", "assigned")
WRITE_ROLES = ("admin", "manager")
INBOX_COLUMNS = ["item_key", "domain", "page", "kind", "subject", "detail", "value_at_risk", "status", "owner",
                 "note", "version", "updated_by", "updated_at", "link"]
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


def headlines(session: Session, viewer: Viewer, filters: Filters) -> tuple[list[tuple[Any, Any]], list[str]]:
    """``[(domain, headline)]`` of every registered domain with a headline the viewer may open, and the
    titles of those whose headline failed (logged): one broken page must not blank the whole review.

    Read through ``ops.headline_store``: a headline already computed at this data version for the
    viewer's scope and these filters is read, not computed again.
    """
    from ops import headline_store
    from ops.domain import load_domains

    doms = [d for d in load_domains().values() if d.headline is not None and viewer.may_open(d.id)]
    found, errors = headline_store.headlines(session, viewer, filters, doms)
    for d, exc in errors:
        log.error("weekly review: the %s headline failed", d.id, exc_info=exc)
    return list(found), [d.title for d, _ in errors]


EXCEPTION_WEEKS = 4  # a return or on-time rate needs volume: one week of a long-tail SKU says little


def exception_window(week: Any, filters: Filters | None = None) -> Filters:
    """The filters the review reads exceptions with: the :data:`EXCEPTION_WEEKS` weeks ending with
    ``week`` (an ``ops.review.week.Week``), with the warehouse and channel filters kept."""
    f = filters or Filters()
    return Filters(date_from=week.end - dt.timedelta(days=7 * EXCEPTION_WEEKS - 1), date_to=week.end,
                   warehouses=f.warehouses, channels=f.channels)


def item_key(domain: str, kind: str, subject: str) -> str:
    """The inbox key of one exception: ``<domain>|<kind>|<subject>`` (at most 200 characters)."""
    return f"{domain}|{kind}|{subject}"[:200]


def link_for(page: str, query: dict[str, str]) -> str:
    """The relative URL of ``page`` with ``query`` (what Streamlit's router and the sidebar read)."""
    q = {k: v for k, v in query.items() if v}
    return f"/{page}" + (f"?{urlencode(q)}" if q else "")


def _warehouse_codes(session: Session, viewer: Viewer) -> set[str]:
    return set(session.scalars(select(Warehouse.code).where(access.warehouse_condition(viewer))))


def _query_for(row: Any, codes: set[str], flt: Filters) -> dict[str, str]:
    q: dict[str, str] = {}
    if flt.date_from and flt.date_to:
        q["from"], q["to"] = flt.date_from.isoformat(), flt.date_to.isoformat()
    named = [t for t in _CODE.findall(f"{row.subject} {row.detail}") if t in codes]
    wh = list(dict.fromkeys(named)) or list(flt.warehouses)
    if wh:
        q["wh"] = ",".join(wh)
    if flt.channels:
        q["ch"] = ",".join(flt.channels)
    extra = getattr(row, "link", None)
    if isinstance(extra, dict):
        q.update({str(k): str(v) for k, v in extra.items()})
    return q


@data_function
def inbox(session: Session, *, viewer: Viewer, filters: Filters | None = None,
          include_resolved: bool = True) -> pd.DataFrame:
    """Every registered domain's headline exceptions the viewer may see, with review status and link.

    ``filters`` are passed to each domain's headline (its date range also goes into the links).

    Returns
    -------
    DataFrame
        item_key (str), domain (str: the domain's title), page (str: its page id), kind (str),
        subject (str), detail (str), value_at_risk (float64, NaN = not measured),
        status (str: new/acknowledged/assigned/resolved), owner (str or None: the assignee; for
        vendors an internal user reads "your account manager"), note (str or None),
        version (int64, 0 = never set), updated_by (str or None, as ``owner``),
        updated_at (datetime64[ns]), link (str: ``/<page>?from=..&to=..&wh=..``).
        Open items first (new, acknowledged, assigned), each group by value at risk.
        ``attrs["unavailable"]`` lists the pages whose headline could not be read (empty when all were).
    """
    require_viewer(viewer)
    flt = filters or Filters()
    codes = _warehouse_codes(session, viewer)
    rows: list[dict[str, Any]] = []
    found, failed = headlines(session, viewer, flt)
    for d, h in found:
        for r in h.exceptions.itertuples(index=False):
            rows.append({"item_key": item_key(d.id, str(r.kind), str(r.subject)), "domain": d.title, "page": d.id,
                         "kind": str(r.kind), "subject": str(r.subject), "detail": str(r.detail),
                         "value_at_risk": r.value_at_risk, "link": link_for(d.id, _query_for(r, codes, flt))})
    items = pd.DataFrame(rows, columns=["item_key", "domain", "page", "kind", "subject", "detail", "value_at_risk",
                                        "link"]).drop_duplicates("item_key")
    stored = _stored(session, viewer, list(items["item_key"]))
    df = items.merge(stored, on="item_key", how="left")
    df["status"] = df["status"].fillna("new").astype(object)
    df["version"] = pd.to_numeric(df["version"], errors="coerce").fillna(0).astype("int64")
    df["value_at_risk"] = pd.to_numeric(df["value_at_risk"], errors="coerce").astype("float64")
    df["updated_at"] = pd.to_datetime(df["updated_at"])
    for c in ("owner", "note", "updated_by"):
        df[c] = df[c].astype(object).where(df[c].notna(), None)
    order = df["status"].map({s: i for i, s in enumerate(("new", "acknowledged", "assigned", "resolved"))})
    df = df.assign(_o=(order == 3).astype(int), _v=-df["value_at_risk"].fillna(-np.inf))
    df = df.sort_values(["_o", "_v", "domain", "subject"], kind="stable").drop(columns=["_o", "_v"])
    if not include_resolved:
        df = df[df["status"] != "resolved"]
    out = df[INBOX_COLUMNS].reset_index(drop=True)
    out.attrs["unavailable"] = failed
    return out


def _actor(viewer: Viewer, column: Any) -> Any:
    """A username column as the viewer may read it (vendors: only their own account's names)."""
    if not viewer.is_vendor:
        return column
    own = select(User.username).where(User.role == "vendor", User.vendor_kind == viewer.vendor_kind,
                                      User.vendor_code == viewer.vendor_code)
    return case((column.is_(None), null()), (column == viewer.username, column), (column.in_(own), column),
                else_=literal(ACCOUNT_MANAGER, String))


def _stored(session: Session, viewer: Viewer, keys: list[str]) -> pd.DataFrame:
    cols = ["item_key", "status", "owner", "note", "version", "updated_by", "updated_at"]
    if not keys:
        return pd.DataFrame(columns=cols)
    t = ReviewItem
    stmt = select(t.item_key, t.status, _actor(viewer, t.assignee), t.note, t.version, _actor(viewer, t.updated_by),
                  t.updated_at).where(t.item_key.in_(keys))
    return pd.DataFrame(session.execute(stmt).all(), columns=cols)


@dataclass(frozen=True)
class ItemState:
    """The stored review state of one inbox item after a write."""

    item_key: str
    status: str
    assignee: str | None
    note: str | None
    version: int


def _assignee_ok(session: Session, name: str) -> bool:
    return session.scalar(select(User.id).where(User.username == name, User.active.is_(True),
                                                User.role != "vendor")) is not None


def set_status(session: Session, *, viewer: Viewer, item: str, status: str, assignee: str | None = None,
               note: str | None = None, expected_version: int | None = None, why: str | None = None) -> ItemState:
    """Set an inbox item's status (and owner), guarded by its version, with one audit row.

    ``status`` is one of :data:`STATUSES`; ``assigned`` needs ``assignee``, an active internal
    user (the owner); other statuses keep the current owner unless one is given. ``expected_version``
    is the version read (0 = the item had no state yet); None skips the staleness check.

    Raises ValidationError (bad status, key or owner), StaleEdit (the item changed since it was
    read; names who changed it and when) or AccessDenied (vendors, planners, inactive accounts),
    each audited with outcome ``refused``.
    """
    require_viewer(viewer)
    key = str(item or "").strip()
    why = clean_text(why).strip() or None if why else None
    text = clean_text(note).strip() or None if note else None
    owner = str(assignee or "").strip() or None
    audit: dict[str, Any] = {"viewer": viewer, "action": "review_item.set", "entity_kind": ENTITY_KIND,
                             "entity_key": key or "?", "why": why,
                             "attempted": {"status": status, "assignee": owner, "note": text,
                                           "expected_version": expected_version}}
    try:
        from ops.auth import require_active
        from ops.domain import load_domains

        require_active(session, viewer)
        if viewer.is_vendor or viewer.role not in WRITE_ROLES:
            raise AccessDenied(f"{viewer.username} ({viewer.role}) may not change the review status of {key}; "
                               f"needs one of: {', '.join(WRITE_ROLES)}")
        parts = key.split("|")
        if len(parts) < 3 or not all(parts[:3]) or len(key) > 200:
            raise ValidationError(f"{key!r} is not an inbox item (expected domain|kind|subject)")
        if parts[0] not in load_domains():
            raise ValidationError(f"inbox item {key}: no registered domain {parts[0]!r}")
        if status not in STATUSES:
            raise ValidationError(f"inbox item {key}: status {status!r} is not one of {', '.join(STATUSES)}")
        if text is not None and len(text) > MAX_NOTE_CHARS:
            raise ValidationError(f"inbox item {key}: the note is {len(text)} characters; "
                                  f"the limit is {MAX_NOTE_CHARS}")
        row = session.execute(select(ReviewItem).where(ReviewItem.item_key == key)
                              .execution_options(populate_existing=True)).scalar_one_or_none()
        if owner is None and row is not None:
            owner = row.assignee
        if status == "assigned" and owner is None:
            raise ValidationError(f"inbox item {key}: assigning needs an owner (a user name)")
        if owner is not None and not _assignee_ok(session, owner):
            raise ValidationError(f"inbox item {key}: {owner!r} is not an active internal user, so it cannot own it")
        current = 0 if row is None else int(row.version)
        before = None if row is None else {"status": row.status, "assignee": row.assignee, "note": row.note,
                                           "version": row.version}
        audit["before"] = before
        if expected_version is not None and int(expected_version) != current:
            when = f" at {row.updated_at:%Y-%m-%d %H:%M:%S}" if row is not None and row.updated_at else ""
            who = row.updated_by if row is not None else "someone"
            now_is = row.status if row is not None else "new"
            raise StaleEdit(f"inbox item {key} was changed by {who}{when} (now {now_is}) since you loaded it "
                            f"(you had version {expected_version}); nothing was saved. Reload and try again.",
                            changed_by=who, current=now_is, current_version=current)
    except (DecisionError, AccessDenied) as exc:
        record_refusal(session, message=str(exc), **audit)
        raise
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    values = {"status": status, "assignee": owner, "note": text, "updated_by": viewer.username, "updated_at": now}
    if row is None:
        try:
            with session.begin_nested():
                session.execute(insert(ReviewItem).values(item_key=key, version=1, **values))
        except IntegrityError:
            race = StaleEdit(f"inbox item {key} was changed by someone else while you were saving; nothing was saved.")
            record_refusal(session, message=str(race), **audit)
            raise race from None
        new_version = 1
    else:
        res = session.execute(update(ReviewItem).where(ReviewItem.id == row.id, ReviewItem.version == current)
                              .values(version=ReviewItem.version + 1, **values)
                              .execution_options(synchronize_session=False))
        if res.rowcount != 1:  # type: ignore[attr-defined]
            race = StaleEdit(f"inbox item {key} was changed by someone else while you were saving; nothing was saved.")
            record_refusal(session, message=str(race), **audit)
            raise race
        new_version = current + 1
    record(session, actor=viewer.username, action="review_item.set", entity_kind=ENTITY_KIND, entity_key=key,
           before=before, after={"status": status, "assignee": owner, "note": text, "version": new_version}, why=why)
    return ItemState(item_key=key, status=status, assignee=owner, note=text, version=new_version)


def assignable_users(session: Session) -> list[str]:
    """Usernames of active internal accounts (who may own an inbox item), sorted."""
    return sorted(session.scalars(select(User.username).where(User.active.is_(True), User.role != "vendor")))
