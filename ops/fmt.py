"""The one formatting layer: how numbers, labels and dates are shown to people.

Pages (through ``ui.table``) and exports (``ops.exports`` writers) both read this module, so a
rate, an amount or a duration looks the same on screen, in a CSV and in Excel.

Conventions
-----------
- Data frames keep machine values: rates are fractions 0..1, money is a float in the shop's
  currency, durations are float hours or days. Formatting happens only here.
- Every column has a *kind* (``COLUMN_KINDS``): ``text``, ``count``, ``number``, ``pct``
  (a fraction shown as a percentage), ``pts`` (a difference of percentages, in points),
  ``money``, ``hours``, ``days``, ``date``, ``datetime`` or ``bool``. The kind comes from the
  registry :data:`COLUMNS` (raw column name -> :class:`Col`), else from the name's suffix,
  else from the dtype.
- Internal columns (row keys and versions used by the editor protocol) are never exported and
  never shown: :data:`INTERNAL`.
- Missing values show as an en dash; a value that rounds to zero never shows a sign
  ("-0.0 pts" is shown as "0.0 pts").
- The currency is the shop's (``OPS_CURRENCY``, an ISO 4217 code, default USD).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

KINDS = ("text", "count", "number", "pct", "pts", "money", "hours", "days", "date", "datetime", "bool")
MISSING = "–"
DEFAULT_CURRENCY = "USD"
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "BRL": "R$", "JPY": "¥", "CAD": "CA$", "AUD": "A$"}
# Decimals shown (and kept in exports) per kind.
DECIMALS = {"count": 0, "number": 2, "pct": 1, "pts": 1, "money": 2, "hours": 1, "days": 1}
# Excel number formats per kind (exports write numbers as numbers with these formats).
XLSX_FORMATS = {"count": "#,##0", "number": "#,##0.00", "pct": "0.0%", "pts": "+0.0%;-0.0%;0.0%",
                "money": "#,##0.00", "hours": "#,##0.0", "days": "#,##0.0", "date": "yyyy-mm-dd",
                "datetime": "yyyy-mm-dd hh:mm"}


@dataclass(frozen=True)
class Col:
    """How one column is shown: its label, kind, and optionally its decimals and a definition."""

    label: str
    kind: str = "text"
    decimals: int | None = None
    help: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}; use one of {', '.join(KINDS)}")


# Row keys and versions the editor protocol needs; never shown, never exported.
INTERNAL = frozenset({"key", "version", "entity_key", "group_key", "exact", "age_rank", "bucket", "kpi", "unit"})

COLUMNS: dict[str, Col] = {
    # shared keys
    "sku": Col("SKU"), "name": Col("Product"), "category": Col("Category"), "supplier": Col("Supplier"),
    "warehouse": Col("Warehouse"), "warehouses": Col("Warehouses", "count"), "channel": Col("Channel"),
    "carrier": Col("Carrier"), "lane": Col("Lane"), "group": Col("Group"), "kind": Col("Kind"),
    "subject": Col("Subject"), "detail": Col("Detail"), "state": Col("State"), "note": Col("Note"),
    "snooze_until": Col("Snooze until", "date"), "label": Col("Measure"), "period": Col("Week", "date"),
    "qty": Col("Units", "count"),
    # thresholds
    "threshold": Col("Threshold"), "threshold_value": Col("Threshold value", "number"),
    "threshold_source": Col("Set by"), "source": Col("Source"), "scope_kind": Col("Scope"),
    "scope_key": Col("Applies to"), "value": Col("Value", "number"), "previous": Col("Previous", "number"),
    "change": Col("Change", "number"),
    # inventory
    "on_hand": Col("On hand", "count"), "on_order": Col("On order", "count"), "units": Col("Units sold", "count"),
    "revenue": Col("Revenue", "money"), "stockout_days": Col("Stockout days", "count"),
    "avg_daily_demand": Col("Units a day", "number"), "days_of_cover": Col("Days of cover", "days"),
    "projected_stockout": Col("Projected stockout", "date"), "earliest_stockout": Col("Earliest stockout", "date"),
    "days_to_stockout": Col("Days to stockout", "days"), "next_po": Col("Next PO", "date"),
    "po_overdue": Col("PO overdue", "bool"), "gap_days": Col("Days uncovered before PO", "days"),
    "days_uncovered": Col("Days uncovered", "days"), "out_of_stock": Col("Out of stock", "bool"),
    "lost_units": Col("Lost units", "number"), "lost_revenue": Col("Lost revenue", "money"),
    "lead_time_days": Col("Lead time (days)", "count"), "unit_cost": Col("Unit cost", "money"),
    "price": Col("Price", "money"), "stock_value": Col("Stock value", "money"),
    "last_receipt": Col("Last receipt", "date"), "days_since_receipt": Col("Days since receipt", "count"),
    "age_bucket": Col("Age"), "last_sale": Col("Last sale", "date"), "days_since_sale": Col("Days since sale", "count"),
    "cv": Col("CV", "number"), "cv2": Col("CV²", "number"), "adi": Col("ADI", "number"), "xyz": Col("XYZ"),
    "abc": Col("ABC"), "pattern": Col("Demand pattern"), "excess_units": Col("Excess units", "count"),
    "po_excess_units": Col("Excess on order", "count"), "excess_value": Col("Excess value", "money"),
    "dead": Col("Dead stock", "bool"), "at_risk": Col("At risk", "bool"),
    "value_at_risk": Col("Value at risk", "money", 0), "units_52w": Col("Units 52 w", "count"),
    "revenue_52w": Col("Revenue 52 w", "money", 0), "pairs": Col("SKU x warehouse pairs", "count"),
    "po_number": Col("PO"), "ordered_on": Col("Ordered", "date"), "expected_on": Col("Expected", "date"),
    "qty_open": Col("Open units", "count"), "overdue": Col("Overdue", "bool"),
    "cover_warning_days": Col("Low-cover warning (days)", "days"),
    "excess_cover_days": Col("Excess cover (days)", "days"), "dead_stock_days": Col("Dead stock after (days)", "days"),
    # fulfilment
    "lines": Col("Lines", "count"), "ship_counted": Col("Lines due to ship", "count"),
    "ship_on_time": Col("Shipped on time", "count"), "ship_late": Col("Shipped late", "count"),
    "on_time_ship_rate": Col("On-time ship", "pct"), "on_time_delivery_rate": Col("On-time delivery", "pct"),
    "delivered": Col("Delivered", "count"), "delivered_on_time": Col("Delivered on time", "count"),
    "late_warehouse": Col("Late: warehouse", "count"), "late_carrier": Col("Late: carrier", "count"),
    "late_unknown": Col("Late: unknown", "count"), "late_rate": Col("Late share", "pct"),
    "shipped": Col("Shipped", "count"), "late": Col("Late", "count"),
    "c2s_median_h": Col("Click-to-ship median", "hours"), "c2s_p90_h": Col("Click-to-ship p90", "hours"),
    "c2s_p99_h": Col("Click-to-ship p99", "hours"), "c2s_bus_median_h": Col("Business hours median", "hours"),
    "c2s_bus_p90_h": Col("Business hours p90", "hours"), "c2s_bus_p99_h": Col("Business hours p99", "hours"),
    "processing_mean_h": Col("Processing mean", "hours"), "transit_mean_h": Col("Transit mean", "hours"),
    "late_hours_mean": Col("Late by (mean)", "hours"), "age_h": Col("Age", "hours"),
    "hours_to_deadline": Col("Hours to deadline", "hours"), "ship_by": Col("Ship by", "datetime"),
    "paid_at": Col("Paid", "datetime"), "order_number": Col("Order"), "weekday": Col("Weekday"),
    "hour": Col("Hour paid", "count"), "backlog_lines": Col("Backlog lines", "count"),
    "cutoff_time": Col("Cut-off"), "business_days": Col("Business days"),
    "handling_days": Col("Handling days", "count"), "holidays": Col("Holidays", "count"),
    # audit and imports
    "at": Col("When", "datetime"), "actor": Col("Who"), "action": Col("Action"), "entity_kind": Col("Object kind"),
    "before": Col("Before"), "after": Col("After"), "why": Col("Reason"), "outcome": Col("Outcome"),
    "finished_at": Col("Finished", "datetime"), "started_at": Col("Started", "datetime"),
    "rows_in": Col("Rows read", "count"), "rows_changed": Col("Rows changed", "count"), "status": Col("Status"),
    "rows": Col("Rows", "count"), "table": Col("Table"),
    "problems": Col("Problems", "count", help="problems that refused the import; nothing was changed"),
    "sha256": Col("File checksum", help="SHA-256 of the imported file(s): the same file imports the same rows"),
    "file": Col("File"), "line": Col("Line", "count", help="line in the file; the header is line 1"),
    "column": Col("Column"), "message": Col("Problem"),
    # fulfilment page (ops.fulfillment frames)
    "avg_hours_late": Col("Late by (mean)", "hours"), "c2s_lines": Col("Lines with click-to-ship", "count"),
    "late_unshipped_lines": Col("Late and unshipped", "count"), "seller": Col("Seller"),
    "seller_region": Col("Seller state"), "hours_past_deadline": Col("Hours past ship-by", "hours"),
    "oldest_hours_past_deadline": Col("Oldest past ship-by", "hours"), "deadline": Col("Ship-by deadline"),
    "oldest": Col("Oldest order"), "orders": Col("Orders", "count"),
    "carrier_late_rate": Col("Late: carrier share", "pct"), "series": Col("Carrier · lane"),
    "all_lanes_rate": Col("All lanes that week", "pct"), "others_rate": Col("Late share elsewhere", "pct"),
    "finding": Col("Finding"), "business_day_names": Col("Business days"), "lo_h": Col("From", "hours"),
    "hi_h": Col("To", "hours"), "dow": Col("Weekday number", "count"),
    # accounts
    "username": Col("User name"), "email": Col("E-mail"), "display_name": Col("Name"), "role": Col("Role"),
    "vendor_kind": Col("Vendor kind"), "vendor_code": Col("Vendor code"), "active": Col("Active", "bool"),
    "failed_attempts": Col("Failed sign-ins", "count"), "locked_until": Col("Locked until (UTC)", "datetime"),
    "created_at": Col("Created (UTC)", "datetime"),
    # write-back (ops.decisions): vendor responses and threshold definitions
    "vendor_note": Col("Vendor response"), "vendor_note_by": Col("Responded by"),
    "vendor_note_at": Col("Responded (UTC)", "datetime"), "updated_by": Col("Changed by"),
    "updated_at": Col("Changed (UTC)", "datetime"), "default": Col("Default", "number"),
    "min": Col("Minimum", "number"), "max": Col("Maximum", "number"),
}

def define_columns(cols: dict[str, Col]) -> None:
    """Add a domain's columns to :data:`COLUMNS` (called at import by ``ops/<domain>/``).

    Idempotent for the same definition; a name already defined differently raises, so two domains
    never show one column name two ways.
    """
    for name, c in cols.items():
        old = COLUMNS.get(name)
        if old is not None and old != c:
            raise ValueError(f"column {name!r} is already defined as {old}; pick another name")
        COLUMNS[name] = c


# Suffix rules for columns not in the registry (checked in order).
_SUFFIX_KINDS = (("_rate", "pct"), ("_share", "pct"), ("_pct", "pct"), ("_pts", "pts"), ("_h", "hours"),
                 ("_hours", "hours"), ("_days", "days"), ("_value", "money"), ("_cost", "money"),
                 ("_revenue", "money"), ("_at", "datetime"), ("_on", "date"), ("_date", "date"))


def currency() -> str:
    """The shop's ISO 4217 currency code (``OPS_CURRENCY``, default USD)."""
    code = (os.environ.get("OPS_CURRENCY") or DEFAULT_CURRENCY).strip().upper()
    return code if len(code) == 3 and code.isalpha() else DEFAULT_CURRENCY


