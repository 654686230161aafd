"""Every write-back: thresholds, entity states, annotations, generic change sets, and the audit log.

The one path for a write (STYLE.md, "Write-back has one path")::

    editor state -> ui.editor.change_set_from_editor -> ChangeSet
                 -> ops.decisions.apply(session, changes, viewer=...)   (one transaction)

Invariants
----------
- Every applied write action adds exactly one ``decisions`` row in the caller's transaction
  (the same session): no change without its row, no row without its change.
- Every refused attempt (:class:`ValidationError`, :class:`StaleEdit`, :class:`AccessDenied`)
  is audited too, with ``outcome='refused'``. The caller's transaction rolls back when the
  exception propagates, so the refusal row cannot live in it: it is queued on the session and
  written in a transaction of its own as soon as the caller's outermost transaction ends
  (committed or rolled back). On SQLite the caller's ``BEGIN IMMEDIATE`` holds the write lock
  until then, so writing it earlier from a second connection would wait on ourselves.
- Optimistic concurrency: writes carry the version the user read (``expected_version``; ``0``
  means "the row did not exist"). Updates are guarded in SQL
  (``UPDATE ... SET version = version + 1 WHERE id = :id AND version = :expected``) and the
  rowcount is checked; inserts rely on the table's unique constraint, an ``IntegrityError``
  becomes :class:`StaleEdit`. A stale edit is refused and names who changed the row and when.
- Vendors never set thresholds and never change the state (open/acknowledged/snoozed/flagged),
  note or snooze date of an entity: those are the manager's. A vendor *responds* instead
  (:func:`respond`, e.g. "PO confirmed for the 24th"): the response is stored on the entity's
  state row (``vendor_note``), shown to the manager beside the exception, and audited like any
  write. Vendors respond only for entity kinds whose owner can be derived
  (``define_entity_kind(..., owner=...)``) and only on rows they own.
- Ownership comes from the data, never from the key or the stored row: every write asks the
  kind's ``owner(session, key)`` rule, which must look the entity up in the database and return
  a :class:`VendorRef` ``(kind, code)``. A vendor may write only when that pair equals its own
  ``(vendor_kind, vendor_code)``: a carrier ``ARC`` is not the supplier ``ARC``. A rule that
  returns a bare code (it cannot say where it read it) is not trusted for vendors' writes; for
  internal users' writes its kind is inferred when the code belongs to exactly one vendor kind.
  The stored row's owner is rewritten from the rule on every write.
- Every write checks the account behind the viewer (``ops.auth.require_active``): a deactivated
  account, or one whose role or vendor scope changed since sign-in, is refused and audited, even
  from a session opened before the change.
- Text from people (notes, responses, reasons, annotations) is stored through
  :func:`clean_text`: no control characters but newline and tab.
- Plausible ranges: a threshold value inside its hard bounds but outside its plausible range
  (``ThresholdDef.plausible``, e.g. a low-cover warning of 99,999 days) is saved only with
  ``confirm=True``; without it :class:`NeedsConfirmation` carries the question to ask.

Who reads what
--------------
- ``audit_log``: admins, managers and planners read every row; vendors only rows carrying
  their ``vendor_kind`` and ``vendor_code``: their own attempts, and applied changes to rows
  they own (not the refused attempts of internal users, whose messages may name internal people).
  A row written without a kind (older rows, other modules' audit rows) is read by the vendor
  whose code it carries only when that code belongs to no other vendor kind.
- ``thresholds_for`` / ``threshold``: everyone; vendors see global rows and the overrides keyed
  by their own scope (their carrier/supplier code, the warehouses they operate, their SKUs and
  the categories of those SKUs), never another vendor's override.
- ``entity_states``: vendors see rows with their ``vendor_kind`` and ``vendor_code`` (the
  same rule for rows without a kind); everyone else all rows.
- Vendors never see an internal username: wherever a vendor reads who did something
  (``updated_by``, the audit ``actor``, a threshold's source), anyone who is not a user of the
  vendor's own account reads as "your account manager".
- ``annotations``: internal notes; vendors see none and may not add any.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    String,
    and_,
    case,
    event,
    exists,
    false,
    insert,
    literal,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ops.access import (
    AccessDenied,
    Viewer,
    data_function,
    require_role,
    require_viewer,
)
from ops.exports import register
from ops.filters import Filters
from ops.models import (
    SCOPE_KINDS,
    VENDOR_KINDS,
    Annotation,
    Carrier,
    Decision,
    EntityState,
    Product,
    Supplier,
    Threshold,
    User,
    Warehouse,
)

__all__ = [
    "AccessDenied",
    "Change",
    "ChangeSet",
    "DecisionError",
    "EffectiveThreshold",
    "EntityKindDef",
    "ENTITY_KINDS",
    "NeedsConfirmation",
    "VENDOR_EDITABLE",
    "STATES",
    "StaleEdit",
    "StateRecord",
    "THRESHOLDS",
    "ThresholdDef",
    "ValidationError",
    "VendorRef",
    "add_annotation",
    "annotations",
    "apply",
    "audit_log",
    "clean_text",
    "define_entity_kind",
    "define_threshold",
    "entity_states",
    "parse_threshold_key",
    "plausibility_question",
    "plausible_range",
    "record_refusal",
    "resolve",
    "respond",
    "resolve_frame",
    "set_entity_state",
    "set_threshold",
    "threshold",
    "threshold_key",
    "threshold_table",
    "thresholds_for",
]

log = logging.getLogger(__name__)

# Most specific first: the first stored value found along this order wins.
SCOPE_PRECEDENCE: tuple[str, ...] = ("sku", "category", "supplier", "carrier", "warehouse", "global")
STATES = ("open", "acknowledged", "snoozed", "flagged")
THRESHOLD_ENTITY = "threshold"
MAX_NOTE_CHARS = 2000
MAX_KEY_CHARS = 200
AUDIT_LIMIT = 5000
# What a vendor reads instead of an internal username (RELIABILITY: vendors never learn who inside).
ACCOUNT_MANAGER = "your account manager"
# The one entity-state field a vendor writes (through :func:`respond`); the rest are the manager's.
VENDOR_EDITABLE = ("vendor_note",)
STATE_FIELDS = ("state", "note", "snooze_until")
_PENDING_REFUSALS = "ops_decisions_pending_refusals"

# Write functions take a viewer but change data; the isolation test calls read functions only.
WRITE_FUNCTIONS: tuple[str, ...] = (
    "set_threshold",
    "set_entity_state",
    "respond",
    "add_annotation",
    "apply",
    "record_refusal",
)


# --- errors ---------------------------------------------------------------------------------


class DecisionError(Exception):
    """Base class of refused write-backs; the message is shown to the user as is."""


class ValidationError(DecisionError, ValueError):
    """The input is not acceptable (unknown name, text in a number, out of range, bad scope...)."""


class NeedsConfirmation(DecisionError):
    """The value is valid but outside its plausible range: nothing was saved; ask, then retry with confirm.

    ``question`` (also the message) is what to ask the user; ``name``, ``value`` and
    ``plausible`` say which threshold, the value given and the usual range.
    """

    def __init__(self, question: str, *, name: str, value: float, plausible: tuple[float, float]) -> None:
        super().__init__(question)
        self.question = question
        self.name = name
        self.value = value
        self.plausible = plausible


class StaleEdit(DecisionError):
    """The row changed since it was read; nothing was overwritten.

    ``changed_by``/``changed_at`` say who made the newer change and when; ``current`` holds the
    stored value and ``current_version`` its version.
    """

    def __init__(
        self,
        message: str,
        *,
        changed_by: str | None = None,
        changed_at: dt.datetime | None = None,
        current: Any = None,
        current_version: int | None = None,
    ) -> None:
        super().__init__(message)
        self.changed_by = changed_by
        self.changed_at = changed_at
        self.current = current
        self.current_version = current_version


# --- text from people, and the account behind every write -------------------------------------

# C0 controls except tab (U+0009) and newline (U+000A), DEL, and the C1 controls.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(value: str) -> str:
    """Text from a person as it is stored: without control characters, newline and tab kept.

    The rule: ``\\r\\n`` and a lone ``\\r`` become ``\\n``; every other C0 control
    character (U+0000-U+001F except tab U+0009 and newline U+000A), DEL (U+007F) and the C1
    controls (U+0080-U+009F) are removed. Nothing else changes (no trimming here). A note
    ``"\\x01=HYPERLINK(...)"`` is stored as ``"=HYPERLINK(...)"``, which every export then
    neutralises as a formula; stored clean, no later normalisation can turn it into one.
    """
    return _CONTROL_CHARS.sub("", str(value).replace("\r\n", "\n").replace("\r", "\n"))


def _clean_opt(value: Any) -> str | None:
    """:func:`clean_text` for an optional text (None and NaN stay None)."""
    if value is None or _missing(value):
        return None
    return clean_text(value)


def _require_active(session: Session, viewer: Viewer) -> None:
    """Raise AccessDenied when the viewer's account is deactivated (or changed since sign-in).

    ``ops.auth.require_active`` is the rule; viewers without a users row (``system``, the command
    line) pass there, as here.
    """
    from ops.auth import require_active  # ops.auth is heavier (argon2); only writes need it

    require_active(session, viewer)


# --- threshold registry ---------------------------------------------------------------------


@dataclass(frozen=True)
class ThresholdDef:
    """A named, typed threshold: its unit, default, bounds, where it may be set and by whom.

    ``min``/``max`` are hard bounds (a value outside is refused); ``plausible`` is the range of
    values people actually use (a value outside needs an explicit confirmation).
    """

    name: str
    label: str
    unit: str
    default: float
    min: float | None = None
    max: float | None = None
    scopes: tuple[str, ...] = ("global",)
    roles: tuple[str, ...] = ("manager", "admin")
    page: str = ""
    help: str = ""
    plausible: tuple[float, float] | None = None


class _ThresholdRegistry(dict[str, ThresholdDef]):
    """Threshold definitions by name. Each domain defines its own in its package (ops.domain);
    reading the registry imports the domain packages first, so every definition is there."""

    _loading = False

    def _load(self) -> None:
        if _ThresholdRegistry._loading:
            return
        _ThresholdRegistry._loading = True
        try:
            from ops.domain import load_domains

            load_domains()
        finally:
            _ThresholdRegistry._loading = False

    def __getitem__(self, key: str) -> ThresholdDef:
        if not dict.__contains__(self, key):
            self._load()
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        if not dict.__contains__(self, key):
            self._load()
        return dict.get(self, key, default)

    def __contains__(self, key: object) -> bool:
        if not dict.__contains__(self, key):
            self._load()
        return dict.__contains__(self, key)

    def __iter__(self) -> Iterator[str]:
        self._load()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._load()
        return dict.__len__(self)

    def values(self) -> Any:
        self._load()
        return dict.values(self)

    def items(self) -> Any:
        self._load()
        return dict.items(self)

    def keys(self) -> Any:
        self._load()
        return dict.keys(self)


THRESHOLDS: dict[str, ThresholdDef] = _ThresholdRegistry()


def define_threshold(
    name: str,
    *,
    label: str,
    unit: str,
    default: float,
    min: float | None = None,  # noqa: A002 - the brief's public keyword
    max: float | None = None,  # noqa: A002
    scopes: tuple[str, ...] = ("global",),
    roles: tuple[str, ...] = ("manager", "admin"),
    page: str,
    help: str = "",  # noqa: A002
    plausible: tuple[float, float] | None = None,
) -> ThresholdDef:
    """Register threshold ``name`` (idempotent for the same definition) and return it.

    Percent thresholds (``unit="%"``) get bounds 0..100 unless given; every other unit gets a
    lower bound of 0 unless given. ``plausible=(lo, hi)`` must lie within the bounds and hold
    the default. Redefining a name differently raises ``ValueError``.
    """
    if not name or not name.replace("_", "").isalnum() or name != name.lower():
        raise ValueError(f"threshold name {name!r} must be lower_snake_case")
    if "global" not in scopes:
        raise ValueError(f"threshold {name!r}: scopes must include 'global'")
    bad = [s for s in scopes if s not in SCOPE_KINDS]
    if bad:
        raise ValueError(f"threshold {name!r}: unknown scope kinds {bad}; use {', '.join(SCOPE_KINDS)}")
    if "vendor" in roles:
        raise ValueError(f"threshold {name!r}: vendors may never set thresholds")
    if unit == "%":
        min = 0.0 if min is None else min  # noqa: A001
        max = 100.0 if max is None else max  # noqa: A001
    elif min is None:
        min = 0.0  # noqa: A001
    d = ThresholdDef(
        name=name,
        label=label,
        unit=unit,
        default=float(default),
        min=None if min is None else float(min),
        max=None if max is None else float(max),
        scopes=tuple(scopes),
        roles=tuple(roles),
        page=page,
        help=help,
        plausible=None if plausible is None else (float(plausible[0]), float(plausible[1])),
    )
    if (d.min is not None and d.default < d.min) or (d.max is not None and d.default > d.max):
        raise ValueError(f"threshold {name!r}: default {default} is outside {d.min}..{d.max}")
    if d.plausible is not None:
        lo, hi = d.plausible
        if not lo <= d.default <= hi:
            raise ValueError(f"threshold {name!r}: default {default} is outside the plausible {lo:g}..{hi:g}")
        if (d.min is not None and lo < d.min) or (d.max is not None and hi > d.max):
            raise ValueError(f"threshold {name!r}: plausible {lo:g}..{hi:g} is outside the bounds {d.min}..{d.max}")
    existing = dict.get(THRESHOLDS, name)
    if existing is not None:
        if existing != d:
            raise ValueError(f"threshold {name!r} is already defined differently: {existing}")
        return existing
    dict.__setitem__(THRESHOLDS, name, d)
    return d


# Thresholds of built domains are defined in their packages (ops/inventory, ops/fulfillment);
# these two belong to pages still planned (carrier scorecards, returns).
# Plausible ranges are what operations teams use in practice (a low-cover warning of a day to a
# season, a target of at least half the orders on time); outside them a value is more often a
# typo (99999 for 9) than a decision, so it is saved only after the user confirms it.
define_threshold("carrier_on_time_target", label="Carrier on-time target", unit="%", default=95,
                 scopes=("global", "carrier"), page="carriers",
                 help="Share of shipments delivered by the promised date.", plausible=(50, 100))
define_threshold("return_rate_alert", label="Return-rate alert", unit="%", default=10,
                 scopes=("global", "category", "sku"), page="returns",
                 help="Alert when units returned / units sold exceeds this.", plausible=(1, 50))


def plausible_range(name: str) -> tuple[float, float] | None:
    """The plausible ``(lo, hi)`` of threshold ``name`` (None: any valid value is plausible).

    A form asks for confirmation before saving a value outside it (see :func:`plausibility_question`).
    """
    return _definition(name).plausible


def plausibility_question(name: str, value: float, *, scope_kind: str = "global", scope_key: str = "") -> str | None:
    """The question to ask before saving ``value`` for ``name``, or None when the value is plausible.

    Hard bounds are not checked here (:func:`set_threshold` refuses those outright).
    """
    d = _definition(name)
    if d.plausible is None:
        return None
    lo, hi = d.plausible
    number = float(value)
    if lo <= number <= hi:
        return None
    where = _describe_scope(scope_kind, scope_key)
    return (f"{d.label} at {where}: {_fmt_value(number, d.unit, grouped=True)} is outside the usual range of "
            f"{lo:g} to {_fmt_value(hi, d.unit)}. Save it anyway?")


@dataclass(frozen=True)
class EffectiveThreshold:
    """The value in force for one scope and where it comes from.

    ``scope_kind``/``scope_key``/``version`` describe the stored row the value came from
    (``version`` 0 and ``scope_kind`` "default" when no row applies). To override at a more
    specific scope, pass ``expected_version=0`` for that (not yet existing) row.
    """

    name: str
    value: float
    scope_kind: str
    scope_key: str
    version: int
    source: str
    updated_by: str | None = None
    updated_at: dt.datetime | None = None


def threshold_key(name: str, scope_kind: str = "global", scope_key: str = "") -> str:
    """The text key of one threshold row: ``name@global`` or ``name@warehouse:WH-EAST``."""
    return f"{name}@global" if scope_kind == "global" else f"{name}@{scope_kind}:{scope_key}"


def parse_threshold_key(key: str) -> tuple[str, str, str]:
    """Inverse of :func:`threshold_key`: ``(name, scope_kind, scope_key)``."""
    name, sep, scope = str(key).partition("@")
    if not sep or not name:
        raise ValidationError(f"{key!r} is not a threshold key (expected name@scope)")
    kind, _, skey = scope.partition(":")
    return name, kind, skey


def _definition(name: str) -> ThresholdDef:
    d = THRESHOLDS.get(name)
    if d is None:
        raise ValidationError(f"unknown threshold {name!r}; known: {', '.join(sorted(THRESHOLDS))}")
    return d


def _fmt_value(value: float, unit: str, *, grouped: bool = False) -> str:
    text = f"{value:,.10g}" if grouped else f"{value:g}"
    return f"{text} %" if unit == "%" else f"{text} {unit}".rstrip()


def _describe_scope(kind: str, key: str) -> str:
    return "global" if kind == "global" else f"{kind} {key}"


def _source(kind: str, key: str, by: str | None, at: dt.datetime | None) -> str:
    when = f" on {at:%Y-%m-%d}" if at is not None else ""
    who = f"set by {by}" if by else "set"
    return f"{_describe_scope(kind, key)} ({who}{when})"


# --- who did it, as a viewer may read it ------------------------------------------------------


def _actor_for(viewer: Viewer, column: Any) -> Any:
    """SQL for a username column as ``viewer`` may read it.

    Internal viewers read the username. Vendors read their own account's usernames (theirs and
    their colleagues') and :data:`ACCOUNT_MANAGER` for anyone else; NULL stays NULL.
    """
    if not viewer.is_vendor:
        return column
    return case((column.is_(None), null()), (_own_account(viewer, column), column),
                else_=literal(ACCOUNT_MANAGER, String))


def _own_account(viewer: Viewer, column: Any) -> Any:
    """SQL: the username in ``column`` is the vendor viewer or a user of the same vendor account."""
    return or_(column == viewer.username,
               column.in_(select(User.username).where(User.role == "vendor", User.vendor_kind == viewer.vendor_kind,
                                                      User.vendor_code == viewer.vendor_code)))


# Where each vendor kind's codes live: a code is a supplier's, a carrier's or a 3PL operator's.
_VENDOR_CODE_COLUMNS: dict[str, Any] = {
    "supplier": Supplier.code,
    "carrier": Carrier.code,
    "warehouse": Warehouse.operator_code,
}


def _vendor_scope(viewer: Viewer, kind_column: Any, code_column: Any) -> Any:
    """SQL: rows a viewer may read of a table carrying an owner ``(vendor_kind, vendor_code)``.

    Internal viewers read every row. A vendor reads rows with its own kind and code; a row
    without a kind (written before kinds were stored, or by a module that writes only the code)
    only when the vendor's code belongs to no other vendor kind, so a carrier ``ARC`` never
    reads a supplier ``ARC``'s rows.
    """
    if not viewer.is_vendor:
        return true()
    code = viewer.vendor_code
    others = [exists().where(col == code) for kind, col in _VENDOR_CODE_COLUMNS.items() if kind != viewer.vendor_kind]
    unambiguous = and_(kind_column.is_(None), *[~e for e in others])
    return and_(code_column == code, or_(kind_column == viewer.vendor_kind, unambiguous))


def _infer_kind(session: Session, code: str | None) -> str | None:
    """The vendor kind whose records carry ``code``, when exactly one does; else None."""
    if not code:
        return None
    kinds = [k for k, col in _VENDOR_CODE_COLUMNS.items()
             if session.scalar(select(col).where(col == code).limit(1)) is not None]
    return kinds[0] if len(kinds) == 1 else None


def _actor_name(session: Session, viewer: Viewer, username: str | None) -> str | None:
    """One username as ``viewer`` may read it (see :func:`_actor_for`)."""
    if username is None or not viewer.is_vendor:
        return username
    return session.scalar(select(_actor_for(viewer, literal(username, String))))


# --- reading thresholds ----------------------------------------------------------------------


def _threshold_scope_condition(viewer: Viewer) -> Any:
    """Threshold rows a viewer may read: vendors see global rows and their own overrides; a supplier
    also reads the warehouses' rows (ours, not another vendor's), which apply to its SKUs stocked
    there, so its pages flag its rows as the manager's do."""
    if not viewer.is_vendor:
        return true()
    code = viewer.vendor_code
    own: list[Any] = [Threshold.scope_kind == "global"]
    if viewer.vendor_kind == "carrier":
        own.append(and_(Threshold.scope_kind == "carrier", Threshold.scope_key == code))
    elif viewer.vendor_kind == "warehouse":
        own.append(and_(Threshold.scope_kind == "warehouse",
                        Threshold.scope_key.in_(select(Warehouse.code).where(Warehouse.operator_code == code))))
    elif viewer.vendor_kind == "supplier":
        mine = select(Product.sku).join(Supplier, Product.supplier_id == Supplier.id).where(Supplier.code == code)
        cats = select(Product.category).join(Supplier, Product.supplier_id == Supplier.id).where(Supplier.code == code)
        own += [
            Threshold.scope_kind == "warehouse",
            and_(Threshold.scope_kind == "supplier", Threshold.scope_key == code),
            and_(Threshold.scope_kind == "sku", Threshold.scope_key.in_(mine)),
            and_(Threshold.scope_kind == "category", Threshold.scope_key.in_(cats)),
        ]
    return or_(*own)


