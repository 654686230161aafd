"""Canonical CSV import: one file layout per table (``csv-<table>``), documented in data/templates/.

Every table is keyed on its natural key (``sku``, ``code``, ``order_number`` ...) and upserted:
new keys are inserted, existing rows updated where a value differs, nothing is deleted. Columns
left out of a file are left alone on existing rows (and take their default on new rows); an
unknown column name is refused, so a typo never silently skips a column. References to other
tables use their natural keys (``supplier_code``, ``warehouse_code``, ``sku``...) and must exist
already: import reference tables first (the order of :data:`TABLE_ORDER`).

``purchase_orders`` and ``orders`` carry header and lines in one file, one row per line; the
header columns must agree on every line of the same PO / order. Keys are kept per source: an order
number that exists from another source (demo data, Shopify, Olist) is refused with its line and
that source, never rewritten.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ops.ingest.reader import (
    MAX_HANDLING_DAYS,
    MAX_LEAD_TIME_DAYS,
    MAX_LINE_NO,
    MAX_TRANSIT_DAYS,
    MAX_UNITS,
    MAX_ZONE,
    PLAN,
    Col,
    CsvFile,
    Problems,
    Progress,
    check_columns,
    clean_text,
    parse_partial,
)
from ops.ingest.store import Counts, id_map, lookup, other_source_orders, upsert
from ops.models import DISPOSITIONS as DISPOSITION_CHOICES
from ops.models import (
    ORDER_STATUSES,
    PO_STATUSES,
    SHIPMENT_STATUSES,
    Carrier,
    CarrierService,
    Channel,
    InventorySnapshot,
    Order,
    OrderLine,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Return,
    Shipment,
    Supplier,
    Warehouse,
)

SOURCE = "csv"


def _len(model: Any, col: str) -> int | None:
    return getattr(model.__table__.c[col].type, "length", None)


@dataclass(frozen=True)
class Ref:
    """A column holding another table's natural key: looked up to fill ``db`` with that row's id."""

    target: Any  # the referenced table's unique column
    db: str
    what: str


@dataclass(frozen=True)
class TableSpec:
    """The layout of one canonical CSV and how it maps onto a table."""

    name: str
    model: Any
    cols: tuple[Col, ...]
    key: tuple[str, ...]  # natural key, as CSV columns
    doc: str
    refs: dict[str, Ref] = field(default_factory=dict)
    rename: dict[str, str] = field(default_factory=dict)  # CSV column -> table column
    bump_version: bool = False
    # Columns whose default, when it fills a new row or an empty cell, changes what pages show:
    # the import goes ahead but names each such column on the result (column -> consequence).
    warn_defaults: dict[str, str] = field(default_factory=dict)

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.cols if c.required]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.cols]


def S(model: Any, name: str, *, required: bool = False, db: str | None = None, **kw: Any) -> Col:  # noqa: N802
    """A string column bounded by its table column's length."""
    return Col(name, "str", required=required, max_len=_len(model, db or name), **kw)


SUP, WH, CAR, CH, PROD = (Supplier.__table__.c.code, Warehouse.__table__.c.code, Carrier.__table__.c.code,
                          Channel.__table__.c.code, Product.__table__.c.sku)

SPECS: dict[str, TableSpec] = {}


def _spec(s: TableSpec) -> None:
    SPECS[s.name] = s


_spec(TableSpec("suppliers", Supplier, (
    S(Supplier, "code", required=True, doc="supplier code, e.g. SUP-001"),
    S(Supplier, "name", required=True),
    S(Supplier, "city"),
    S(Supplier, "region", doc="state / province"),
    S(Supplier, "country", doc="ISO 3166 two-letter code"),
    Col("lead_time_days", "int", min=0, max=MAX_LEAD_TIME_DAYS, doc="lead time the supplier states, in days"),
), key=("code",), doc="Suppliers of stock (and marketplace sellers)."))