def currency_symbol() -> str:
    code = currency()
    return CURRENCY_SYMBOLS.get(code, code + " ")


def col(name: str, series: pd.Series | None = None) -> Col:
    """The :class:`Col` of column ``name``: registry, else suffix rule, else dtype, else text."""
    if name in COLUMNS:
        return COLUMNS[name]
    text = name.replace("_", " ").strip()
    label = text[:1].upper() + text[1:]
    for suffix, kind in _SUFFIX_KINDS:
        if name.endswith(suffix):
            return Col(label, kind)
    if series is not None:
        if pd.api.types.is_bool_dtype(series):
            return Col(label, "bool")
        if pd.api.types.is_integer_dtype(series):
            return Col(label, "count")
        if pd.api.types.is_float_dtype(series):
            return Col(label, "number")
        if pd.api.types.is_datetime64_any_dtype(series):
            return Col(label, "datetime")
    return Col(label, "text")


def label(name: str) -> str:
    """The people's label of column ``name``."""
    return col(name).label


def decimals(c: Col) -> int:
    return c.decimals if c.decimals is not None else DECIMALS.get(c.kind, 2)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _num(value: float, places: int) -> float:
    """``value`` rounded, with negative zero turned into zero."""
    r = round(float(value), places)
    return 0.0 if r == 0 else r


