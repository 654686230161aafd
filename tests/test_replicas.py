"""Several app processes on one database: what one writes, the others show on their next rerun.

Each app process keeps its own in-memory caches (``st.cache_data``); the database is the only thing
the processes share. ``ui.cache.sync_with_database`` (called by ``app.py`` at the start of every
rerun) reads ``ops.freshness.data_version`` and clears this process's caches when the version moved.

- Unit, both databases: every write path moves the version (a threshold change, a refused attempt,
  account events, an import, a forecast run's life including a resume, a theme run), while what
  pages do not show (a session's activity stamp, a dry-run import) leaves it alone; and two
  "processes" (one writing through its own engine, one reading through the cached page loader)
  stay coherent through the check, where without it the reader keeps the stale value.
- Browser, PostgreSQL: two ``streamlit run app.py`` servers on one private database. A manager
  signed in to each; a threshold override added on server A shows in server B's threshold table
  after one rerun; a session cookie minted by A, copied into a browser context that never saw A,
  signs it in on B (signed with the one key both servers read from the database). Skipped without
  Chromium or ``OPS_TEST_DATABASE_URL``; ``OPS_REQUIRE_BROWSER=1`` (CI) turns the Chromium skip
  into a failure.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, update

from ops import auth
from ops import decisions as d
from ops.access import SYSTEM, Viewer
from ops.db import make_engine, read_session, transaction
from ops.freshness import data_version
from ops.ingest import ImportError_, run_import
from ops.models import AppSetting, ForecastRun, Threshold
from ops.returns import themes
from tests.conftest import PG_URL, ROOT, private_pg_database

TEMPLATES = ROOT / "data" / "templates"
ANA = Viewer("ana", "manager")
ZERO = (0, 0, 0, 0, 0, 0, 0, 0)
NOW = dt.datetime(2026, 11, 30, 9, 0)


def _version(engine: Engine) -> tuple[int, ...]:
    with read_session(engine) as s:
        return data_version(s)


def _forecast(engine: Engine, run_id: int | None, **values: Any) -> int:
    """Insert a forecast run (``run_id`` None) or update one, as ``ops.forecast.run`` does."""
    with transaction(engine) as s:
        if run_id is None:
            return int(s.execute(insert(ForecastRun).values(parameters="{}", **values)
                                 .returning(ForecastRun.id)).scalar_one())
        s.execute(update(ForecastRun).where(ForecastRun.id == run_id).values(**values))
        return run_id


# --- the version ----------------------------------------------------------------------------------


def test_every_write_path_moves_the_version(engine: Engine) -> None:
    # Components: audit max id, import max id, forecast (max id, finished, succeeded), themes (same).
    assert _version(engine) == ZERO

    with transaction(engine) as s:  # a threshold change: one audit row
        d.set_threshold(s, viewer=ANA, name="cover_warning_days", value=20)
    assert _version(engine) == (1, 0, 0, 0, 0, 0, 0, 0)
    d.record_refusal(engine, viewer=ANA, action="threshold.set", entity_kind="threshold", entity_key="x",
                     message="refused")  # the audit page lists refusals: they count too
    assert _version(engine) == (2, 0, 0, 0, 0, 0, 0, 0)

    with transaction(engine) as s:  # account events: add_user, then a sign-in (login.ok)
        auth.add_user(s, username="ana", password="correct horse battery", role="manager", actor=SYSTEM)
    with transaction(engine) as s:
        viewer = auth.authenticate(s, username="ana", password="correct horse battery", now=NOW)
    assert _version(engine) == (4, 0, 0, 0, 0, 0, 0, 0)
    with transaction(engine) as s:  # a session's rows change no page: the version stays
        token = auth.start_session(s, viewer=viewer, now=NOW)
    live = auth.resume(engine, token=token, now=NOW + dt.timedelta(minutes=5))  # touches the session row
    assert live == viewer
    assert _version(engine) == (4, 0, 0, 0, 0, 0, 0, 0)

    run_import(engine, kind="csv-suppliers", paths=[TEMPLATES / "suppliers.csv"], viewer=SYSTEM, dry_run=True)
    assert _version(engine) == (4, 0, 0, 0, 0, 0, 0, 0)  # a dry run records nothing
    run_import(engine, kind="csv-suppliers", paths=[TEMPLATES / "suppliers.csv"], viewer=SYSTEM)
    assert _version(engine) == (4, 1, 0, 0, 0, 0, 0, 0)

    run = _forecast(engine, None, status="running", started_at=NOW)
    assert _version(engine) == (4, 1, 1, 0, 0, 0, 0, 0)
    _forecast(engine, run, status="failed", finished_at=NOW)
    assert _version(engine) == (4, 1, 1, 1, 0, 0, 0, 0)
    _forecast(engine, run, status="running", finished_at=None)  # resumed
    assert _version(engine) == (4, 1, 1, 0, 0, 0, 0, 0)
    _forecast(engine, run, status="succeeded", finished_at=NOW)  # the resumed run's forecasts now show
    assert _version(engine) == (4, 1, 1, 1, 1, 0, 0, 0)

    with transaction(engine) as s:  # a theme run queued, then the job (too few comments: it fails)
        theme_run = themes.create_run(s, started_by="ana")
    assert _version(engine) == (4, 1, 1, 1, 1, 1, 0, 0)
    with pytest.raises(ValueError, match="comments"):
        themes.run_job(engine, theme_run)
    assert _version(engine) == (4, 1, 1, 1, 1, 1, 1, 0)


def test_a_refresh_of_the_aggregates_moves_the_version(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m ops refresh`` rebuilds what pages read; its audit row tells the other processes."""
    from ops.__main__ import main

    assert main(["--db", engine.url.render_as_string(hide_password=False), "refresh"]) == 0
    assert "refreshed:" in capsys.readouterr().out
    assert _version(engine) == (1, 0, 0, 0, 0, 0, 0, 0)