_spec(TableSpec("warehouses", Warehouse, (
    S(Warehouse, "code", required=True, doc="warehouse code, e.g. WH-EAST"),
    S(Warehouse, "name", required=True),
    S(Warehouse, "region"),
    S(Warehouse, "operator_code", doc="vendor code of the 3PL running it; empty when run in-house"),
    Col("cutoff_time", "time", default=dt.time(14, 0),
        doc="order cut-off time of day, HH:MM (default 14:00)"),
    Col("business_days", "weekdays", default="01234", doc="working weekdays as digits, 0=Mon .. 6=Sun"),
    Col("handling_days", "int", min=0, max=MAX_HANDLING_DAYS, default=0,
        doc="business days after the cut-off day to ship"),
), key=("code",), bump_version=True, doc="Fulfilment sites and their shipping policy."))

_spec(TableSpec("carriers", Carrier, (
    S(Carrier, "code", required=True, doc="short upper-case code, e.g. UPS"),
    S(Carrier, "name", required=True),
), key=("code",), doc="Parcel carriers."))

_spec(TableSpec("carrier_services", CarrierService, (
    S(Carrier, "carrier_code", required=True, db="code", doc="an existing carrier code"),
    S(CarrierService, "code", required=True, doc="service code, unique per carrier"),
    S(CarrierService, "name", required=True),
    Col("promised_days", "int", required=True, min=0, max=MAX_TRANSIT_DAYS, doc="business days from ship to delivery"),
), key=("carrier_code", "code"), refs={"carrier_code": Ref(CAR, "carrier_id", "carrier")},
    doc="Carrier service levels and their promised transit days."))

_spec(TableSpec("channels", Channel, (
    S(Channel, "code", required=True, doc="sales channel code, e.g. web"),
    S(Channel, "name", required=True),
), key=("code",), doc="Sales channels."))

_spec(TableSpec("products", Product, (
    S(Product, "sku", required=True, doc="stock-keeping unit; kept as text (leading zeros stay)"),
    S(Product, "name", required=True),
    S(Product, "category", required=True),
    S(Product, "size", doc="size or variant"),
    Col("unit_cost", "float", min=0, default=0.0),
    Col("price", "float", min=0, default=0.0),
    S(Supplier, "supplier_code", db="code", doc="an existing supplier code"),
    Col("case_pack", "int", min=1, max=MAX_UNITS, default=1, doc="units per case"),
    Col("moq", "int", min=1, max=MAX_UNITS, default=1, doc="minimum order quantity, units"),
    Col("lead_time_days", "int", min=0, max=MAX_LEAD_TIME_DAYS),
    Col("active", "bool", default=True, doc="true/false"),
), key=("sku",), refs={"supplier_code": Ref(SUP, "supplier_id", "supplier")}, doc="The product catalogue.",
    warn_defaults={
        "price": "set to 0: their revenue at risk and lost revenue read 0 until a price is imported",
        "unit_cost": "set to 0: their stock value and excess value read 0 until a cost is imported",
        "case_pack": "set to 1 unit per case",
        "moq": "set to 1 unit",
        "lead_time_days": "left empty: the supplier's lead time (else the default) is used",
    }))

_spec(TableSpec("inventory_snapshots", InventorySnapshot, (
    S(Product, "sku", required=True, doc="an existing SKU"),
    S(Warehouse, "warehouse_code", required=True, db="code", doc="an existing warehouse code"),
    Col("day", "date", required=True, doc="YYYY-MM-DD"),
    Col("on_hand", "int", required=True, min=0, max=MAX_UNITS, doc="end-of-day units on hand"),
), key=("sku", "warehouse_code", "day"),
    refs={"sku": Ref(PROD, "product_id", "SKU"), "warehouse_code": Ref(WH, "warehouse_id", "warehouse")},
    doc="End-of-day stock per SKU and warehouse."))