def number(value: Any, places: int = 0) -> str:
    """A number with thousands separators: ``1,234.5``; infinity as ``∞``."""
    if _missing(value):
        return MISSING
    v = float(value)
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    return f"{_num(v, places):,.{places}f}"


def count(value: Any) -> str:
    """A count: ``1,922``."""
    return number(value, 0)


def pct(value: Any, places: int = 1) -> str:
    """A fraction 0..1 as a percentage: ``0.2456`` -> ``24.6 %``."""
    if _missing(value):
        return MISSING
    text = number(float(value) * 100, places)
    return text if "∞" in text else f"{text} %"


def pts(value: Any, places: int = 1) -> str:
    """A difference of two fractions in percentage points, signed: ``+1.2 pts``; never ``-0.0``."""
    if _missing(value):
        return MISSING
    if math.isinf(float(value)):
        return number(value)
    v = _num(float(value) * 100, places)
    return f"{v:+,.{places}f} pts" if v else f"{0:.{places}f} pts"


def money(value: Any, places: int = 0) -> str:
    """An amount in the shop's currency with separators: ``$105,429``."""
    if _missing(value):
        return MISSING
    if math.isinf(float(value)):
        return number(value)
    v = _num(float(value), places)
    sign = "-" if v < 0 else ""
    return f"{sign}{currency_symbol()}{abs(v):,.{places}f}"


