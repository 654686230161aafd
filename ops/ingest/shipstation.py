"""ShipStation exports -> shipments of orders already imported (from Shopify, Amazon, ... or in the same run).

Two layouts are recognised by their header:

- the **grid export** (the visible columns of the Orders grid): ``Order #, Store, Age, Order Date,
  Item Name, Recipient, Ship Date, Quantity, Item SKU, Order Total, Shipping Paid, Rate,
  Service, Tags`` - one row per order; a multi-item order shows ``(2 Items)`` as its item name
  and no SKU (the items are not needed for a shipment);
- the **order export** with ``Group - Field`` headers: ``Order - Number``, ``Date - Shipped
  Date``, ``Carrier - Service Requested``, ``Amount - Shipping Cost``, ... - one row per item;
  the rows of one shipment are folded into one. ``Market - Markeplace Name`` (ShipStation's own
  spelling) and ``Market - Marketplace Name`` are both accepted (neither is used).

Mapping: the order is ``Order #`` / ``Order - Number`` (kept as text: 18-digit marketplace numbers
stay whole); it must exist, as written or with a leading ``#`` (Shopify's ``#1001`` is ShipStation's
``1001``). ``shipped_at`` = Ship Date (``M/D/YYYY [h:mm[:ss] AM]``, local time: the import's
time zone), ``label_cost`` = Rate / Amount - Shipping Cost (what the label cost; ``Shipping Paid``
is what the customer paid and is not a cost), the carrier = the first word(s) of the service
(``USPS Ground Advantage`` -> USPS, created when new; NULL when not a known carrier). The service
level is not stored (a carrier service needs its promised days, which the export lacks). Rows
without a ship date (not shipped yet) are skipped and counted.

The tracking number is the ``Tracking Number`` / ``Shipment - Tracking Number`` column when the
export has one; otherwise a stable key ``SS-<order>-<10 hex>`` from the order, ship date, service
and cost, so a re-export of the same label (the duplicates ShipStation is known for) is the same
shipment and a second label of one order (another cost) is another.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from ops.ingest.formats import Format
from ops.ingest.reader import Col, CsvFile, Problems, Progress, check_columns, parse_partial
from ops.ingest.store import Counts, id_map, lookup, upsert
from ops.models import Carrier, Order, Shipment

# layout -> our field -> the column names that hold it (the first present is used)
LAYOUTS: dict[str, dict[str, tuple[str, ...]]] = {
    "grid": {"order": ("Order #",), "shipped": ("Ship Date",), "service": ("Service",), "cost": ("Rate",),
             "tracking": ("Tracking Number", "Tracking #")},
    "export": {"order": ("Order - Number",), "shipped": ("Date - Shipped Date",),
               "service": ("Carrier - Service Requested", "Shipment - Service"),
               "cost": ("Amount - Shipping Cost",),
               "tracking": ("Shipment - Tracking Number", "Tracking Number", "Package - Tracking Number")},
}
CARRIERS = {"USPS": "USPS", "UPS": "UPS", "FEDEX": "FedEx", "DHL": "DHL", "ONTRAC": "OnTrac",
            "AMAZON": "Amazon Shipping", "CANADA POST": "Canada Post", "ROYAL MAIL": "Royal Mail",
            "DPD": "DPD", "GLS": "GLS", "EVRI": "Evri", "AUSTRALIA POST": "Australia Post"}


def carrier_of(service: str | None) -> str | None:
    """The carrier code a service name starts with (``USPS Ground Advantage`` -> USPS), or None."""
    up = " ".join(re.sub(r"[^A-Z0-9]+", " ", (service or "").upper()).split())  # UPS® Ground -> UPS GROUND
    for code in sorted(CARRIERS, key=len, reverse=True):
        if up == code or up.startswith(code + " "):
            return code.replace(" ", "-")
    return None


def _layout(header: Sequence[str]) -> str | None:
    return "grid" if "Order #" in header else "export" if "Order - Number" in header else None


def _pick(header: Sequence[str], names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in header), None)


def load(session: Session, *, files: Sequence[CsvFile], problems: Problems, counts: Counts,
         progress: Progress | None = None, warnings: list[str] | None = None, actor: str = "") -> int:
    """Validate and upsert ShipStation shipments; return rows read. Writes nothing when ``problems``."""
    warn = warnings if warnings is not None else []
    total = sum(f.n_records for f in files)
    ships: dict[str, dict[str, Any]] = {}
    unshipped: set[str] = set()
    for f in files:
        layout = _layout(f.header) or "grid"
        cols = {k: _pick(f.header, names) for k, names in LAYOUTS[layout].items()}
        check_columns(f, required=[c for k, c in cols.items() if k != "tracking" and c] or ["Order #"], known=None,
                      problems=problems)
        if not (cols["order"] and cols["shipped"]):
            problems.add(f.name, 1, "", "a ShipStation export needs the order number and ship date columns")
            continue
        specs = [Col(cols["order"], required=True, max_len=64), Col(cols["shipped"], "us_datetime")]
        specs += [Col(cols["service"], max_len=100)] if cols["service"] else []
        specs += [Col(cols["cost"], "float", min=0)] if cols["cost"] else []
        specs += [Col(cols["tracking"], max_len=64)] if cols["tracking"] else []
        for line, raw in f.dicts():
            v, ok = parse_partial(f, line, raw, specs, problems)
            if not ok:
                continue
            order = v[cols["order"]]
            shipped = v.get(cols["shipped"])
            if shipped is None:
                unshipped.add(order)
                continue
            service = v.get(cols["service"] or "")
            cost = v.get(cols["cost"] or "") or 0.0
            tracking = v.get(cols["tracking"] or "")
            if not tracking:
                digest = hashlib.sha1(f"{order}|{shipped.isoformat()}|{service or ''}|{cost:.2f}".encode())  # noqa: S324
                tracking = f"SS-{order}"[:53] + "-" + digest.hexdigest()[:10]
            first = ships.get(tracking)
            if first is not None and (first["order"], first["cost"]) != (order, cost):
                problems.add(f.name, line, cols["tracking"] or cols["order"], f"tracking {tracking!r} is already "
                             f"order {first['order']}'s label on line {first['line']} with another order or cost")
                continue
            ships.setdefault(tracking, {"order": order, "shipped": shipped, "service": service, "cost": cost,
                                        "file": f.name, "line": line, "column": cols["order"]})
    numbers = {s["order"] for s in ships.values()}
    found = lookup(session, Order.__table__.c.order_number, numbers | {f"#{n}" for n in numbers})
    for s in ships.values():
        oid = found.get(s["order"]) or found.get(f"#{s['order']}")
        if oid is None:
            problems.add(s["file"], s["line"], s["column"], f"no order {s['order']!r} (nor #{s['order']}): import the "
                         "orders first (Shopify, Amazon, WooCommerce, ...) or in the same run")
        s["order_id"] = oid
    if problems:
        return total
    codes = sorted({c for s in ships.values() if (c := carrier_of(s["service"]))})
    counts.add("carriers", *upsert(session, Carrier.__table__, [
        {"code": c, "name": CARRIERS.get(c.replace("-", " "), c)} for c in codes], key=("code",), update_cols=()))
    car = {k[0]: i for k, i in id_map(session, Carrier.__table__, ("code",), [(c,) for c in codes]).items()}
    rows = [{"tracking_number": t, "order_id": s["order_id"], "warehouse_id": None,
             "carrier_id": car.get(carrier_of(s["service"]) or ""), "service_id": None, "zone": None, "lane": None,
             "label_cost": s["cost"], "shipped_at": s["shipped"], "promised_at": None, "first_attempt_at": None,
             "delivered_at": None, "status": "in_transit"} for t, s in ships.items()]
    counts.add("shipments", *upsert(session, Shipment.__table__, rows, key=("tracking_number",),
                                    update_cols=["order_id", "carrier_id", "label_cost", "shipped_at"]))
    if unshipped:
        warn.append(f"{len(unshipped):,} order(s) without a ship date (not shipped yet): no shipment recorded")
    return total


FORMAT = Format(
    kind="shipstation",
    doc="ShipStation shipments: the Orders grid export, or the order export (Group - Field headers).",
    signature=frozenset({"Order #", "Ship Date"}),
    also=(frozenset({"Order - Number", "Date - Shipped Date"}),),
    load=load,
    rank=9,
)