_spec(TableSpec("purchase_orders", PurchaseOrder, (
    S(PurchaseOrder, "po_number", required=True),
    S(Supplier, "supplier_code", required=True, db="code"),
    S(Warehouse, "warehouse_code", required=True, db="code", doc="receiving warehouse"),
    Col("status", "str", default="open", choices=PO_STATUSES),
    Col("ordered_on", "date", required=True),
    Col("expected_on", "date", horizon=PLAN, doc="planned: up to two years ahead"),
    S(Product, "sku", required=True, doc="line: an existing SKU"),
    Col("qty_ordered", "int", required=True, min=0, max=MAX_UNITS, doc="line: units ordered"),
    Col("qty_received", "int", min=0, max=MAX_UNITS, default=0, doc="line: units received so far"),
    Col("received_on", "date", doc="line"),
    Col("unit_cost", "float", min=0, default=0.0, doc="line"),
), key=("po_number", "sku"),
    refs={"supplier_code": Ref(SUP, "supplier_id", "supplier"), "warehouse_code": Ref(WH, "warehouse_id", "warehouse"),
          "sku": Ref(PROD, "product_id", "SKU")},
    bump_version=True, doc="Purchase orders, header and lines in one file, one row per line."))

_spec(TableSpec("orders", Order, (
    S(Order, "order_number", required=True),
    S(Channel, "channel_code", required=True, db="code"),
    S(Warehouse, "warehouse_code", db="code", doc="shipping warehouse; empty when not known"),
    S(Order, "customer_region", doc="state / province shipped to"),
    Col("status", "str", required=True, choices=ORDER_STATUSES),
    Col("placed_at", "datetime", required=True, doc="YYYY-MM-DD HH:MM[:SS], local time"),
    Col("paid_at", "datetime"),
    Col("ship_by", "datetime", horizon=PLAN, doc="the order's ship-by deadline, when the source gives one"),
    Col("line_no", "int", required=True, min=1, max=MAX_LINE_NO, doc="line: 1, 2, ... within the order"),
    S(Product, "sku", required=True, doc="line: an existing SKU"),
    Col("qty", "int", required=True, min=1, max=MAX_UNITS, doc="line: units"),
    Col("unit_price", "float", required=True, min=0, doc="line"),
    Col("freight", "float", min=0, default=0.0, doc="line: freight charged"),
    Col("line_ship_by", "datetime", horizon=PLAN, doc="line: the line's own ship-by deadline"),
    S(Supplier, "seller_code", db="code", doc="line: marketplace seller (a supplier code); empty for own stock"),
), key=("order_number", "line_no"),
    refs={"channel_code": Ref(CH, "channel_id", "channel"), "warehouse_code": Ref(WH, "warehouse_id", "warehouse"),
          "sku": Ref(PROD, "product_id", "SKU"), "seller_code": Ref(SUP, "seller_id", "seller")},
    rename={"line_ship_by": "ship_by"}, doc="Customer orders, header and lines in one file, one row per line."))

_spec(TableSpec("shipments", Shipment, (
    S(Shipment, "tracking_number", required=True),
    S(Order, "order_number", required=True, doc="an existing order"),
    S(Warehouse, "warehouse_code", db="code"),
    S(Carrier, "carrier_code", db="code"),
    S(CarrierService, "service_code", db="code", doc="a service of the carrier (needs carrier_code)"),
    Col("zone", "int", min=0, max=MAX_ZONE),
    S(Shipment, "lane", doc='e.g. "WH-EAST>NY"'),
    Col("label_cost", "float", min=0, default=0.0),
    Col("shipped_at", "datetime"),
    Col("promised_at", "datetime", horizon=PLAN),
    Col("first_attempt_at", "datetime"),
    Col("delivered_at", "datetime"),
    Col("status", "str", default="in_transit", choices=SHIPMENT_STATUSES),
), key=("tracking_number",),
    refs={"order_number": Ref(Order.__table__.c.order_number, "order_id", "order"),
          "warehouse_code": Ref(WH, "warehouse_id", "warehouse"), "carrier_code": Ref(CAR, "carrier_id", "carrier")},
    doc="Parcels shipped for orders."))

_spec(TableSpec("returns", Return, (
    S(Return, "rma_number", required=True),
    S(Order, "order_number", required=True, doc="the order returned from"),
    Col("line_no", "int", required=True, min=1, max=MAX_LINE_NO, doc="the order line returned"),
    Col("qty", "int", min=1, max=MAX_UNITS, default=1),
    S(Return, "reason_code", required=True),
    Col("comment", "str", multiline=True),
    Col("received_at", "datetime"),
    Col("refund_amount", "float", min=0, default=0.0),
    Col("disposition", "str", choices=DISPOSITION_CHOICES),
), key=("rma_number",), doc="Customer returns of order lines."))

