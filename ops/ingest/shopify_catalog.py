"""Shopify products export (Admin > Products > Export) -> products; inventory export (Admin > Products >
Inventory > Export) -> warehouses and inventory snapshots.

Products export: one row per variant, plus image-only rows (a Handle and an image, nothing
else), which are skipped. Product-level fields (Title, Vendor, Type, Status) are on the first
row of a handle only and apply to all its variants. Columns are matched by name; metafield
columns, whose labels Shopify translates into the admin's language (``Färg
(product.metafields.shopify.color-pattern)``), are not used.

- sku = ``Variant SKU`` (a leading apostrophe, which Shopify writes to keep digits as text, is
  removed); when empty, the key the orders export gives the same variant's lines
  (``NOSKU-<title>-<hash>`` of "Title - Variant", :func:`ops.ingest.shopify.title_key`), so
  orders and catalogue meet;
- name = "Title - Variant" (Title alone for the ``Default Title`` variant), size = the variant
  (option values joined by `` / ``), category = Type (else the last level of Product Category,
  else ``Uncategorised``), price = Variant Price, unit_cost = Cost per item (empty: 0, warned),
  supplier = Vendor (created when new), active = Status is ``active`` (else Published is true).
- Existing products are updated in place (the products export is the catalogue).

Inventory export: one row per variant and location. warehouse = Location (created when new:
code = the location's name cut to 32 characters); on_hand = ``On hand (current)`` (else
``Available (not editable)``); the snapshot day is the day of the import (the export carries no
date; re-importing on the same day changes nothing). ``not stocked`` means the variant is not
stocked at that location: no snapshot. A negative on-hand (oversold) is stored as 0 and counted.
A SKU not in the catalogue is created (name from Title and options, price 0, warned).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from ops.ingest.formats import Format
from ops.ingest.reader import (
    MAX_UNITS,
    Bad,
    Col,
    CsvFile,
    Problems,
    Progress,
    check_columns,
    clean_text,
    parse_cell,
    parse_partial,
    today,
)
from ops.ingest.shopify import NEW_CATEGORY, title_key
from ops.ingest.store import Counts, id_map, lookup, upsert
from ops.models import InventorySnapshot, Product, Supplier, Warehouse

OPTIONS = ("Option1 Value", "Option2 Value", "Option3 Value")
PRODUCT_COLS = (
    Col("Handle", required=True, max_len=255),
    Col("Title", max_len=255),
    Col("Vendor", max_len=200),
    Col("Type", max_len=100),
    Col("Product Category", max_len=300),
    Col("Status", max_len=20),
    Col("Published", max_len=10),
    Col("Variant SKU", max_len=65),
    Col("Variant Price", "float", min=0),
    Col("Cost per item", "float", min=0),
    *(Col(o, max_len=100) for o in OPTIONS),
)


def _sku(raw: str | None) -> str | None:
    s = (raw or "").strip()
    return s[1:].strip() or None if s.startswith("'") else s or None


def _variant(v: dict[str, Any]) -> str | None:
    parts = [v[o] for o in OPTIONS if v.get(o) and v[o] != "Default Title"]
    return " / ".join(parts) or None


def load_products(session: Session, *, files: Sequence[CsvFile], problems: Problems, counts: Counts,
                  progress: Progress | None = None, warnings: list[str] | None = None, actor: str = "") -> int:
    """Validate and upsert Shopify products exports; return rows read. Writes nothing when ``problems``."""
    warn = warnings if warnings is not None else []
    total = sum(f.n_records for f in files)
    heads: dict[str, dict[str, Any]] = {}
    rows: dict[str, dict[str, Any]] = {}
    no_cost = images = 0
    for f in files:
        check_columns(f, required=("Handle", "Title", "Variant SKU", "Variant Price"), known=None, problems=problems)
        for line, raw in f.dicts():
            v, ok = parse_partial(f, line, raw, PRODUCT_COLS, problems)
            handle = v.get("Handle")
            if handle is not None and handle not in heads:
                heads[handle] = v  # a bad first row still carries the product's fields for its other rows
            if not ok or handle is None:
                continue
            head = heads[handle]
            if v.get("Variant Price") is None and not clean_text(raw.get("Variant SKU", "")) and not v.get(OPTIONS[0]):
                images += 1  # an image-only row
                continue
            if not head.get("Title"):
                problems.add(f.name, line, "Title", f"product {handle!r} has no Title on its first row")
                continue
            variant = _variant(v)
            name = f"{head['Title']} - {variant}" if variant else head["Title"]
            sku = _sku(raw.get("Variant SKU")) or title_key(name)
            if len(sku) > 64:
                problems.add(f.name, line, "Variant SKU", f"is {len(sku)} characters long; at most 64 allowed")
                continue
            if sku in rows:
                problems.add(f.name, line, "Variant SKU", f"{sku!r} appears again (first on line {rows[sku]['line']})")
                continue
            if v.get("Cost per item") is None:
                no_cost += 1
            category = head.get("Type") or (head.get("Product Category") or "").split(">")[-1].strip() or NEW_CATEGORY
            status = (head.get("Status") or "").lower()
            active = status == "active" if status else (head.get("Published") or "true").lower() == "true"
            rows[sku] = {"line": line, "sku": sku, "name": name[:300], "category": category[:100],
                         "size": (variant or "")[:32] or None, "price": v.get("Variant Price") or 0.0,
                         "unit_cost": v.get("Cost per item") or 0.0, "vendor": (head.get("Vendor") or "")[:64] or None,
                         "active": active}
    if problems:
        return total
    sup = _suppliers(session, {r["vendor"] for r in rows.values() if r["vendor"]}, counts)
    out = [{"sku": r["sku"], "name": r["name"], "category": r["category"], "size": r["size"], "price": r["price"],
            "unit_cost": r["unit_cost"], "supplier_id": sup.get(r["vendor"] or ""), "case_pack": 1, "moq": 1,
            "lead_time_days": None, "active": r["active"]} for r in rows.values()]
    counts.add("products", *upsert(session, Product.__table__, out, key=("sku",),
                                   update_cols=["name", "category", "size", "price", "unit_cost", "supplier_id",
                                                "active"]))
    if no_cost:
        warn.append(f"{no_cost:,} variant(s) without Cost per item: cost 0, so their stock value reads 0")
    if images:
        warn.append(f"{images:,} image-only row(s) skipped (no variant)")
    return total


def _suppliers(session: Session, vendors: set[str], counts: Counts) -> dict[str, int]:
    counts.add("suppliers", *upsert(session, Supplier.__table__, [
        {"code": v, "name": v, "city": None, "region": None, "country": None, "lead_time_days": None}
        for v in sorted(vendors)], key=("code",), update_cols=()))
    return {k[0]: i for k, i in id_map(session, Supplier.__table__, ("code",), [(v,) for v in vendors]).items()}


NOT_STOCKED = "not stocked"


def load_inventory(session: Session, *, files: Sequence[CsvFile], problems: Problems, counts: Counts,
                   progress: Progress | None = None, warnings: list[str] | None = None, actor: str = "") -> int:
    """Validate and upsert Shopify inventory exports; return rows read. Writes nothing when ``problems``."""
    warn = warnings if warnings is not None else []
    total = sum(f.n_records for f in files)
    snaps: dict[tuple[str, str], dict[str, Any]] = {}
    names: dict[str, str] = {}
    not_stocked = negative = 0
    for f in files:
        qty_col = "On hand (current)" if "On hand (current)" in f.header else "Available (not editable)"
        check_columns(f, required=("Handle", "Title", "SKU", "Location", qty_col), known=None, problems=problems)
        for line, raw in f.dicts():
            v, ok = parse_partial(f, line, raw, (Col("Handle", required=True), Col("Title", max_len=255),
                                                 Col("Location", required=True, max_len=200),
                                                 *(Col(o, max_len=100) for o in OPTIONS)), problems)
            cell = clean_text(raw.get(qty_col, ""))
            if cell.lower() == NOT_STOCKED:
                not_stocked += 1
                continue
            try:
                qty = parse_cell(Col(qty_col, "int", required=True, min=-MAX_UNITS, max=MAX_UNITS), cell)
            except Bad as exc:
                problems.add(f.name, line, qty_col, str(exc))
                continue
            if not ok:
                continue
            variant = _variant(v)
            name = f"{v.get('Title') or v['Handle']} - {variant}" if variant else (v.get("Title") or v["Handle"])
            sku = _sku(raw.get("SKU")) or title_key(name)
            key = (sku, v["Location"])
            if key in snaps:
                problems.add(f.name, line, "SKU", f"{sku!r} at {v['Location']!r} appears again (first on line "
                             f"{snaps[key]['line']})")
                continue
            if qty < 0:
                negative += 1
            snaps[key] = {"line": line, "qty": max(qty, 0)}
            names.setdefault(sku, name)
    if problems:
        return total
    known = lookup(session, Product.__table__.c.sku, names)
    new = [{"sku": s, "name": n[:300], "category": NEW_CATEGORY, "size": None, "price": 0.0, "unit_cost": 0.0,
            "supplier_id": None, "case_pack": 1, "moq": 1, "lead_time_days": None, "active": True}
           for s, n in sorted(names.items()) if s not in known]
    counts.add("products", *upsert(session, Product.__table__, new, key=("sku",), update_cols=()))
    prod = {k[0]: i for k, i in id_map(session, Product.__table__, ("sku",), [(s,) for s in names]).items()}
    locations = sorted({loc for _, loc in snaps})
    codes = {loc: loc[:32] for loc in locations}
    counts.add("warehouses", *upsert(session, Warehouse.__table__, [{"code": codes[loc], "name": loc}
                                                                    for loc in locations],
                                     key=("code",), update_cols=()))
    wh = {k[0]: i for k, i in id_map(session, Warehouse.__table__, ("code",), [(c,) for c in codes.values()]).items()}
    day = today()
    rows = [{"product_id": prod[s], "warehouse_id": wh[codes[loc]], "day": day, "on_hand": x["qty"]}
            for (s, loc), x in snaps.items()]
    counts.add("inventory_snapshots", *upsert(session, InventorySnapshot.__table__, rows,
                                              key=("product_id", "warehouse_id", "day"), update_cols=["on_hand"]))
    if new:
        warn.append(f"{len(new):,} product(s) created from the inventory export with price 0 and cost 0: import the "
                    "products export for their prices")
    if not_stocked:
        warn.append(f"{not_stocked:,} row(s) 'not stocked' at their location: no snapshot")
    if negative:
        warn.append(f"{negative:,} variant(s) with a negative on-hand (oversold) stored as 0")
    warn.append(f"stock recorded as of {day.isoformat()} (the export carries no date)")
    return total


PRODUCTS_FORMAT = Format(
    kind="shopify-products",
    doc="Shopify products export: variants become products (SKU, price, cost, vendor); image-only rows skipped.",
    signature=frozenset({"Handle", "Title", "Variant SKU", "Variant Price"}),
    load=load_products,
    rank=5,
)
INVENTORY_FORMAT = Format(
    kind="shopify-inventory",
    doc="Shopify inventory export: on hand per variant and location as today's inventory snapshot.",
    signature=frozenset({"Handle", "SKU", "Location", "On hand (current)"}),
    also=(frozenset({"Handle", "SKU", "Location", "Available (not editable)"}),),
    load=load_inventory,
    rank=6,
)
