"""Olist import: counts and values checked against the raw CSVs read with plain pandas; idempotency; refusal."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from ops.access import SYSTEM
from ops.db import transaction
from ops.ingest import ImportError_, run_import
from ops.models import Channel, ImportRun, Order, OrderLine, Product, Review, Shipment, Supplier
from tests.conftest import SHARED_DATA
from tests.test_ingest_csv import contents, counts

OLIST = SHARED_DATA / "olist_sample_4k"


def raw(name: str) -> pd.DataFrame:
    return pd.read_csv(OLIST / f"olist_{name}_dataset.csv", dtype=str, keep_default_na=False)


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s).to_pydatetime()


def test_olist_import_matches_the_raw_files_and_is_idempotent(engine: Engine) -> None:
    orders, items, sellers = raw("orders"), raw("order_items"), raw("sellers")
    reviews, customers, products = raw("order_reviews"), raw("customers"), raw("products")
    res = run_import(engine, kind="olist", paths=[OLIST], viewer=SYSTEM)
    assert res.rows_changed > 0

    with transaction(engine) as s:
        def n(model: type) -> int:
            return s.execute(select(func.count()).select_from(model)).scalar_one()

        assert len(orders) == 4000 and len(items) == 4519
        assert n(Order) == 4000
        assert n(OrderLine) == 4519
        assert n(Supplier) == sellers["seller_id"].nunique()
        assert n(Product) == products["product_id"].nunique()
        assert n(Review) == len(reviews)
        assert n(Shipment) == (orders["order_delivered_carrier_date"] != "").sum()
        shipped = orders["order_delivered_carrier_date"] != ""
        delivered = (shipped & (orders["order_delivered_customer_date"] != "")).sum()
        assert s.execute(select(func.count()).where(Shipment.status == "delivered")).scalar_one() == delivered
        assert s.execute(select(Channel.code)).scalars().all() == ["olist"]
        status = dict(s.execute(select(Order.status, func.count()).group_by(Order.status)).all())
        vc = orders["order_status"].value_counts()
        assert status["cancelled"] == vc["canceled"]
        assert status["processing"] == vc["processing"] + vc["invoiced"]

        # One order with several items: placed_at, paid_at, ship_by = earliest item limit, region, lane.
        multi = items.groupby("order_id")["order_item_id"].count()
        oid = sorted(multi[multi > 2].index)[0]
        o_raw = orders.set_index("order_id").loc[oid]
        o = s.execute(select(Order).where(Order.order_number == oid)).scalar_one()
        assert o.placed_at == ts(o_raw["order_purchase_timestamp"])
        assert o.paid_at == ts(o_raw["order_approved_at"])
        its = items[items["order_id"] == oid]
        assert o.ship_by == ts(min(its["shipping_limit_date"]))
        cust_state = customers.set_index("customer_id").loc[o_raw["customer_id"], "customer_state"]
        assert o.customer_region == cust_state
        assert (o.source, o.warehouse_id) == ("olist", None)

        # A line's price, freight, seller and deadline.
        it = its[its["order_item_id"] == "2"].iloc[0]
        line = s.execute(select(OrderLine).where(OrderLine.order_id == o.id, OrderLine.line_no == 2)).scalar_one()
        assert (line.qty, line.unit_price, line.freight) == (1, float(it["price"]), float(it["freight_value"]))
        assert line.ship_by == ts(it["shipping_limit_date"])
        assert s.get(Supplier, line.seller_id).code == it["seller_id"]

        # The first sellers row carries Kaggle's irregular quoting ("id","13023",campinas,SP).
        first = sellers.iloc[0]
        sup = s.execute(select(Supplier).where(Supplier.code == first["seller_id"])).scalar_one()
        assert (sup.city, sup.region, sup.country) == (first["seller_city"], first["seller_state"], "BR")
        assert '"' not in sup.code and len(sup.code) == 32

        # A shipment: dates and lane = first item's seller state > customer state.
        with_ship = orders[(orders["order_delivered_carrier_date"] != "") & orders["order_id"].isin(its["order_id"])]
        if not with_ship.empty:
            sh = s.execute(select(Shipment).where(Shipment.tracking_number == f"OL-{oid}")).scalar_one()
            first_seller = its.sort_values("order_item_id", key=lambda c: c.astype(int)).iloc[0]["seller_id"]
            seller_state = sellers.set_index("seller_id").loc[first_seller, "seller_state"]
            assert sh.lane == f"{seller_state}>{cust_state}"
            assert sh.shipped_at == ts(o_raw["order_delivered_carrier_date"])
            assert sh.promised_at == ts(o_raw["order_estimated_delivery_date"])

        # A product's price is the mean item price; its category is translated.
        sold = items.assign(price=items["price"].astype(float)).groupby("product_id")["price"].agg(["mean", "count"])
        pid = sorted(sold[sold["count"] > 2].index)[0]
        p = s.execute(select(Product).where(Product.sku == pid)).scalar_one()
        assert p.price == pytest.approx(sold.loc[pid, "mean"])
        tr = pd.read_csv(OLIST / "product_category_name_translation.csv", dtype=str)
        pt = products.set_index("product_id").loc[pid, "product_category_name"]
        want = dict(zip(tr.iloc[:, 0], tr.iloc[:, 1], strict=True)).get(pt, pt) if pt else "unknown"
        assert p.category == want and p.unit_cost == 0.0

        # Reviews keyed on review_id:order_id with score and creation date.
        rv = reviews.iloc[0]
        r = s.execute(select(Review).where(Review.review_key == f"{rv['review_id']}:{rv['order_id']}")).scalar_one()
        assert (r.score, r.created_at) == (int(rv["review_score"]), ts(rv["review_creation_date"]))
        assert s.execute(select(ImportRun.rows_changed)).scalar_one() == res.rows_changed

    before = contents(engine)
    again = run_import(engine, kind="olist", paths=[OLIST], viewer=SYSTEM)
    assert again.rows_changed == 0 and again.rows_in == res.rows_in
    assert contents(engine) == before


def test_olist_bad_row_near_the_end_refuses_everything(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "olist"
    shutil.copytree(OLIST, folder)
    items = folder / "olist_order_items_dataset.csv"
    lines = items.read_text().splitlines(keepends=True)
    cells = lines[-2].split(",")
    cells[5] = "-3.50"  # price of the second-to-last item
    lines[-2] = ",".join(cells)
    items.write_text("".join(lines))
    before = counts(engine)
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="olist", paths=[folder], viewer=SYSTEM)
    assert [(e.file, e.line, e.column) for e in ei.value.errors] == [
        ("olist_order_items_dataset.csv", len(lines) - 1, "price")]
    assert counts(engine) == before


def test_olist_missing_required_file_is_refused(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "olist"
    shutil.copytree(OLIST, folder)
    (folder / "olist_customers_dataset.csv").unlink()
    before = counts(engine)
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="olist", paths=[folder], viewer=SYSTEM)
    assert [(e.file, e.line) for e in ei.value.errors] == [("olist", 0)]
    assert "no Olist customers file" in ei.value.errors[0].message
    assert counts(engine) == before


CUT = Path(__file__).parent / "fixtures" / "imports" / "olist_cut"


def cut(name: str) -> pd.DataFrame:
    return pd.read_csv(CUT / name, dtype=str, keep_default_na=False)


def test_olist_cut_without_sellers_reviews_payments_by_header(engine: Engine) -> None:
    """The issue's cut: orders, items, products, customers and the translation, under other file names."""
    orders, items, products = cut("orders.csv"), cut("order_items.csv"), cut("products.csv")
    res = run_import(engine, kind="olist", paths=[CUT], viewer=SYSTEM)
    # What the absent files cost is said once each; the translation was there, so nothing about it.
    assert sum("no sellers file" in w for w in res.warnings) == 1
    assert sum("no reviews file" in w for w in res.warnings) == 1
    assert not any("translation" in w for w in res.warnings)
    with transaction(engine) as s:
        assert s.execute(select(func.count()).select_from(Order)).scalar_one() == len(orders)
        assert s.execute(select(func.count()).select_from(OrderLine)).scalar_one() == len(items)
        assert s.execute(select(func.sum(OrderLine.unit_price))).scalar_one() == pytest.approx(
            items["price"].astype(float).sum())
        assert s.execute(select(func.sum(OrderLine.freight))).scalar_one() == pytest.approx(
            items["freight_value"].astype(float).sum())
        sellers = s.execute(select(Supplier.code, Supplier.region, Supplier.city)).all()
        assert sorted(c for c, _, _ in sellers) == sorted(items["seller_id"].unique())
        assert all(r is None and c is None for _, r, c in sellers)  # seller state unknown
        ships = s.execute(select(Shipment.lane)).scalars().all()
        assert len(ships) == (orders["order_delivered_carrier_date"] != "").sum()
        assert ships and all(lane is None for lane in ships)
        cats = dict(s.execute(select(Product.sku, Product.category)).all())
        tr = dict(zip(cut("category_names.csv")["product_category_name"],
                      cut("category_names.csv")["product_category_name_english"], strict=True))
        assert cats == {p: tr.get(c, c) or "unknown" for p, c in zip(products["product_id"],
                                                                      products["product_category_name"], strict=True)}
        assert s.execute(select(func.count()).select_from(Review)).scalar_one() == 0
    before = contents(engine)
    assert run_import(engine, kind="olist", paths=[CUT], viewer=SYSTEM).rows_changed == 0
    assert contents(engine) == before


def test_olist_files_given_one_by_one_and_a_stray_csv(engine: Engine, tmp_path: Path) -> None:
    files = sorted(CUT.glob("*.csv"))
    res = run_import(engine, kind="olist", paths=files, viewer=SYSTEM, dry_run=True)
    assert res.inserted["orders"] == len(cut("orders.csv"))
    stray = tmp_path / "notes.csv"
    stray.write_text("a,b\n1,2\n")
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="olist", paths=[*files, stray], viewer=SYSTEM)
    assert [(e.file, e.line) for e in ei.value.errors] == [("notes.csv", 1)]
    assert "not an Olist file" in ei.value.errors[0].message


def test_olist_cut_bad_row_names_file_line_column(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "cut"
    shutil.copytree(CUT, folder)
    p = folder / "order_items.csv"
    p.write_text(p.read_text().replace(",15.50,", ",15.5O,"))  # a letter O in the price on line 5
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="olist", paths=[folder], viewer=SYSTEM)
    assert [(e.file, e.line, e.column) for e in ei.value.errors] == [("order_items.csv", 5, "price")]
    assert counts(engine) == dict.fromkeys(counts(engine), 0)