TABLE_ORDER = tuple(SPECS)
"""Import order that satisfies every reference."""


# --- the shared pipeline ----------------------------------------------------------------------


Parsed = tuple[str, int, dict[str, Any]]  # file, line, values
LOAD_CHUNK = 5_000  # rows parsed, upserted and let go at a time while loading


class Rows:
    """The parsed rows of a table's files, streamed from disk: each iteration reads the files again.

    Holding every parsed row of a 50 MB file took 16 times the file in memory; re-reading is
    cheaper than that, and the checks and the load each need only one row at a time. A bad row
    holds only the cells that parsed (its problems were reported by :func:`parse_files`).
    """

    def __init__(self, spec: TableSpec, files: Sequence[CsvFile]) -> None:
        self.spec, self.files = spec, list(files)

    def __iter__(self) -> Iterator[Parsed]:
        return self.only(self.spec.cols)

    def only(self, cols: Sequence[Col]) -> Iterator[Parsed]:
        """The rows with only ``cols`` parsed (cheaper when a check needs one column)."""
        quiet = Problems(cap=0)  # reported once, by parse_files
        for f in self.files:
            for line, raw in f.dicts():
                vals, _ = parse_partial(f, line, raw, cols, quiet)
                yield f.name, line, vals

    def chunks(self, n: int = LOAD_CHUNK) -> Iterator[list[Parsed]]:
        """The rows in lists of at most ``n``."""
        it = iter(self)
        while chunk := list(islice(it, n)):
            yield chunk


def parse_files(spec: TableSpec, files: Sequence[CsvFile], problems: Problems,
                progress: Progress | None, total: int) -> tuple[Rows, set[str]]:
    """Parse every row; report bad cells and duplicate natural keys. Returns the rows and the columns present.

    Every row is returned, a bad one holding only the cells that parsed, so the reference checks
    that follow see it too: one pass lists every problem of a file, not the first kind of problem.
    A file missing a required column is still read (its other columns checked); nothing is
    written when there is any problem, so a partial row never reaches the database. Only the
    keys are kept in memory (for duplicates); the rows are streamed again when used.
    """
    present: set[str] | None = None
    seen: dict[Any, int] = {}  # key -> file index << 32 | line
    names = [f.name for f in files]
    done = 0
    for fi, f in enumerate(files):
        check_columns(f, required=spec.required, known=spec.names, problems=problems)
        present = set(f.header) if present is None else present & set(f.header)
        for line, raw in f.dicts():
            done += 1
            if progress and done % 2000 == 0:
                progress(done, total)
            parse_partial(f, line, raw, spec.cols, problems)
            # Duplicates are judged on the key as it would be stored, so a bad row still claims its key.
            parts = tuple(clean_text(raw.get(c, "")) for c in spec.key)
            k: Any = parts[0] if len(parts) == 1 else parts
            first = seen.get(k)
            if first is not None and all(parts):
                first_file, first_line = names[first >> 32], first & 0xFFFFFFFF
                where = f"line {first_line}" + ("" if first_file == f.name else f" of {first_file}")
                keytxt = ", ".join(f"{c}={v}" for c, v in zip(spec.key, parts, strict=True))
                problems.add(f.name, line, spec.key[-1], f"duplicate key ({keytxt}); first on {where}")
            elif first is None:
                seen[k] = fi << 32 | line
    return Rows(spec, files), present or set()


def resolve_refs(session: Session, spec: TableSpec, rows: Rows,
                 problems: Problems) -> dict[str, dict[Any, int]]:
    """Look up every referenced natural key; report unknown ones at their line and column."""
    ids: dict[str, dict[Any, int]] = {}
    by_name = {c.name: c for c in spec.cols}
    for col, ref in spec.refs.items():
        wanted = {v.get(col) for _, _, v in rows.only([by_name[col]])} - {None}
        ids[col] = lookup(session, ref.target, wanted)
        if len(ids[col]) == len(wanted):
            continue  # all known: no need to read the rows again for line numbers
        for fname, line, v in rows.only([by_name[col]]):
            val = v.get(col)
            if val is not None and val not in ids[col]:
                problems.add(fname, line, col, f"unknown {ref.what} {val!r} (import it first)")
    return ids


