"""End to end in a real browser: sign in, see only your pages, sign out.

Starts ``streamlit run app.py`` on a free port against a seeded SQLite file with the demo
accounts, and drives the system Chromium through Playwright.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.access import PAGES_BY_ROLE
from ops.auth import DEMO_PASSWORD, ensure_demo_accounts
from ops.db import make_engine, transaction
from ops.models import Base
from tests.conftest import ROOT
from ui.nav import PAGES

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
START_TIMEOUT_S = 90
TITLES = {p.id: p.title for p in PAGES}


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("OPS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"OPS_REQUIRE_BROWSER=1 but {CHROMIUM} is missing: apt-get install chromium")
    pytest.skip("Chromium not installed: apt-get install chromium")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running OpsDeck on a seeded SQLite file with the demo accounts; stopped afterwards."""
    _require_chromium()
    from ops.demo import seed

    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{folder / 'ops.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    seed(engine, size="small", seed=7)
    with transaction(engine) as s:
        assert [a[0] for a in ensure_demo_accounts(s)] == ["admin", "manager", "planner", "supplier", "carrier", "3pl"]
    engine.dispose()

    port = _free_port()
    env = os.environ | {"OPS_DATABASE_URL": url, "OPS_AUTH_MODE": "local"}
    log = (folder / "streamlit.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                tail = (folder / "streamlit.log").read_text()[-2000:]
                pytest.fail(f"streamlit exited with {proc.returncode}: {tail}")
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:  # noqa: S310 - local URL
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer /_stcore/health within {START_TIMEOUT_S} s")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


@pytest.fixture
def page(app_url: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1400, "height": 900})
            pg.set_default_timeout(60_000)
            pg.goto(app_url)
            yield pg
        finally:
            browser.close()


def _sign_in(page: object, username: str) -> None:
    page.get_by_label("User name", exact=True).fill(username)  # type: ignore[attr-defined]
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    page.get_by_text(f"Signed in as {username}").wait_for()  # type: ignore[attr-defined]


def _nav_links(page: object) -> list[str]:
    links = page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]')  # type: ignore[attr-defined]
    # Each link holds its material icon's ligature name, then the title on the last line.
    return [t.strip().splitlines()[-1].strip() for t in links.all_inner_texts()]


def test_carrier_sees_only_the_scorecard_and_can_sign_out(page: object, tmp_path: Path) -> None:
    page.get_by_label("User name", exact=True).wait_for()  # type: ignore[attr-defined]
    _sign_in(page, "carrier")
    page.get_by_role("heading", name="Your scorecard").wait_for()  # type: ignore[attr-defined]
    page.get_by_text("Records we hold that involve you").wait_for()  # type: ignore[attr-defined]
    # One page only: Streamlit shows no menu for a single page, or a menu holding just that page.
    assert _nav_links(page) in ([], [TITLES["scorecard"]])
    body = page.locator("body").inner_text()  # type: ignore[attr-defined]
    assert [t for pid, t in TITLES.items() if pid != "scorecard" and t in body] == []
    shot = tmp_path / "carrier_scorecard.png"
    page.screenshot(path=str(shot), full_page=True)  # type: ignore[attr-defined]
    assert shot.stat().st_size > 10_000
    if os.environ.get("OPS_SCREENSHOT_DIR"):
        page.screenshot(path=str(Path(os.environ["OPS_SCREENSHOT_DIR"]) / shot.name), full_page=True)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign out").click()  # type: ignore[attr-defined]
    page.get_by_label("User name", exact=True).wait_for()  # type: ignore[attr-defined]
    page.get_by_label("Password", exact=True).wait_for()  # type: ignore[attr-defined]
    assert page.get_by_text("Signed in as").count() == 0  # type: ignore[attr-defined]


def test_manager_navigation_lists_the_operations_pages(page: object) -> None:
    page.get_by_label("User name", exact=True).wait_for()  # type: ignore[attr-defined]
    _sign_in(page, "manager")
    page.locator('[data-testid="stSidebarNavLink"]').first.wait_for()  # type: ignore[attr-defined]
    assert _nav_links(page) == [TITLES[p] for p in PAGES_BY_ROLE["manager"]]
