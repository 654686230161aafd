"""UCI Online Retail layout (invoice lines: ``InvoiceNo, StockCode, Description, Quantity, InvoiceDate,
UnitPrice, CustomerID, Country``) -> orders, lines, products and returns.

The layout of the UCI "Online Retail" data set (Chen, Sain & Guo 2012), one row per invoice line,
often saved by R's ``write.csv`` with an unnamed first column of row numbers (ignored).

- An invoice (``InvoiceNo`` without a ``C``) is an order on channel ``online_retail``, ``source``
  online_retail: order_number = InvoiceNo, placed_at = InvoiceDate (``M/D/YYYY H:MM``, local
  time: the source's time zone), status ``shipped`` (an invoice was billed and dispatched; the
  layout has no shipments, so ship times are unknown), customer_region = Country. Its lines are
  numbered 1, 2, ... in file order: qty = Quantity (> 0), unit_price = UnitPrice.
- Products: StockCode is the SKU (kept as text: ``85123A``, ``POST`` and the other charge codes
  too). A StockCode not in the catalogue becomes a product: name = its latest non-empty
  Description, price = its latest UnitPrice, category ``Uncategorised``, cost 0 (the result
  warns). Existing products are left as they are.
- A cancellation (``InvoiceNo`` starting with ``C``, Quantity < 0) is a return of its StockCode,
  ``reason_code`` cancelled, qty = -Quantity, refund = qty x UnitPrice, received_at =
  InvoiceDate, rma_number = ``<InvoiceNo>-<n>`` (n = its line within the cancellation). It is
  matched to the original line: the latest line of the same CustomerID and StockCode on an
  invoice placed at or before it, among the files of the same import (customers are not
  stored, so a cancellation imported after its invoice cannot be matched). When no original is found (a
  sample of the data, or no CustomerID), the return is recorded against a line of its own
  cancelled order, order_number = the C invoice, status ``cancelled``, so the return still names
  its SKU; the result says how many were matched.
- A row with a negative Quantity on an invoice that is not a cancellation is a stock
  adjustment (UnitPrice 0, no customer, descriptions such as "damaged" or "?"): not a sale, not
  imported; the result counts them.

Every row is checked (types, the sign of Quantity against the kind of invoice). The lines of
one invoice may carry times a minute apart (seen in the data): the invoice is placed at the
earliest. Re-importing the file changes nothing; a newer file updates in place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from ops.ingest.formats import Format
from ops.ingest.reader import (
    MAX_UNITS,
    Col,
    CsvFile,
    Problems,
    Progress,
    check_columns,
    parse_partial,
)
from ops.ingest.store import Counts, id_map, lookup, other_source_orders, upsert
from ops.models import Channel, Order, OrderLine, Product, Return

CHANNEL = ("online_retail", "Online retail (invoices)")
SOURCE = "online_retail"
NEW_CATEGORY = "Uncategorised"
REASON = "cancelled"
COLS = (
    Col("InvoiceNo", required=True, max_len=60),
    Col("StockCode", required=True, max_len=64),
    Col("Description", max_len=300),
    Col("Quantity", "int", required=True, min=-MAX_UNITS, max=MAX_UNITS),
    Col("UnitPrice", "float", required=True, min=0),
    Col("CustomerID", max_len=32),
    Col("Country", max_len=50),
)
DATE = Col("InvoiceDate", "us_datetime", required=True)
REQUIRED = ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice")
def _no_customer(v: str | None) -> str | None:
    return None if v in (None, "", "NA", "NaN", "nan") else v


def load(session: Session, *, files: Sequence[CsvFile], problems: Problems, counts: Counts,
         progress: Progress | None = None, warnings: list[str] | None = None, actor: str = "") -> int:
    """Validate and upsert UCI Online Retail files; return rows read. Writes nothing when ``problems``."""
    warn = warnings if warnings is not None else []
    total = sum(f.n_records for f in files)
    invoices: dict[str, dict[str, Any]] = {}
    adjustments = 0
    done = 0
    for f in files:
        check_columns(f, required=REQUIRED, known=None, problems=problems)
        if not set(REQUIRED) <= set(f.header):
            continue
        for line, raw in f.dicts():
            done += 1
            if progress and done % 2000 == 0:
                progress(done, total)
            v, ok = parse_partial(f, line, raw, (*COLS, DATE), problems)
            inv = v.get("InvoiceNo")
            if inv is None or not ok:
                continue
            cancel = inv.upper().startswith("C")
            qty = v["Quantity"]
            if qty == 0:
                problems.add(f.name, line, "Quantity", "is 0: a line sells or cancels at least one unit")
                continue
            if cancel and qty > 0:
                problems.add(f.name, line, "Quantity", f"is {qty} on cancellation {inv}: a cancellation's "
                             "quantity is negative")
                continue
            if not cancel and qty < 0:
                adjustments += 1  # a stock adjustment, not a sale (module docstring)
                continue
            o = invoices.get(inv)
            if o is None:
                o = invoices[inv] = {"at": v["InvoiceDate"], "country": v.get("Country"), "cancel": cancel,
                                     "customer": _no_customer(v.get("CustomerID")), "lines": [],
                                     "file": f.name, "line": line}
            elif v["InvoiceDate"] < o["at"]:
                o["at"] = v["InvoiceDate"]  # an invoice keyed over a minute's change: placed at its first time
            o["lines"].append((f.name, line, v))
    orders = {n: o for n, o in invoices.items() if not o["cancel"]}
    for number, src in other_source_orders(session, list(invoices), SOURCE).items():
        o = invoices[number]
        problems.add(o["file"], o["line"], "InvoiceNo", f"order {number!r} already exists from source {src!r}; "
                     "this import does not change another source's order")
    if problems:
        return total

    ch = Channel.__table__
    counts.add("channels", *upsert(session, ch, [{"code": CHANNEL[0], "name": CHANNEL[1]}], key=("code",),
                                   update_cols=()))
    channel_id = id_map(session, ch, ("code",), [(CHANNEL[0],)])[(CHANNEL[0],)]
    prod_id = _products(session, invoices, counts, warn)
    # Originals matched first, so the cancellations' own orders exist only for the unmatched ones.
    matches, unmatched = _match(invoices, orders)
    own = {n for n, _, _ in unmatched}
    heads = [{"order_number": n, "channel_id": channel_id, "warehouse_id": None, "customer_region": o["country"],
              "status": "cancelled" if o["cancel"] else "shipped", "placed_at": o["at"], "paid_at": None,
              "ship_by": None, "source": SOURCE}
             for n, o in invoices.items() if not o["cancel"] or n in own]
    counts.add("orders", *upsert(session, Order.__table__, heads, key=("order_number",),
                                 update_cols=["channel_id", "customer_region", "status", "placed_at"]))
    oid = id_map(session, Order.__table__, ("order_number",), [(h["order_number"],) for h in heads])
    lines = []
    for n, o in invoices.items():
        if o["cancel"] and n not in own:
            continue
        for i, (_, _, v) in enumerate(o["lines"], start=1):
            lines.append({"order_id": oid[(n,)], "line_no": i, "product_id": prod_id[v["StockCode"]],
                          "seller_id": None, "qty": abs(v["Quantity"]), "unit_price": v["UnitPrice"],
                          "freight": 0.0, "ship_by": None})
    counts.add("order_lines", *upsert(session, OrderLine.__table__, lines, key=("order_id", "line_no"),
                                      update_cols=["product_id", "qty", "unit_price"]))
    line_id = id_map(session, OrderLine.__table__, ("order_id", "line_no"),
                     [(r["order_id"], r["line_no"]) for r in lines])
    rets = []
    for n, i, v, (number, line_no) in matches + [(n, i, v, (n, i)) for n, i, v in unmatched]:
        lid = line_id[(oid[(number,)], line_no)]
        q = -v["Quantity"]
        rets.append({"rma_number": f"{n}-{i}", "order_line_id": lid, "qty": q, "reason_code": REASON,
                     "comment": None, "received_at": invoices[n]["at"], "refund_amount": round(q * v["UnitPrice"], 2),
                     "disposition": None})
    counts.add("returns", *upsert(session, Return.__table__, rets, key=("rma_number",),
                                  update_cols=["order_line_id", "qty", "received_at", "refund_amount"]))
    n_c = len(rets)
    if n_c:
        warn.append(f"{n_c:,} cancellation line(s) recorded as returns: {len(matches):,} matched to the original "
                    f"invoice line (same customer and StockCode, placed before), {len(unmatched):,} recorded against "
                    "their own cancelled invoice (the original is not in the data)")
    if adjustments:
        warn.append(f"{adjustments:,} row(s) with a negative Quantity on an invoice that is not a cancellation "
                    "(stock adjustments) are not sales and were not imported")
    return total


def _products(session: Session, invoices: dict[str, dict[str, Any]], counts: Counts,
              warn: list[str]) -> dict[str, int]:
    codes = {v["StockCode"] for o in invoices.values() for _, _, v in o["lines"]}
    known = lookup(session, Product.__table__.c.sku, codes)
    latest: dict[str, tuple[dt.datetime, float, str | None]] = {}
    for o in invoices.values():
        for _, _, v in o["lines"]:
            code = v["StockCode"]
            if code in known:
                continue
            prev = latest.get(code)
            name = v.get("Description") or (prev[2] if prev else None)
            if prev is None or o["at"] >= prev[0]:
                latest[code] = (o["at"], v["UnitPrice"], name)
            elif prev[2] is None and name:
                latest[code] = (prev[0], prev[1], name)
    if not latest:
        return known
    rows = [{"sku": c, "name": name or c, "category": NEW_CATEGORY, "size": None, "unit_cost": 0.0, "price": price,
             "supplier_id": None, "case_pack": 1, "moq": 1, "lead_time_days": None, "active": True}
            for c, (_, price, name) in sorted(latest.items())]
    counts.add("products", *upsert(session, Product.__table__, rows, key=("sku",), update_cols=()))
    warn.append(f"{len(rows):,} product(s) created from the invoice lines; the file has no cost, so their cost is 0 "
                "and their stock value reads 0 until a products file with costs is imported")
    known.update({k: i for (k,), i in id_map(session, Product.__table__, ("sku",), [(c,) for c in latest]).items()})
    return known


def _match(invoices: dict[str, dict[str, Any]], orders: dict[str, dict[str, Any]]
           ) -> tuple[list[tuple[str, int, dict[str, Any], tuple[str, int]]], list[tuple[str, int, dict[str, Any]]]]:
    """Each cancellation line's original ``(C invoice, n, values, (order number, line_no))``, and the unmatched.

    The original is the latest line with the same customer and StockCode on an invoice placed at
    or before the cancellation, among the files of this import (customers are not stored, so
    lines imported earlier cannot be matched; import a cancellation with its invoices).
    """
    cand: dict[tuple[str, str], list[tuple[dt.datetime, str, int]]] = {}
    for n, o in orders.items():
        if o["customer"] is None:
            continue
        for i, (_, _, v) in enumerate(o["lines"], start=1):
            cand.setdefault((o["customer"], v["StockCode"]), []).append((o["at"], n, i))
    matched: list[tuple[str, int, dict[str, Any], tuple[str, int]]] = []
    unmatched: list[tuple[str, int, dict[str, Any]]] = []
    for n, o in invoices.items():
        if not o["cancel"]:
            continue
        for i, (_, _, v) in enumerate(o["lines"], start=1):
            found = [c for c in cand.get((o["customer"], v["StockCode"]), []) if c[0] <= o["at"]] \
                if o["customer"] else []
            if found:
                _, number, line_no = max(found)
                matched.append((n, i, v, (number, line_no)))
            else:
                unmatched.append((n, i, v))
    return matched, unmatched


FORMAT = Format(
    kind="online-retail",
    doc="UCI Online Retail invoice lines (InvoiceNo, StockCode, ...): orders, products; C invoices as returns.",
    signature=frozenset({"InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice"}),
    load=load,
)