def consistent(rows: Rows, key: str, cols: Sequence[str], problems: Problems, what: str) -> None:
    """Header columns of a header+lines file must agree on every line of the same ``key``."""
    first: dict[Any, Parsed] = {}
    for row in rows:
        fname, line, v = row
        if v.get(key) is None:
            continue  # its key cell is bad or empty: reported already
        f0 = first.setdefault(v[key], row)
        if f0 is row:
            continue
        for c in cols:
            if c in v and v[c] != f0[2].get(c):
                problems.add(fname, line, c, f"differs from line {f0[1]} of the same {what} "
                             f"({v[c]!r} vs {f0[2].get(c)!r})")
                break


def db_values(spec: TableSpec, vals: dict[str, Any], ids: dict[str, dict[Any, int]],
              cols: Sequence[str]) -> dict[str, Any]:
    """The table-column values of one parsed row, for the CSV columns ``cols`` (defaults for empties)."""
    by_name = {c.name: c for c in spec.cols}
    out: dict[str, Any] = {}
    for name in cols:
        v = vals.get(name)
        if name in spec.refs:
            out[spec.refs[name].db] = ids[name].get(v) if v is not None else None
        else:
            out[spec.rename.get(name, name)] = by_name[name].default if v is None else v
    return out


def _update_cols(spec: TableSpec, present: set[str], cols: Sequence[str]) -> list[str]:
    return [spec.refs[c].db if c in spec.refs else spec.rename.get(c, c) for c in cols if c in present]


# --- per-table loaders ---------------------------------------------------------------------------


def _load_simple(session: Session, spec: TableSpec, rows: Rows, present: set[str],
                 ids: dict[str, dict[Any, int]], counts: Counts) -> None:
    names = spec.names
    db_key = [spec.refs[c].db if c in spec.refs else spec.rename.get(c, c) for c in spec.key]
    for chunk in rows.chunks():
        db_rows = [db_values(spec, v, ids, names) for _, _, v in chunk]
        counts.add(spec.model.__table__.name, *upsert(session, spec.model.__table__, db_rows, key=db_key,
                                                      update_cols=_update_cols(spec, present, names),
                                                      bump_version=spec.bump_version))


HEADER_LINE_SPLIT: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "purchase_orders": (("po_number", "supplier_code", "warehouse_code", "status", "ordered_on", "expected_on"),
                        ("sku", "qty_ordered", "qty_received", "received_on", "unit_cost")),
    "orders": (("order_number", "channel_code", "warehouse_code", "customer_region", "status", "placed_at",
                "paid_at", "ship_by"),
               ("line_no", "sku", "qty", "unit_price", "freight", "line_ship_by", "seller_code")),
}


def _load_header_lines(session: Session, spec: TableSpec, rows: Rows, present: set[str],
                       ids: dict[str, dict[Any, int]], counts: Counts, *, actor: str) -> None:
    head_cols, line_cols = HEADER_LINE_SPLIT[spec.name]
    hkey = head_cols[0]
    if spec.name == "orders":
        head_table, line_table = Order.__table__, OrderLine.__table__  # type: Any, Any
        parent, line_key, extra = "order_id", ("order_id", "line_no"), {"source": SOURCE}
    else:
        head_table, line_table = PurchaseOrder.__table__, PurchaseOrderLine.__table__
        # created_by is written on insert only: not an update column
        parent, line_key, extra = "po_id", ("po_id", "product_id"), {"created_by": actor}
    # Chunk by chunk: a header whose lines straddle two chunks is upserted twice with the same
    # values, and the second upsert finds nothing to change (so it is counted once).
    for chunk in rows.chunks():
        heads: dict[Any, dict[str, Any]] = {}
        for _, _, v in chunk:
            heads.setdefault(v[hkey], {**db_values(spec, v, ids, head_cols), **extra})
        counts.add(head_table.name, *upsert(session, head_table, list(heads.values()), key=(hkey,),
                                            update_cols=_update_cols(spec, present, head_cols),
                                            bump_version=spec.bump_version))
        pid = id_map(session, head_table, (hkey,), [(k,) for k in heads])
        lines = []
        for _, _, v in chunk:
            d = db_values(spec, v, ids, line_cols)
            d[parent] = pid[(v[hkey],)]
            lines.append(d)
        counts.add(line_table.name, *upsert(session, line_table, lines, key=line_key,
                                            update_cols=_update_cols(spec, present, line_cols)))


