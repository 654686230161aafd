"""A returns platform's CSV (Loop-style, one row per returned line item) -> returns of imported order lines.

Columns (by name, as in Loop's detailed returns data; others ignored): ``id`` (the return),
``order_name`` (the Shopify order, ``#1234``; matched as written or with a leading ``#``),
``sku`` (blank: the line is found by ``title`` as the Shopify import keys lines without SKU),
``title``, ``return_reason`` and ``parent_return_reason`` (Loop's two-level reasons),
``return_comment``, ``outcome`` (refund, exchange, store credit), ``refund``, ``created_at`` and
``returned_at``; ``quantity`` when present (else 1 per row).

Each row is a ``returns`` row on the order's first line with that SKU: rma_number =
``LOOP-<id>-<sku>-<n>`` (n counts the rows of one return and SKU), qty, reason_code =
return_reason (the parent reason when it is empty), comment = return_comment, with the outcome
and the parent reason appended in brackets, received_at = returned_at (else created_at),
refund_amount = refund (0 for an exchange without refund). The order must be imported first or
in the same run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from ops.ingest.amazon import _order_lines
from ops.ingest.formats import Format
from ops.ingest.reader import MAX_UNITS, Col, CsvFile, Problems, Progress, check_columns, parse_partial
from ops.ingest.shopify import product_key
from ops.ingest.store import Counts, upsert
from ops.models import Return

COLS = (
    Col("id", required=True, max_len=40),
    Col("order_name", required=True, max_len=64),
    Col("sku", max_len=64),
    Col("title", max_len=300),
    Col("return_reason", max_len=200),
    Col("parent_return_reason", max_len=200),
    Col("return_comment", multiline=True),
    Col("outcome", max_len=40),
    Col("refund", "float", min=0),
    Col("quantity", "int", min=1, max=MAX_UNITS),
    Col("created_at", "datetime"),
    Col("returned_at", "datetime"),
)
REQUIRED = ("id", "order_name", "return_reason")


def load(session: Session, *, files: Sequence[CsvFile], problems: Problems, counts: Counts,
         progress: Progress | None = None, warnings: list[str] | None = None, actor: str = "") -> int:
    """Validate and upsert returns-platform CSVs; return rows read. Writes nothing when ``problems``."""
    total = sum(f.n_records for f in files)
    rows: list[tuple[str, int, dict[str, Any]]] = []
    for f in files:
        check_columns(f, required=REQUIRED, known=None, problems=problems)
        for line, raw in f.dicts():
            v, ok = parse_partial(f, line, raw, COLS, problems)
            v["_key"] = product_key(v.get("sku"), v.get("title"))
            if v["_key"] is None:
                problems.add(f.name, line, "sku", "is empty and so is title: the row names no product")
                ok = False
            if not (v.get("return_reason") or v.get("parent_return_reason")):
                problems.add(f.name, line, "return_reason", "is required but empty (and so is parent_return_reason)")
                ok = False
            if ok:
                rows.append((f.name, line, v))
    wanted = {(n, v["_key"]) for _, _, v in rows for n in (v["order_name"], "#" + v["order_name"].lstrip("#"))}
    lines = _order_lines(session, wanted)
    out = []
    n_of: dict[tuple[str, str], int] = {}
    for fname, line, v in rows:
        order = v["order_name"]
        hit = lines.get((order, v["_key"])) or lines.get(("#" + order.lstrip("#"), v["_key"]))
        if hit is None:
            problems.add(fname, line, "order_name", f"no order {order!r} with SKU {v['_key']!r}: import the orders "
                         "first (or in the same run)")
            continue
        k = (v["id"], v["_key"])
        n_of[k] = n_of.get(k, 0) + 1
        notes = [x for x in (v.get("outcome"), v.get("parent_return_reason") and
                             f"parent reason: {v['parent_return_reason']}") if x]
        comment = " ".join(filter(None, [v.get("return_comment"), f"({'; '.join(notes)})" if notes else None]))
        out.append({"rma_number": f"LOOP-{v['id']}-{v['_key']}-{n_of[k]}"[:64], "order_line_id": hit[0],
                    "qty": v.get("quantity") or 1,
                    "reason_code": (v.get("return_reason") or v["parent_return_reason"])[:32],
                    "comment": comment or None, "received_at": v.get("returned_at") or v.get("created_at"),
                    "refund_amount": v.get("refund") or 0.0, "disposition": None})
    if problems:
        return total
    counts.add("returns", *upsert(session, Return.__table__, out, key=("rma_number",),
                                  update_cols=["order_line_id", "qty", "reason_code", "comment", "received_at",
                                               "refund_amount"]))
    return total


FORMAT = Format(
    kind="returns-platform",
    doc="Returns platform CSV (Loop-style: order_name, sku, return_reason, return_comment, outcome, refund).",
    signature=frozenset({"id", "order_name", "return_reason"}),
    load=load,
    rank=10,
)