def test_a_resumed_forecast_that_succeeds_never_repeats_the_version_before_it(engine: Engine) -> None:
    """A page cached while the run had failed must not survive its resumed success (an A-B-A trap
    for a version made of the finished count alone)."""
    run = _forecast(engine, None, status="failed", started_at=NOW, finished_at=NOW)
    failed = _version(engine)
    _forecast(engine, run, status="running", finished_at=None)
    _forecast(engine, run, status="succeeded", finished_at=NOW + dt.timedelta(hours=1))
    assert _version(engine) != failed


def test_a_refused_import_moves_the_version(engine: Engine, tmp_path: Path) -> None:
    bad = tmp_path / "suppliers.csv"
    bad.write_text("code,name\n,No code\n")
    with pytest.raises(ImportError_):
        run_import(engine, kind="csv-suppliers", paths=[bad], viewer=SYSTEM)
    assert _version(engine)[1] == 1  # the refusal is recorded (the Imports page lists it)


# --- two processes, one database ------------------------------------------------------------------


@pytest.fixture
def as_process(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """This test process plays an app process on ``engine``'s database (a fresh one: nothing seen yet)."""
    from ui import cache

    monkeypatch.setenv("OPS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setitem(cache._SEEN, "last", None)
    yield cache.get_engine()


def _cover_warning(table: Any) -> float:
    row = table[(table["name"] == "cover_warning_days") & (table["scope_kind"] == "global")]
    return float(row["value"].iloc[0])


def test_a_write_in_one_process_shows_in_the_other_on_its_next_rerun(engine: Engine, as_process: Engine) -> None:
    from ui.cache import sync_with_database
    from ui.decisions import load_threshold_table

    default = d.THRESHOLDS["cover_warning_days"].default
    assert sync_with_database() is True  # a process's first rerun: nothing seen yet
    assert _cover_warning(load_threshold_table(as_process, ANA.cache_key, ANA)) == default

    other = make_engine(engine.url.render_as_string(hide_password=False))  # the other process's own pool
    try:
        with transaction(other) as s:
            d.set_threshold(s, viewer=ANA, name="cover_warning_days", value=default + 9, expected_version=0)
    finally:
        other.dispose()

    # Without the check this process keeps serving what it cached (up to the TTL).
    assert _cover_warning(load_threshold_table(as_process, ANA.cache_key, ANA)) == default
    assert sync_with_database() is True  # the next rerun sees the version moved and clears
    assert _cover_warning(load_threshold_table(as_process, ANA.cache_key, ANA)) == default + 9
    assert sync_with_database() is False  # nothing new: the caches stay


def test_nothing_written_keeps_the_caches(engine: Engine, as_process: Engine) -> None:
    from ui.cache import sync_with_database
    from ui.decisions import load_threshold_table

    sync_with_database()
    first = load_threshold_table(as_process, ANA.cache_key, ANA)
    with transaction(engine) as s:  # behind the cache's back, with no audit row (never done by the product)
        s.execute(insert(Threshold).values(name="cover_warning_days", scope_kind="global", scope_key="", value=30,
                                           version=1, updated_by="x"))
    assert sync_with_database() is False
    assert _cover_warning(load_threshold_table(as_process, ANA.cache_key, ANA)) == _cover_warning(first)


def test_another_database_is_never_served_from_this_ones_cache(engine: Engine, as_process: Engine,
                                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same version numbers, other database (the loaders' key leaves the engine out): still cleared."""
    from ops.models import Base
    from ui.cache import get_engine, sync_with_database
    from ui.decisions import load_threshold_table

    sync_with_database()
    assert _cover_warning(load_threshold_table(as_process, ANA.cache_key, ANA)) == 14
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    Base.metadata.create_all(other)
    with transaction(other) as s:
        s.execute(insert(Threshold).values(name="cover_warning_days", scope_kind="global", scope_key="", value=30,
                                           version=1, updated_by="x"))
    other.dispose()
    monkeypatch.setenv("OPS_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    assert _version(get_engine()) == _version(engine) == ZERO
    assert sync_with_database() is True
    assert _cover_warning(load_threshold_table(get_engine(), ANA.cache_key, ANA)) == 30


# --- two app servers in a browser (PostgreSQL) -----------------------------------------------------

OVERRIDE_CODE_VALUE = 33.0  # an in-range low-cover warning (days) for one warehouse, typed in on server A



@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """Two ``streamlit run app.py`` processes on one private PostgreSQL database seeded small with the
    demo accounts: (URL of A, URL of B, database URL)."""
    from tests._sweep_browser import require_chromium

    require_chromium()
    if not PG_URL:
        pytest.skip("OPS_TEST_DATABASE_URL is not set: two app processes need a shared PostgreSQL database")
    from ops.demo import seed
    from ops.models import Base
    from tests._sweep_browser import running_app

    folder = tmp_path_factory.mktemp("replicas")
    with ExitStack() as stack:
        env = stack.enter_context(pytest.MonkeyPatch.context())
        env.delenv(auth.SECRET_ENV, raising=False)  # the signing key must come from the shared database
        url = stack.enter_context(private_pg_database())
        eng = make_engine(url)
        try:
            Base.metadata.create_all(eng)
            seed(eng, size="small", seed=7)
            with transaction(eng) as s:
                auth.ensure_demo_accounts(s)
        finally:
            eng.dispose()
        a = stack.enter_context(running_app(url, folder / "a.log"))
        b = stack.enter_context(running_app(url, folder / "b.log"))
        assert a != b
        yield a, b, url


@pytest.fixture(scope="module")
def browser(two_servers: tuple[str, str, str]) -> Iterator[Any]:
    from tests._sweep_browser import chromium

    with chromium() as b:
        yield b


def _signed_in(browser: Any, base: str) -> Any:
    """A new browser context on ``base``, signed in as the demo manager, on the thresholds page."""
    from tests._sweep_browser import Walker

    w = Walker(browser, base)
    w.load("/")
    w.sign_in("manager", auth.DEMO_PASSWORD)
    w.open_page("Thresholds & audit log")
    return w


def _threshold_csv(w: Any) -> list[dict[str, str]]:
    """The thresholds table as the page's CSV button downloads it (what the page shows, as text)."""
    from ops import fmt
    from ops.domain import load_domains

    load_domains()  # the domains define their columns' labels
    with w.page.expect_download() as got:
        w.page.locator(".st-key-audit_thr_dl_csv button").click()
    text = Path(got.value.path()).read_text(encoding="utf-8-sig")
    names = {fmt.label(c): c for c in ("scope_kind", "scope_key", "value")}
    return [{names.get(k, k): v for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]


def _override(rows: list[dict[str, str]], code: str) -> list[float]:
    return [float(r["value"]) for r in rows if r["scope_kind"] == "warehouse" and r["scope_key"] == code]


@pytest.mark.browser
def test_a_decision_on_one_server_shows_on_the_other_after_one_rerun(browser: Any,
                                                                     two_servers: tuple[str, str, str]) -> None:
    base_a, base_b, url = two_servers
    from playwright.sync_api import TimeoutError as PwTimeout

    from ops.models import Warehouse

    eng = make_engine(url)
    try:
        with read_session(eng) as s:
            code = str(s.scalar(select(Warehouse.code).order_by(Warehouse.code).limit(1)))
    finally:
        eng.dispose()
    b = _signed_in(browser, base_b)
    a = _signed_in(browser, base_a)
    try:
        assert _override(_threshold_csv(b), code) == []  # B has loaded (and cached) the table without it

        # On A: add a low-cover override for one warehouse through the page's form.
        page = a.page
        page.locator('[data-testid="stExpander"] summary').filter(has_text="Add an override").click()
        box = page.locator(".st-key-audit_new_name [role='combobox']")
        options = page.locator('[role="listbox"] [role="option"]')
        box.click()
        try:
            options.first.wait_for(timeout=2_000)
        except PwTimeout:
            box.press("ArrowDown")  # a focused combobox opens its list on the arrow key (as the walk does)
        options.filter(has_text="Low-cover warning").first.click()
        assert "Low-cover warning" in (box.input_value() or box.inner_text())
        page.get_by_label("Code (warehouse, carrier, SKU...)", exact=True).fill(code)
        page.get_by_label("Value", exact=True).fill(f"{OVERRIDE_CODE_VALUE:g}")
        page.get_by_label("Reason", exact=True).fill("two replicas")
        a.act(lambda: page.get_by_role("button", name="Add override").click(), "add an override on A")
        assert a.problems() == []
        assert _override(_threshold_csv(a), code) == [OVERRIDE_CODE_VALUE]

        # On B: one rerun (switching the view there and back), then the table shows A's override.
        view = b.page.locator(".st-key-audit_view button")
        b.act(lambda: view.filter(has_text=re.compile(r"^\s*Audit log\s*$")).click(), "B: audit log view")
        b.act(lambda: view.filter(has_text=re.compile(r"^\s*Thresholds\s*$")).click(), "B: thresholds view")
        assert b.problems() == []
        assert _override(_threshold_csv(b), code) == [OVERRIDE_CODE_VALUE]
    finally:
        a.close()
        b.close()
    eng = make_engine(url)
    try:
        with read_session(eng) as s:  # and it is the row A stored, once
            stored = s.execute(select(Threshold.name, Threshold.value).where(
                Threshold.scope_kind == "warehouse", Threshold.scope_key == code)).all()
    finally:
        eng.dispose()
    assert [tuple(r) for r in stored] == [("cover_warning_days", OVERRIDE_CODE_VALUE)]


@pytest.mark.browser
def test_a_session_cookie_minted_by_one_server_signs_in_on_the_other(browser: Any,
                                                                     two_servers: tuple[str, str, str]) -> None:
    from tests._sweep_browser import Walker

    base_a, base_b, url = two_servers
    a = Walker(browser, base_a)
    b = Walker(browser, base_b)
    stranger = Walker(browser, base_b)
    try:
        a.load("/")
        a.sign_in("manager", auth.DEMO_PASSWORD)
        a.page.wait_for_function(f"document.cookie.includes('{auth.SESSION_COOKIE}=')")
        minted = [c for c in a.context.cookies() if c["name"] == auth.SESSION_COOKIE]
        assert len(minted) == 1 and minted[0]["value"]
        # A fresh browser context that never talked to A, holding only that cookie, opens B.
        b.context.add_cookies([{"name": auth.SESSION_COOKIE, "value": minted[0]["value"], "url": base_b}])
        b.load("/")
        b.page.get_by_text("Signed in as manager").first.wait_for()
        assert b.page.get_by_label("Password", exact=True).count() == 0
        assert b.problems() == []
        # The key that signed it is the one in the shared database (neither server had another).
        eng = make_engine(url)
        try:
            with read_session(eng) as s:
                keys = s.scalars(select(AppSetting.value).where(AppSetting.name == auth.SECRET_SETTING)).all()
        finally:
            eng.dispose()
        token, _, sig = minted[0]["value"].rpartition(".")
        assert len(keys) == 1 and hmac.compare_digest(
            hmac.new(keys[0].encode(), token.encode(), hashlib.sha256).hexdigest(), sig)
        # Without the cookie, B asks for a password.
        stranger.load("/")
        stranger.page.get_by_label("Password", exact=True).wait_for()
        assert stranger.page.get_by_text("Signed in as").count() == 0
    finally:
        for w in (a, b, stranger):
            w.close()
