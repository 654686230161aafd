"""The app shell as people meet it: the error boundary, filters from pasted links, the filters each page
shows, the landing page after sign-in, and scope queries that stay fast for every vendor kind."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, func, select, text
from streamlit.testing.v1 import AppTest

from ops import access
from ops.access import Viewer
from ops.db import read_session, transaction
from ops.filters import Filters
from ops.models import Order, OrderLine, Shipment
from tests.conftest import ROOT
from tests.test_app_roles import viewer_for
from ui.nav import PAGES, filters_for
from ui.sidebar import resolve_defaults

OPTIONS = {"warehouses": ["WH-EAST", "WH-WEST"], "channels": ["amazon", "web"]}
SPAN = (dt.date(2025, 11, 1), dt.date(2026, 10, 31))
TODAY = dt.date(2026, 12, 1)


# --- filters from a pasted link (pure) ----------------------------------------------------------


def test_reversed_range_in_link_is_swapped_and_said() -> None:
    d = resolve_defaults({"from": "2026-10-20", "to": "2026-09-01"}, SPAN, OPTIONS, None, TODAY)
    assert (d.start, d.end) == (dt.date(2026, 9, 1), dt.date(2026, 10, 20))
    assert any("reversed" in n for n in d.notes)
    Filters(date_from=d.start, date_to=d.end)  # what the page builds must not raise


def test_default_range_is_the_datas_last_90_days() -> None:
    d = resolve_defaults({}, SPAN, OPTIONS, None, TODAY)
    assert (d.start, d.end) == (dt.date(2026, 8, 3), dt.date(2026, 10, 31))  # 90 days inclusive
    assert d.notes == ()


def test_viewer_without_orders_gets_90_days_to_today_and_a_reason() -> None:
    # a supplier with no orders used to land on a range of today only, with no word of why
    d = resolve_defaults({}, None, OPTIONS, None, TODAY)
    assert (d.start, d.end) == (TODAY - dt.timedelta(days=89), TODAY)
    assert any("No orders involve your account" in n for n in d.notes)


def test_unknown_codes_and_bad_dates_in_link_are_dropped_and_named() -> None:
    d = resolve_defaults({"wh": "WH-EAST,NOPE", "ch": "???", "from": "yesterday"}, SPAN, OPTIONS, None, TODAY)
    assert d.warehouses == ("WH-EAST",) and d.channels == ()
    joined = " ".join(d.notes)
    assert "'NOPE'" in joined and "'???'" in joined and "'yesterday'" in joined


def test_range_outside_the_data_says_where_the_data_is() -> None:
    d = resolve_defaults({"from": "2031-01-01", "to": "2031-02-01"}, SPAN, OPTIONS, None, TODAY)
    assert any("2025-11-01 to 2026-10-31" in n for n in d.notes)


def test_last_filters_survive_pages_that_hide_them() -> None:
    last = Filters(date_from=dt.date(2026, 1, 1), date_to=dt.date(2026, 1, 31), warehouses=("WH-WEST",))
    d = resolve_defaults({}, SPAN, OPTIONS, last, TODAY)
    assert (d.start, d.end, d.warehouses) == (dt.date(2026, 1, 1), dt.date(2026, 1, 31), ("WH-WEST",))


# --- the error boundary -------------------------------------------------------------------------


def _boom_page() -> None:
    import streamlit as st

    from ui.errors import boundary

    st.title("before")
    with boundary("the test page"):
        raise ValueError("value_name (lines) cannot match an element in the DataFrame columns")
    st.caption("after the boundary")


def test_boundary_shows_a_plain_message_not_the_exception(caplog: pytest.LogCaptureFixture) -> None:
    at = AppTest.from_function(_boom_page, default_timeout=30)
    at.run()
    assert not at.exception
    assert len(at.error) == 1
    msg = at.error[0].value
    assert "Something went wrong while showing the test page" in msg and "value_name" not in msg
    ref = msg.split("reference **")[1].split("**")[0]
    assert len(ref) == 8
    # the detail is in the server log under the same reference
    assert any(ref in r.getMessage() and r.exc_info for r in caplog.records)
    assert at.caption[0].value == "after the boundary"


def test_streamlit_config_hides_error_details() -> None:
    import tomllib

    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["client"]["showErrorDetails"] == "none"


# --- the app: reversed link, filters per page ---------------------------------------------------


def _app(engine: Engine, monkeypatch: pytest.MonkeyPatch, role: str) -> tuple[AppTest, Viewer]:
    monkeypatch.setenv("OPS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    viewer = viewer_for(role, engine)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["viewer"] = viewer
    return at, viewer


@pytest.mark.parametrize("role", ["manager", "3pl"])
def test_reversed_range_link_opens_the_page_with_navigation(seeded_engine: Engine, role: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    at, _ = _app(seeded_engine, monkeypatch, role)
    at.query_params["from"] = "2026-11-10"
    at.query_params["to"] = "2026-09-01"
    at.run()
    at.switch_page("app_pages/fulfillment.py")
    at.query_params["from"] = "2026-11-10"
    at.query_params["to"] = "2026-09-01"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Fulfilment SLA"
    assert at.sidebar.button(key="sign_out")
    assert at.sidebar.date_input(key="global_dates").value == (dt.date(2026, 9, 1), dt.date(2026, 11, 10))
    assert any("reversed" in c.value for c in at.sidebar.caption)


def test_each_page_shows_only_the_filters_it_reads(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    at, viewer = _app(seeded_engine, monkeypatch, "admin")
    at.run()
    seen = {}
    for page in PAGES:
        if not viewer.may_open(page.id):
            continue
        at.switch_page(f"app_pages/{page.id}.py")
        at.run()
        assert not at.exception, (page.id, [e.value for e in at.exception])
        # the dates are a review-week switch plus a range or a week (the Weekly review page's
        # week carries to the pages after it, so some show the week)
        keys = {w.key for w in (*at.sidebar.toggle, *at.sidebar.multiselect)}
        if "global_review" in keys:  # a week picker in review mode, else the free range
            in_review = at.sidebar.toggle(key="global_review").value
            pickers = {w.key for w in (*at.sidebar.date_input, *at.sidebar.selectbox)}
            assert pickers == ({"global_review_week"} if in_review else {"global_dates"}), page.id
        seen[page.id] = keys
    assert seen["fulfillment"] == {"global_review", "global_wh", "global_ch"}
    assert seen["home"] == {"global_review", "global_wh", "global_ch"}
    assert seen["inventory"] == {"global_wh"}
    for pid in ("audit", "imports", "users"):
        assert seen[pid] == set(), pid
    # every other page shows exactly the filters its domain registration says it reads
    widget = {"dates": "global_review", "warehouses": "global_wh", "channels": "global_ch"}
    for pid, keys in seen.items():
        assert keys == {widget[f] for f in filters_for(pid, viewer)}, pid


def test_planners_overview_shows_no_date_range(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A planner's Overview shows stock only, which the date range does not change: no date filter."""
    at, _ = _app(seeded_engine, monkeypatch, "planner")
    at.run()
    assert at.title[0].value == "Overview"
    assert {w.key for w in (*at.sidebar.date_input, *at.sidebar.multiselect)} == {"global_wh"}
    assert any("date range does not apply to stock" in c.value for c in at.caption)


