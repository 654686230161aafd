"""After an import only the aggregates it touched are rebuilt, and they equal a full rebuild.

Before this, every import ran ``refresh_all`` (a 3-row products file waited on the fulfilment
rebuild); ``ImportResult.refreshed`` did not exist. Which rows of those aggregates are rebuilt
(incrementally) is ``tests/test_incremental_imports.py``'s subject.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from ops.access import SYSTEM
from ops.db import transaction
from ops.demo import seed
from ops.ingest import run_import
from ops.ingest.refresh import READS, needed
from ops.ingest.store import Counts
from ops.models import Order, OrderLine, Product, Supplier, Warehouse
from tests.conftest import planner_estimate, sqlite_statistics
from tests.test_incremental_imports import assert_equals_full_rebuild
from tests.test_ingest_csv import write


def assert_equals_full_refresh(engine: Engine) -> None:
    """The aggregates equal a full rebuild's (floats to 1e-9: an incremental pass may add in another order)."""
    assert_equals_full_rebuild(engine, "after the import")


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    seed(engine, size="small", seed=7)
    return engine


def test_each_import_refreshes_only_what_it_touched_and_matches_a_full_refresh(seeded: Engine,
                                                                               tmp_path: Path) -> None:
    eng = seeded
    with transaction(eng) as s:
        sku, price = s.execute(select(Product.sku, Product.price).order_by(Product.id).limit(1)).one()
        seller = s.execute(select(Supplier.code).join(OrderLine, OrderLine.seller_id == Supplier.id).limit(1)).scalar()
        wh = s.execute(select(Warehouse.code).order_by(Warehouse.id).limit(1)).scalar_one()
        order = s.execute(select(Order.order_number).order_by(Order.id.desc()).limit(1)).scalar_one()
    cases = [
        # (file name, rows, kind, the refreshers expected)
        ("price.csv", [["sku", "name", "category", "price"], [sku, "Renamed", "misc", str(price + 7)]],
         "csv-products", ("inventory", "returns")),  # price: inventory; the category: returns too
        ("moq.csv", [["sku", "name", "category", "moq"], [sku, "Renamed", "misc", "7"]], "csv-products", ()),
        ("new.csv", [["sku", "name", "category", "price"], ["BRAND-NEW", "New", "misc", "3"]], "csv-products", ()),
        ("same.csv", [["sku", "name", "category", "moq"], [sku, "Renamed", "misc", "7"]], "csv-products", ()),
        ("wh.csv", [["code", "name", "cutoff_time"], [wh, "Renamed warehouse", "11:00"]], "csv-warehouses",
         ("fulfillment",)),
        ("snap.csv", [["sku", "warehouse_code", "day", "on_hand"], [sku, wh, "2026-11-20", "5"]],
         "csv-inventory_snapshots", ("inventory",)),
        ("ship.csv", [["tracking_number", "order_number", "shipped_at"], ["TRK-NEW-1", order, "2026-11-21 10:00"]],
         "csv-shipments", ("fulfillment", "review", "returns", "scorecards")),
    ]
    if seller is not None:
        cases.append(("sup.csv", [["code", "name", "region"], [seller, "Renamed seller", "ZZ"]], "csv-suppliers",
                      ("fulfillment",)))
    for name, rows, kind, expected in cases:
        res = run_import(eng, kind=kind, paths=[write(tmp_path / name, rows)], viewer=SYSTEM)
        assert res.refreshed == expected, name
        assert_equals_full_refresh(eng)


def test_orders_import_refreshes_both_and_matches_a_full_refresh(seeded: Engine, tmp_path: Path) -> None:
    from ops.ingest.csv_tables import SPECS

    with transaction(seeded) as s:
        sku = s.execute(select(Product.sku).order_by(Product.id).limit(1)).scalar_one()
        wh = s.execute(select(Warehouse.code).order_by(Warehouse.id).limit(1)).scalar_one()
    head = SPECS["orders"].names
    vals = {"order_number": "NEW-1", "channel_code": "web", "warehouse_code": wh, "status": "pending",
            "placed_at": "2024-03-01 10:00", "paid_at": "2024-03-01 10:05", "line_no": "1", "sku": sku, "qty": "2",
            "unit_price": "9.5"}
    with transaction(seeded) as s:
        from ops.models import Channel
        if s.execute(select(Channel.id).where(Channel.code == "web")).first() is None:
            vals["channel_code"] = s.execute(select(Channel.code).limit(1)).scalar_one()
    res = run_import(seeded, kind="csv-orders", paths=[write(tmp_path / "o.csv", [head, [vals.get(c, "")
                                                                                        for c in head]])],
                     viewer=SYSTEM)
    assert res.refreshed == ("inventory", "fulfillment", "review", "returns")
    assert_equals_full_refresh(seeded)


@pytest.mark.parametrize(("inserted", "updated", "columns", "expected"), [
    ({}, {}, {}, []),
    ({"products": 3}, {}, {}, []),                                          # new products: nothing refers to them
    ({}, {"products": 1}, {"products": {"moq", "case_pack", "active"}}, []),  # attributes no aggregate reads
    ({}, {"products": 1}, {"products": {"price"}}, ["inventory"]),
    ({}, {"suppliers": 1}, {"suppliers": {"lead_time_days"}}, ["inventory"]),
    ({}, {"suppliers": 1}, {"suppliers": {"region"}}, ["fulfillment"]),
    ({"order_lines": 1}, {}, {}, ["inventory", "fulfillment", "review", "returns"]),
    ({"returns": 1}, {}, {}, ["review", "returns"]),  # returns: the review's defect rate too
])
def test_needed_refreshers(inserted: dict[str, int], updated: dict[str, int], columns: dict[str, set[str]],
                           expected: list[str]) -> None:
    counts = Counts(inserted=inserted, updated=updated, columns=columns)
    assert [n for n in needed(counts) if n in READS] == expected


def test_a_big_import_leaves_planner_statistics_of_its_tables(seeded: Engine, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """An import inserting at least ``ANALYZE_AFTER_ROWS`` rows into a table gives PostgreSQL statistics of it
    in its commit (a table this small is sampled whole: the estimate is the exact count); a smaller one leaves
    the statistics alone. SQLite keeps its rule-based plans."""
    import ops.ingest as ingest

    def estimate(table: str) -> float:
        with seeded.connect() as c:
            return planner_estimate(c, table)

    def count(table: str) -> int:
        with seeded.connect() as c:
            return int(c.execute(text(f"SELECT count(*) FROM {table}")).scalar())  # noqa: S608 - fixed names

    rows = [["sku", "name", "category", "price"]] + [[f"BULK-{i:05d}", f"Bulk {i}", "misc", "3"] for i in range(60)]
    small = [["sku", "name", "category", "price"], ["ONE-MORE", "One more", "misc", "4"]]
    monkeypatch.setattr(ingest, "ANALYZE_AFTER_ROWS", 50)
    run_import(seeded, kind="csv-products", paths=[write(tmp_path / "bulk.csv", rows)], viewer=SYSTEM)
    if seeded.dialect.name == "sqlite":
        with seeded.connect() as c:
            assert not sqlite_statistics(c)
        return
    after_bulk = count("products")
    assert estimate("products") == after_bulk  # the 60 new rows are counted
    run_import(seeded, kind="csv-products", paths=[write(tmp_path / "one.csv", small)], viewer=SYSTEM)
    assert count("products") == after_bulk + 1 and estimate("products") == after_bulk  # not analyzed again
