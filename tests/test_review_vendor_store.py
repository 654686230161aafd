"""A vendor's weekly review sums stored at the data version (``ops.headline_store.stored_sums``).

No aggregate table is keyed by a vendor's scope, so a carrier's, a 3PL's or a supplier's review sums are read
from their fact rows; the first read at a data version stores them, later reads at that version read them back.

- Read back, they equal what is computed with the store bypassed, exactly, for every kind of vendor, over
  several weeks and filters; and a row is stored for each.
- A vendor never reads another vendor's stored sums: the sums of two vendors differ, and reading one after the
  other returns each its own (keyed on the role alone, the second would read the first's).
- An import makes the next read compute again: an old order of a 3PL's warehouse shipped by an import counts in
  its week's shipped orders straight away.
- A session that may write stores nothing; an unreadable payload is computed again; the stored form keeps
  every float and NaN exactly.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import Engine, func, select, update

from ops import headline_store as hs
from ops.access import SYSTEM, Viewer
from ops.db import read_session, transaction
from ops.filters import Filters
from ops.models import Carrier, Channel, HeadlineStore, Order, Shipment, Supplier, Warehouse
from ops.review import kpis as rk
from ops.review.sources import week_span
from ops.review.week import Week, week_of
from tests.test_ingest_csv import write


def _vendors(engine: Engine) -> list[Viewer]:
    with read_session(engine) as s:
        cars = list(s.scalars(select(Carrier.code).order_by(Carrier.code)))
        ops_ = sorted({c for c in s.scalars(select(Warehouse.operator_code)) if c})
        sups = list(s.scalars(select(Supplier.code).order_by(Supplier.code)))
    out = [Viewer(username=f"c-{c}", role="vendor", vendor_kind="carrier", vendor_code=c) for c in cars[:3]]
    out += [Viewer(username=f"w-{c}", role="vendor", vendor_kind="warehouse", vendor_code=c) for c in ops_[:2]]
    out += [Viewer(username=f"s-{c}", role="vendor", vendor_kind="supplier", vendor_code=c) for c in sups[:2]]
    return out


def _last_week(engine: Engine) -> Week:
    with read_session(engine) as s:
        v = s.scalar(select(func.max(Shipment.shipped_at)))
    day = v.date() if isinstance(v, dt.datetime) else dt.date.fromisoformat(str(v)[:10])
    return week_of(day).previous()


def _sums(engine: Engine, viewer: Viewer, span: list[Week], f: Filters) -> pd.DataFrame:
    with read_session(engine) as s:
        return rk._week_sums(s, viewer, span, f)


def _computed(engine: Engine, viewer: Viewer, span: list[Week], f: Filters) -> pd.DataFrame:
    with hs.bypassed():
        return _sums(engine, viewer, span, f)


def _stored_keys(engine: Engine) -> set[str]:
    with read_session(engine) as s:
        return set(s.scalars(select(HeadlineStore.key).where(HeadlineStore.domain == rk.VENDOR_SUMS)))


def test_stored_sums_equal_the_computed_ones_for_every_kind_of_vendor(seeded_engine: Engine) -> None:
    last = _last_week(seeded_engine)
    with read_session(seeded_engine) as s:
        wh = str(s.scalar(select(Warehouse.code).order_by(Warehouse.id).limit(1)))
        ch = str(s.scalar(select(Channel.code).order_by(Channel.id).limit(1)))
    spans = [week_span(last, 2), week_span(last.previous(), 13)]
    flts = [Filters(), Filters(warehouses=(wh,)), Filters(channels=(ch,))]
    checked = 0
    for v in _vendors(seeded_engine):
        for span in spans:
            for f in flts:
                truth = _computed(seeded_engine, v, span, f)
                first = _sums(seeded_engine, v, span, f)  # computed and stored (or stored by an earlier run)
                key = hs.sums_key(rk.VENDOR_SUMS, v, (",".join(w.label for w in span), hs.filters_key(f),
                                                      ",".join(str(i) for i in _mp_ids(seeded_engine))))
                assert key in _stored_keys(seeded_engine), (v.cache_key, span[-1].label, f)
                again = _sums(seeded_engine, v, span, f)  # read back
                for got in (first, again):
                    assert_frame_equal(got, truth, check_exact=True)
                checked += int(truth[["shipped_orders", "reviews", "mp_shipments"]].to_numpy().sum() > 0)
    assert checked >= 20  # the vendors have rows in these weeks: equal sums are not equal zeros


def _mp_ids(engine: Engine) -> list[int]:
    with read_session(engine) as s:
        return rk._marketplace_ids(s)


def test_a_vendor_never_reads_another_vendors_stored_sums(seeded_engine: Engine) -> None:
    span = week_span(_last_week(seeded_engine), 4)
    vendors = [v for v in _vendors(seeded_engine) if v.vendor_kind in ("carrier", "warehouse")]
    truths = {v.vendor_code: _computed(seeded_engine, v, span, Filters()) for v in vendors}
    # the vendors' sums differ, so reading another's would show
    cars = [v for v in vendors if v.vendor_kind == "carrier"]
    assert not truths[cars[0].vendor_code].equals(truths[cars[1].vendor_code])
    for v in vendors:  # each stores its own, after the others have stored theirs
        assert_frame_equal(_sums(seeded_engine, v, span, Filters()), truths[v.vendor_code], check_exact=True)
    for v in reversed(vendors):
        assert_frame_equal(_sums(seeded_engine, v, span, Filters()), truths[v.vendor_code], check_exact=True)
    keys = {hs.sums_key(rk.VENDOR_SUMS, v, ("x",)) for v in vendors}
    assert len(keys) == len(vendors)


def test_an_import_makes_the_next_read_compute_again(engine: Engine, tmp_path: Path) -> None:
    from ops.demo import seed
    from ops.ingest import run_imports
    from ops.ingest.csv_tables import SPECS

    seed(engine, size="small", seed=7)
    with read_session(engine) as s:
        tpl_wh = s.execute(select(Warehouse.id, Warehouse.code, Warehouse.operator_code)
                           .where(Warehouse.operator_code.is_not(None)).order_by(Warehouse.id).limit(1)).one()
        # the newest order of the 3PL's warehouse that never shipped and is not cancelled or unavailable
        order = s.execute(select(Order.order_number, Order.placed_at)
                          .where(Order.warehouse_id == tpl_wh.id, Order.id.not_in(select(Shipment.order_id)),
                                 Order.status.not_in(("cancelled", "unavailable")))
                          .order_by(Order.placed_at.desc()).limit(1)).one()
    viewer = Viewer(username="w", role="vendor", vendor_kind="warehouse", vendor_code=str(tpl_wh.operator_code))
    placed = order.placed_at if isinstance(order.placed_at, dt.datetime) else dt.datetime.fromisoformat(
        str(order.placed_at))
    span = week_span(week_of(placed.date()), 2)
    before = _sums(engine, viewer, span, Filters())
    assert before.equals(_sums(engine, viewer, span, Filters()))  # stored, read back
    assert len(_stored_keys(engine)) == 1

    head = SPECS["shipments"].names
    row = {"tracking_number": "STORE-TRK-1", "order_number": str(order.order_number), "warehouse_code": tpl_wh.code,
           "shipped_at": f"{placed + dt.timedelta(hours=20):%Y-%m-%d %H:%M:%S}", "status": "in_transit"}
    run_imports(engine, groups=[("csv-shipments", [write(tmp_path / "late.csv", [head, [row.get(c, "") for c in
                                                                                       head]])])], viewer=SYSTEM)
    after = _sums(engine, viewer, span, Filters())
    week = span[-1].label
    assert after.loc[week, "shipped_orders"] == before.loc[week, "shipped_orders"] + 1
    assert_frame_equal(after, _computed(engine, viewer, span, Filters()), check_exact=True)


def test_a_session_that_may_write_stores_nothing_and_a_bad_payload_is_computed_again(engine: Engine) -> None:
    from ops.demo import seed

    seed(engine, size="small", seed=7)
    v = _vendors(engine)[0]
    span = week_span(_last_week(engine), 2)
    truth = _computed(engine, v, span, Filters())
    with transaction(engine) as s:
        assert_frame_equal(rk._week_sums(s, v, span, Filters()), truth, check_exact=True)
    assert _stored_keys(engine) == set()
    _sums(engine, v, span, Filters())
    assert len(_stored_keys(engine)) == 1
    with transaction(engine) as s:
        s.execute(update(HeadlineStore).values(payload='{"index": ["2026-W01"], "values": [[1.0]]}'))
    assert_frame_equal(_sums(engine, v, span, Filters()), truth, check_exact=True)


def test_the_stored_form_keeps_every_float_exactly() -> None:
    df = pd.DataFrame({"a": [0.1 + 0.2, np.nan, 1e-300], "b": [1 / 3, -0.0, 12345678901234.5]},
                      index=["2026-W01", "2026-W02", "2026-W03"])
    back = hs.decode_sums(hs.encode_sums(df))
    assert_frame_equal(back, df, check_exact=True)
    assert back["a"].iloc[0] == 0.1 + 0.2 and np.isnan(back["a"].iloc[1])
    with pytest.raises(TypeError):
        hs.encode_sums(pd.DataFrame({"a": ["text"]}))