def hours(value: Any, places: int = 1) -> str:
    """A duration in hours: ``27.4 h``."""
    if _missing(value):
        return MISSING
    text = number(value, places)
    return text if "∞" in text else f"{text} h"


def days(value: Any, places: int = 1) -> str:
    """A duration in days: ``12.5 d``; no demand (infinite cover) as ``∞``."""
    if _missing(value):
        return MISSING
    text = number(value, places)
    return text if "∞" in text else f"{text} d"


def date(value: Any) -> str:
    if _missing(value):
        return MISSING
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def datetime(value: Any) -> str:
    if _missing(value):
        return MISSING
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


def value(v: Any, kind: str, places: int | None = None) -> str:
    """Format one value of ``kind`` for people (tiles, captions, messages)."""
    p = DECIMALS.get(kind, 2) if places is None else places
    if kind == "count":
        return count(v)
    if kind == "number":
        return number(v, p)
    if kind == "pct":
        return pct(v, p)
    if kind == "pts":
        return pts(v, p)
    if kind == "money":
        return money(v, 0 if places is None else places)
    if kind == "hours":
        return hours(v, p)
    if kind == "days":
        return days(v, p)
    if kind == "date":
        return date(v)
    if kind == "datetime":
        return datetime(v)
    if kind == "bool":
        return MISSING if _missing(v) else ("yes" if bool(v) else "no")
    return MISSING if _missing(v) else str(v)


