"""Every role, every page: the pages a role may open render; every other page refuses with no data.

Generic over ``ui.nav.PAGES`` and ``ops.access`` policy, so a new page is covered the day it is added.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from ops.access import PAGES_BY_ROLE, VENDOR_PAGES, Viewer
from ops.db import transaction
from ops.models import Carrier, Supplier, Warehouse
from tests.conftest import ROOT
from ui.nav import PAGES

ROLES = ("admin", "manager", "planner", "supplier", "carrier", "3pl")
REFUSAL = "do not have access"


def viewer_for(role: str, engine: Engine) -> Viewer:
    """The viewer for ``role`` on the demo data: vendors map to its first supplier, carrier and 3PL."""
    if role in ("admin", "manager", "planner"):
        return Viewer(username=f"demo-{role}", role=role)
    with transaction(engine) as s:
        if role == "supplier":
            code = s.scalar(select(Supplier.code).order_by(Supplier.code).limit(1))
            kind = "supplier"
        elif role == "carrier":
            code = s.scalar(select(Carrier.code).order_by(Carrier.code).limit(1))
            kind = "carrier"
        else:
            code = s.scalar(select(Warehouse.operator_code).where(Warehouse.operator_code.is_not(None))
                            .order_by(Warehouse.code).limit(1))
            kind = "warehouse"
    assert code, f"the demo data has no {role} to sign in as"
    return Viewer(username=f"demo-{role}", role="vendor", vendor_kind=kind, vendor_code=code)


def test_policy_covers_every_page_and_role() -> None:
    ids = {p.id for p in PAGES}
    granted = {p for pages in PAGES_BY_ROLE.values() for p in pages} | {p for v in VENDOR_PAGES.values() for p in v}
    assert granted <= ids, f"policy names pages that do not exist: {granted - ids}"
    assert all((ROOT / "app_pages" / f"{p}.py").is_file() for p in ids)
    # Vendors never see the operations overview, the audit log, imports or users.
    assert not {"home", "carriers", "planner", "audit", "imports", "users"} & {
        p for v in VENDOR_PAGES.values() for p in v}
    # Returns: suppliers see the returns of their own SKUs; carriers and 3PLs do not see the page.
    assert "returns" in VENDOR_PAGES["supplier"] and "returns" not in VENDOR_PAGES["warehouse"]
    assert VENDOR_PAGES["carrier"] == ("scorecard", "review")  # review: their own exceptions and report
    assert set(PAGES_BY_ROLE["admin"]) >= set(PAGES_BY_ROLE["manager"]) >= set(PAGES_BY_ROLE["planner"])


def _open(at: AppTest, page_id: str) -> None:
    """Open ``page_id`` the way a pasted URL would: by its url path, whether or not the role may see it."""
    hashes = [h for h, info in at._registered_pages.items() if info.get("url_pathname") == page_id]
    assert len(hashes) == 1, f"page {page_id!r} is not registered with st.navigation"
    at._page_hash = hashes[0]
    at.run()


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


@pytest.mark.parametrize("role", ROLES)
def test_role_opens_its_pages_and_is_refused_the_rest(seeded_engine: Engine, role: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_DATABASE_URL", seeded_engine.url.render_as_string(hide_password=False))
    viewer = viewer_for(role, seeded_engine)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["viewer"] = viewer
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    allowed = set(viewer.pages())
    assert allowed, f"{role} may open no page at all"
    failures = []
    for page in PAGES:
        if page.id in allowed:
            at.switch_page(f"app_pages/{page.id}.py")
            at.run()
            problems = [e.value for e in at.exception] + [e for e in _errors(at) if REFUSAL in e]
            if problems:
                failures.append(f"{page.id}: {problems}")
            elif not at.title:
                failures.append(f"{page.id}: rendered no title")
        else:
            # Not a page of this role: its file is not registered, so it cannot be opened by file...
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                at.switch_page(f"app_pages/{page.id}.py")
            # ...and its URL shows the refusal and nothing else in the main area.
            _open(at, page.id)
            shown = (at.exception, at.dataframe, at.table, at.metric, at.title, at.get("arrow_vega_lite_chart"),
                     at.get("plotly_chart"), at.get("download_button"))
            if _errors(at) != [f"You do not have access to **{page.title}**. Ask an admin if you need it."] or any(
                    shown):
                failures.append(f"{page.id} not refused: errors={_errors(at)} shown={[len(x) for x in shown]}")
    assert failures == [], f"{role}: {failures}"
    # The sidebar names who is signed in.
    assert any(f"Signed in as **{viewer.username}**" in c.value for c in at.sidebar.caption)


def test_vendor_scorecard_shows_their_identity_and_own_counts(seeded_engine: Engine,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.freshness import row_counts

    monkeypatch.setenv("OPS_DATABASE_URL", seeded_engine.url.render_as_string(hide_password=False))
    viewer = viewer_for("carrier", seeded_engine)
    with transaction(seeded_engine) as s:
        name = s.scalar(select(Carrier.name).where(Carrier.code == viewer.vendor_code))
        counts = row_counts(s, viewer=viewer).set_index("table")["rows"]
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["viewer"] = viewer
    at.run()
    assert not at.exception
    assert at.title[0].value == "Your scorecard"
    assert at.subheader[0].value == f"{name} · Carrier {viewer.vendor_code}"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Shipments"] == f"{int(counts['shipments']):,}"
    assert metrics["Order lines"] == f"{int(counts['order_lines']):,}"
    assert int(counts["shipments"]) > 0
    assert any(h.value == "Your lanes" for h in at.subheader)  # the carrier's own scorecard, not a placeholder
