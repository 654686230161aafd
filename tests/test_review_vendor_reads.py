"""How a vendor's Weekly review reads its weeks' rows (``ops.review.kpis._raw_sums``), against plain pandas.

- ``ops.access.date_driven_conditions`` selects exactly the rows of the scope conditions it restates, for every
  vendor of the seed (a 3PL's order lines by ``EXISTS`` on their order, a carrier's rows through its shipments).
- Both ways of finding the weeks' rows (a walk of their id range where they lie together, else the date
  indexes and a lookup per order) give the same sums, equal to plain pandas over the vendor's rows, for
  carriers, 3PLs and a supplier; an order of another warehouse that left from a 3PL's warehouse counts as
  shipped for the 3PL, but its review and its return are not the 3PL's, so they do not make it a defect.
- The KPI table's targets: one read of the stored thresholds gives what each threshold's own read gives.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import Engine, insert, select, update

from ops.access import (
    SYSTEM,
    Viewer,
    date_driven_conditions,
    order_condition,
    order_line_condition,
    shipment_condition,
)
from ops.db import read_session, transaction
from ops.filters import Filters
from ops.models import Order, OrderLine, Product, Return, Review, Shipment
from ops.review import kpis as rk
from tests.test_review_vendors import _check, _expected, _last_weeks, _raw, vendor_data  # noqa: F401 - a fixture


def _with_sellers_and_a_cross_shipment(engine: Engine) -> dict[str, int]:
    """Suppliers sell the lines of every third order; one marketplace order of a warehouse no 3PL operates gets
    a second shipment that left from the 3PL's warehouse in the last week (delivered, not a defect itself), a
    1-star review and a defective return on its line. Returns the ids involved."""
    with transaction(engine) as s:
        sup = dict(s.execute(select(Product.id, Product.supplier_id)).all())
        for lid, pid in s.execute(select(OrderLine.id, OrderLine.product_id).where(OrderLine.order_id % 3 == 0)).all():
            s.execute(update(OrderLine).where(OrderLine.id == lid).values(seller_id=sup[pid]))
    t = _raw(engine)
    wh = t["warehouses"]
    tpl = wh[wh["operator_code"].notna()].iloc[0]
    own = set(wh.loc[wh["operator_code"].isna(), "id"])
    sh = t["shipments"].merge(t["orders"][["id", "mp", "warehouse_id"]].rename(
        columns={"id": "order_id", "warehouse_id": "o_wh"}), on="order_id")
    theirs = sh[sh["mp"] & sh["o_wh"].isin(own) & sh["shipped_at"].notna()].sort_values("shipped_at").iloc[-3]
    line = int(t["order_lines"].loc[t["order_lines"]["order_id"] == theirs["order_id"], "id"].iloc[0])
    with transaction(engine) as s:
        s.execute(insert(Shipment), [{"order_id": int(theirs["order_id"]), "carrier_id": int(theirs["carrier_id"]),
                                      "warehouse_id": int(tpl["id"]), "tracking_number": "FROM-THE-3PL",
                                      "label_cost": 3.5, "status": "delivered",
                                      "shipped_at": theirs["shipped_at"] + pd.Timedelta(hours=1),
                                      "delivered_at": theirs["shipped_at"] + pd.Timedelta(days=3),
                                      "promised_at": theirs["promised_at"]}])
        s.execute(insert(Review), [{"review_key": "CROSS", "order_id": int(theirs["order_id"]), "score": 1,
                                    "created_at": theirs["shipped_at"] + pd.Timedelta(days=4)}])
        s.execute(insert(Return), [{"rma_number": "CROSS", "order_line_id": line, "qty": 1,
                                    "reason_code": "Defective", "received_at": theirs["shipped_at"]
                                    + pd.Timedelta(days=9), "refund_amount": 1.0, "disposition": "restock"}])
    return {"order": int(theirs["order_id"]), "warehouse": int(tpl["id"])}


def _vendors(t: dict[str, pd.DataFrame], suppliers: pd.DataFrame) -> list[Viewer]:
    """Every carrier, every 3PL, and every supplier that sold a line."""
    sellers = t["order_lines"]["seller_id"].dropna().astype(int).unique()
    out = [Viewer("c", "vendor", "carrier", str(c)) for c in t["carriers"]["code"]]
    out += [Viewer("w", "vendor", "warehouse", str(c)) for c in sorted(set(t["warehouses"]["operator_code"].dropna()))]
    sups = suppliers.loc[suppliers["id"].isin(sellers), "code"]
    return out + [Viewer("s", "vendor", "supplier", str(c)) for c in sups]


def test_date_driven_conditions_select_the_scope_conditions_rows(
        engine: Engine, vendor_data: dict[str, pd.DataFrame]) -> None:  # noqa: F811 - the fixture
    _with_sellers_and_a_cross_shipment(engine)
    t = _raw(engine)
    with engine.connect() as c:
        viewers = _vendors(t, pd.read_sql_table("suppliers", c))
    assert {v.vendor_kind for v in viewers} == {"carrier", "warehouse", "supplier"}
    every = {"lines": set(t["order_lines"]["id"])}
    with read_session(engine) as s:
        for v in [*viewers, SYSTEM]:
            o, sh, ln = date_driven_conditions(v)
            got = (set(s.scalars(select(Order.id).where(o))), set(s.scalars(select(Shipment.id).where(sh))),
                   set(s.scalars(select(OrderLine.id).where(ln))))
            want = (set(s.scalars(select(Order.id).where(order_condition(v)))),
                    set(s.scalars(select(Shipment.id).where(shipment_condition(v)))),
                    set(s.scalars(select(OrderLine.id).where(order_line_condition(v)))))
            assert got == want, v
            if v.vendor_kind == "warehouse":
                # by hand: the lines of the orders of the warehouses it operates, not every line
                mine = set(t["warehouses"].loc[t["warehouses"]["operator_code"] == v.vendor_code, "id"])
                orders = set(t["orders"].loc[t["orders"]["warehouse_id"].isin(mine), "id"])
                by_hand = set(t["order_lines"].loc[t["order_lines"]["order_id"].isin(orders), "id"])
                assert got[2] == by_hand and 0 < len(by_hand) < len(every["lines"])


@pytest.mark.parametrize("slack", [rk.RANGE_SLACK, 0])
def test_both_reads_of_the_weeks_rows_are_plain_pandas(engine: Engine, vendor_data: dict[str, pd.DataFrame],  # noqa: F811
                                                       slack: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``slack`` 0: no id range is ever walked (the per-order lookups and the date indexes)."""
    cross = _with_sellers_and_a_cross_shipment(engine)
    monkeypatch.setattr(rk, "RANGE_SLACK", slack)
    t = _raw(engine)
    weeks = _last_weeks(t, 10)
    lo, hi = rk._ts(weeks[0].start), rk._ts(weeks[-1].end + dt.timedelta(days=1))
    with read_session(engine) as s:
        ranges = rk._span_ids(s, lo, hi)
    assert (ranges["o"] is not None) == (slack > 0)  # the demo numbers its orders by day: they lie together
    sh, o, ln = t["shipments"], t["orders"], t["order_lines"]
    # carriers: the orders behind their shipments
    for cid, code in zip(t["carriers"]["id"], t["carriers"]["code"], strict=True):
        ships = sh[sh["carrier_id"] == cid]
        if len(ships):
            with read_session(engine) as s:
                got = rk._week_sums(s, Viewer("c", "vendor", "carrier", str(code)), weeks, Filters())
            _check(got, _expected(t, weeks, set(ships["order_id"]), ships))
    # 3PLs: their warehouses' orders, and the shipments that left them
    wh = t["warehouses"]
    for code in sorted(set(wh["operator_code"].dropna())):
        mine = set(wh.loc[wh["operator_code"] == code, "id"])
        orders, ships = set(o.loc[o["warehouse_id"].isin(mine), "id"]), sh[sh["warehouse_id"].isin(mine)]
        want = _expected(t, weeks, orders, ships)
        with read_session(engine) as s:
            got = rk._week_sums(s, Viewer("w", "vendor", "warehouse", str(code)), weeks, Filters())
        _check(got, want)
        if cross["warehouse"] in mine:
            # the other warehouse's order shipped from here counts as shipped, its review and return are not ours
            everyone = _expected(t, weeks, orders | {cross["order"]}, ships)
            assert (everyone["mp_defect_orders"] - want["mp_defect_orders"]).sum() == 1
    # a supplier: the orders holding a line it sold, their shipments, and the returns of its own lines
    with engine.connect() as c:
        sup = pd.read_sql_table("suppliers", c)
    seller = int(ln["seller_id"].dropna().astype(int).value_counts().index[0])
    own_lines = ln[ln["seller_id"] == seller]
    orders = set(own_lines["order_id"])
    mine = {**t, "returns": t["returns"][t["returns"]["order_line_id"].isin(set(own_lines["id"]))]}
    want = _expected(mine, weeks, orders, sh[sh["order_id"].isin(orders)])
    assert want["mp_ship_orders"].sum() > 0 and want["shipped_orders"].sum() > 0
    code = str(sup.loc[sup["id"] == seller, "code"].iloc[0])
    with read_session(engine) as s:
        got = rk._week_sums(s, Viewer("s", "vendor", "supplier", code), weeks, Filters())
    _check(got, want)


