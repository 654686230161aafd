"""Every page, as every role, opened from odd links: reversed, empty and far-future date ranges,
unknown warehouse and channel codes, and unreadable dates.

Each case is a fresh session opening the page's URL with the link's query string (what a pasted
or bookmarked link does), on the small demo data with the demo accounts (as ``make run`` sets up;
each role is the viewer its demo account signs in as). No case may raise or show an error; the
sidebar must turn the link into a sensible filter; and where the link leaves nothing to show,
the page must say so (an info, warning or caption naming the absence) instead of rendering an
empty page. Generic over ``ui.nav.PAGES`` and ``ops.access``, so a new page is swept the day it
is added.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.navigation.page import calc_hash
from streamlit.testing.v1 import AppTest

from ops.access import SYSTEM, Viewer
from ops.auth import DEMO_PASSWORD, sign_in
from ops.db import make_engine, read_session
from ops.reference import data_span
from tests._sweep_browser import ROLES, pages_of, seed_database
from tests.conftest import ROOT

TIMEOUT_S = 30
UNKNOWN_WH, UNKNOWN_CH = "NOPE", "???"
# Words that say something is absent; a caption counts as the empty-state message only with one.
ABSENCE = re.compile(r"\b(no|nothing|none|empty|not any|not yet|without|holds no)\b", re.IGNORECASE)
# ...or that the date range does not bear on what the page shows (stock is measured at the as-of day).
NOT_DATED = re.compile(r"date range (does not|doesn't|do not) apply", re.IGNORECASE)

Span = tuple[dt.date, dt.date]


def _reversed(span: Span) -> dict[str, str]:
    # inside the data, to before from: a person typing the range backwards
    return {"from": span[1].isoformat(), "to": (span[1] - dt.timedelta(days=60)).isoformat()}


CASES: dict[str, Callable[[Span], dict[str, str]]] = {
    "reversed": _reversed,
    # years before the data starts
    "empty": lambda span: {"from": f"{span[0].year - 25}-01-01", "to": f"{span[0].year - 25}-12-31"},
    "far_future": lambda span: {"from": "2099-01-01", "to": "2099-12-31"},
    "unknown_filters": lambda span: {"wh": UNKNOWN_WH, "ch": UNKNOWN_CH},
    "unreadable_dates": lambda span: {"from": "yesterday", "to": "2026-13-45"},
}
NO_DATA_CASES = ("empty", "far_future")

SWEEP = [(role, page, case) for role in ROLES for page in pages_of(role) for case in CASES]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Viewer]]]:
    """The small demo data with the demo accounts: (database URL, the viewer each role signs in as)."""
    url = seed_database(Path(tmp_path_factory.mktemp("sweep")) / "ops.db", size="small", seed=7)
    engine = make_engine(url)
    try:
        yield url, {role: sign_in(engine, username=role, password=DEMO_PASSWORD) for role in ROLES}
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def span(demo_db: tuple[str, dict[str, Viewer]]) -> Span:
    engine = make_engine(demo_db[0])
    with read_session(engine) as s:
        got = data_span(s, viewer=SYSTEM)
    engine.dispose()
    assert got is not None, "the small demo data has no orders"
    return got


def _open(viewer: Viewer, page: str, query: dict[str, str]) -> AppTest:
    """A new session for ``viewer`` opening ``/<page>?<query>``: one run, no prior state."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT_S)
    at.session_state["viewer"] = viewer
    at.query_params.update(query)
    # st.Page registers a page under the hash of its url path; request it the way the browser's URL does
    at._page_hash = calc_hash(page)
    at.run()
    return at


def _texts(block: Any, kind: str) -> list[str]:
    return [str(e.value) for e in getattr(block, kind)]


def _shows_data(at: AppTest) -> bool:
    """Whether the main area shows any figures: a non-empty table, a chart, or a metric."""
    main = at.main
    frames = [d.value for d in main.dataframe]
    charts = [*main.get("arrow_vega_lite_chart"), *main.get("plotly_chart"), *main.get("vega_lite_chart")]
    return any(len(f) for f in frames) or bool(charts) or bool(main.metric)


def _absence_message(at: AppTest) -> list[str]:
    """Messages in the main area that tell the person there is nothing (or nothing here) to show,
    or that the date range does not apply to what is shown."""
    main = at.main
    return (_texts(main, "info") + _texts(main, "warning")
            + [c for c in _texts(main, "caption") + _texts(main, "markdown")
               if ABSENCE.search(c) or NOT_DATED.search(c)])


@pytest.mark.parametrize(("role", "page", "case"), SWEEP, ids=[f"{r}-{p}-{c}" for r, p, c in SWEEP])
def test_page_opens_from_an_odd_link(demo_db: tuple[str, dict[str, Viewer]], span: Span, role: str, page: str,
                                     case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url, viewers = demo_db
    monkeypatch.setenv("OPS_DATABASE_URL", url)
    query = CASES[case](span)
    at = _open(viewers[role], page, query)
    where = f"{role} on /{page}?{'&'.join(f'{k}={v}' for k, v in query.items())}"

    assert not at.exception, f"{where}: exception {[e.value for e in at.exception]}"
    assert _texts(at, "error") == [], f"{where}: error shown {_texts(at, 'error')}"
    assert at._finished_page_script_hash == calc_hash(page), f"{where}: did not open the page"
    assert at.main.title, f"{where}: no page title"
    # navigation and sign-out survive whatever the link held
    assert [b for b in at.sidebar.button if b.label == "Sign out"], f"{where}: no sign-out button"

    dates = at.sidebar.date_input
    if dates and case in ("reversed", "unreadable_dates"):
        start, end = dates[0].value
        assert start <= end, f"{where}: the date filter holds a reversed range {start}..{end}"
        assert at.query_params.get("from", "") <= at.query_params.get("to", ""), \
            f"{where}: the URL keeps a reversed range {at.query_params}"
    if case == "reversed" and dates:
        assert (dates[0].value[0].isoformat(), dates[0].value[1].isoformat()) == (query["to"], query["from"]), \
            f"{where}: the reversed range was not swapped, got {dates[0].value}"
    if case == "unknown_filters":
        for box in at.sidebar.multiselect:
            assert UNKNOWN_WH not in box.value and UNKNOWN_CH not in box.value, f"{where}: {box.label} {box.value}"
        if at.sidebar.multiselect:
            said = " ".join(_texts(at.sidebar, "caption") + _texts(at, "info") + _texts(at, "warning"))
            assert UNKNOWN_WH in said, f"{where}: nothing says the link's warehouse {UNKNOWN_WH!r} was ignored"

    # Where the link leaves nothing to show, the page says so rather than rendering emptiness.
    no_data_by_design = case in NO_DATA_CASES and bool(dates)  # the page reads the date range
    if no_data_by_design or not _shows_data(at):
        what = ("the page offers the date filter, the range holds no orders, and the page neither says so "
                "nor that the range does not apply" if no_data_by_design else "nothing to show and no message")
        assert _absence_message(at), (
            f"{where}: {what}; info={_texts(at.main, 'info')} "
            f"warning={_texts(at.main, 'warning')} captions={_texts(at.main, 'caption')}")
