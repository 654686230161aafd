"""End to end in a real browser, as each demo role, on the default demo data (what `make run` shows).

Starts ``streamlit run app.py`` on a free port against a SQLite file seeded like ``python -m ops
seed --size default`` (seed 42) with the demo accounts, and drives Debian's Chromium through
Playwright (``tests/_sweep_browser.py`` holds the walk, shared with ``bench/first_render.py``).

- Per role: sign in, open every page of the role's navigation and click every chart and table
  choice; no page may show an exception element, the word "Traceback" or an error message, and
  every step must finish within 60 s (a hung query fails the test instead of hanging CI).
- The first-render time of each page per role is written to ``bench/out/first_render.md``
  (for BENCHMARKS.md) and printed at the end of the module.
- A reload keeps working, and a pasted link with a reversed date range shows no exception.
- The carrier sees only the pages the access policy gives carriers (their scorecard, the weekly
  review of their own inbox), no other carrier's name or code, and can sign out.

Without Chromium the tests skip saying why; ``OPS_REQUIRE_BROWSER=1`` turns the skip into a failure.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ops.access import VENDOR_PAGES
from ops.auth import DEMO_PASSWORD
from tests._sweep_browser import (
    ROLES,
    Walker,
    chromium,
    problem_lines,
    render_markdown,
    require_chromium,
    running_app,
    seed_database,
    server_errors,
    walk_role,
)
from tests.conftest import ROOT
from ui.nav import PAGES

pytestmark = pytest.mark.browser

TITLES = {p.id: p.title for p in PAGES}
FIRST_RENDER_MD = ROOT / "bench" / "out" / "first_render.md"
REVERSED_LINK = "/fulfillment?from=2026-11-10&to=2026-09-01"



@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A running OpsDeck on the default demo data with the demo accounts: (base URL, server log)."""
    require_chromium()
    folder = tmp_path_factory.mktemp("browser")
    url = seed_database(folder / "ops.db", size="default")
    log = folder / "streamlit.log"
    with running_app(url, log) as base:
        yield base, log


@pytest.fixture(scope="module")
def app_url(app_server: tuple[str, Path]) -> str:
    return app_server[0]


@pytest.fixture(scope="module")
def browser(app_server: tuple[str, Path]) -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def walker(browser: Any, app_url: str) -> Iterator[Walker]:
    w = Walker(browser, app_url)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture(scope="module")
def first_renders(request: pytest.FixtureRequest) -> Iterator[list[Any]]:
    """Collects every role's page visits; at the end writes and prints the first-render table."""
    visits: list[Any] = []
    yield visits
    if not visits:
        return
    table = render_markdown(visits, title="First render per role and page, default demo data (browser test)",
                            note="Measured by tests/test_browser.py on a fresh default-seed SQLite "
                                 f"(seed 42); roles walked: {', '.join(dict.fromkeys(v.role for v in visits))}.")
    FIRST_RENDER_MD.parent.mkdir(parents=True, exist_ok=True)
    FIRST_RENDER_MD.write_text(table)
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\n\n{table}\n(written to {FIRST_RENDER_MD.relative_to(ROOT)})")


def _failure(what: str, problems: list[str], log: Path) -> str:
    errors = server_errors(log)
    return (f"{what}:\n  " + "\n  ".join(problems)
            + ("\nserver log errors:\n  " + "\n  ".join(errors) if errors else ""))


def _heading(walker: Walker, title: str) -> None:
    """Wait (up to the page timeout) for the page titled ``title``; fail naming the heading shown instead."""
    from playwright.sync_api import TimeoutError as PwTimeout

    h1 = walker.page.locator('[data-testid="stMain"] h1')
    try:
        h1.filter(has_text=title).first.wait_for()
    except PwTimeout:
        pytest.fail(f"expected the page {title!r}, the page shows {h1.all_inner_texts()} at {walker.page.url}")


@pytest.mark.parametrize("role", ROLES)
def test_every_page_and_choice_renders_for_role(role: str, browser: Any, app_server: tuple[str, Path],
                                                first_renders: list[Any]) -> None:
    base, log = app_server
    visits = walk_role(browser, base, role, password=DEMO_PASSWORD)
    first_renders.extend(visits)
    problems = problem_lines(visits)
    assert problems == [], _failure(f"{role} met problems", problems, log)
    assert [v.page for v in visits if v.first_render_s is None] == []


