"""Supplier lead time (ops.scorecards.lead_time_stats) against plain pandas on the raw PO rows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ops.access import Viewer
from ops.db import transaction
from ops.models import PurchaseOrder, PurchaseOrderLine, Supplier, Warehouse
from ops.scorecards import LEAD_TIME_COLUMNS, lead_time_stats

MANAGER = Viewer(username="boss", role="manager")


def _expected(engine: Engine) -> pd.DataFrame:
    """The same figures from the raw tables with plain pandas."""
    po = pd.read_sql_table("purchase_orders", engine)
    lines = pd.read_sql_table("purchase_order_lines", engine)
    sup = pd.read_sql_table("suppliers", engine)
    df = lines.merge(po[["id", "supplier_id", "ordered_on"]], left_on="po_id", right_on="id")
    df = df[df["received_on"].notna()]
    df["d"] = (pd.to_datetime(df["received_on"]) - pd.to_datetime(df["ordered_on"])).dt.days
    df = df.merge(sup[["id", "code"]], left_on="supplier_id", right_on="id", suffixes=("", "_s"))
    g = df.groupby("code")["d"]
    out = pd.DataFrame({"lt_n": g.size(), "lt_mean_days": g.mean(), "lt_std_days": g.std(),
                        "lt_p90_days": g.quantile(0.9)})
    out = sup.set_index("code")[["lead_time_days"]].join(out).rename(columns={"lead_time_days": "lt_stated_days"})
    out["lt_n"] = out["lt_n"].fillna(0).astype("int64")
    few = out["lt_n"] < 2
    out.loc[few, ["lt_mean_days", "lt_std_days", "lt_p90_days"]] = np.nan
    return out.sort_index()


def test_lead_time_matches_pandas_on_the_demo(seeded_engine: Engine) -> None:
    with Session(seeded_engine) as s:
        got = lead_time_stats(s, viewer=MANAGER)
    want = _expected(seeded_engine)
    assert list(got.columns) == LEAD_TIME_COLUMNS
    assert got["supplier"].tolist() == want.index.tolist()
    assert got["lt_n"].dtype == "int64" and got["lt_p90_days"].dtype == "float64"
    assert got["lt_n"].sum() > 50  # the demo has received lines: not a trivial pass
    got = got.set_index("supplier")
    for c in ("lt_stated_days", "lt_mean_days", "lt_std_days", "lt_p90_days"):
        np.testing.assert_allclose(got[c].to_numpy(float), want[c].to_numpy(float), rtol=1e-9, equal_nan=True,
                                   err_msg=c)
    assert (got["lt_n"] == want["lt_n"]).all()


def _supplier(s: Session, code: str, stated: int | None) -> Supplier:
    sup = Supplier(code=code, name=f"{code} Ltd", lead_time_days=stated)
    s.add(sup)
    s.flush()
    return sup


def test_hand_made_cases(engine: Engine) -> None:
    """Known answers: 10, 12, 20 days -> mean 14, std sqrt(28), p90 18.4; one line -> NaN; none -> 0."""
    from ops.models import Product

    with transaction(engine) as s:
        wh = Warehouse(code="WH-A", name="A")
        s.add(wh)
        a, b, c = _supplier(s, "SUP-A", 10), _supplier(s, "SUP-B", None), _supplier(s, "SUP-C", 5)
        p = Product(sku="X1", name="x", category="c", supplier_id=a.id)
        s.add(p)
        s.flush()
        start = dt.date(2026, 1, 5)
        for i, (sup, days) in enumerate([(a, 10), (a, 12), (a, 20), (a, None), (b, 7)]):
            po = PurchaseOrder(po_number=f"PO-{i}", supplier_id=sup.id, warehouse_id=wh.id, ordered_on=start,
                               expected_on=start + dt.timedelta(days=10))
            s.add(po)
            s.flush()
            s.add(PurchaseOrderLine(po_id=po.id, product_id=p.id, qty_ordered=5,
                                    qty_received=0 if days is None else 5,
                                    received_on=None if days is None else start + dt.timedelta(days=days)))
        del c
    with Session(engine) as s:
        got = lead_time_stats(s, viewer=MANAGER).set_index("supplier")
        only_a = lead_time_stats(s, viewer=MANAGER, supplier_codes=["SUP-A", "NOPE"])
    assert got.loc["SUP-A", "lt_n"] == 3
    assert got.loc["SUP-A", "lt_mean_days"] == pytest.approx(14.0)
    assert got.loc["SUP-A", "lt_std_days"] == pytest.approx(np.sqrt(28.0))
    assert got.loc["SUP-A", "lt_p90_days"] == pytest.approx(18.4)
    assert got.loc["SUP-A", "lt_stated_days"] == 10.0
    assert got.loc["SUP-B", "lt_n"] == 1 and np.isnan(got.loc["SUP-B", "lt_mean_days"])
    assert np.isnan(got.loc["SUP-B", "lt_stated_days"])
    assert got.loc["SUP-C", "lt_n"] == 0 and np.isnan(got.loc["SUP-C", "lt_p90_days"])
    assert only_a["supplier"].tolist() == ["SUP-A"]


def test_scoped_to_the_viewer(engine: Engine) -> None:
    with transaction(engine) as s:
        _supplier(s, "SUP-A", 3)
        _supplier(s, "SUP-B", 4)
    sup_a = Viewer(username="a", role="vendor", vendor_kind="supplier", vendor_code="SUP-A")
    carrier = Viewer(username="c", role="vendor", vendor_kind="carrier", vendor_code="SUP-A")
    tpl = Viewer(username="w", role="vendor", vendor_kind="warehouse", vendor_code="SUP-A")
    with Session(engine) as s:
        assert lead_time_stats(s, viewer=sup_a)["supplier"].tolist() == ["SUP-A"]
        assert lead_time_stats(s, viewer=sup_a, supplier_codes=["SUP-B"]).empty
        assert lead_time_stats(s, viewer=carrier).empty
        assert lead_time_stats(s, viewer=tpl).empty
        with pytest.raises(TypeError):
            lead_time_stats(s, viewer=None)  # type: ignore[arg-type]