def test_the_kpi_tables_targets_are_each_thresholds_value(engine: Engine) -> None:
    from ops.decisions import set_threshold
    from ops.demo import seed

    seed(engine, size="small", seed=7)
    with transaction(engine) as s:
        set_threshold(s, viewer=SYSTEM, name="carrier_on_time_target", value=90)
        set_threshold(s, viewer=SYSTEM, name="carrier_on_time_target", value=80, scope_kind="carrier",
                      scope_key="SWX")
        set_threshold(s, viewer=SYSTEM, name="on_time_ship_target", value=97, scope_kind="warehouse",
                      scope_key="WH-EAST")
    for v in (Viewer("m", "manager"), Viewer("c", "vendor", "carrier", "SWX")):
        with read_session(engine) as s:
            k = rk.review_kpis(s, viewer=v, domains=False).set_index("key")
        # the global value in force (a scoped override is not the KPI table's), as a fraction
        assert k.loc["on_time_delivery", "target"] == pytest.approx(0.90)
        assert k.loc["on_time_delivery", "target_from"].startswith("Carrier on-time target (carrier_on_time_target): ")
        assert ": global (set" in k.loc["on_time_delivery", "target_from"]
        assert k.loc["on_time_ship", "target"] == pytest.approx(0.95)
        assert k.loc["on_time_ship", "target_from"] == "On-time ship target (on_time_ship_target): default"
        assert k.loc["order_cycle_time", "target_from"].endswith(": default")