THRESHOLD_COLUMNS = ["scope_kind", "scope_key", "value", "version", "updated_by", "updated_at"]


@data_function
def thresholds_for(session: Session, *, viewer: Viewer, name: str | None = None) -> pd.DataFrame:
    """Stored threshold rows the viewer may read, for ``name`` (or all names when None).

    Returns
    -------
    DataFrame
        name (str), scope_kind (str), scope_key (str), value (float64), version (int64),
        updated_by (str or None; for vendors "your account manager"), updated_at (datetime64[ns]);
        sorted by name, scope precedence.
    """
    require_viewer(viewer)
    stmt = select(
        Threshold.name, Threshold.scope_kind, Threshold.scope_key, Threshold.value,
        Threshold.version, _actor_for(viewer, Threshold.updated_by), Threshold.updated_at,
    ).where(_threshold_scope_condition(viewer))
    if name is not None:
        stmt = stmt.where(Threshold.name == name)
    rows = session.execute(stmt.order_by(Threshold.name, Threshold.scope_kind, Threshold.scope_key)).all()
    df = pd.DataFrame(rows, columns=["name", *THRESHOLD_COLUMNS])
    df["value"] = df["value"].astype("float64")
    df["version"] = df["version"].astype("int64")
    df["updated_at"] = pd.to_datetime(df["updated_at"])
    return df


