"""Imports list every problem in one pass, warn where a default stands in, and record refusals.

Each test here failed before its fix: a row with a bad cell hid its unknown supplier; a file
missing a column hid its rows' problems; a refused file among several hid the others'; a
products file without prices imported silently at 0; a refused import left no trace in the
import history.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from ops.access import SYSTEM, Viewer
from ops.db import read_session, transaction
from ops.freshness import data_freshness
from ops.ingest import ImportError_, run_import
from ops.ingest.csv_tables import SPECS
from ops.ingest.history import import_history
from ops.models import ImportRun, Product
from tests.test_ingest_csv import contents, counts, import_templates, write

ADMIN = Viewer(username="ana", role="admin")


def where(exc: ImportError_) -> list[tuple[str, int, str]]:
    return [(e.file, e.line, e.column) for e in exc.errors]


# --- 1. every problem at once ------------------------------------------------------------------


def test_bad_cells_and_unknown_references_are_reported_together(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="products")
    f = write(tmp_path / "products.csv", [
        ["sku", "name", "category", "price", "supplier_code", "moq"],
        ["A-1", "Alpha", "misc", "abc", "SUP-NOPE", "1"],   # line 2: bad price AND unknown supplier
        ["A-2", "Beta", "misc", "5", "SUP-001", "0"],       # line 3: moq below 1
        ["A-3", "", "misc", "5", "SUP-001", "1"],           # line 4: name empty
        ["A-1", "Alpha", "misc", "5", "SUP-001", "1"],      # line 5: duplicate of line 2
        ["A-4", "Delta", "misc", "5", "SUP-GONE", "1"],     # line 6: unknown supplier only
    ])
    before_counts, before = counts(engine), contents(engine)
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="csv-products", paths=[f], viewer=SYSTEM)
    assert where(ei.value) == [("products.csv", 2, "price"), ("products.csv", 2, "supplier_code"),
                               ("products.csv", 3, "moq"), ("products.csv", 4, "name"),
                               ("products.csv", 5, "sku"), ("products.csv", 6, "supplier_code")]
    assert ei.value.total == 6
    assert "products.csv line 2, column supplier_code: unknown supplier 'SUP-NOPE'" in ei.value.report()
    assert counts(engine) == before_counts and contents(engine) == before


def test_missing_column_does_not_hide_the_rows_problems(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="products")
    f = write(tmp_path / "p.csv", [["sku", "name", "supplier_code", "price"],
                                   ["B-1", "Bee", "SUP-NOPE", "1"],
                                   ["B-2", "Bee", "SUP-001", "-3"]])
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="csv-products", paths=[f], viewer=SYSTEM)
    assert where(ei.value) == [("p.csv", 1, "category"), ("p.csv", 2, "supplier_code"), ("p.csv", 3, "price")]


def test_a_file_refused_whole_does_not_hide_the_other_files(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="products")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    snaps = write(tmp_path / "snaps.csv", [["sku", "warehouse_code", "day", "on_hand"],
                                           ["00123", "WH-NOPE", "2024-03-01", "1"]])
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="csv-inventory_snapshots", paths=[empty, snaps], viewer=SYSTEM)
    assert where(ei.value) == [("empty.csv", 1, ""), ("snaps.csv", 2, "warehouse_code")]


def test_orders_row_with_bad_quantity_still_checks_its_sku(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="products")
    head = SPECS["orders"].names
    vals = {"order_number": "X1", "channel_code": "web", "warehouse_code": "WH-EAST", "status": "pending",
            "placed_at": "2024-03-01 10:00", "line_no": "1", "sku": "GHOST", "qty": "two", "unit_price": "1"}
    f = write(tmp_path / "orders.csv", [head, [vals.get(c, "") for c in head]])
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="csv-orders", paths=[f], viewer=SYSTEM)
    assert sorted(where(ei.value)) == [("orders.csv", 2, "qty"), ("orders.csv", 2, "sku")]


def test_shopify_row_with_bad_quantity_still_checks_its_product(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="products")
    f = write(tmp_path / "orders_export.csv", [
        ["Name", "Created at", "Lineitem quantity", "Lineitem price", "Lineitem sku", "Lineitem name"],
        ["#1", "2024-03-01 10:00:00 -0400", "0", "5", "", ""],  # an empty SKU and title: no product
    ])
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="shopify", paths=[f], viewer=SYSTEM)
    assert where(ei.value) == [("orders_export.csv", 2, "Lineitem quantity"),
                               ("orders_export.csv", 2, "Lineitem name")]


# --- 2. defaults that matter are named ---------------------------------------------------------


def test_products_without_price_import_with_warnings(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="products")
    f = write(tmp_path / "p.csv", [["sku", "name", "category", "supplier_code"],
                                   ["N-1", "One", "misc", "SUP-001"],
                                   ["N-2", "Two", "misc", "SUP-001"],
                                   ["N-3", "Three", "misc", "SUP-002"]])
    res = run_import(engine, kind="csv-products", paths=[f], viewer=SYSTEM)
    assert res.inserted == {"products": 3}
    by_col = {w.split(" ", 1)[0]: w for w in res.warnings}
    assert set(by_col) == {"price", "unit_cost", "case_pack", "moq", "lead_time_days"}
    assert by_col["price"].startswith("price missing on 3 new rows (sku N-1, N-2, N-3): set to 0")
    assert "warning: price missing on 3 new rows" in res.summary()


def test_existing_products_keep_their_price_when_the_column_is_absent(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="products")
    f = write(tmp_path / "p.csv", [["sku", "name", "category", "price"],
                                   ["00123", "Merino crew, navy", "knitwear", ""],   # emptied: set to 0
                                   ["TENT-2P", "Two-person tent", "camping", "249"]])
    res = run_import(engine, kind="csv-products", paths=[f], viewer=SYSTEM)
    assert res.warnings == ("price missing on 1 existing row (sku 00123): set to 0: their revenue at risk and "
                            "lost revenue read 0 until a price is imported.",)
    f2 = write(tmp_path / "p2.csv", [["sku", "name", "category"], ["TENT-2P", "Tent", "camping"]])
    res2 = run_import(engine, kind="csv-products", paths=[f2], viewer=SYSTEM)
    assert res2.warnings == () and res2.updated == {"products": 1}
    with transaction(engine) as s:
        assert s.execute(select(Product.price).where(Product.sku == "TENT-2P")).scalar_one() == 249.0


# --- 3. refusals are in the history ------------------------------------------------------------


def test_refused_import_is_recorded_in_its_own_transaction(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="suppliers")
    f = write(tmp_path / "bad.csv", [["code", "name", "lead_time_days"], ["S1", "", "x"], ["S2", "ok", "3"]])
    before = contents(engine)
    t0 = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
    with pytest.raises(ImportError_):
        run_import(engine, kind="csv-suppliers", paths=[f], viewer=ADMIN, source="upload: bad.csv")
    assert contents(engine) == before  # the data transaction was rolled back entirely
    with read_session(engine) as s:
        hist = import_history(s, viewer=ADMIN)
        fresh = data_freshness(s, viewer=ADMIN)
        started, finished = s.execute(select(ImportRun.started_at, ImportRun.finished_at)
                                      .order_by(ImportRun.id.desc()).limit(1)).one()
    top = hist.iloc[0]
    assert (top["kind"], top["source"], top["actor"], top["status"], top["problems"], top["rows_in"],
            top["rows_changed"]) == ("csv-suppliers", "upload: bad.csv", "ana", "refused", 2, 2, 0)
    assert started >= t0 and finished is None
    assert hist["status"].tolist() == ["refused", "ok"]
    assert hist["problems"].tolist() == [2, 0]
    # "Last import" (the newest finished run) still names the last import that loaded data
    assert pd.notna(fresh["finished_at"].iloc[1]) and pd.isna(fresh["finished_at"].iloc[0])


def test_unreadable_file_refusal_is_recorded_too(engine: Engine, tmp_path: Path) -> None:
    f = tmp_path / "blank.csv"
    f.write_text("  \n")
    with pytest.raises(ImportError_, match="the file is empty"):
        run_import(engine, kind="csv-carriers", paths=[f], viewer=ADMIN)
    with read_session(engine) as s:
        hist = import_history(s, viewer=ADMIN)
    assert hist[["kind", "status", "problems", "rows_in"]].to_dict("records") == [
        {"kind": "csv-carriers", "status": "refused", "problems": 1, "rows_in": 0}]