def test_reload_keeps_the_page_working(walker: Walker, app_server: tuple[str, Path]) -> None:
    _, log = app_server
    walker.load("/")
    walker.sign_in("manager", DEMO_PASSWORD)
    walker.open_page(TITLES["fulfillment"])
    assert walker.problems() == []
    walker.load("/fulfillment")  # the browser's reload: a new session on the same link
    if walker.page.get_by_label("User name", exact=True).count():
        walker.sign_in("manager", DEMO_PASSWORD)
    _heading(walker, TITLES["fulfillment"])
    problems = walker.problems()
    assert problems == [], _failure("after a reload", problems, log)
    assert "/fulfillment" in walker.page.url
    # and the page still answers its controls
    walker.act(lambda: walker.page.locator(".st-key-fulfillment_by button").last.click(), "break down after reload")
    problems = walker.problems()
    assert problems == [], _failure("after a reload and a click", problems, log)


def test_pasted_link_with_a_reversed_date_range_shows_no_exception(walker: Walker,
                                                                   app_server: tuple[str, Path]) -> None:
    _, log = app_server
    walker.load(REVERSED_LINK)
    assert walker.problems() == []
    walker.sign_in("manager", DEMO_PASSWORD)
    problems = walker.problems()
    assert problems == [], _failure(f"{REVERSED_LINK} as manager", problems, log)
    # the page the link named opens, with navigation and sign-out still there
    _heading(walker, TITLES["fulfillment"])
    assert walker.problems() == []
    assert walker.nav_titles(), "no navigation after opening the link"
    assert walker.page.get_by_role("button", name="Sign out").count() == 1
    # the range is shown the right way round
    assert "from=2026-09-01" in walker.page.url and "to=2026-11-10" in walker.page.url, walker.page.url


def test_carrier_sees_only_their_pages_and_can_sign_out(walker: Walker, app_server: tuple[str, Path],
                                                        tmp_path: Path) -> None:
    _, log = app_server
    own_pages = [p.id for p in PAGES if p.id in VENDOR_PAGES["carrier"]]  # what the access policy gives a carrier
    assert "scorecard" in own_pages
    with sqlite3.connect(log.parent / "ops.db") as db:  # the other carriers, straight from the demo data
        others = [(code, name) for code, name in db.execute("SELECT code, name FROM carriers WHERE code <> 'ARC'")]
    assert len(others) >= 2
    page = walker.page
    walker.load("/")
    walker.sign_in("carrier", DEMO_PASSWORD)
    page.get_by_role("heading", name="Your scorecard").wait_for()
    page.get_by_text("Records we hold that involve you").wait_for()
    page.get_by_text("Arcway Logistics").first.wait_for()  # the demo carrier account is ARC
    # Exactly the policy's pages (one page only: Streamlit may show no menu at all).
    nav = walker.nav_titles()
    want = [TITLES[pid] for pid in own_pages]
    assert nav == want or (len(want) == 1 and nav == []), (nav, want)
    for pid in own_pages:
        if pid != "scorecard":
            walker.open_page(TITLES[pid])
            _heading(walker, TITLES[pid])
        body = page.locator('[data-testid="stMain"]').inner_text()
        assert [t for p, t in TITLES.items() if p not in own_pages and t in body] == [], pid
        assert [n for c, n in others if n in body or re.search(rf"\b{re.escape(c)}\b", body)] == [], pid
        problems = walker.problems()
        assert problems == [], _failure(f"carrier on {pid}", problems, log)
        if pid == "scorecard":
            shot = tmp_path / "carrier_scorecard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if os.environ.get("OPS_SCREENSHOT_DIR"):
                page.screenshot(path=str(Path(os.environ["OPS_SCREENSHOT_DIR"]) / shot.name), full_page=True)
    walker.act(lambda: page.get_by_role("button", name="Sign out").click(), "sign out")
    page.get_by_label("User name", exact=True).wait_for()
    page.get_by_label("Password", exact=True).wait_for()
    assert page.get_by_text("Signed in as").count() == 0
