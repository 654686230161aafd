"""Writing imported rows: natural-key lookups and idempotent upserts that work on SQLite and PostgreSQL.

Upserts select the existing rows for the batch's natural keys, compare values, then insert the
new rows and update only the rows whose values differ. Compared with ``INSERT .. ON CONFLICT DO
UPDATE`` this counts exactly how many rows changed (so a re-import reports 0), leaves unchanged
rows untouched (their ``version`` stays), and is the same code on both databases.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.orm import Session

from ops.ingest.reader import batched
from ops.models import Order

BATCH = 500  # keys per IN (...) list and rows per executemany


class Upserted(NamedTuple):
    """What one upsert did: rows inserted, rows updated, the columns that changed on those updates, and
    per updated row its id and the values those columns held before (``{"id": 7, "placed_at": ...}``)."""

    inserted: int
    updated: int
    columns: frozenset[str] = frozenset()
    old: tuple[dict[str, Any], ...] = ()


@dataclass
class Counts:
    """Rows inserted and updated per table, which columns the updates changed, and the updated rows'
    ids with their old values of those columns (what an incremental refresh needs to find the groups a
    row left: an order's old placed day, a return's old order line; :mod:`ops.ingest.changes`)."""

    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    columns: dict[str, set[str]] = field(default_factory=dict)
    old: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: str, ins: int, upd: int, columns: Iterable[str] = (),
            old: Iterable[dict[str, Any]] = ()) -> None:
        self.inserted[table] = self.inserted.get(table, 0) + ins
        self.updated[table] = self.updated.get(table, 0) + upd
        self.columns.setdefault(table, set()).update(columns)
        self.old.setdefault(table, []).extend(old)

    def merge(self, other: Counts) -> None:
        """Add everything ``other`` counted (several import groups into one total)."""
        for t in set(other.inserted) | set(other.updated):
            self.add(t, other.inserted.get(t, 0), other.updated.get(t, 0), other.columns.get(t, ()),
                     other.old.get(t, ()))

    @property
    def changed(self) -> int:
        return sum(self.inserted.values()) + sum(self.updated.values())


def lookup(session: Session, col: Any, values: Iterable[Hashable]) -> dict[Any, int]:
    """Map each of ``values`` found in ``col`` (a unique column) to its row's id."""
    table = col.table
    wanted = sorted({v for v in values if v is not None}, key=str)
    out: dict[Any, int] = {}
    for chunk in batched(wanted, BATCH):
        rows = session.execute(select(col, table.c.id).where(col.in_(chunk)))
        out.update({v: i for v, i in rows.all()})  # noqa: C416 - Row pairs, not a mapping
    return out


def id_map(session: Session, table: Any, key: Sequence[str],
           keys: Iterable[tuple[Any, ...]]) -> dict[tuple[Any, ...], int]:
    """Map natural-key tuples (over ``key`` columns of ``table``) to row ids."""
    found = _existing(session, table, key, (), list(set(keys)))
    return {k: r["id"] for k, r in found.items()}


def _existing(session: Session, table: Any, key: Sequence[str], cols: Sequence[str],
              keys: Sequence[tuple[Any, ...]]) -> dict[tuple[Any, ...], Any]:
    out: dict[tuple[Any, ...], Any] = {}
    fetch = [table.c.id] + [table.c[k] for k in key] + [table.c[c] for c in cols if c not in key]
    for chunk in batched(sorted(keys, key=str), BATCH):
        # One IN list per key column narrows to the cross product; the exact match is made below.
        conds = [table.c[k].in_(sorted({t[i] for t in chunk}, key=str)) for i, k in enumerate(key)]
        for rec in session.execute(select(*fetch).where(and_(*conds))).mappings():
            out[tuple(rec[k] for k in key)] = rec
    wanted = set(keys)
    return {k: v for k, v in out.items() if k in wanted}


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return float(a) == float(b)
    return bool(a == b)


def upsert(session: Session, table: Any, rows: Sequence[dict[str, Any]], *, key: Sequence[str],
           update_cols: Sequence[str], bump_version: bool = False) -> Upserted:
    """Insert new rows and update changed ones, matched on the natural ``key`` columns.

    Every row carries the key, every ``update_cols`` column and any insert-only columns.
    Existing rows have only ``update_cols`` compared and written (columns absent from a file are
    left alone). ``bump_version`` adds 1 to ``version`` of each updated row, so open edit forms
    notice the import. Returns ``(inserted, updated, columns that differed on the updated rows, the
    updated rows' ids with the old values of their differing columns)``.
    """
    if not rows:
        return Upserted(0, 0)
    cols = [c for c in update_cols if c not in key]
    existing = _existing(session, table, key, cols + (["version"] if bump_version else []),
                         [tuple(r[k] for k in key) for r in rows])
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    changed: set[str] = set()
    old_values: list[dict[str, Any]] = []
    for r in rows:
        old = existing.get(tuple(r[k] for k in key))
        if old is None:
            inserts.append(r)
            continue
        differ = [c for c in cols if not _same(old[c], r[c])]
        if differ:
            changed.update(differ)
            old_values.append({"id": old["id"], **{c: old[c] for c in differ}})
            params = {f"v_{c}": r[c] for c in cols}
            params["v__id"] = old["id"]
            if bump_version:
                params["v_version"] = (old["version"] or 0) + 1
            updates.append(params)
    for chunk in batched(inserts, BATCH):
        session.execute(insert(table), list(chunk))
    if updates:
        values: dict[str, Any] = {c: bindparam(f"v_{c}") for c in cols}
        if bump_version:
            values["version"] = bindparam("v_version")
        stmt = update(table).where(table.c.id == bindparam("v__id")).values(values)
        for chunk in batched(updates, BATCH):
            session.execute(stmt, list(chunk))
    return Upserted(len(inserts), len(updates), frozenset(changed), tuple(old_values))


def other_source_orders(session: Session, names: list[str], source: str) -> dict[str, str]:
    """Order numbers among ``names`` that exist from a source other than ``source``: number -> that source."""
    o = Order.__table__
    out: dict[str, str] = {}
    for chunk in batched(sorted(set(names)), BATCH):
        q = select(o.c.order_number, o.c.source).where(o.c.order_number.in_(chunk), o.c.source != source)
        out.update({n: src for n, src in session.execute(q).all()})  # noqa: C416 - Row pairs
    return out