def _other_sources(session: Session, rows: Rows, problems: Problems) -> None:
    """Refuse orders whose number exists from another source (demo, Shopify, Olist): keys are per source."""
    first: dict[str, tuple[str, int]] = {}
    for fname, line, v in rows:
        if v.get("order_number") is not None:
            first.setdefault(v["order_number"], (fname, line))
    for number, src in other_source_orders(session, list(first), SOURCE).items():
        fname, line = first[number]
        problems.add(fname, line, "order_number", f"order {number!r} already exists from source {src!r}; "
                     "a CSV import does not change another source's order (rename one of them)")


def _shipment_services(session: Session, rows: Rows, ids: dict[str, dict[Any, int]],
                       problems: Problems) -> dict[tuple[int, str], int]:
    """``service_code`` names a service of the row's carrier: resolve (carrier id, code) pairs to service ids."""
    svc = CarrierService.__table__
    carrier_ids = set(ids.get("carrier_code", {}).values())
    found: dict[tuple[int, str], int] = {}
    if carrier_ids:
        q = select(svc.c.carrier_id, svc.c.code, svc.c.id).where(svc.c.carrier_id.in_(sorted(carrier_ids)))
        found = {(c, code): i for c, code, i in session.execute(q)}
    ids["service_code"] = {}
    for fname, line, v in rows:
        code = v.get("service_code")
        if code is None:
            continue
        carrier = ids.get("carrier_code", {}).get(v.get("carrier_code"))
        if v.get("carrier_code") is None:
            problems.add(fname, line, "service_code", "a service needs carrier_code on the same row")
        elif carrier is not None and (carrier, code) not in found:
            problems.add(fname, line, "service_code", f"unknown service {code!r} of carrier {v['carrier_code']!r}")
    return found


def _service_id(v: dict[str, Any], ids: dict[str, dict[Any, int]], found: dict[tuple[int, str], int]) -> int | None:
    carrier = ids.get("carrier_code", {}).get(v.get("carrier_code"))
    return found.get((carrier, v["service_code"])) if carrier is not None and v.get("service_code") else None


def _order_lines_for(session: Session, rows: Rows, problems: Problems) -> dict[tuple[str, int], int]:
    """Resolve (order_number, line_no) of returns to order-line ids; report unknown ones."""
    o, ol = Order.__table__, OrderLine.__table__
    numbers = sorted({v["order_number"] for _, _, v in rows if v.get("order_number") is not None})
    found: dict[tuple[str, int], int] = {}
    for i in range(0, len(numbers), 500):
        q = (select(o.c.order_number, ol.c.line_no, ol.c.id).join(ol, ol.c.order_id == o.c.id)
             .where(o.c.order_number.in_(numbers[i : i + 500])))
        found.update({(n, ln): lid for n, ln, lid in session.execute(q)})
    known_orders = {n for n, _ in found}
    for fname, line, v in rows:
        if v.get("order_number") is None or v.get("line_no") is None:
            continue  # a bad or empty cell: reported already
        k = (v["order_number"], v["line_no"])
        if k not in found:
            if v["order_number"] in known_orders:
                problems.add(fname, line, "line_no", f"order {k[0]!r} has no line {k[1]}")
            else:
                problems.add(fname, line, "order_number", f"unknown order {k[0]!r} (or it has no lines)")
    return found


WARN_SAMPLE = 5  # keys named in a default warning; the rest are counted


def _keys_text(keys: Sequence[Any]) -> str:
    shown = ", ".join(str(k) for k in keys[:WARN_SAMPLE])
    return shown + (f" and {len(keys) - WARN_SAMPLE:,} more" if len(keys) > WARN_SAMPLE else "")