# --- scope queries every vendor kind runs on sign-in --------------------------------------------

VENDORS = [Viewer("s", "vendor", "supplier", "SUP-001"), Viewer("c", "vendor", "carrier", "ARC"),
           Viewer("w", "vendor", "warehouse", "3PL-NORTHLOG")]


@pytest.mark.parametrize("viewer", VENDORS, ids=lambda v: v.vendor_kind)
@pytest.mark.parametrize("model", ["orders", "order_lines", "shipments"])
def test_scope_conditions_are_not_correlated_per_row(sqlite_engine: Engine, viewer: Viewer, model: str) -> None:
    """A correlated subquery probed the vendor's rows once per order: at bench size the carrier's
    sign-in (the date span of its orders) never finished. The plan must not be correlated."""
    table, cond = {"orders": (Order, access.order_condition), "order_lines": (OrderLine, access.order_line_condition),
                   "shipments": (Shipment, access.shipment_condition)}[model]
    stmt = select(func.count()).select_from(table).where(cond(viewer))
    sql = str(stmt.compile(sqlite_engine, compile_kwargs={"literal_binds": True}))
    with sqlite_engine.connect() as c:
        plan = " | ".join(str(r[-1]) for r in c.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert "CORRELATED" not in plan, plan


def test_scoped_span_matches_raw_rows(seeded_engine: Engine) -> None:
    """The carrier's span equals the placed days of orders (not cancelled) holding one of its shipments."""
    import pandas as pd

    from ops.reference import data_span

    viewer = viewer_for("carrier", seeded_engine)
    with read_session(seeded_engine) as s:
        got = data_span(s, viewer=viewer)
    with transaction(seeded_engine) as s:
        orders = pd.read_sql(select(Order.id, Order.placed_at, Order.status), s.connection())
        orders = orders[~orders["status"].isin(["cancelled", "canceled", "unavailable"])]
        ships = pd.read_sql(text("SELECT s.order_id FROM shipments s JOIN carriers c ON c.id = s.carrier_id "
                                 "WHERE c.code = :code"), s.connection(), params={"code": viewer.vendor_code})
    mine = pd.to_datetime(orders[orders["id"].isin(ships["order_id"])]["placed_at"])
    assert got == (mine.min().date(), mine.max().date())


# --- review mode: one ISO week on every page ----------------------------------------------------


def test_a_review_week_in_the_link_sets_the_dates_to_that_week() -> None:
    d = resolve_defaults({"week": "2026-W40", "from": "2026-01-01", "to": "2026-02-01"}, SPAN, OPTIONS, None, TODAY)
    assert d.week is not None and d.week.label == "2026-W40"
    assert (d.start, d.end) == (dt.date(2026, 9, 28), dt.date(2026, 10, 4))  # Monday to Sunday
    bad = resolve_defaults({"week": "2026-W60"}, SPAN, OPTIONS, None, TODAY)
    assert bad.week is None and any("2026-W60" in n and "ignored" in n for n in bad.notes)
    # the week last used carries to the next page, unless the link names its own range
    carried = resolve_defaults({}, SPAN, OPTIONS, None, TODAY, last_week="2026-W41")
    assert (carried.start, carried.end) == (dt.date(2026, 10, 5), dt.date(2026, 10, 11))
    own = resolve_defaults({"from": "2026-08-01", "to": "2026-08-31"}, SPAN, OPTIONS, None, TODAY,
                           last_week="2026-W41")
    assert own.week is None and (own.start, own.end) == (dt.date(2026, 8, 1), dt.date(2026, 8, 31))
    off = resolve_defaults({}, SPAN, OPTIONS, None, TODAY, last_week="")
    assert off.week is None


def test_review_mode_on_the_fulfilment_page(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.fulfillment import kpis as fulfil_kpis

    at, viewer = _app(seeded_engine, monkeypatch, "manager")
    for _ in range(2):  # a pasted link: its parameters before and after the page switch
        at.query_params["week"] = "2026-W40"
        at.run()
        at.switch_page("app_pages/fulfillment.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.toggle(key="global_review").value is True
    assert at.sidebar.selectbox(key="global_review_week").value.label == "2026-W40"
    assert not at.sidebar.date_input  # one week, not a free range
    assert any("2026-W40 against 2026-W39" in c.value for c in at.sidebar.caption)
    qp = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert (qp["from"], qp["to"], qp["week"]) == ("2026-09-28", "2026-10-04", "2026-W40")
    # the page's KPI table is the fulfilment KPIs of that week, computed here from the same filters
    with read_session(seeded_engine) as s:
        want = fulfil_kpis(s, viewer=viewer, filters=Filters(date_from=dt.date(2026, 9, 28),
                                                              date_to=dt.date(2026, 10, 4)))
    from ops import fmt
    from ui.fulfillment import KPIS as TILES

    shown = [m.value for m in at.metric]
    expected = [fmt.value(r.value, TILES.get(r.kpi, ("", str(r.unit)))[1]) for r in want.itertuples()]
    assert shown[:len(expected)] == expected and want["previous"].notna().any()
    # turning review mode off leaves the week's dates as a free range and drops the week from the link
    at.sidebar.toggle(key="global_review").set_value(False).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.date_input(key="global_dates").value == (dt.date(2026, 9, 28), dt.date(2026, 10, 4))
    assert "week" not in at.query_params


def test_a_suppliers_freshness_line_names_its_own_rows(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A supplier sells nothing itself: its line used to read '0 order lines'; it names its SKUs and POs."""
    at, viewer = _app(seeded_engine, monkeypatch, "supplier")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    with read_session(seeded_engine) as s:
        skus = s.execute(text("SELECT COUNT(*) FROM products p JOIN suppliers s ON s.id = p.supplier_id "
                              "WHERE s.code = :c"), {"c": viewer.vendor_code}).scalar_one()
        pos = s.execute(text("SELECT COUNT(*) FROM purchase_orders p JOIN suppliers s ON s.id = p.supplier_id "
                             "WHERE s.code = :c"), {"c": viewer.vendor_code}).scalar_one()
    line = next(c.value for c in at.sidebar.caption if c.value.startswith("Last import"))
    assert f"{skus:,} SKUs" in line and f"{pos:,} purchase orders" in line, line
