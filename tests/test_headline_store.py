"""Stored headlines (ops.headline_store): equal to the computed ones for every domain and kind of viewer,
read back only at the data version they were computed at, never across scopes, best effort to write."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import Engine, func, select, text, update

from ops import headline_store as hs
from ops.access import SYSTEM, Viewer
from ops.db import read_session, transaction
from ops.decisions import record, set_threshold
from ops.domain import Headline, Kpi, load_domains
from ops.filters import Filters
from ops.models import Carrier, HeadlineStore, Supplier, Warehouse

MANAGER = Viewer(username="meg", role="manager")
PLANNER = Viewer(username="pat", role="planner")


def _vendors(engine: Engine) -> list[Viewer]:
    with read_session(engine) as s:
        sups = list(s.scalars(select(Supplier.code).order_by(Supplier.code)))
        cars = list(s.scalars(select(Carrier.code).order_by(Carrier.code)))
        ops_ = sorted({c for c in s.scalars(select(Warehouse.operator_code)) if c})
    out = [Viewer(username=f"s-{c}", role="vendor", vendor_kind="supplier", vendor_code=c) for c in sups[:3]]
    out += [Viewer(username=f"c-{c}", role="vendor", vendor_kind="carrier", vendor_code=c) for c in cars[:2]]
    out += [Viewer(username=f"w-{c}", role="vendor", vendor_kind="warehouse", vendor_code=c) for c in ops_[:2]]
    return out


def _same(a: Headline, b: Headline) -> None:
    assert len(a.kpis) == len(b.kpis)
    for x, y in zip(a.kpis, b.kpis, strict=True):
        for f in ("key", "label", "kind", "higher_is_better", "help"):
            assert getattr(x, f) == getattr(y, f)
        for f in ("value", "previous", "target"):
            u, v = getattr(x, f), getattr(y, f)
            assert (u is None and v is None) or (u is not None and v is not None and (
                (math.isnan(u) and math.isnan(v)) or u == v)), (x.key, f, u, v)
    assert a.note == b.note and a.empty_reason == b.empty_reason
    assert_frame_equal(a.exceptions.reset_index(drop=True), b.exceptions.reset_index(drop=True), check_exact=True)


def _computed(engine: Engine, viewer: Viewer, filters: Filters, domain_id: str) -> Headline:
    d = load_domains()[domain_id]
    assert d.headline is not None
    with read_session(engine) as s:
        return d.headline(s, viewer=viewer, filters=filters)


def _stored_rows(engine: Engine) -> int:
    with read_session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(HeadlineStore)) or 0)


def test_a_stored_headline_equals_the_computed_one_for_every_domain_and_viewer(seeded_engine: Engine) -> None:
    flt = [Filters(), Filters(date_from=dt.date(2026, 10, 19), date_to=dt.date(2026, 11, 15))]
    checked = 0
    for viewer in [MANAGER, PLANNER, *_vendors(seeded_engine)]:
        doms = [d for d in load_domains().values() if d.headline is not None and viewer.may_open(d.id)]
        for f in flt:
            with read_session(seeded_engine) as s:
                first, failed = hs.headlines(s, viewer, f, doms)  # computed (or stored by an earlier test)
            with read_session(seeded_engine) as s:
                ver = hs.version(s)
                keys = {d.id: hs.key(d, viewer, f) for d in doms}
                stored = dict(s.execute(select(HeadlineStore.key, HeadlineStore.version)
                                        .where(HeadlineStore.key.in_(keys.values()))).all())
                again, _ = hs.headlines(s, viewer, f, doms)  # read back from the store
            assert not failed
            for (d, h1), (d2, h2) in zip(first, again, strict=True):
                assert d.id == d2.id
                assert stored.get(keys[d.id]) == ver, f"{d.id} was not stored for {viewer.cache_key}"
                truth = _computed(seeded_engine, viewer, f, d.id)
                _same(h2, truth)
                _same(h1, truth)
                checked += 1
    assert checked >= 20


def test_a_vendor_never_reads_another_scopes_stored_headline(seeded_engine: Engine) -> None:
    """Every stored row is keyed by role, vendor kind and code: the manager's inventory exceptions (every
    supplier's SKUs) are stored first, and each supplier still reads only its own SKUs."""
    from ops.inventory import headline as inv_headline

    inv = load_domains()["inventory"]
    with read_session(seeded_engine) as s:
        everyone = hs.headline(s, MANAGER, Filters(), inv)
    assert len(everyone.exceptions)
    sups = [v for v in _vendors(seeded_engine) if v.vendor_kind == "supplier"]
    for v in sups:
        with read_session(seeded_engine) as s:
            hs.headline(s, v, Filters(), inv)
        with read_session(seeded_engine) as s:
            mine = hs.headline(s, v, Filters(), inv)
            truth = inv_headline(s, viewer=v, filters=Filters())
        _same(mine, truth)
        # the SKUs named are the supplier's own, by the product table
        skus = {str(x).split(" @ ")[0] for x in mine.exceptions["subject"]}
        with read_session(seeded_engine) as s:
            from ops.models import Product

            owners = set(s.scalars(select(Supplier.code).join(Product, Product.supplier_id == Supplier.id)
                                   .where(Product.sku.in_(skus))))
        assert owners <= {v.vendor_code}
    assert len({hs.key(inv, v, Filters()) for v in [MANAGER, *sups]}) == 1 + len(sups)


