"""What the marketplace and shop-system order importers share: writing orders, lines and the products they name.

An importer parses its rows into :class:`OrderIn` / :class:`LineIn` (reporting bad cells itself),
then :func:`check_orders` adds the cross-row problems (another source's order number, a currency
other than the shop's) and :func:`write_orders` upserts channel, new products, orders and lines.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from ops.fmt import currency as shop_currency
from ops.ingest.reader import Problems
from ops.ingest.store import Counts, id_map, lookup, other_source_orders, upsert
from ops.models import Channel, Order, OrderLine, Product, Supplier

NEW_CATEGORY = "Uncategorised"


@dataclass
class LineIn:
    file: str
    line: int
    sku: str
    title: str | None
    qty: int
    unit_price: float
    vendor: str | None = None
    freight: float = 0.0


@dataclass
class OrderIn:
    number: str
    placed_at: dt.datetime
    file: str
    line: int
    status: str = "pending"
    paid_at: dt.datetime | None = None
    region: str | None = None
    currency: str | None = None
    currency_line: int = 0
    shipping: float = 0.0  # the order's shipping charge: its first line's freight
    lines: list[LineIn] = field(default_factory=list)


def check_orders(session: Session, orders: dict[str, OrderIn], *, source: str, problems: Problems,
                 id_column: str) -> None:
    """Report order numbers that belong to another source, and a currency other than the shop's (once each)."""
    for number, src in other_source_orders(session, list(orders), source).items():
        o = orders[number]
        problems.add(o.file, o.line, id_column, f"order {number!r} already exists from source {src!r}; this "
                     "import does not change another source's order (rename one of them)")
    shop = shop_currency()
    seen: set[str] = set()
    for o in orders.values():
        cur = (o.currency or "").upper()
        if cur and cur != shop and cur not in seen:
            seen.add(cur)
            n = sum(1 for x in orders.values() if (x.currency or "").upper() == cur)
            problems.add(o.file, o.currency_line or o.line, "currency", f"order {o.number} (and {n - 1:,} more) "
                         f"is in {cur}, but the shop's currency is {shop} (OPS_CURRENCY) and amounts are stored "
                         f"without conversion: set OPS_CURRENCY={cur} for a {cur} shop, or export in {shop}")


def write_orders(session: Session, orders: dict[str, OrderIn], *, channel: tuple[str, str], source: str,
                 counts: Counts, warn: list[str], what: str = "order lines") -> dict[str, int]:
    """Upsert the channel, the products the lines name that the catalogue lacks, the orders and their lines.

    New products: name = the line's title, price = the unit price on its latest order, supplier
    = the line's vendor (created when new), category ``Uncategorised``, cost 0 (warned once).
    Existing products are not changed. Lines are numbered 1, 2, ... in the order given. Returns
    order number -> order id.
    """
    ch = Channel.__table__
    counts.add("channels", *upsert(session, ch, [{"code": channel[0], "name": channel[1]}], key=("code",),
                                   update_cols=()))
    channel_id = id_map(session, ch, ("code",), [(channel[0],)])[(channel[0],)]
    prod = _products(session, orders, counts, warn, what)
    heads = [{"order_number": n, "channel_id": channel_id, "warehouse_id": None, "customer_region": o.region,
              "status": o.status, "placed_at": o.placed_at, "paid_at": o.paid_at, "ship_by": None, "source": source}
             for n, o in orders.items()]
    counts.add("orders", *upsert(session, Order.__table__, heads, key=("order_number",),
                                 update_cols=["channel_id", "customer_region", "status", "placed_at", "paid_at"]))
    oid = {k[0]: v for k, v in id_map(session, Order.__table__, ("order_number",), [(n,) for n in orders]).items()}
    rows = [{"order_id": oid[n], "line_no": i, "product_id": prod[ln.sku], "seller_id": None, "qty": ln.qty,
             "unit_price": ln.unit_price, "freight": ln.freight, "ship_by": None}
            for n, o in orders.items() for i, ln in enumerate(o.lines, start=1)]
    counts.add("order_lines", *upsert(session, OrderLine.__table__, rows, key=("order_id", "line_no"),
                                      update_cols=["product_id", "qty", "unit_price", "freight"]))
    return oid


def _products(session: Session, orders: dict[str, OrderIn], counts: Counts, warn: list[str],
              what: str) -> dict[str, int]:
    skus = {ln.sku for o in orders.values() for ln in o.lines}
    known = lookup(session, Product.__table__.c.sku, skus)
    latest: dict[str, tuple[dt.datetime, LineIn]] = {}
    for o in orders.values():
        for ln in o.lines:
            if ln.sku not in known and (ln.sku not in latest or o.placed_at >= latest[ln.sku][0]):
                latest[ln.sku] = (o.placed_at, ln)
    if not latest:
        return known
    vendors = sorted({ln.vendor[:64] for _, ln in latest.values() if ln.vendor})
    counts.add("suppliers", *upsert(session, Supplier.__table__, [
        {"code": v, "name": v, "city": None, "region": None, "country": None, "lead_time_days": None}
        for v in vendors], key=("code",), update_cols=()))
    sup = {k[0]: i for k, i in id_map(session, Supplier.__table__, ("code",), [(v,) for v in vendors]).items()}
    rows = [{"sku": sku, "name": (ln.title or sku)[:300], "category": NEW_CATEGORY, "size": None, "unit_cost": 0.0,
             "price": ln.unit_price, "supplier_id": sup.get((ln.vendor or "")[:64]), "case_pack": 1, "moq": 1,
             "lead_time_days": None, "active": True} for sku, (_, ln) in sorted(latest.items())]
    counts.add("products", *upsert(session, Product.__table__, rows, key=("sku",), update_cols=()))
    warn.append(f"{len(rows):,} product(s) created from the {what}; the export has no cost, so their cost is 0 and "
                "their stock value reads 0 until a products file with costs is imported")
    known.update({k[0]: i for k, i in id_map(session, Product.__table__, ("sku",), [(s,) for s in latest]).items()})
    return known
