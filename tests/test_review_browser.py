"""In Chromium: a copied weekly-review link opened in a fresh browser asks for sign-in, then lands on the
same week and filters (small demo data; skips saying why without Chromium, as tests/test_browser.py does)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ops.auth import DEMO_PASSWORD
from tests._sweep_browser import Walker, chromium, require_chromium, running_app, seed_database

pytestmark = pytest.mark.browser

LINK = "/review?week=2026-W44&wh=WH-EAST"


def test_copied_review_link_lands_on_the_same_week_and_filters_after_sign_in(tmp_path: Path) -> None:
    require_chromium()
    url = seed_database(tmp_path / "ops.db", size="small", seed=7)
    with running_app(url, tmp_path / "streamlit.log") as base, chromium() as browser:
        w = Walker(browser, base)
        try:
            w.load(LINK)  # a fresh browser: no session, no cookie
            assert w.page.get_by_label("User name", exact=True).is_visible()
            w.sign_in("manager", DEMO_PASSWORD)
            w.page.get_by_text("Weekly review", exact=True).first.wait_for()
            assert w.current_title() == "Weekly review"
            assert w.problems() == []
            assert re.search(r"[?&]week=2026-W44(&|$)", w.page.url), w.page.url
            assert re.search(r"[?&]wh=WH-EAST(&|$)", w.page.url), w.page.url
            week_box = w.page.get_by_label("Review week")
            assert "2026-W44" in (week_box.input_value() if week_box.count() else "") or \
                w.page.get_by_text(re.compile(r"2026-W44 \(26 Oct")).count() > 0
            assert w.page.get_by_text("2026-W44 against 2026-W43").count() > 0
            assert w.page.locator('[data-testid="stMultiSelect"]').filter(has_text="WH-EAST").count() > 0
        finally:
            w.close()