def resolve(
    rows: pd.DataFrame, scope: Mapping[str, Any] | None = None, *, name: str, default: float | None = None
) -> EffectiveThreshold:
    """Pick the value in force for ``scope`` from stored ``rows`` (pure; no database).

    ``rows`` is :func:`thresholds_for`'s frame (only rows of ``name`` are considered);
    ``scope`` maps scope kinds to keys, e.g. ``{"warehouse": "WH-EAST", "sku": "SKU-0001"}``.
    The most specific stored row wins (sku > category > supplier > carrier > warehouse >
    global); with none, ``default`` (or the registered default).
    """
    mine = rows[rows["name"] == name] if "name" in rows.columns else rows
    records = mine[THRESHOLD_COLUMNS].itertuples(index=False, name=None)
    return _pick(records, scope, name=name, default=default)


def _pick(
    records: Iterable[tuple[Any, ...]], scope: Mapping[str, Any] | None, *, name: str, default: float | None = None
) -> EffectiveThreshold:
    """:func:`resolve` over (scope_kind, scope_key, value, version, updated_by, updated_at) tuples."""
    d = THRESHOLDS.get(name)
    fallback = default if default is not None else (d.default if d else None)
    allowed = set(d.scopes) if d else set(SCOPE_KINDS)
    wanted = {k: str(v) for k, v in (scope or {}).items() if v is not None and str(v) != ""}
    unknown = [k for k in wanted if k not in SCOPE_KINDS]
    if unknown:
        raise ValidationError(f"threshold {name!r}: unknown scope kinds {unknown}; use {', '.join(SCOPE_KINDS)}")
    wanted["global"] = ""
    stored = {(str(r[0]), str(r[1])): r for r in records}
    for kind in SCOPE_PRECEDENCE:
        key = wanted.get(kind)
        if kind not in allowed or key is None or (kind, key) not in stored:
            continue
        _, _, value, version, by, at = stored[(kind, key)]
        at = None if at is None or pd.isna(at) else pd.Timestamp(at).to_pydatetime()
        by = None if by is None or (isinstance(by, float) and math.isnan(by)) else str(by)
        return EffectiveThreshold(
            name=name, value=float(value), scope_kind=kind, scope_key=key, version=int(version),
            source=_source(kind, key, by, at), updated_by=by, updated_at=at,
        )
    if fallback is None:
        raise ValidationError(f"unknown threshold {name!r}; known: {', '.join(sorted(THRESHOLDS))}")
    return EffectiveThreshold(name=name, value=float(fallback), scope_kind="default", scope_key="", version=0,
                              source="default")


def resolve_frame(
    rows: pd.DataFrame, frame: pd.DataFrame, *, name: str, columns: Mapping[str, str], default: float | None = None
) -> pd.DataFrame:
    """Vectorised :func:`resolve` for many rows at once (pure; no database).

    ``columns`` maps scope kinds to columns of ``frame`` (``{"sku": "sku", "warehouse":
    "warehouse"}``). Returns a frame aligned with ``frame``'s index: value (float64) and
    source_scope (str: "sku", "warehouse", ..., "global" or "default").
    """
    d = THRESHOLDS.get(name)
    fallback = default if default is not None else (d.default if d else math.nan)
    allowed = set(d.scopes) if d else set(SCOPE_KINDS)
    mine = rows[rows["name"] == name] if "name" in rows.columns else rows
    out = pd.DataFrame({"value": pd.Series(math.nan, index=frame.index, dtype="float64"),
                        "source_scope": pd.Series("default", index=frame.index, dtype=object)})
    # Walk from least to most specific so the more specific value overwrites.
    for kind in reversed(SCOPE_PRECEDENCE):
        if kind not in allowed:
            continue
        sub = mine[mine["scope_kind"] == kind]
        if sub.empty:
            continue
        if kind == "global":
            out["value"] = float(sub["value"].iloc[0])
            out["source_scope"] = "global"
            continue
        col = columns.get(kind)
        if col is None:
            continue
        lookup = dict(zip(sub["scope_key"].astype(str), sub["value"].astype(float), strict=True))
        hit = frame[col].astype(str).map(lookup)
        mask = hit.notna()
        out.loc[mask, "value"] = hit[mask].astype(float)
        out.loc[mask, "source_scope"] = kind
    out["value"] = out["value"].fillna(float(fallback))
    return out


@data_function
def threshold(
    session: Session,
    *,
    viewer: Viewer,
    name: str = "cover_warning_days",
    scope: Mapping[str, Any] | None = None,
    for_update: bool = False,
) -> EffectiveThreshold:
    """The value of threshold ``name`` in force for ``scope`` and where it comes from.

    ``scope`` maps scope kinds to keys, e.g. ``{"warehouse": "WH-EAST", "sku": "SKU-0001"}``;
    only the candidate rows are read (one query). ``for_update=True`` locks the rows read until
    the transaction ends (PostgreSQL ``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` already holds
    the write lock), for a read-modify-write done inside one transaction: concurrent ones then
    queue instead of failing as stale.
    """
    require_viewer(viewer)
    d = _definition(name)
    pairs = [("global", "")] + [(k, str(v)) for k, v in (scope or {}).items() if k in d.scopes and v not in (None, "")]
    cond = or_(*[and_(Threshold.scope_kind == k, Threshold.scope_key == v) for k, v in pairs])
    stmt = select(
        Threshold.scope_kind, Threshold.scope_key, Threshold.value,
        Threshold.version, _actor_for(viewer, Threshold.updated_by), Threshold.updated_at,
    ).where(Threshold.name == name, cond, _threshold_scope_condition(viewer))
    if for_update:
        stmt = stmt.with_for_update()
    return _pick(session.execute(stmt).all(), scope, name=name)


