"""The exceptions inbox: built from every registered domain's headline, status and owner through one audited write."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

from ops.access import AccessDenied, Viewer
from ops.db import read_session, transaction
from ops.decisions import StaleEdit, ValidationError
from ops.demo import anomalies
from ops.domain import DOMAINS, Domain, Headline, Kpi
from ops.filters import Filters
from ops.models import Decision, ReviewItem, User

MANAGER = Viewer(username="meg", role="manager")
WEEK = Filters(date_from=dt.date(2026, 11, 9), date_to=dt.date(2026, 11, 15))


def _fake_headline(session: Session, *, viewer: Viewer, filters: Filters) -> Headline:
    ex = pd.DataFrame({"subject": ["lane WH-WEST>CA"], "kind": ["failing_lane"], "detail": ["on-time 61 % vs 95 %"],
                       "value_at_risk": [1234.5]})
    if viewer.is_vendor:
        ex = ex.iloc[0:0]
    return Headline(kpis=(Kpi(key="lane_on_time", label="Lane on-time", kind="pct", value=0.61, previous=0.9,
                              target=0.95, help="Deliveries on time on the worst lane."),), exceptions=ex)


@pytest.fixture
def fake_domain(monkeypatch: pytest.MonkeyPatch) -> Domain:
    d = Domain(id="fakelanes", title="Fake lanes", icon=":material/route:", section="Operations",
               roles=("admin", "manager"), headline=_fake_headline, order=999)
    monkeypatch.setitem(DOMAINS, d.id, d)
    return d


def _users(engine: Engine) -> None:
    with transaction(engine) as s:
        s.execute(insert(User), [{"username": "meg", "role": "manager"}, {"username": "ana", "role": "admin"},
                                 {"username": "pat", "role": "planner"},
                                 {"username": "vic", "role": "vendor", "vendor_kind": "supplier",
                                  "vendor_code": "SUP-001"}])


def test_inbox_lists_every_domains_exceptions_with_the_planted_stockout(seeded_engine: Engine) -> None:
    from ops.inventory import headline as inv_headline
    from ops.review.inbox import inbox

    a = anomalies("small", 7)
    with read_session(seeded_engine) as s:
        df = inbox(s, viewer=MANAGER, filters=WEEK)
        inv = inv_headline(s, viewer=MANAGER, filters=WEEK).exceptions
    assert f"{a.stockout_sku} @ {a.stockout_warehouse}" in set(df["subject"])
    assert set(df["page"]) >= {"inventory", "fulfillment"}
    mine = df[df["page"] == "inventory"]
    assert sorted(mine["subject"]) == sorted(inv["subject"])  # every row of the domain's headline, none invented
    assert (df["status"] == "new").all() and (df["version"] == 0).all()
    row = df[df["subject"] == f"{a.stockout_sku} @ {a.stockout_warehouse}"].iloc[0]
    assert row["link"] == f"/inventory?from=2026-11-09&to=2026-11-15&wh={a.stockout_warehouse}"
    assert row["item_key"] == f"inventory|stockout|{a.stockout_sku} @ {a.stockout_warehouse}"


def test_a_new_domain_joins_the_inbox_and_the_kpis_without_edits(seeded_engine: Engine, fake_domain: Domain) -> None:
    from ops.review.inbox import inbox
    from ops.review.kpis import review_kpis

    with read_session(seeded_engine) as s:
        df = inbox(s, viewer=MANAGER, filters=WEEK)
        k = review_kpis(s, viewer=MANAGER, week="2026-W46").set_index("key")
        planner = inbox(s, viewer=Viewer("pat", "planner"), filters=WEEK)
    row = df[df["page"] == "fakelanes"].iloc[0]
    assert (row["kind"], row["subject"], row["value_at_risk"]) == ("failing_lane", "lane WH-WEST>CA", 1234.5)
    assert row["link"] == "/fakelanes?from=2026-11-09&to=2026-11-15&wh=WH-WEST"  # the warehouse the row names
    assert df["value_at_risk"].iloc[0] >= df["value_at_risk"].dropna().max() - 1e-9  # most at risk first
    assert k.loc["fakelanes.lane_on_time", "value"] == pytest.approx(0.61)
    assert k.loc["fakelanes.lane_on_time", "meets"] is False
    assert "fakelanes" not in set(planner["page"])  # a page the role may not open adds nothing


def test_a_failing_domain_is_named_and_the_others_still_listed(seeded_engine: Engine,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.review.inbox import inbox
    from ops.review.kpis import review_kpis

    def broken(session: Session, *, viewer: Viewer, filters: Filters) -> Headline:
        raise RuntimeError("agg table missing")

    monkeypatch.setitem(DOMAINS, "broken", Domain(id="broken", title="Broken page", icon=":material/error:",
                                                  section="Operations", roles=("manager",), headline=broken,
                                                  order=998))
    with read_session(seeded_engine) as s:
        df = inbox(s, viewer=MANAGER, filters=WEEK)
        k = review_kpis(s, viewer=MANAGER, week="2026-W46")
    assert df.attrs["unavailable"] == ["Broken page"]
    assert {"inventory", "fulfillment"} <= set(df["page"]) and "broken" not in set(df["page"])
    assert k["key"].str.startswith("inventory.").any() and not k["key"].str.startswith("broken.").any()


def test_vendors_see_only_their_own_items(seeded_engine: Engine) -> None:
    from ops.inventory import headline as inv_headline
    from ops.models import Product, Supplier
    from ops.review.inbox import inbox

    a = anomalies("small", 7)
    with read_session(seeded_engine) as s:
        owner = s.scalar(select(Supplier.code).join(Product, Product.supplier_id == Supplier.id)
                         .where(Product.sku == a.stockout_sku))
        other = s.scalar(select(Supplier.code).where(Supplier.code != owner).order_by(Supplier.code))
        assert owner and other
        mine = inbox(s, viewer=Viewer("v1", "vendor", "supplier", owner), filters=WEEK)
        theirs = inbox(s, viewer=Viewer("v2", "vendor", "supplier", other), filters=WEEK)
        skus_other = set(s.scalars(select(Product.sku).join(Supplier, Product.supplier_id == Supplier.id)
                                   .where(Supplier.code == other)))
        expect_mine = inv_headline(s, viewer=Viewer("v1", "vendor", "supplier", owner), filters=WEEK).exceptions
    assert f"{a.stockout_sku} @ {a.stockout_warehouse}" in set(mine["subject"])
    assert f"{a.stockout_sku} @ {a.stockout_warehouse}" not in set(theirs["subject"])
    assert not any(sku in subj for subj in mine["subject"] for sku in skus_other)
    assert sorted(mine[mine["page"] == "inventory"]["subject"]) == sorted(expect_mine["subject"])


def test_status_and_owner_change_once_audited_and_stale_edits_are_refused(engine: Engine) -> None:
    from ops.review.inbox import set_status

    _users(engine)
    key = "inventory|stockout|SKU-1 @ WH-EAST"
    with transaction(engine) as s:
        r = set_status(s, viewer=MANAGER, item=key, status="acknowledged", expected_version=0)
    assert r.version == 1
    with transaction(engine) as s:
        r = set_status(s, viewer=Viewer("ana", "admin"), item=key, status="assigned", assignee="pat",
                       note="call the supplier", expected_version=1, why="weekly review")
    assert (r.status, r.assignee, r.version) == ("assigned", "pat", 2)
    with pytest.raises(StaleEdit, match="ana"), transaction(engine) as s:  # meg still holds version 1
        set_status(s, viewer=MANAGER, item=key, status="resolved", expected_version=1)
    with transaction(engine) as s:
        set_status(s, viewer=MANAGER, item=key, status="resolved", expected_version=2)
        row = s.execute(select(ReviewItem)).scalar_one()
        assert (row.status, row.assignee, row.version, row.updated_by) == ("resolved", "pat", 3, "meg")
    with read_session(engine) as s:
        audit = pd.DataFrame(s.execute(select(Decision.action, Decision.outcome, Decision.actor, Decision.after)
                                       .where(Decision.entity_key == key).order_by(Decision.id)).all(),
                             columns=["action", "outcome", "actor", "after"])
    assert audit["outcome"].tolist() == ["applied", "applied", "refused", "applied"]
    assert set(audit["action"]) == {"review_item.set"}
    assert '"assignee": "pat"' in audit["after"].iloc[1] and '"status": "resolved"' in audit["after"].iloc[3]


@pytest.mark.parametrize(("viewer", "kwargs", "error", "match"), [
    (Viewer("vic", "vendor", "supplier", "SUP-001"), {"status": "resolved"}, AccessDenied, "may not change"),
    (Viewer("pat", "planner"), {"status": "acknowledged"}, AccessDenied, "may not change"),
    (MANAGER, {"status": "done"}, ValidationError, "not one of"),
    (MANAGER, {"status": "assigned"}, ValidationError, "needs an owner"),
    (MANAGER, {"status": "assigned", "assignee": "vic"}, ValidationError, "not an active internal user"),
    (MANAGER, {"status": "acknowledged", "item": "nowhere|x|y"}, ValidationError, "no registered domain"),
])
def test_refused_writes_change_nothing_and_are_audited(engine: Engine, viewer: Viewer, kwargs: dict,
                                                       error: type[Exception], match: str) -> None:
    from ops.review.inbox import set_status

    _users(engine)
    args = {"item": "fulfillment|backlog|SO-1 (WH-EAST)", **kwargs}
    with pytest.raises(error, match=match), transaction(engine) as s:
        set_status(s, viewer=viewer, **args)
    with read_session(engine) as s:
        assert s.scalar(select(func.count()).select_from(ReviewItem)) == 0
        rows = s.execute(select(Decision.outcome, Decision.actor)).all()
    assert [tuple(r) for r in rows] == [("refused", viewer.username)]


def test_stored_status_shows_in_the_inbox_and_vendors_read_the_owner_as_account_manager(
        engine: Engine) -> None:
    from ops.demo import seed
    from ops.models import Product, Supplier
    from ops.review.inbox import inbox, set_status

    seed(engine, size="small", seed=7)
    _users(engine)
    a = anomalies("small", 7)
    key = f"inventory|stockout|{a.stockout_sku} @ {a.stockout_warehouse}"
    with transaction(engine) as s:
        set_status(s, viewer=MANAGER, item=key, status="assigned", assignee="ana", expected_version=0)
        owner = s.scalar(select(Supplier.code).join(Product, Product.supplier_id == Supplier.id)
                         .where(Product.sku == a.stockout_sku))
    with read_session(engine) as s:
        df = inbox(s, viewer=MANAGER, filters=WEEK).set_index("item_key")
        vdf = inbox(s, viewer=Viewer("v", "vendor", "supplier", owner), filters=WEEK).set_index("item_key")
    assert (df.loc[key, "status"], df.loc[key, "owner"], df.loc[key, "version"]) == ("assigned", "ana", 1)
    assert (vdf.loc[key, "status"], vdf.loc[key, "owner"]) == ("assigned", "your account manager")
    assert vdf.loc[key, "updated_by"] == "your account manager"


def test_known_events_for_the_forecaster(engine: Engine) -> None:
    from ops.decisions import add_annotation, annotations
    from ops.review.annotations import chart_annotations, events

    _users(engine)
    with transaction(engine) as s:
        add_annotation(s, viewer=MANAGER, page="all", day="2026-11-27", end_day="2026-11-30",
                       text="Black Friday promotion")
        add_annotation(s, viewer=MANAGER, page="fulfillment", day="2026-11-03", end_day="2026-11-05",
                       text="Carrier strike", scope_kind="lane", scope_key="WH-EAST>NY")
        add_annotation(s, viewer=MANAGER, page="inventory", day="2026-10-01", text="Warehouse move")
    with pytest.raises(ValidationError, match="before the first day"), transaction(engine) as s:
        add_annotation(s, viewer=MANAGER, page="all", day="2026-11-05", end_day="2026-11-01", text="x")
    with pytest.raises(ValidationError, match="both a scope kind"), transaction(engine) as s:
        add_annotation(s, viewer=MANAGER, page="all", day="2026-11-05", scope_kind="lane", text="x")
    with read_session(engine) as s:
        ev = events(s, dt.date(2026, 11, 1), dt.date(2026, 11, 28))
        every = events(s)
        chart = chart_annotations(s, viewer=MANAGER, page="fulfillment", start=dt.date(2026, 11, 1),
                                  end=dt.date(2026, 11, 30))
        vendor = chart_annotations(s, viewer=Viewer("v", "vendor", "supplier", "SUP-001"), page="fulfillment")
        old = annotations(s, viewer=MANAGER, page="inventory")
    assert ev[["start", "end", "text"]].values.tolist() == [
        [dt.date(2026, 11, 3), dt.date(2026, 11, 5), "Carrier strike"],
        [dt.date(2026, 11, 27), dt.date(2026, 11, 30), "Black Friday promotion"]]
    assert ev.iloc[0][["scope_kind", "scope_key"]].tolist() == ["lane", "WH-EAST>NY"]
    assert len(every) == 3 and every.iloc[0]["end"] == dt.date(2026, 10, 1)  # one day: end = start
    assert chart["text"].tolist() == ["Carrier strike", "Black Friday promotion"]
    assert vendor.empty
    assert old["end_day"].isna().all() and old["text"].tolist() == ["Warehouse move"]