def test_a_decision_makes_the_next_read_compute_again(engine: Engine) -> None:
    from ops.demo import seed
    from ops.fulfillment.metrics import TARGET_THRESHOLD

    seed(engine, size="small", seed=7)
    ful = load_domains()["fulfillment"]
    with read_session(engine) as s:
        before = hs.headline(s, MANAGER, Filters(), ful)
    target = next(k.target for k in before.kpis if k.key == "on_time_ship_rate")
    assert _stored_rows(engine) == 1
    with transaction(engine) as s:
        set_threshold(s, viewer=SYSTEM, name=TARGET_THRESHOLD, value=round(target * 100) - 7, why="test")
    with read_session(engine) as s:
        after = hs.headline(s, MANAGER, Filters(), ful)
    new_target = next(k.target for k in after.kpis if k.key == "on_time_ship_rate")
    assert new_target == pytest.approx(target - 0.07)
    _same(after, _computed(engine, MANAGER, Filters(), "fulfillment"))
    # the write of the new version removed the old version's row
    with read_session(engine) as s:
        assert list(s.scalars(select(HeadlineStore.version))) == [hs.version(s)]

    # a refresh's audit row moves the version (an import and a forecast run move their own counters)
    with read_session(engine) as s:
        v1 = hs.version(s)
    with transaction(engine) as s:
        record(s, actor="system", action="aggregates.refresh", entity_kind="aggregates", entity_key="all")
    with read_session(engine) as s:
        v2 = hs.version(s)
    assert v2 != v1

    # what changes no headline does not: a sign-in, a refused attempt, an inbox status, an annotation
    from ops.review.inbox import inbox, set_status

    with transaction(engine) as s:
        record(s, actor="meg", action="login.ok", entity_kind="user", entity_key="meg")
        record(s, actor="meg", action="threshold.set", entity_kind="threshold", entity_key="x", outcome="refused")
    with read_session(engine) as s:
        item = str(inbox(s, viewer=MANAGER, filters=Filters())["item_key"].iloc[0])
    with transaction(engine) as s:
        set_status(s, viewer=SYSTEM, item=item, status="acknowledged")
    with read_session(engine) as s:
        assert hs.version(s) == v2


def test_a_session_that_may_write_computes_and_stores_nothing(engine: Engine) -> None:
    from ops.demo import seed

    seed(engine, size="small", seed=7)
    inv = load_domains()["inventory"]
    with transaction(engine) as s:
        h = hs.headline(s, MANAGER, Filters(), inv)
    assert _stored_rows(engine) == 0
    _same(h, _computed(engine, MANAGER, Filters(), "inventory"))


def test_a_stored_row_of_another_version_or_an_unreadable_payload_is_not_read(engine: Engine) -> None:
    from ops.demo import seed

    seed(engine, size="small", seed=7)
    ret = load_domains()["returns"]
    with read_session(engine) as s:
        truth = hs.headline(s, MANAGER, Filters(), ret)
    with transaction(engine) as s:
        s.execute(update(HeadlineStore).values(payload="{not json"))
    with read_session(engine) as s:
        _same(hs.headline(s, MANAGER, Filters(), ret), truth)
    fake = Headline(kpis=(Kpi(key="x", label="X", kind="pct", value=0.5),),
                    exceptions=pd.DataFrame({"subject": ["made up"], "kind": ["k"], "detail": ["d"],
                                             "value_at_risk": [1.0]}))
    with transaction(engine) as s:
        s.execute(update(HeadlineStore).values(payload=hs.encode(fake), version="0:old"))
    with read_session(engine) as s:
        _same(hs.headline(s, MANAGER, Filters(), ret), truth)


def test_the_stored_form_keeps_every_value_exactly() -> None:
    ex = pd.DataFrame({"subject": ["A @ WH-1", "B @ WH-2"], "kind": ["stockout", "excess"],
                       "detail": ["é ≥ 3 €", ""], "value_at_risk": [np.float64(0.1) + np.float64(0.2), np.nan]})
    ex["subject"] = ex["subject"].astype(object)
    h = Headline(kpis=(Kpi(key="a", label="A", kind="pct", value=np.float64(1 / 3), previous=None, target=0.95,
                           higher_is_better=False, help="h"),
                       Kpi(key="b", label="B", kind="count", value=float("nan"))),
                 exceptions=ex, note="n", empty_reason=None)
    back = hs.decode(hs.encode(h))
    _same(back, h)
    assert back.kpis[0].value == 1 / 3 and back.exceptions["value_at_risk"].iloc[0] == 0.1 + 0.2
    empty = Headline(kpis=(), exceptions=pd.DataFrame({"subject": pd.Series(dtype=object),
                                                       "kind": pd.Series(dtype=object),
                                                       "detail": pd.Series(dtype=object),
                                                       "value_at_risk": pd.Series(dtype="float64")}),
                     empty_reason="No data yet.")
    _same(hs.decode(hs.encode(empty)), empty)


def test_a_locked_sqlite_database_still_serves_the_headline(sqlite_engine: Engine) -> None:
    """A writer holding the lock (an import) does not block or break a page load: the headline is
    computed, returned, and not stored."""
    from ops.demo import seed

    seed(sqlite_engine, size="small", seed=7)
    inv = load_domains()["inventory"]
    with sqlite_engine.connect() as locker:
        locker.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: holds the write lock until rolled back
        with read_session(sqlite_engine) as s:
            h = hs.headline(s, MANAGER, Filters(), inv)
        locker.rollback()
    _same(h, _computed(sqlite_engine, MANAGER, Filters(), "inventory"))
    assert _stored_rows(sqlite_engine) == 0