@register("thresholds", title="Thresholds", page="audit")
@data_function
def threshold_table(session: Session, *, viewer: Viewer, filters: Filters | None = None) -> pd.DataFrame:
    """Every defined threshold's global value and every stored override, with its source.

    One row per defined threshold at global scope (the stored value, else the default) plus one
    row per stored non-global override the viewer may read. ``filters`` is accepted for the
    export signature and not used (thresholds are not dated).

    Returns
    -------
    DataFrame
        key (str, :func:`threshold_key`), name (str), label (str), unit (str), page (str),
        scope_kind (str), scope_key (str), value (float64), default (float64),
        min (float64, NaN = none), max (float64, NaN = none), source (str),
        version (int64, 0 = not stored), updated_by (str or None), updated_at (datetime64[ns]).
    """
    require_viewer(viewer)
    stored = thresholds_for(session, viewer=viewer)
    out: list[dict[str, Any]] = []
    for d in sorted(THRESHOLDS.values(), key=lambda t: (t.page, t.name)):
        mine = stored[stored["name"] == d.name]
        for kind in ("global", *[k for k in reversed(SCOPE_PRECEDENCE) if k != "global"]):
            if kind not in d.scopes:
                continue
            sub = mine[mine["scope_kind"] == kind]
            if kind == "global" and sub.empty:
                out.append({"key": threshold_key(d.name), "name": d.name, "label": d.label, "unit": d.unit,
                            "page": d.page, "scope_kind": "global", "scope_key": "", "value": d.default,
                            "default": d.default, "min": d.min, "max": d.max, "source": "default",
                            "version": 0, "updated_by": None, "updated_at": None})
            for r in sub.itertuples(index=False):
                at = None if pd.isna(r.updated_at) else pd.Timestamp(r.updated_at).to_pydatetime()
                by = None if pd.isna(r.updated_by) else str(r.updated_by)
                out.append({"key": threshold_key(d.name, kind, str(r.scope_key)), "name": d.name, "label": d.label,
                            "unit": d.unit, "page": d.page, "scope_kind": kind, "scope_key": str(r.scope_key),
                            "value": float(r.value), "default": d.default, "min": d.min, "max": d.max,
                            "source": _source(kind, str(r.scope_key), by, at), "version": int(r.version),
                            "updated_by": by, "updated_at": at})
    cols = ["key", "name", "label", "unit", "page", "scope_kind", "scope_key", "value", "default", "min", "max",
            "source", "version", "updated_by", "updated_at"]
    df = pd.DataFrame(out, columns=cols)
    for c in ("value", "default", "min", "max"):
        df[c] = pd.to_numeric(df[c]).astype("float64")
    df["version"] = df["version"].astype("int64")
    df["updated_at"] = pd.to_datetime(df["updated_at"])
    return df


# --- the audit log --------------------------------------------------------------------------


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, default=str, sort_keys=True)


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_kind: str,
    entity_key: str,
    before: Any = None,
    after: Any = None,
    why: str | None = None,
    outcome: str = "applied",
    vendor_code: str | None = None,
    vendor_kind: str | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Append one audit row in the caller's transaction: the one writer of the ``decisions`` log.

    Every write of the product (thresholds, entity states, annotations, SLA policies, account
    events in ``ops.auth``) records itself through here, in the same transaction as its change,
    so no change goes without its row and no row without its change.
    """
    values: dict[str, Any] = {
        "actor": actor[:100], "action": action, "entity_kind": entity_kind, "entity_key": entity_key[:200],
        "before": _json(before), "after": _json(after), "why": clean_text(why) if why else why,
        "outcome": outcome, "vendor_code": vendor_code, "vendor_kind": vendor_kind if vendor_code else None,
    }
    if at is not None:
        values["at"] = at
    session.execute(insert(Decision).values(**values))


def _audit(
    session: Session,
    *,
    viewer: Viewer,
    action: str,
    entity_kind: str,
    entity_key: str,
    before: Any,
    after: Any,
    why: str | None,
    vendor_code: str | None,
    vendor_kind: str | None = None,
) -> None:
    """Append one applied audit row in the caller's transaction."""
    record(session, actor=viewer.username, action=action, entity_kind=entity_kind, entity_key=entity_key,
           before=before, after=after, why=why, vendor_code=vendor_code, vendor_kind=vendor_kind)


def _refusal_row(
    *, viewer: Viewer, action: str, entity_kind: str, entity_key: str, message: str,
    attempted: Any = None, before: Any = None, why: str | None = None, vendor_code: str | None = None,
    vendor_kind: str | None = None,
) -> dict[str, Any]:
    after = {"attempted": attempted, "refused": message}
    if viewer.is_vendor:  # a vendor's own attempts carry its kind and code, so it sees them (and only them)
        vendor_kind, vendor_code = viewer.vendor_kind, viewer.vendor_code
    return {
        "at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
        "actor": viewer.username, "action": action, "entity_kind": entity_kind[:32],
        "entity_key": str(entity_key)[:200], "before": _json(before), "after": _json(after), "why": why,
        "outcome": "refused",
        "vendor_code": vendor_code,
        "vendor_kind": vendor_kind if vendor_code else None,
    }


def _engine_of(bind: Engine | Connection | Any) -> Engine:
    return bind.engine if isinstance(bind, Connection) else bind


def _write_refusals(engine: Engine, rows: list[dict[str, Any]]) -> None:
    from ops.db import run_in_transaction

    def work(s: Session) -> None:
        s.execute(insert(Decision), rows)

    run_in_transaction(engine, work)


def record_refusal(
    target: Session | Engine,
    *,
    viewer: Viewer,
    action: str,
    entity_kind: str,
    entity_key: str,
    message: str,
    attempted: Any = None,
    before: Any = None,
    why: str | None = None,
    vendor_code: str | None = None,
    vendor_kind: str | None = None,
) -> None:
    """Audit a refused write attempt in a transaction of its own.

    With an ``Engine`` the row is written at once. With a ``Session`` it is queued and written
    right after that session's outermost transaction ends (so it survives the rollback that
    follows the refusal). The write functions here call it themselves; pages and other modules
    call it for refusals they decide (e.g. a forged row id caught before calling ``apply``).
    """
    row = _refusal_row(viewer=viewer, action=action, entity_kind=entity_kind, entity_key=entity_key,
                       message=message, attempted=attempted, before=before, why=_clean_opt(why),
                       vendor_code=vendor_code, vendor_kind=vendor_kind)
    if isinstance(target, Session):
        if target.in_transaction():
            target.info.setdefault(_PENDING_REFUSALS, []).append(row)
            return
        _write_refusals(_engine_of(target.get_bind()), [row])
        return
    _write_refusals(_engine_of(target), [row])


@event.listens_for(Session, "after_transaction_end")
def _flush_refusals(session: Session, transaction: Any) -> None:
    # Only the outermost transaction: its connection is already released here, so on SQLite the
    # write lock is free for the refusal's own BEGIN IMMEDIATE.
    if transaction.parent is not None:
        return
    pending = session.info.pop(_PENDING_REFUSALS, None)
    if not pending:
        return
    try:
        _write_refusals(_engine_of(session.get_bind()), pending)
    except Exception:  # noqa: BLE001 - never mask the refusal the user must see
        log.exception("could not write %d refused-attempt audit rows", len(pending))


def _refuse(session: Session, exc: DecisionError | AccessDenied, **row: Any) -> DecisionError | AccessDenied:
    record_refusal(session, message=str(exc), **row)
    return exc


AUDIT_COLUMNS = ["id", "at", "actor", "action", "entity_kind", "entity_key", "outcome", "before", "after", "why",
                 "vendor_code", "vendor_kind"]


@data_function
def audit_log(
    session: Session,
    *,
    viewer: Viewer,
    actor: str | None = None,
    action: str | None = None,
    entity_kind: str | None = None,
    entity_key: str | None = None,
    outcome: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    limit: int = AUDIT_LIMIT,
) -> pd.DataFrame:
    """The audit log, newest first, filtered; vendors see only rows carrying their vendor code.

    ``actor``/``action``/``entity_kind``/``entity_key``/``outcome`` match exactly (``action``
    also matches a prefix ending in ".", e.g. "threshold."); ``date_from``/``date_to`` are
    inclusive days. Vendors read their own account's attempts and the applied changes to their
    rows, with every other actor shown as "your account manager" (and filterable as such).

    Returns
    -------
    DataFrame
        id (int64), at (datetime64[ns]), actor (str), action (str), entity_kind (str),
        entity_key (str), outcome (str: applied/refused), before (str JSON or None),
        after (str JSON or None), why (str or None), vendor_code (str or None),
        vendor_kind (str or None: supplier/carrier/warehouse, the kind of ``vendor_code``).
    """
    require_viewer(viewer)
    who = _actor_for(viewer, Decision.actor)
    stmt = select(
        Decision.id, Decision.at, who, Decision.action, Decision.entity_kind, Decision.entity_key,
        Decision.outcome, Decision.before, Decision.after, Decision.why, Decision.vendor_code, Decision.vendor_kind,
    ).where(_audit_scope(viewer))
    if actor:
        stmt = stmt.where(who == actor)
    if action:
        stmt = stmt.where(Decision.action.startswith(action) if action.endswith(".") else Decision.action == action)
    if entity_kind:
        stmt = stmt.where(Decision.entity_kind == entity_kind)
    if entity_key:
        stmt = stmt.where(Decision.entity_key == entity_key)
    if outcome:
        stmt = stmt.where(Decision.outcome == outcome)
    if date_from:
        stmt = stmt.where(Decision.at >= dt.datetime.combine(date_from, dt.time.min))
    if date_to:
        stmt = stmt.where(Decision.at < dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min))
    stmt = stmt.order_by(Decision.at.desc(), Decision.id.desc()).limit(max(1, int(limit)))
    df = pd.DataFrame(session.execute(stmt).all(), columns=AUDIT_COLUMNS)
    df["id"] = df["id"].astype("int64")
    df["at"] = pd.to_datetime(df["at"])
    return df