def delta(change: Any, kind: str, places: int | None = None) -> str | None:
    """A signed change for a metric tile (``+1.2 pts``, ``-3 h``, ``+1,204``), or None when unknown."""
    if _missing(change):
        return None
    if kind in ("pct", "pts"):
        return pts(change, 1 if places is None else places)
    p = DECIMALS.get(kind, 1) if places is None else places
    v = _num(float(change), p)
    unit = {"hours": " h", "days": " d"}.get(kind, "")
    if kind == "money":
        mp = 0 if places is None else places
        v = _num(float(change), mp)  # the sign of what is shown: +0.3 is "$0", not "+$0"
        return ("+" if v > 0 else "-" if v < 0 else "") + f"{currency_symbol()}{abs(v):,.{mp}f}"
    return (f"{v:+,.{p}f}" if v else f"{0:.{p}f}") + unit


def kinds(df: pd.DataFrame) -> dict[str, Col]:
    """The :class:`Col` of every column of ``df`` (internal ones included)."""
    return {str(c): col(str(c), df[c]) for c in df.columns}


ROW_UNIT_COLUMNS = ("value", "previous", "change", "target")


def _round_by_row_unit(df: pd.DataFrame) -> pd.DataFrame:
    """KPI frames carry each row's kind in ``unit``: round their values per row, before the columns'
    own rounding, so a share 0.2997 exports as 0.300 (its percent decimals + 2), not 0.3."""
    if "unit" not in df.columns or not df["unit"].isin(KINDS).all():
        return df
    out = df.copy()
    for c in ROW_UNIT_COLUMNS:
        if c not in out.columns:
            continue
        num = pd.to_numeric(out[c], errors="coerce").astype("float64")
        places = out["unit"].map(lambda k: DECIMALS.get(k, 2) + (2 if k in ("pct", "pts") else 0))
        out[c] = [v if pd.isna(v) or not np.isfinite(v) else _num(v, int(p)) for v, p in zip(num, places, strict=True)]
    return out


def export_frame(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Col]]:
    """``df`` as people read it in a file: internal columns dropped, labelled, values rounded.

    Numbers stay numbers (so spreadsheets can sum them): money and durations rounded to their
    decimals, percentages as fractions rounded to their decimals + 2 places (24.6 % -> 0.246; the
    writer formats them; points too, as fraction differences), booleans
    as yes/no, dates as dates. Returns the frame (columns are the labels) and each label's Col.
    """
    by_row = "unit" in df.columns and df["unit"].isin(KINDS).all()
    df = _round_by_row_unit(df)
    keep = [c for c in df.columns if str(c) not in INTERNAL]
    out = pd.DataFrame(index=df.index)
    cols: dict[str, Col] = {}
    for c in keep:
        spec = col(str(c), df[c])
        s = df[c]
        if spec.kind in ("count", "number", "money", "hours", "days", "pct", "pts"):
            num = pd.to_numeric(s, errors="coerce").astype("float64")
            num = num.where(np.isfinite(num.to_numpy()) | num.isna(), np.nan)
            places = decimals(spec) + (2 if spec.kind in ("pct", "pts") else 0)
            if by_row and str(c) in ROW_UNIT_COLUMNS:
                places = 6  # rounded per row by its unit already
            num = num.round(places) + 0.0  # + 0.0 turns -0.0 into 0.0
            s = num.astype("int64") if spec.kind == "count" and num.notna().all() else num
        elif spec.kind == "bool":
            s = s.map(lambda v: MISSING if _missing(v) else ("yes" if bool(v) else "no")).astype(object)
        elif spec.kind == "date":
            s = pd.to_datetime(s, errors="coerce").dt.date
        elif spec.kind == "datetime":
            s = pd.to_datetime(s, errors="coerce").dt.floor("min")
        else:
            s = s.map(lambda v: "" if _missing(v) else (v if isinstance(v, str) else str(v))).astype(object)
        lab = spec.label
        while lab in cols:  # two raw columns with one label keep both
            lab += " "
        out[lab] = s.to_numpy() if not isinstance(s, pd.Series) else s.values
        cols[lab] = spec
    return out.reset_index(drop=True), cols