def default_warnings(session: Session, spec: TableSpec, rows: Rows, present: set[str]) -> list[str]:
    """Say where a default fills a column listed in ``spec.warn_defaults``.

    A default applies to a new row whose cell is empty or whose file lacks the column, and to an
    existing row whose cell is empty (a column the file lacks is left alone on existing rows).
    """
    if not spec.warn_defaults or len(spec.key) != 1:
        return []
    key = spec.key[0]
    missing: dict[str, list[Any]] = {col: [] for col in spec.warn_defaults}  # keys of rows lacking each column
    for _, _, v in rows:
        for col, keys in missing.items():
            if v.get(col) is None:
                keys.append(v.get(key))
    existing = lookup(session, spec.model.__table__.c[key], {k for keys in missing.values() for k in keys})
    out = []
    for col, consequence in spec.warn_defaults.items():
        new = [k for k in missing[col] if k not in existing]
        emptied = [k for k in missing[col] if col in present and k in existing]
        for keys, what in ((new, "new"), (emptied, "existing")):
            if keys:
                n = len(keys)
                out.append(f"{col} missing on {n:,} {what} row{'s' if n != 1 else ''} "
                           f"({key} {_keys_text(keys)}): {consequence}.")
    return out


def import_csv(session: Session, *, table: str, files: Sequence[CsvFile], problems: Problems, counts: Counts,
               actor: str, progress: Progress | None = None, warnings: list[str] | None = None) -> int:
    """Validate and upsert canonical CSV ``files`` for ``table``; return the number of rows read.

    Adds every problem to ``problems`` and writes nothing when there is any (the caller raises).
    Appends to ``warnings`` where a default stands in for a value that matters (a new product
    without a price, say): the import goes ahead and says so.
    """
    spec = SPECS[table]
    total = sum(f.n_records for f in files)
    rows, present = parse_files(spec, files, problems, progress, total)
    ids = resolve_refs(session, spec, rows, problems)
    if table in HEADER_LINE_SPLIT:
        head = HEADER_LINE_SPLIT[table][0]
        consistent(rows, head[0], head[1:], problems, "order" if table == "orders" else "purchase order")
    if table == "orders":
        _other_sources(session, rows, problems)
    services: dict[tuple[int, str], int] = {}
    if table == "shipments":
        services = _shipment_services(session, rows, ids, problems)
        for fname, line, v in rows:
            if v.get("shipped_at") and v.get("delivered_at") and v["delivered_at"] < v["shipped_at"]:
                problems.add(fname, line, "delivered_at", "is before shipped_at")
    lines: dict[tuple[str, int], int] = {}
    if table == "returns":
        lines = _order_lines_for(session, rows, problems)
    if problems:
        return total
    if warnings is not None:
        warnings.extend(default_warnings(session, spec, rows, present))
    if table in HEADER_LINE_SPLIT:
        _load_header_lines(session, spec, rows, present, ids, counts, actor=actor)
    elif table == "shipments":
        names = [c for c in spec.names if c != "service_code"]
        upd_cols = _update_cols(spec, present, names) + (["service_id"] if "service_code" in present else [])
        for chunk in rows.chunks():
            db_rows = []
            for _, _, v in chunk:
                d = db_values(spec, v, ids, names)
                d["service_id"] = _service_id(v, ids, services)
                db_rows.append(d)
            counts.add("shipments", *upsert(session, Shipment.__table__, db_rows, key=("tracking_number",),
                                            update_cols=upd_cols))
    elif table == "returns":
        names = [c for c in spec.names if c not in ("order_number", "line_no")]
        upd_cols = _update_cols(spec, present, names) + ["order_line_id"]
        for chunk in rows.chunks():
            db_rows = []
            for _, _, v in chunk:
                d = db_values(spec, v, ids, names)
                d["order_line_id"] = lines[(v["order_number"], v["line_no"])]
                db_rows.append(d)
            counts.add("returns", *upsert(session, Return.__table__, db_rows, key=("rma_number",),
                                          update_cols=upd_cols))
    else:
        _load_simple(session, spec, rows, present, ids, counts)
    return total