@register("audit_log", title="Audit log", page="audit")
@data_function
def audit_log_export(session: Session, *, viewer: Viewer, filters: Filters | None = None) -> pd.DataFrame:
    """The audit log within the filters' date range (export form of :func:`audit_log`; same columns)."""
    f = filters or Filters()
    return audit_log(session, viewer=viewer, date_from=f.date_from, date_to=f.date_to)


@data_function
def audit_facets(session: Session, *, viewer: Viewer) -> dict[str, list[str]]:
    """Distinct actors, actions and entity kinds in the audit log the viewer may read (for filters)."""
    require_viewer(viewer)
    cond = _audit_scope(viewer)
    out: dict[str, list[str]] = {}
    cols = (("actor", _actor_for(viewer, Decision.actor)), ("action", Decision.action),
            ("entity_kind", Decision.entity_kind))
    for label, col in cols:
        values = session.scalars(select(col.label("v")).where(cond).distinct())
        out[label] = sorted(str(v) for v in values)
    return out


def _audit_scope(viewer: Viewer) -> Any:
    """Audit rows a viewer may read: all, or a vendor's own rows minus internal users' refusals.

    An internal user's refused attempt on a vendor's row carries the vendor's code but says why it
    was refused in words that may name internal people ("changed by ana"); vendors do not need it.
    """
    own = _vendor_scope(viewer, Decision.vendor_kind, Decision.vendor_code)
    if not viewer.is_vendor:
        return own
    return and_(own, or_(Decision.outcome != "refused", _own_account(viewer, Decision.actor)))


# --- warehouse SLA policies ----------------------------------------------------------------

SLA_ENTITY = "warehouse_sla"


def _parse_cutoff(value: Any, where: str) -> dt.time:
    if isinstance(value, dt.time):
        return value
    try:
        return dt.time.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"{where}: cut-off {value!r} is not a time (use HH:MM)") from None


def set_sla_policy(session: Session, *, viewer: Viewer, warehouse_code: str, cutoff_time: Any,
                   business_days: str, handling_days: int, expected_version: int,
                   why: str | None = None) -> int:
    """Change one warehouse's SLA policy, guarded by its version and audited; returns the new version.

    Managers and admins with an active account only. Writes one ``decisions`` row (action
    ``warehouse_sla.set``, entity kind ``warehouse_sla``, the 3PL's kind and code) in the caller's
    transaction. It does not rebuild the fulfilment aggregates (no refresh inside a user's write):
    the caller refreshes them after commit (``ops.fulfillment.refresh``). A refused attempt (bad
    input, stale version, no right) raises ``ops.decisions.ValidationError`` / ``StaleEdit`` / ``AccessDenied`` and is
    audited with outcome ``refused``.
    """
    from ops.business_time import _parse_business_days

    require_viewer(viewer)
    where = f"warehouse {warehouse_code} SLA"
    attempted = {"cutoff_time": str(cutoff_time), "business_days": business_days, "handling_days": handling_days,
                 "expected_version": expected_version}
    refusal: dict[str, Any] = {"viewer": viewer, "action": "warehouse_sla.set", "entity_kind": SLA_ENTITY,
                               "entity_key": str(warehouse_code), "attempted": attempted, "why": why}
    try:
        require_role(viewer, "manager", "admin")
        _require_active(session, viewer)
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
    record(session, actor=viewer.username, action="warehouse_sla.set", entity_kind=SLA_ENTITY,
           entity_key=warehouse_code, before=before, after=after, why=why, vendor_code=wh.operator_code,
           vendor_kind="warehouse")
    return new_version


# --- setting thresholds ---------------------------------------------------------------------


