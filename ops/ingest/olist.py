"""Olist Brazilian e-commerce data (a folder of the Kaggle CSV files, or the files) -> OpsDeck tables.

Files are recognised by their header, never by their name (``orders.csv`` or
``olist_orders_dataset.csv`` alike; see :data:`SIGNATURES`). The orders, order items, products
and customers files are required. Sellers, reviews and the category translation are optional;
what a missing one costs is said once, as a warning on the result:

- no sellers file: sellers are created from the order items with no city or state, so every
  shipment's lane and every seller's region are unknown (an existing seller's city and state are
  left as they are);
- no reviews file: no review scores (satisfaction against lateness stays empty);
- no translation file: categories keep their Portuguese names.

The payments and geolocation files are recognised and not read (nothing uses them). Any other
CSV file among the ones given is refused by name, so a file from another export is never
silently left out.

Mapping
-------
- Channel ``olist`` ("Olist marketplace"); every order has ``source`` olist and no warehouse.
- sellers -> ``suppliers``: code = seller_id, name = "Olist seller <first 8 of id>", city =
  seller_city, region = seller_state, country "BR". Every row of the sellers file is imported
  (without it: every seller of an order item, with no city or state).
- products -> ``products``: sku = product_id, category = the English name from
  product_category_name_translation.csv, else the Portuguese name, else "unknown";
  name = "<category> <first 8 of id>"; unit_cost 0; price = mean item price over its order
  items (0 when never sold); supplier = the seller of its first order item (earliest
  order_purchase_timestamp, then order_id, then order_item_id).
- orders -> ``orders``: order_number = order_id, placed_at = order_purchase_timestamp, paid_at =
  order_approved_at, ship_by = the earliest shipping_limit_date of its items, customer_region =
  customer_state (customers file), status: delivered, shipped, canceled -> cancelled,
  unavailable, processing, invoiced -> processing, created / approved -> pending.
- order_items -> ``order_lines``: line_no = order_item_id, qty 1, unit_price = price,
  freight = freight_value, ship_by = shipping_limit_date, seller = seller_id.
- ``shipments``: one per order with an order_delivered_carrier_date: tracking_number =
  "OL-" + order_id, shipped_at = order_delivered_carrier_date, promised_at =
  order_estimated_delivery_date, delivered_at = first_attempt_at = order_delivered_customer_date,
  status delivered when delivered_at is set else in_transit, lane = "<state of the seller of
  its first item>><customer state>" (NULL for an order without items), carrier unknown (NULL).
- reviews -> ``reviews``: review ids repeat across orders in Olist, so review_key =
  review_id + ":" + order_id; score, title, comment, created_at = review_creation_date.
- Payments (olist_order_payments_dataset.csv) are not stored: nothing in OpsDeck uses them.
  Customer zip prefixes and cities, product dimensions and weights are not stored either.

Every file is read with the shared CSV reader (the sellers file has irregular quoting) and
every row is checked: types, required ids, duplicate ids, and references between the files
(items to orders, products and sellers; orders to customers; reviews to orders). Keys are kept
per source: an order_id that already exists as another source's order number is refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from ops.ingest.reader import (
    MAX_LINE_NO,
    PLAN,
    Col,
    CsvFile,
    ImportError_,
    Problems,
    Progress,
    check_columns,
    parse_partial,
    read_csv,
    refuse,
)
from ops.ingest.store import Counts, id_map, other_source_orders, upsert
from ops.models import Channel, Order, OrderLine, Product, Review, Shipment, Supplier

CHANNEL = ("olist", "Olist marketplace")
SOURCE = "olist"
STATUS = {
    "delivered": "delivered", "shipped": "shipped", "canceled": "cancelled", "unavailable": "unavailable",
    "processing": "processing", "invoiced": "processing", "created": "pending", "approved": "pending",
}
FILES: dict[str, tuple[Col, ...]] = {
    "orders": (
        Col("order_id", required=True, max_len=64), Col("customer_id", required=True, max_len=64),
        Col("order_status", required=True, choices=tuple(STATUS)),
        Col("order_purchase_timestamp", "datetime", required=True), Col("order_approved_at", "datetime"),
        Col("order_delivered_carrier_date", "datetime"), Col("order_delivered_customer_date", "datetime"),
        Col("order_estimated_delivery_date", "datetime", horizon=PLAN),
    ),
    "order_items": (
        Col("order_id", required=True, max_len=64), Col("order_item_id", "int", required=True, min=1, max=MAX_LINE_NO),
        Col("product_id", required=True, max_len=64), Col("seller_id", required=True, max_len=64),
        Col("shipping_limit_date", "datetime", horizon=PLAN), Col("price", "float", required=True, min=0),
        Col("freight_value", "float", min=0),
    ),
    "customers": (
        Col("customer_id", required=True, max_len=64), Col("customer_state", max_len=50),
    ),
    "products": (
        Col("product_id", required=True, max_len=64), Col("product_category_name", max_len=90),
    ),
    "sellers": (
        Col("seller_id", required=True, max_len=64), Col("seller_city", max_len=100), Col("seller_state", max_len=50),
    ),
    "reviews": (
        Col("review_id", required=True, max_len=64), Col("order_id", required=True, max_len=64),
        Col("review_score", "int", required=True, min=1, max=5), Col("review_comment_title", max_len=200),
        Col("review_comment_message", multiline=True), Col("review_creation_date", "datetime"),
    ),
    "translation": (
        Col("product_category_name", required=True), Col("product_category_name_english", max_len=100),
    ),
}
# (file, natural key columns) checked for duplicates
KEYS = {
    "orders": ("order_id",),
    "order_items": ("order_id", "order_item_id"),
    "customers": ("customer_id",),
    "products": ("product_id",),
    "sellers": ("seller_id",),
    "reviews": ("review_id", "order_id"),
    "translation": ("product_category_name",),
}

Rows = list[tuple[int, dict[str, Any]]]


# role -> columns whose presence identifies the file (a file matching several takes the largest set)
SIGNATURES: dict[str, frozenset[str]] = {
    "orders": frozenset({"order_id", "customer_id", "order_status", "order_purchase_timestamp"}),
    "order_items": frozenset({"order_id", "order_item_id", "product_id", "seller_id"}),
    "customers": frozenset({"customer_id", "customer_state"}),
    "products": frozenset({"product_id", "product_category_name"}),
    "sellers": frozenset({"seller_id", "seller_state"}),
    "reviews": frozenset({"review_id", "order_id", "review_score"}),
    "translation": frozenset({"product_category_name", "product_category_name_english"}),
    "payments": frozenset({"order_id", "payment_sequential", "payment_type"}),
    "geolocation": frozenset({"geolocation_zip_code_prefix", "geolocation_lat"}),
}
REQUIRED_ROLES = ("orders", "order_items", "products", "customers")
NOT_READ = ("payments", "geolocation")  # recognised, not used
ABSENT_COSTS = {
    "sellers": "seller state unknown: no sellers file (shipments have no lane, sellers no city or state)",
    "reviews": "no review scores: no reviews file (satisfaction against lateness stays empty)",
    "translation": "categories keep their Portuguese names: no category translation file",
}
CSV_SUFFIXES = (".csv", ".tsv", ".txt")


def role_of(header: Sequence[str]) -> str | None:
    """The Olist file ``header`` belongs to (a key of :data:`SIGNATURES`), or None."""
    cols = set(header)
    fits = [r for r, sig in SIGNATURES.items() if sig <= cols]
    return max(fits, key=lambda r: len(SIGNATURES[r])) if fits else None


def olist_paths(paths: Sequence[Path]) -> list[Path]:
    """The files to consider: the CSV files of a folder (one level), or the files given."""
    if len(paths) == 1 and paths[0].is_dir():
        return sorted(p for p in paths[0].iterdir() if p.is_file() and p.suffix.lower() in CSV_SUFFIXES)
    return list(paths)


def read_folder(folder: Path | Sequence[Path], *, problems: Problems) -> list[CsvFile]:
    """Read the Olist files of a folder, or the files given, recognising each by its header.

    Returns the files to import in :data:`FILES` order (payments and geolocation are recognised
    and left out). A required file missing, two files of one kind, or a CSV that is no Olist
    file are added to ``problems`` (the other files are still read and checked).
    """
    given = [folder] if isinstance(folder, Path) else list(folder)
    if len(given) == 1 and not given[0].exists():
        raise refuse(given[0].name or str(given[0]), "olist import needs the folder holding the Olist CSV files")
    where = given[0].name if len(given) == 1 else "olist"
    by_role: dict[str, CsvFile] = {}
    for p in olist_paths(given):
        try:
            f = read_csv(p, problems=problems)
        except ImportError_ as exc:
            problems.extend(exc.errors)
            continue
        role = role_of(f.header)
        if role is None:
            problems.add(f.name, 1, "", "not an Olist file: its header matches none of the Olist files (orders, "
                         "order items, products, customers, sellers, reviews, payments, category translation)")
        elif role in by_role:
            problems.add(f.name, 1, "", f"a second Olist {role.replace('_', ' ')} file (the first is "
                         f"{by_role[role].name}); import one of them at a time")
        else:
            by_role[role] = f
    for r in REQUIRED_ROLES:
        if r not in by_role:
            problems.add(where, 0, "", f"no Olist {r.replace('_', ' ')} file (a CSV with the columns "
                         f"{', '.join(sorted(SIGNATURES[r]))})")
    return [by_role[r] for r in FILES if r in by_role]


def _parse(files: Sequence[CsvFile], problems: Problems, progress: Progress | None, total: int) -> dict[str, Rows]:
    out: dict[str, Rows] = {}
    done = 0
    for f in files:
        role = role_of(f.header) or ""
        cols = FILES[role]
        rows: Rows = []
        out[role] = rows
        check_columns(f, required=[c.name for c in cols], known=None, problems=problems)
        seen: dict[tuple[Any, ...], int] = {}
        key = KEYS[role]
        for line, raw in f.dicts():
            done += 1
            if progress and done % 2000 == 0:
                progress(done, total)
            # A row with a bad cell keeps its good ones: its references are still checked in this pass.
            v, _ = parse_partial(f, line, raw, cols, problems)
            k = tuple(v.get(c) for c in key)
            if None not in k and k in seen:
                problems.add(f.name, line, key[-1], f"duplicate {'/'.join(key)} {'/'.join(map(str, k))}; "
                             f"first on line {seen[k]}")
                continue
            if None not in k:
                seen[k] = line
            rows.append((line, v))
    return out


def _check_refs(data: dict[str, Rows], problems: Problems, headers: dict[str, dict[str, bool]],
                names: dict[str, str]) -> None:
    def ids(file: str, col: str) -> set[Any]:
        return {v[col] for _, v in data[file] if v.get(col) is not None}

    checks = [
        ("orders", "customer_id", "customers", "customer_id", "customer"),
        ("order_items", "order_id", "orders", "order_id", "order"),
        ("order_items", "product_id", "products", "product_id", "product"),
        ("order_items", "seller_id", "sellers", "seller_id", "seller"),
        ("reviews", "order_id", "orders", "order_id", "order"),
    ]
    for file, col, target, tcol, what in checks:
        if not headers.get(file, {}).get(col) or not headers.get(target, {}).get(tcol):
            continue  # a missing column is reported already; every row would be "unknown"
        known = ids(target, tcol)
        for line, v in data[file]:
            if v.get(col) is not None and v[col] not in known:
                problems.add(names[file], line, col, f"unknown {what} {v[col]!r} (not in {names[target]})")


def import_olist(session: Session, *, files: Sequence[CsvFile], problems: Problems, counts: Counts,
                 progress: Progress | None = None, warnings: list[str] | None = None) -> int:
    """Validate and upsert the Olist files (from :func:`read_folder`); return rows read."""
    total = sum(f.n_records for f in files)
    names = {role_of(f.header) or "": f.name for f in files}
    if any(r not in names for r in REQUIRED_ROLES):
        return total  # read_folder reported the missing file
    data = _parse(files, problems, progress, total)
    for role in FILES:
        data.setdefault(role, [])
    _check_refs(data, problems, {role_of(f.header) or "": dict.fromkeys(f.header, True) for f in files}, names)
    first = {v["order_id"]: line for line, v in data["orders"] if v.get("order_id") is not None}
    for number, src in other_source_orders(session, list(first), SOURCE).items():
        problems.add(names["orders"], first[number], "order_id",
                     f"order {number!r} already exists from source {src!r}; an Olist import does not change "
                     "another source's order (rename one of them)")
    if problems:
        return total

    orders = {v["order_id"]: v for _, v in data["orders"]}
    items = sorted((v for _, v in data["order_items"]),
                   key=lambda v: (orders[v["order_id"]]["order_purchase_timestamp"], v["order_id"], v["order_item_id"]))
    has_sellers = "sellers" in names
    sellers = {v["seller_id"]: v for _, v in data["sellers"]}
    for v in items:  # without a sellers file: the sellers of the order items, city and state unknown
        sellers.setdefault(v["seller_id"], {})
    if warnings is not None:
        warnings.extend(cost for role, cost in ABSENT_COSTS.items() if role not in names)
    state_of = {v["customer_id"]: v.get("customer_state") for _, v in data["customers"]}
    english = {v["product_category_name"]: v.get("product_category_name_english")
               for _, v in data["translation"]}

    ch = Channel.__table__
    counts.add("channels", *upsert(session, ch, [{"code": CHANNEL[0], "name": CHANNEL[1]}], key=("code",),
                                   update_cols=()))
    channel_id = id_map(session, ch, ("code",), [(CHANNEL[0],)])[(CHANNEL[0],)]

    sup_rows = [{"code": s, "name": f"Olist seller {s[:8]}", "city": v.get("seller_city"),
                 "region": v.get("seller_state"), "country": "BR", "lead_time_days": None}
                for s, v in sellers.items()]
    counts.add("suppliers", *upsert(session, Supplier.__table__, sup_rows, key=("code",),
                                    update_cols=["name", "city", "region", "country"] if has_sellers else []))
    sup_id = id_map(session, Supplier.__table__, ("code",), [(s,) for s in sellers])

    first_seller: dict[str, str] = {}
    prices: dict[str, list[float]] = {}
    for v in items:  # in (placed_at, order_id, item) order: the first item wins
        first_seller.setdefault(v["product_id"], v["seller_id"])
        prices.setdefault(v["product_id"], []).append(v["price"])
    prod_rows = []
    for _, v in data["products"]:
        pid, pt = v["product_id"], v.get("product_category_name")
        cat = (english.get(pt) or pt) if pt else None
        cat = cat or "unknown"
        p = prices.get(pid)
        seller = first_seller.get(pid)
        prod_rows.append({"sku": pid, "name": f"{cat} {pid[:8]}", "category": cat, "unit_cost": 0.0,
                          "price": sum(p) / len(p) if p else 0.0,
                          "supplier_id": sup_id[(seller,)] if seller else None})
    counts.add("products", *upsert(session, Product.__table__, prod_rows, key=("sku",),
                                   update_cols=["name", "category", "unit_cost", "price", "supplier_id"]))
    prod_id = id_map(session, Product.__table__, ("sku",), [(r["sku"],) for r in prod_rows])

    ship_by: dict[str, dt.datetime] = {}
    first_item_seller: dict[str, tuple[int, str]] = {}
    for v in items:
        lim = v.get("shipping_limit_date")
        o = v["order_id"]
        if lim is not None and (o not in ship_by or lim < ship_by[o]):
            ship_by[o] = lim
        if o not in first_item_seller or v["order_item_id"] < first_item_seller[o][0]:
            first_item_seller[o] = (v["order_item_id"], v["seller_id"])
    order_rows = [{
        "order_number": o, "channel_id": channel_id, "warehouse_id": None,
        "customer_region": state_of.get(v["customer_id"]), "status": STATUS[v["order_status"]],
        "placed_at": v["order_purchase_timestamp"], "paid_at": v.get("order_approved_at"),
        "ship_by": ship_by.get(o), "source": SOURCE,
    } for o, v in orders.items()]
    counts.add("orders", *upsert(session, Order.__table__, order_rows, key=("order_number",),
                                 update_cols=["channel_id", "warehouse_id", "customer_region", "status",
                                              "placed_at", "paid_at", "ship_by"]))
    order_id = id_map(session, Order.__table__, ("order_number",), [(o,) for o in orders])

    line_rows = [{
        "order_id": order_id[(v["order_id"],)], "line_no": v["order_item_id"],
        "product_id": prod_id[(v["product_id"],)],
        "seller_id": sup_id[(v["seller_id"],)], "qty": 1, "unit_price": v["price"],
        "freight": v.get("freight_value") or 0.0, "ship_by": v.get("shipping_limit_date"),
    } for v in items]
    counts.add("order_lines", *upsert(session, OrderLine.__table__, line_rows, key=("order_id", "line_no"),
                                      update_cols=["product_id", "seller_id", "qty", "unit_price", "freight",
                                                   "ship_by"]))

    ship_rows = []
    for o, v in orders.items():
        shipped = v.get("order_delivered_carrier_date")
        if shipped is None:
            continue
        delivered = v.get("order_delivered_customer_date")
        first_item = first_item_seller.get(o)
        seller_state = sellers[first_item[1]].get("seller_state") if first_item else None
        cust_state = state_of.get(v["customer_id"])
        ship_rows.append({
            "tracking_number": f"OL-{o}", "order_id": order_id[(o,)], "warehouse_id": None, "carrier_id": None,
            "service_id": None, "zone": None,
            "lane": f"{seller_state}>{cust_state}" if seller_state and cust_state else None,
            "label_cost": 0.0, "shipped_at": shipped, "promised_at": v.get("order_estimated_delivery_date"),
            "first_attempt_at": delivered, "delivered_at": delivered,
            "status": "delivered" if delivered is not None else "in_transit",
        })
    counts.add("shipments", *upsert(session, Shipment.__table__, ship_rows, key=("tracking_number",),
                                    update_cols=["order_id", "lane", "shipped_at", "promised_at",
                                                 "first_attempt_at", "delivered_at", "status"]))

    review_rows = [{
        "review_key": f"{v['review_id']}:{v['order_id']}", "order_id": order_id[(v["order_id"],)],
        "score": v["review_score"], "title": v.get("review_comment_title"),
        "comment": v.get("review_comment_message"), "created_at": v.get("review_creation_date"),
    } for _, v in data["reviews"]]
    counts.add("reviews", *upsert(session, Review.__table__, review_rows, key=("review_key",),
                                  update_cols=["order_id", "score", "title", "comment", "created_at"]))
    return total