def _parse_number(d: ThresholdDef, value: Any, where: str) -> float:
    """A float from user input, or ValidationError naming the threshold and the bad value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationError(f"{d.label} ({d.name}) at {where}: a value is required")
    if isinstance(value, bool):
        raise ValidationError(f"{d.label} ({d.name}) at {where}: {value!r} is not a number")
    if isinstance(value, str):
        text = value.strip()
        if d.unit == "%" and text.endswith("%"):
            text = text[:-1].strip()
        try:
            number = float(text)
        except ValueError:
            raise ValidationError(
                f"{d.label} ({d.name}) at {where}: {value!r} is text, not a number; enter a number in {d.unit}"
            ) from None
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValidationError(f"{d.label} ({d.name}) at {where}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValidationError(f"{d.label} ({d.name}) at {where}: {value!r} is not a finite number")
    if d.min is not None and number < d.min:
        raise ValidationError(
            f"{d.label} ({d.name}) at {where}: {_fmt_value(number, d.unit)} is below the minimum "
            f"{_fmt_value(d.min, d.unit)}"
        )
    if d.max is not None and number > d.max:
        raise ValidationError(
            f"{d.label} ({d.name}) at {where}: {_fmt_value(number, d.unit)} is above the maximum "
            f"{_fmt_value(d.max, d.unit)}"
        )
    return number


_SCOPE_TABLES: dict[str, Any] = {
    "warehouse": Warehouse.code,
    "carrier": Carrier.code,
    "supplier": Supplier.code,
    "sku": Product.sku,
    "category": Product.category,
}


def _check_scope(session: Session, d: ThresholdDef, scope_kind: str, scope_key: str) -> None:
    if scope_kind not in d.scopes:
        raise ValidationError(
            f"{d.label} ({d.name}) cannot be set per {scope_kind!r}; allowed scopes: {', '.join(d.scopes)}"
        )
    if scope_kind == "global":
        if scope_key:
            raise ValidationError(f"{d.name}: a global value takes no scope key (got {scope_key!r})")
        return
    if not scope_key:
        raise ValidationError(f"{d.name}: a {scope_kind} value needs the {scope_kind} code")
    col = _SCOPE_TABLES[scope_kind]
    if session.scalar(select(col).where(col == scope_key).limit(1)) is None:
        raise ValidationError(f"{d.name}: there is no {scope_kind} {scope_key!r}")


def _stale_message(what: str, by: str | None, at: dt.datetime | None, current: str, expected: int) -> str:
    when = f" at {at:%Y-%m-%d %H:%M:%S}" if at else ""
    seen = "did not exist yet" if expected == 0 else f"was version {expected}"
    return (f"{what} was changed by {by or 'someone'}{when} (now {current}) since you loaded it "
            f"(it {seen}); nothing was saved. Reload and try again.")


def set_threshold(
    session: Session,
    *,
    viewer: Viewer,
    name: str,
    value: Any,
    scope_kind: str = "global",
    scope_key: str = "",
    expected_version: int | None = None,
    why: str | None = None,
    confirm: bool = False,
) -> EffectiveThreshold:
    """Set threshold ``name`` at one scope, guarded, with one audit row in the caller's transaction.

    ``value`` may be a number or text ("14", "95 %"). ``expected_version`` is the version the
    user read (0 = "no row yet"); None skips the staleness check but the write is still guarded
    against a concurrent change between this call's read and its write. A value outside the
    threshold's plausible range is saved only with ``confirm=True`` (its audit row then says
    ``"confirmed": true``).

    Raises
    ------
    NeedsConfirmation
        The value is valid but outside the plausible range and ``confirm`` is False; its
        ``question`` is what to ask the user.
    ValidationError
        Unknown name, text in a number, out of bounds, scope kind not allowed, unknown scope key.
    StaleEdit
        The row changed (or was created) since ``expected_version`` was read.
    AccessDenied
        The viewer's role may not set this threshold (vendors never may), or the viewer's account
        is deactivated.
    All refusals are audited (``outcome='refused'``) in a transaction of their own.
    """
    require_viewer(viewer)
    why = _clean_opt(why)
    scope_kind = (scope_kind or "global").strip()
    scope_key = "" if scope_kind == "global" else str(scope_key or "").strip()
    key = threshold_key(name, scope_kind, scope_key)
    where = _describe_scope(scope_kind, scope_key)
    audit = {"viewer": viewer, "action": "threshold.set", "entity_kind": THRESHOLD_ENTITY, "entity_key": key,
             "attempted": {"value": value, "expected_version": expected_version}, "why": why}
    try:
        _require_active(session, viewer)
        d = _definition(name)
        if viewer.is_vendor or viewer.role not in d.roles:
            raise AccessDenied(
                f"{viewer.username} ({viewer.role}) may not set {d.label} ({d.name}); "
                f"needs one of: {', '.join(d.roles)}"
            )
        _check_scope(session, d, scope_kind, scope_key)
        number = _parse_number(d, value, where)
        question = plausibility_question(name, number, scope_kind=scope_kind, scope_key=scope_key)
        if question is not None and not confirm:
            # Audited like a refusal: nothing was saved, and the log shows the question was asked.
            raise NeedsConfirmation(question, name=name, value=number, plausible=d.plausible or (number, number))
    except (DecisionError, AccessDenied) as exc:
        raise _refuse(session, exc, **audit) from None

    row = session.execute(
        select(Threshold.id, Threshold.value, Threshold.version, Threshold.updated_by, Threshold.updated_at).where(
            Threshold.name == name, Threshold.scope_kind == scope_kind, Threshold.scope_key == scope_key
        )
    ).one_or_none()
    before = None if row is None else {"value": row.value, "version": row.version}
    what = f"{d.label} ({d.name}) at {where}"
    current_version = 0 if row is None else int(row.version)
    if expected_version is not None and int(expected_version) != current_version:
        if row is None:
            msg = (f"{what} was removed since you loaded it (you had version {expected_version}); "
                   "nothing was saved. Reload and try again.")
            raise _refuse(session, StaleEdit(msg, current_version=0), before=before, **audit)
        msg = _stale_message(what, row.updated_by, row.updated_at, _fmt_value(row.value, d.unit), int(expected_version))
        raise _refuse(session, StaleEdit(msg, changed_by=row.updated_by, changed_at=row.updated_at, current=row.value,
                                         current_version=row.version), before=before, **audit)

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if row is None:
        try:
            with session.begin_nested():
                session.execute(insert(Threshold).values(
                    name=name, scope_kind=scope_kind, scope_key=scope_key, value=number, version=1,
                    updated_by=viewer.username, updated_at=now,
                ))
        except IntegrityError:
            raise _stale_after_race(session, d, what, name, scope_kind, scope_key, 0, audit) from None
        new_version = 1
    else:
        # The guard: only the version we read may be replaced (bulk and concurrent writes alike).
        res = session.execute(
            update(Threshold)
            .where(Threshold.id == row.id, Threshold.version == current_version)
            .values(value=number, version=Threshold.version + 1, updated_by=viewer.username, updated_at=now)
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise _stale_after_race(session, d, what, name, scope_kind, scope_key, current_version, audit) from None
        new_version = current_version + 1
    after: dict[str, Any] = {"value": number, "version": new_version}
    if question is not None:
        after["confirmed"] = True  # saved outside the plausible range, after the user said yes
    _audit(session, viewer=viewer, action="threshold.set", entity_kind=THRESHOLD_ENTITY, entity_key=key,
           before=before, after=after, why=why, vendor_code=None)
    return EffectiveThreshold(name=name, value=number, scope_kind=scope_kind, scope_key=scope_key,
                              version=new_version, source=_source(scope_kind, scope_key, viewer.username, now),
                              updated_by=viewer.username, updated_at=now)


def _stale_after_race(
    session: Session, d: ThresholdDef, what: str, name: str, scope_kind: str, scope_key: str, expected: int,
    audit: dict[str, Any],
) -> StaleEdit:
    """A concurrent writer got there between our read and our write: report who and when."""
    row = session.execute(
        select(Threshold.value, Threshold.version, Threshold.updated_by, Threshold.updated_at).where(
            Threshold.name == name, Threshold.scope_kind == scope_kind, Threshold.scope_key == scope_key
        )
    ).one_or_none()
    if row is None:
        exc = StaleEdit(f"{what} changed while saving; nothing was saved. Reload and try again.")
        return _refuse(session, exc, **audit)  # type: ignore[return-value]
    msg = _stale_message(what, row.updated_by, row.updated_at, _fmt_value(row.value, d.unit), expected)
    exc = StaleEdit(msg, changed_by=row.updated_by, changed_at=row.updated_at, current=row.value,
                    current_version=row.version)
    return _refuse(session, exc, before={"value": row.value, "version": row.version}, **audit)  # type: ignore


# --- entity states --------------------------------------------------------------------------

class VendorRef(NamedTuple):
    """An owning vendor as the data names it: its kind (supplier/carrier/warehouse) and code."""

    kind: str
    code: str


OwnerFunc = Callable[[Session, str], "VendorRef | tuple[str, str] | str | None"]


@dataclass(frozen=True)
class EntityKindDef:
    """A flaggable kind of thing; ``owner(session, key)`` returns the owning vendor (or None).

    The rule must look the entity up in the database (never read the owner out of the key,
    which the client sends) and return a :class:`VendorRef` ``(kind, code)``; e.g. for a backlog
    order ``(supplier, code)`` only when that supplier sold a line on the order. Vendors respond
    only on kinds with such a rule, and only on rows it gives them. A rule returning a bare code
    is accepted for internal users' writes only.
    """

    kind: str
    label: str
    owner: OwnerFunc | None = field(default=None, compare=False)
    page: str = ""


ENTITY_KINDS: dict[str, EntityKindDef] = {}


def define_entity_kind(kind: str, *, label: str, owner: OwnerFunc | None = None, page: str = "") -> EntityKindDef:
    """Register an entity kind for :func:`set_entity_state` (idempotent on kind, label and page)."""
    if not kind or len(kind) > 32 or kind == THRESHOLD_ENTITY:
        raise ValueError(f"entity kind {kind!r} must be 1-32 characters and not {THRESHOLD_ENTITY!r}")
    d = EntityKindDef(kind=kind, label=label, owner=owner, page=page)
    existing = ENTITY_KINDS.get(kind)
    if existing is not None and (existing.label, existing.page) != (label, page):
        raise ValueError(f"entity kind {kind!r} is already defined differently: {existing}")
    ENTITY_KINDS[kind] = d
    return d


@dataclass(frozen=True)
class StateRecord:
    """The stored state of one entity after a write."""

    entity_kind: str
    entity_key: str
    state: str
    note: str | None
    snooze_until: dt.date | None
    vendor_code: str | None
    version: int
    vendor_note: str | None = None
    vendor_kind: str | None = None


def _parse_day(value: Any, what: str) -> dt.date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, pd.Timestamp):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ValidationError(f"{what}: {value!r} is not a date (use YYYY-MM-DD)") from None


def set_entity_state(
    session: Session,
    *,
    viewer: Viewer,
    entity_kind: str,
    entity_key: str,
    state: str,
    note: str | None = None,
    snooze_until: dt.date | str | None = None,
    expected_version: int | None = None,
    vendor_code: str | None = None,
    why: str | None = None,
) -> StateRecord:
    """Acknowledge, snooze, flag or reopen one entity (an exception row), guarded and audited.

    ``state`` is one of open/acknowledged/snoozed/flagged; ``snoozed`` needs ``snooze_until``.
    The owner comes from the kind's ``owner`` rule (the data), else the argument ``vendor_code``
    (its kind inferred when the code belongs to one vendor kind), else the stored row. ``note``
    and ``why`` are stored through :func:`clean_text`. Concurrency and refusals work as in
    :func:`set_threshold`. Vendors are always refused (:class:`AccessDenied`, audited): the
    state is the manager's; a vendor answers with :func:`respond`.
    """
    require_viewer(viewer)
    why = _clean_opt(why)
    note = _clean_opt(note)
    entity_kind = str(entity_kind or "").strip()
    entity_key = str(entity_key or "").strip()
    what = f"{entity_kind} {entity_key}"
    audit = {"viewer": viewer, "action": "entity_state.set", "entity_kind": entity_kind or "?",
             "entity_key": entity_key or "?", "why": why,
             "attempted": {"state": state, "note": note, "snooze_until": snooze_until,
                           "expected_version": expected_version, "vendor_code": vendor_code}}
    row = None
    try:
        _require_active(session, viewer)
        _check_entity(entity_kind, entity_key)
        if viewer.is_vendor:
            raise AccessDenied(
                f"{viewer.username} (vendor {viewer.vendor_code}) may not change the state of {what}: the state "
                "is your account manager's to set. Write your answer in the vendor response instead; "
                "it is shown to the manager beside the exception."
            )
        if state not in STATES:
            raise ValidationError(f"{what}: state {state!r} is not one of {', '.join(STATES)}")
        until = _parse_day(snooze_until, f"{what} snooze until")
        if state == "snoozed" and until is None:
            raise ValidationError(f"{what}: snoozing needs a 'snooze until' date")
        if state != "snoozed":
            until = None
        if note is not None and len(str(note)) > MAX_NOTE_CHARS:
            raise ValidationError(f"{what}: the note is {len(str(note))} characters; the limit is {MAX_NOTE_CHARS}")
        row = _state_row(session, entity_kind, entity_key)
        owner_kind, owner = _owner_for(session, viewer, entity_kind, entity_key, row, vendor_code)
        audit["vendor_code"], audit["vendor_kind"] = owner, owner_kind
    except (DecisionError, AccessDenied) as exc:
        raise _refuse(session, exc, **audit) from None

    before, current_version = _refuse_if_stale(session, viewer, what, row, expected_version, audit)

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    text_note = None if note is None else str(note)
    values: dict[str, Any] = {"state": state, "note": text_note, "snooze_until": until,
                              "updated_by": viewer.username, "updated_at": now,
                              "vendor_code": owner, "vendor_kind": owner_kind}
    new_version = _write_state(session, what, entity_kind, entity_key, row, current_version, before, values, audit)
    after = {"state": state, "note": text_note, "snooze_until": until, "version": new_version}
    _audit(session, viewer=viewer, action="entity_state.set", entity_kind=entity_kind, entity_key=entity_key,
           before=before, after=after, why=why, vendor_code=owner, vendor_kind=owner_kind)
    return StateRecord(entity_kind=entity_kind, entity_key=entity_key, state=state, note=text_note,
                       snooze_until=until, vendor_code=owner, version=new_version, vendor_kind=owner_kind)


_RACE = "{what} was changed by someone else while you were saving; nothing was saved. Reload and try again."


def _state_row(session: Session, entity_kind: str, entity_key: str) -> EntityState | None:
    """The stored state of one entity, read afresh (not from the session's identity map)."""
    return session.execute(select(EntityState).where(
        EntityState.entity_kind == entity_kind, EntityState.entity_key == entity_key)
        .execution_options(populate_existing=True)).scalar_one_or_none()


def _refuse_if_stale(session: Session, viewer: Viewer, what: str, row: EntityState | None,
                     expected_version: int | None, audit: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
    """``(before, current_version)`` of ``row``; a stale ``expected_version`` is refused (and audited),
    naming who changed it as ``viewer`` may read that name."""
    before = None if row is None else _state_dict(row)
    current_version = 0 if row is None else int(row.version)
    if expected_version is not None and int(expected_version) != current_version:
        if row is None:
            stale = StaleEdit(f"{what} was reset since you loaded it; nothing was saved. Reload and try again.")
        else:
            by = _actor_name(session, viewer, row.updated_by)
            stale = StaleEdit(_stale_message(what, by, row.updated_at, row.state, int(expected_version)),
                              changed_by=by, changed_at=row.updated_at, current=row.state,
                              current_version=row.version)
        raise _refuse(session, stale, before=before, **audit)
    return before, current_version


def _write_state(session: Session, what: str, entity_kind: str, entity_key: str, row: EntityState | None,
                 current_version: int, before: dict[str, Any] | None, values: dict[str, Any],
                 audit: dict[str, Any]) -> int:
    """Insert the entity's first state or update it at ``current_version``; returns the new version.
    A concurrent insert or update in between is refused as a race (and audited)."""
    if row is None:
        try:
            with session.begin_nested():
                session.execute(insert(EntityState).values(entity_kind=entity_kind, entity_key=entity_key,
                                                           version=1, **values))
        except IntegrityError:
            raise _refuse(session, StaleEdit(_RACE.format(what=what)), **audit) from None
        return 1
    res = session.execute(update(EntityState)
                          .where(EntityState.id == row.id, EntityState.version == current_version)
                          .values(version=EntityState.version + 1, **values)
                          .execution_options(synchronize_session=False))
    if res.rowcount != 1:  # type: ignore[attr-defined]
        raise _refuse(session, StaleEdit(_RACE.format(what=what)), before=before, **audit)
    return current_version + 1


def _check_entity(entity_kind: str, entity_key: str) -> None:
    if not entity_kind or len(entity_kind) > 32 or entity_kind == THRESHOLD_ENTITY:
        raise ValidationError(f"entity kind {entity_kind!r} is not valid (1-32 characters)")
    if not entity_key or len(entity_key) > MAX_KEY_CHARS:
        raise ValidationError(f"{entity_kind}: entity key {entity_key!r} is empty or longer than {MAX_KEY_CHARS}")


def _state_dict(row: EntityState) -> dict[str, Any]:
    return {"state": row.state, "note": row.note, "snooze_until": row.snooze_until, "version": row.version,
            "vendor_code": row.vendor_code, "vendor_kind": row.vendor_kind, "vendor_note": row.vendor_note}


def respond(
    session: Session,
    *,
    viewer: Viewer,
    entity_kind: str,
    entity_key: str,
    text: str | None,
    expected_version: int | None = None,
    why: str | None = None,
) -> StateRecord:
    """A vendor's response to one of their entities (an exception row), guarded and audited.

    Stores ``text`` ("PO confirmed for the 24th") as the entity's ``vendor_note`` (empty text
    clears it) with who and when, leaving the state, note and snooze date as the manager set
    them; a row that has no state yet is created open. One audit row (action
    ``entity_state.respond``, carrying the owner's vendor code). Only vendors respond, and only
    on rows they own (the kind needs an ``owner`` rule that reads the data and returns a
    :class:`VendorRef` equal to the vendor's kind and code); everyone else is refused
    (:class:`AccessDenied`), as are stale edits (:class:`StaleEdit`), all audited. ``text`` and
    ``why`` are stored through :func:`clean_text`.
    """
    require_viewer(viewer)
    why = _clean_opt(why)
    entity_kind = str(entity_kind or "").strip()
    entity_key = str(entity_key or "").strip()
    what = f"{entity_kind} {entity_key}"
    audit: dict[str, Any] = {"viewer": viewer, "action": "entity_state.respond", "entity_kind": entity_kind or "?",
                             "entity_key": entity_key or "?", "why": why,
                             "attempted": {"vendor_note": text, "expected_version": expected_version}}
    row = None
    try:
        _require_active(session, viewer)
        _check_entity(entity_kind, entity_key)
        if not viewer.is_vendor:
            raise AccessDenied(f"{viewer.username} ({viewer.role}) may not write the vendor's response on {what}; "
                               "use the note instead")
        body = None if text is None or _missing(text) else clean_text(text).strip() or None
        if body is not None and len(body) > MAX_NOTE_CHARS:
            raise ValidationError(f"{what}: the response is {len(body)} characters; the limit is {MAX_NOTE_CHARS}")
        row = _state_row(session, entity_kind, entity_key)
        owner_kind, owner = _owner_for(session, viewer, entity_kind, entity_key, row, None)
        audit["vendor_code"], audit["vendor_kind"] = owner, owner_kind
    except (DecisionError, AccessDenied) as exc:
        raise _refuse(session, exc, **audit) from None

    before, current_version = _refuse_if_stale(session, viewer, what, row, expected_version, audit)

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    values: dict[str, Any] = {"vendor_note": body, "vendor_note_by": viewer.username if body else None,
                              "vendor_note_at": now if body else None, "updated_by": viewer.username,
                              "updated_at": now, "vendor_code": owner, "vendor_kind": owner_kind}
    new_version = _write_state(session, what, entity_kind, entity_key, row, current_version, before,
                               values if row is not None else {"state": "open", **values}, audit)
    state, note, until = ("open", None, None) if row is None else (row.state, row.note, row.snooze_until)
    _audit(session, viewer=viewer, action="entity_state.respond", entity_kind=entity_kind, entity_key=entity_key,
           before=before, after={"vendor_note": body, "version": new_version}, why=why, vendor_code=owner,
           vendor_kind=owner_kind)
    return StateRecord(entity_kind=entity_kind, entity_key=entity_key, state=state, note=note, snooze_until=until,
                       vendor_code=owner, version=new_version, vendor_note=body, vendor_kind=owner_kind)


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _owner_for(
    session: Session, viewer: Viewer, kind: str, key: str, row: EntityState | None, given: str | None
) -> tuple[str | None, str | None]:
    """The owning vendor ``(kind, code)`` of an entity, read from the data (``(None, None)``: none).

    Raises AccessDenied for a vendor unless the kind's owner rule returns a :class:`VendorRef`
    equal to the vendor's own kind and code; ValidationError when an internal user names an
    owner other than the data's.
    """
    kdef = ENTITY_KINDS.get(kind)
    verified = False
    if kdef is not None and kdef.owner is not None:
        found = kdef.owner(session, key)
        if isinstance(found, tuple):
            owner_kind, owner = (str(found[0]), str(found[1])) if found[1] else (None, None)
            if owner_kind is not None and owner_kind not in VENDOR_KINDS:
                raise ValidationError(f"{kind} {key}: the owner rule returned vendor kind {owner_kind!r}; "
                                      f"use one of {', '.join(VENDOR_KINDS)}")
            verified = owner is not None
        else:
            # A bare code: the rule cannot say where it read it (the key is the client's), so it
            # does not vouch for a vendor's write; its kind is inferred for internal writes.
            owner = str(found) if found else None
            owner_kind = _infer_kind(session, owner)
    elif viewer.is_vendor:
        raise AccessDenied(f"{viewer.username} (vendor) may not change {kind} {key}: its owner cannot be checked")
    elif given:
        owner, owner_kind = given, _infer_kind(session, given)
    elif row is not None:
        owner, owner_kind = row.vendor_code, row.vendor_kind
    else:
        owner, owner_kind = None, None
    if given and owner and given != owner and not viewer.is_vendor:
        raise ValidationError(f"{kind} {key} belongs to {owner}, not {given}; its owner cannot be changed here")
    if viewer.is_vendor:
        if owner is None or not verified:
            raise AccessDenied(f"{viewer.username} (vendor {viewer.vendor_code}) may not change {kind} {key}: "
                               "its owner cannot be checked in the data")
        if (owner_kind, owner) != (viewer.vendor_kind, viewer.vendor_code):
            raise AccessDenied(f"{viewer.username} (vendor {viewer.vendor_code}) may not change {kind} {key}: "
                               "it is not theirs")
    return owner_kind, owner


@data_function
def entity_states(session: Session, *, viewer: Viewer, entity_kind: str | None = None) -> pd.DataFrame:
    """Stored entity states (of ``entity_kind``, or all), vendors only their own rows.

    Returns
    -------
    DataFrame
        entity_kind (str), entity_key (str), state (str), note (str or None),
        snooze_until (date or None), vendor_code (str or None), version (int64),
        updated_by (str or None; for vendors, internal users read "your account manager"),
        updated_at (datetime64[ns]), vendor_note (str or None: the owning vendor's response),
        vendor_note_by (str or None), vendor_note_at (datetime64[ns]).
    """
    require_viewer(viewer)
    stmt = select(
        EntityState.entity_kind, EntityState.entity_key, EntityState.state, EntityState.note,
        EntityState.snooze_until, EntityState.vendor_code, EntityState.version,
        _actor_for(viewer, EntityState.updated_by), EntityState.updated_at, EntityState.vendor_note,
        EntityState.vendor_note_by, EntityState.vendor_note_at,
    ).where(_vendor_scope(viewer, EntityState.vendor_kind, EntityState.vendor_code))
    if entity_kind:
        stmt = stmt.where(EntityState.entity_kind == entity_kind)
    cols = ["entity_kind", "entity_key", "state", "note", "snooze_until", "vendor_code", "version", "updated_by",
            "updated_at", "vendor_note", "vendor_note_by", "vendor_note_at"]
    df = pd.DataFrame(session.execute(stmt.order_by(EntityState.entity_kind, EntityState.entity_key)).all(),
                      columns=cols)
    df["version"] = df["version"].astype("int64")
    df["updated_at"] = pd.to_datetime(df["updated_at"])
    df["vendor_note_at"] = pd.to_datetime(df["vendor_note_at"])
    return df


# --- annotations ----------------------------------------------------------------------------

ANNOTATION_ROLES = ("admin", "manager", "planner")


ANNOTATION_SCOPE_KINDS = ("warehouse", "carrier", "lane", "channel", "supplier", "category", "sku")


def add_annotation(session: Session, *, viewer: Viewer, page: str, day: dt.date | str, text: str,
                   end_day: dt.date | str | None = None, scope_kind: str | None = None,
                   scope_key: str | None = None) -> int:
    """Pin a note to ``day`` (through ``end_day``, inclusive) on ``page``'s charts; returns its id.

    One audit row; vendors may not. ``scope_kind``/``scope_key`` optionally say what it concerns
    (one of :data:`ANNOTATION_SCOPE_KINDS` and a code, e.g. carrier UPS); both or neither.
    ``text`` is stored through :func:`clean_text` (and trimmed).
    """
    require_viewer(viewer)
    text = clean_text(text or "")
    audit = {"viewer": viewer, "action": "annotation.add", "entity_kind": "annotation",
             "entity_key": f"{page}@{day}", "attempted": {"page": page, "day": day, "text": text}}
    try:
        _require_active(session, viewer)
        if viewer.role not in ANNOTATION_ROLES:
            raise AccessDenied(f"{viewer.username} ({viewer.role}) may not add annotations")
        page = str(page or "").strip()
        if not page or len(page) > 32:
            raise ValidationError(f"annotation: page {page!r} is empty or longer than 32 characters")
        when = _parse_day(day, f"annotation on {page}")
        if when is None:
            raise ValidationError(f"annotation on {page}: a day is required")
        body = str(text or "").strip()
        if not body:
            raise ValidationError(f"annotation on {page} {when}: the text is empty")
        if len(body) > MAX_NOTE_CHARS:
            raise ValidationError(f"annotation on {page} {when}: {len(body)} characters; the limit is {MAX_NOTE_CHARS}")
        until = _parse_day(end_day, f"annotation on {page} end day")
        if until is not None and until < when:
            raise ValidationError(f"annotation on {page}: the end day {until} is before the first day {when}")
        skind = str(scope_kind or "").strip() or None
        skey = clean_text(str(scope_key or "")).strip() or None
        if (skind is None) != (skey is None):
            raise ValidationError(f"annotation on {page} {when}: give both a scope kind and its code, or neither")
        if skind is not None and skind not in ANNOTATION_SCOPE_KINDS:
            raise ValidationError(f"annotation on {page} {when}: scope {skind!r} is not one of "
                                  f"{', '.join(ANNOTATION_SCOPE_KINDS)}")
        if skey is not None and len(skey) > 64:
            raise ValidationError(f"annotation on {page} {when}: the scope code is longer than 64 characters")
    except (DecisionError, AccessDenied) as exc:
        raise _refuse(session, exc, **audit) from None
    extra: dict[str, Any] = {}
    if until is not None and until != when:
        extra["end_day"] = until
    if skind is not None:
        extra.update(scope_kind=skind, scope_key=skey)
    new_id = session.execute(insert(Annotation).values(page=page, day=when, text=body, author=viewer.username,
                                                       **extra).returning(Annotation.id)).scalar_one()
    _audit(session, viewer=viewer, action="annotation.add", entity_kind="annotation", entity_key=str(new_id),
           before=None, after={"page": page, "day": when, "text": body, **extra}, why=None, vendor_code=None)
    return int(new_id)


# The public name shadows the ``from __future__ import annotations`` flag name, harmlessly.
@data_function  # type: ignore[no-redef]
def annotations(
    session: Session, *, viewer: Viewer, page: str | None = None
) -> pd.DataFrame:
    """Notes pinned to days on ``page`` (or all pages); vendors see none.

    Returns
    -------
    DataFrame
        id (int64), page (str), day (date), text (str), author (str), created_at (datetime64[ns]),
        end_day (date or None: the one day), scope_kind (str or None), scope_key (str or None).
    """
    require_viewer(viewer)
    stmt = select(Annotation.id, Annotation.page, Annotation.day, Annotation.text, Annotation.author,
                  Annotation.created_at, Annotation.end_day, Annotation.scope_kind, Annotation.scope_key,
                  ).where(false() if viewer.is_vendor else true())
    if page:
        stmt = stmt.where(Annotation.page == page)
    df = pd.DataFrame(session.execute(stmt.order_by(Annotation.day, Annotation.id)).all(),
                      columns=["id", "page", "day", "text", "author", "created_at", "end_day", "scope_kind",
                               "scope_key"])
    df["id"] = df["id"].astype("int64")
    df["created_at"] = pd.to_datetime(df["created_at"])
    return df


# --- change sets ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One edited cell: ``field`` of the row ``key`` of ``entity_kind`` goes from ``old`` to ``new``.

    ``entity_kind`` is "threshold" (key from :func:`threshold_key`, field "value") or an entity
    kind of :func:`set_entity_state` (field "state", "note" or "snooze_until"). ``expected_version``
    is the row version the user read (0 = the row did not exist).
    """

    entity_kind: str
    key: str
    field: str
    old: Any
    new: Any
    expected_version: int | None = None


@dataclass(frozen=True)
class ChangeSet:
    """Edits to apply together, all or nothing."""

    changes: tuple[Change, ...] = ()
    why: str | None = None

    def __len__(self) -> int:
        return len(self.changes)

    def __bool__(self) -> bool:
        return bool(self.changes)


def apply(
    session: Session,
    changes: ChangeSet | Iterable[Change],
    *,
    viewer: Viewer,
    why: str | None = None,
    confirm: bool = False,
) -> list[EffectiveThreshold | StateRecord]:
    """Apply a change set in the caller's transaction: all of it, or (on any refusal) none of it.

    Cells of the same row are written together (one write, one audit row per row). Raises the
    first refusal (:class:`ValidationError`, :class:`StaleEdit`, :class:`AccessDenied`, or
    :class:`NeedsConfirmation` for an implausible threshold value unless ``confirm``); the
    caller's transaction must then roll back, which undoes the rows already written.

    Entity rows take ``state``/``note``/``snooze_until`` (:func:`set_entity_state`, internal
    users) or ``vendor_note`` (:func:`respond`, the owning vendor), never both in one row. A
    deactivated account is refused before anything is read (:class:`AccessDenied`, audited once).
    """
    require_viewer(viewer)
    if isinstance(changes, ChangeSet):
        why = why if why is not None else changes.why
        items = changes.changes
    else:
        items = tuple(changes)
    why = _clean_opt(why)
    try:
        _require_active(session, viewer)
    except AccessDenied as inactive:
        raise _refuse(session, inactive, viewer=viewer, action="changeset.apply", entity_kind="changeset",
                      entity_key=f"{len(items)} changes", attempted=[asdict(c) for c in items], why=why) from None
    grouped: dict[tuple[str, str], list[Change]] = {}
    for ch in items:
        grouped.setdefault((ch.entity_kind, str(ch.key)), []).append(ch)
    results: list[EffectiveThreshold | StateRecord] = []
    for (kind, key), cells in grouped.items():
        versions = {c.expected_version for c in cells}
        if len(versions) > 1:
            exc = ValidationError(f"{kind} {key}: edits carry different row versions {sorted(map(str, versions))}")
            raise _refuse(session, exc, viewer=viewer, action=f"{kind}.set", entity_kind=kind, entity_key=key,
                          attempted=[asdict(c) for c in cells], why=why)
        expected = cells[0].expected_version
        new = {c.field: c.new for c in cells}
        if kind == THRESHOLD_ENTITY:
            name, scope_kind, scope_key = parse_threshold_key(key)
            extra = set(new) - {"value"}
            if extra:
                exc = ValidationError(f"threshold {key}: only its value can be edited, not {', '.join(sorted(extra))}")
                raise _refuse(session, exc, viewer=viewer, action="threshold.set", entity_kind=kind, entity_key=key,
                              attempted=new, why=why)
            results.append(set_threshold(session, viewer=viewer, name=name, value=new.get("value"),
                                         scope_kind=scope_kind, scope_key=scope_key, expected_version=expected,
                                         why=why, confirm=confirm))
        else:
            extra = set(new) - set(STATE_FIELDS) - set(VENDOR_EDITABLE)
            if extra:
                exc = ValidationError(f"{kind} {key}: {', '.join(sorted(extra))} cannot be edited")
                raise _refuse(session, exc, viewer=viewer, action="entity_state.set", entity_kind=kind,
                              entity_key=key, attempted=new, why=why)
            # A vendor's row edit that touches the state goes to set_entity_state, which refuses it
            # (with the message that says to respond instead); any other vendor_note edit is a
            # response, which respond() refuses for internal users.
            if "vendor_note" in new and not (viewer.is_vendor and set(new) & set(STATE_FIELDS)):
                results.append(respond(session, viewer=viewer, entity_kind=kind, entity_key=key,
                                       text=new["vendor_note"], expected_version=expected, why=why))
                continue
            current = session.execute(select(EntityState).where(
                EntityState.entity_kind == kind, EntityState.entity_key == key)
                .execution_options(populate_existing=True)).scalar_one_or_none()
            base: dict[str, Any] = {"state": "open", "note": None, "snooze_until": None}
            if current is not None:
                base = {"state": current.state, "note": current.note, "snooze_until": current.snooze_until}
            base.update(new)
            results.append(set_entity_state(session, viewer=viewer, entity_kind=kind, entity_key=key,
                                            state=str(base["state"]), note=base["note"],
                                            snooze_until=base["snooze_until"], expected_version=expected, why=why))
    return results
