"""Walk OpsDeck in a real browser as each demo role; shared by tests/test_browser.py and bench/first_render.py.

The walk signs in as a role, opens every page of that role's navigation, and on each page
clicks every chart and table choice it finds in the main area (segmented controls and pills,
radio buttons, toggles, and the first few options of each selectbox outside a form; a widget in a
collapsed expander is clicked after opening the expander, as a user must; the lowest choice on the
page goes first, so a section's own widgets are clicked before a view switch hides them). After
each step it waits until Streamlit has finished the run it caused and looks for what a user
must never see: an exception element, the word "Traceback", or an error message.

"Render complete" means: the app started a script run after our action (counted by a
MutationObserver on ``stApp``'s ``data-test-script-state`` attribute, so a run that finishes
before we look is still counted), is back to ``notRunning``, and no element still shows the
skeleton Streamlit draws while a widget's or chart's code loads. First-render time is from the
click (or the "Sign in" press, for the page a role lands on) to that moment.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.access import PAGES_BY_ROLE, VENDOR_PAGES

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ROLES = ("admin", "manager", "planner", "supplier", "carrier", "3pl")
DEMO_SEED = 42  # what `python -m ops seed` (and so `make run`) uses
START_TIMEOUT_S = 90
PAGE_TIMEOUT_S = 60  # a page (or a choice on it) that takes longer counts as hung
RUN_START_TIMEOUT_S = 15  # an action that starts no script run within this is reported, not waited on
SETTLE_S = 0.15  # quiet time after a run ends, so a follow-up rerun (st.rerun, switch_page) is waited for too
MAX_SELECT_OPTIONS = 2  # options tried per selectbox besides the current one (some list hundreds of SKUs)
MAX_ACTIONS_PER_PAGE = 60
ELEMENT_TIMEOUT_MS = 10_000  # finding a widget to click (the page has rendered by then)
ERROR_TEXT_LIMIT = 400

# Pages of each demo account: the three vendor accounts map to their vendor kind.
DEMO_VENDOR_KIND = {"supplier": "supplier", "carrier": "carrier", "3pl": "warehouse"}


def pages_of(role: str) -> tuple[str, ...]:
    """Page ids the demo account ``role`` may open, in navigation order (``ui.nav.PAGES`` order)."""
    from ui.nav import PAGES

    kind = DEMO_VENDOR_KIND.get(role)
    allowed = set(VENDOR_PAGES[kind] if kind else PAGES_BY_ROLE[role])
    return tuple(p.id for p in PAGES if p.id in allowed)


# Counts script runs as they start, so a fast run that is already over when we look is not missed.
RUN_COUNTER_JS = """
window.__opsRuns = 0;
new MutationObserver((records) => {
  for (const r of records) {
    if (r.target.getAttribute && r.target.getAttribute('data-test-script-state') === 'running') {
      window.__opsRuns += 1;
    }
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-test-script-state']});
"""

PROBLEM_SELECTOR = '[data-testid="stException"], [data-testid="stAlertContentError"]'

# What a user must never see, as [what, text] pairs.
PROBLEMS_JS = """() => {
  const found = [];
  document.querySelectorAll('[data-testid="stException"]').forEach(
    (e) => found.push(['exception shown', e.innerText]));
  document.querySelectorAll('[data-testid="stAlertContentError"]').forEach(
    (e) => found.push(['error message shown', e.innerText.replace(/^error\\s*/, '')]));
  const app = document.querySelector('[data-testid="stApp"]');
  const body = app ? app.innerText : '';
  const at = body.indexOf('Traceback');
  if (at >= 0) found.push(["'Traceback' on the page", body.slice(at, at + 1000)]);
  const state = app ? app.getAttribute('data-test-connection-state') : 'no app';
  if (state && state !== 'CONNECTED') found.push(['connection state', state]);
  return found;
}"""

# Idle: a run started after our action has ended, and no element still waits for its component's
# code (Streamlit loads widget and chart code lazily and shows a stSkeleton until it arrives, which
# can be a second after the run ends, the first time a browser meets that kind of element).
IDLE_JS = """(n) => {
  const app = document.querySelector('[data-testid="stApp"]');
  return (window.__opsRuns || 0) > n && app !== null
    && app.getAttribute('data-test-script-state') === 'notRunning'
    && document.querySelector('[data-testid="stSkeleton"]') === null;
}"""

# Every choice in the main area outside forms, as {kind, group, option, selected}.
CHOICES_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main) return [];
  const out = [];
  const groupOf = (el, fallback) => {
    const box = el.closest('[data-testid="stElementContainer"]');
    const m = box && box.className.match(/st-key-(\\S+)/);
    return m ? m[1] : fallback;
  };
  const label = (el) => {
    const l = el.querySelector('[data-testid="stWidgetLabel"]');
    return l ? l.innerText.trim() : '';
  };
  const free = (el) => !el.closest('[data-testid="stForm"]') && !el.closest('[data-stale="true"]');
  // tag each widget with its group, so the click finds exactly this one
  const tag = (el, group) => { el.setAttribute('data-ops-choice', group); return group; };
  main.querySelectorAll('[data-testid="stButtonGroup"]').forEach((g, i) => {
    if (!free(g)) return;
    const group = tag(g, groupOf(g, 'buttons:' + (label(g) || i)));
    g.querySelectorAll('button').forEach((b) => out.push({kind: 'buttons', group, option: b.innerText.trim(),
      selected: b.getAttribute('aria-checked') === 'true' || b.getAttribute('aria-pressed') === 'true'}));
  });
  main.querySelectorAll('[data-testid="stRadio"]').forEach((g, i) => {
    if (!free(g)) return;
    const group = tag(g, groupOf(g, 'radio:' + (label(g) || i)));
    g.querySelectorAll('label:has(input[type="radio"])').forEach((l) => out.push({kind: 'radio', group,
      option: l.innerText.trim(), selected: l.querySelector('input').checked}));
  });
  main.querySelectorAll('[data-testid="stCheckbox"]').forEach((g, i) => {
    if (!free(g)) return;
    const group = tag(g, groupOf(g, 'toggle:' + (g.innerText.trim() || i)));
    out.push({kind: 'toggle', group, option: g.innerText.trim(), selected: false});
  });
  main.querySelectorAll('[data-testid="stSelectbox"]').forEach((g, i) => {
    if (!free(g)) return;
    const group = tag(g, groupOf(g, 'select:' + (label(g) || i)));
    const shown = g.querySelector('[role="combobox"]');
    out.push({kind: 'select', group, option: '', selected: false,
              current: shown ? (shown.value || '').trim() : ''});
  });
  return out;
}"""


def chromium_missing_reason() -> str | None:
    """Why the browser walk cannot run here, or None when it can."""
    if not CHROMIUM.exists():
        return f"Chromium not installed at {CHROMIUM}: apt-get install chromium"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed"
    return None


def require_chromium() -> None:
    """Skip a browser test where Chromium cannot run, saying why; fail instead under OPS_REQUIRE_BROWSER=1 (CI)."""
    import pytest

    reason = chromium_missing_reason()
    if reason is None:
        return
    if os.environ.get("OPS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"OPS_REQUIRE_BROWSER=1 but the browser tests cannot run: {reason}")
    pytest.skip(reason)


def seed_database(path: Path, *, size: str = "default", seed: int = DEMO_SEED) -> str:
    """A new SQLite file set up the way ``make run`` does (Alembic migrations, demo data, demo
    accounts); returns its URL. The schema comes from the migrations, not ``create_all``, so the
    indexes (and query plans) are the ones users get."""
    from ops.auth import ensure_demo_accounts
    from ops.db import make_engine, transaction
    from ops.demo import seed as seed_demo
    from ops.migrate import upgrade

    url = f"sqlite:///{path}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        seed_demo(engine, size=size, seed=seed)
        with transaction(engine) as s:
            created = [a[0] for a in ensure_demo_accounts(s)]
        if created != list(ROLES):
            raise RuntimeError(f"demo accounts were {created}, expected {list(ROLES)}")
    finally:
        engine.dispose()
    return url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_app(db_url: str, log_path: Path) -> Iterator[str]:
    """``streamlit run app.py`` on a free port against ``db_url``; yields its base URL; stops it afterwards."""
    port = _free_port()
    env = os.environ | {"OPS_DATABASE_URL": db_url, "OPS_AUTH_MODE": "local"}
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:  # noqa: S310 - local URL
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not answer /_stcore/health within {START_TIMEOUT_S} s")
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


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _exactly(text: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*{re.escape(text)}\s*$")


class Hung(AssertionError):
    """A script run did not finish within the per-page timeout."""


@dataclass
class PageVisit:
    """One page as one role met it."""

    role: str
    page: str
    title: str
    first_render_s: float | None = None
    choices: list[tuple[str, float]] = field(default_factory=list)  # ("Chart=Attribution", seconds)
    problems: list[str] = field(default_factory=list)

    @property
    def slowest_choice(self) -> tuple[str, float] | None:
        return max(self.choices, key=lambda c: c[1]) if self.choices else None


class Walker:
    """One browser tab signed in (or about to sign in) as one role."""

    def __init__(self, browser: Any, base: str, *, timeout_s: float = PAGE_TIMEOUT_S) -> None:
        self.base = base
        self.timeout_ms = timeout_s * 1000
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.context.add_init_script(RUN_COUNTER_JS)
        self.page = self.context.new_page()
        self.page.set_default_timeout(self.timeout_ms)

    def close(self) -> None:
        self.context.close()

    # --- waiting -----------------------------------------------------------------------------

    def _runs(self) -> int:
        return int(self.page.evaluate("window.__opsRuns || 0"))

    def act(self, action: Any, what: str, *, until: Any = None) -> float:
        """Do ``action`` (a callable), wait for the script run it causes to finish; return seconds taken.

        ``until``: a locator that must be visible too (for actions that rerun the script, such as
        signing in, where the app is briefly idle between the two runs).
        Raises :class:`Hung` when the run does not finish within the timeout, or starts no run at all.
        """
        from playwright.sync_api import TimeoutError as PwTimeout

        before = self._runs()
        t0 = time.monotonic()
        action()
        try:
            self.page.wait_for_function("(n) => (window.__opsRuns || 0) > n", arg=before,
                                        timeout=RUN_START_TIMEOUT_S * 1000)
        except PwTimeout as exc:
            raise Hung(f"{what}: no script run started within {RUN_START_TIMEOUT_S} s") from exc
        while True:
            left = self.timeout_ms - (time.monotonic() - t0) * 1000
            if left <= 0:
                raise Hung(f"{what}: still running after {self.timeout_ms / 1000:.0f} s")
            try:
                self.page.wait_for_function(IDLE_JS, arg=before, timeout=left)
            except PwTimeout as exc:
                raise Hung(f"{what}: still running after {self.timeout_ms / 1000:.0f} s") from exc
            done = time.monotonic()
            runs = self._runs()
            if until is not None and not until.is_visible():
                if self.page.locator(PROBLEM_SELECTOR).count():
                    return done - t0  # an error instead of what we waited for: the caller reports it
                left = max(1.0, self.timeout_ms - (time.monotonic() - t0) * 1000)
                try:
                    # an error on the page ends the wait too: the caller's checks report it
                    until.or_(self.page.locator(PROBLEM_SELECTOR)).first.wait_for(timeout=left)
                except PwTimeout as exc:
                    raise Hung(f"{what}: nothing rendered within {self.timeout_ms / 1000:.0f} s") from exc
                continue
            time.sleep(SETTLE_S)
            if self._runs() == runs and self.page.evaluate(IDLE_JS, before):
                return done - t0

    def load(self, path: str = "/") -> None:
        """Open ``path`` as a pasted link (a new Streamlit session) and wait for the first run to end."""
        self.page.goto(self.base + path)
        for _ in range(2):  # again after a pause: the first run may be followed by another
            self.page.wait_for_function(IDLE_JS, arg=-1, timeout=self.timeout_ms)
            time.sleep(SETTLE_S)

    # --- what a user must never see ----------------------------------------------------------

    def problems(self) -> list[str]:
        """Exception elements, tracebacks and error messages on the page now (one round trip)."""
        return [f"{what}: {' '.join(text.split())[:ERROR_TEXT_LIMIT]}"
                for what, text in self.page.evaluate(PROBLEMS_JS)]

    # --- signing in and moving around ----------------------------------------------------------

    def sign_in(self, username: str, password: str) -> float:
        """Fill the sign-in form and press Sign in; seconds until the landing page has rendered."""
        self.page.get_by_label("User name", exact=True).fill(username)
        self.page.get_by_label("Password", exact=True).fill(password)
        return self.act(lambda: self.page.get_by_role("button", name="Sign in").click(), f"sign in as {username}",
                        until=self.page.get_by_text(f"Signed in as {username}"))

    def nav_titles(self) -> list[str]:
        links = self.page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]')
        # Each link holds its material icon's ligature name, then the title on the last line.
        return [t.strip().splitlines()[-1].strip() for t in links.all_inner_texts()]

    def current_title(self) -> str | None:
        """The title of the navigation link marked as the current page, if the menu shows one."""
        active = self.page.locator('[data-testid="stSidebarNavLink"][aria-current="page"]')
        if active.count() == 0:
            return None
        return active.first.inner_text().strip().splitlines()[-1].strip()

    def open_page(self, title: str) -> float:
        link = self.page.locator('[data-testid="stSidebarNavLink"]').filter(
            has_text=re.compile(rf"{re.escape(title)}\s*$"))  # the icon's ligature name comes first
        return self.act(lambda: link.first.click(timeout=ELEMENT_TIMEOUT_MS), f"open {title!r}")

    # --- choices on a page -------------------------------------------------------------------

    def _choices(self) -> list[dict[str, Any]]:
        return list(self.page.evaluate(CHOICES_JS))

    def _widget(self, group: str) -> Any:
        """The widget the last enumeration tagged with ``group`` (its key, else its kind and label),
        with the collapsed expander holding it opened first, as a user must before using it."""
        quoted = group.replace("\\", "\\\\").replace('"', '\\"')
        tagged = f'[data-ops-choice="{quoted}"]'
        closed = self.page.locator(f'[data-testid="stMain"] [data-testid="stExpander"] '
                                   f'details:not([open]):has({tagged})')
        if closed.count():
            closed.first.locator("summary").first.click(timeout=ELEMENT_TIMEOUT_MS)  # opens without a rerun
            self.page.locator(f'[data-testid="stMain"] details[open] {tagged}').first.wait_for(
                timeout=ELEMENT_TIMEOUT_MS)
        return self.page.locator(f'[data-testid="stMain"] {tagged}').first

    def _select_options(self, group: str) -> list[str]:
        """Open a selectbox, read the options it offers (the first rendered ones), close it again."""
        options = self._open_select(group)
        texts = [t.strip() for t in options.all_inner_texts()]
        self.page.keyboard.press("Escape")
        self.page.locator('[role="listbox"]').first.wait_for(state="detached", timeout=ELEMENT_TIMEOUT_MS)
        return [t for t in texts if t]

    def _open_select(self, group: str) -> Any:
        """Open a selectbox's list; return the locator of its options."""
        from playwright.sync_api import TimeoutError as PwTimeout

        box = self._widget(group).locator('[role="combobox"]')
        options = self.page.locator('[role="listbox"] [role="option"]')
        box.click(timeout=ELEMENT_TIMEOUT_MS)
        try:
            options.first.wait_for(timeout=2_000)
        except PwTimeout:
            box.press("ArrowDown")  # a focused combobox opens its list on the arrow key
            options.first.wait_for(timeout=ELEMENT_TIMEOUT_MS)
        return options

    def _perform(self, c: dict[str, Any]) -> None:
        kind, group, option = c["kind"], c["group"], c["option"]
        scope = self._widget(group)
        if kind == "buttons":
            scope.locator('button').filter(has_text=_exactly(option)).first.click(
                timeout=ELEMENT_TIMEOUT_MS)
        elif kind == "radio":
            scope.locator('label').filter(has_text=_exactly(option)).first.click(
                timeout=ELEMENT_TIMEOUT_MS)
        elif kind == "toggle":
            scope.locator('label').first.click(timeout=ELEMENT_TIMEOUT_MS)
        else:
            self._open_select(group).filter(has_text=_exactly(option)).first.click(
                timeout=ELEMENT_TIMEOUT_MS)

    def click_every_choice(self, visit: PageVisit) -> None:
        """Click each choice once (every option of button groups and radios, each toggle, a few options
        of each selectbox), checking the page after every run. Stops at the first hung run."""
        done: set[tuple[str, str, str]] = set()
        select_opts: dict[str, list[str]] = {}
        seen: set[tuple[str, str]] = set()
        for _ in range(MAX_ACTIONS_PER_PAGE):
            choices = self._choices()
            todo: list[dict[str, Any]] = []
            new = {(c["kind"], c["group"]) for c in choices} - seen
            # what a group shows when it first appears has been checked already: no need to click it
            done |= {(c["kind"], c["group"], c["option"]) for c in choices
                     if c["selected"] and (c["kind"], c["group"]) in new}
            seen |= new
            for c in choices:
                if c["kind"] == "select":
                    if c["group"] not in select_opts:
                        opts = [o for o in self._select_options(c["group"]) if o != c["current"]]
                        select_opts[c["group"]] = opts[:MAX_SELECT_OPTIONS]
                    todo += [{**c, "option": o} for o in select_opts[c["group"]]
                             if (c["kind"], c["group"], o) not in done and o != c["current"]]
                elif not c["selected"] and (c["kind"], c["group"], c["option"]) not in done:
                    todo.append(c)
            if not todo:
                return
            # the last choice on the page first: a choice lower down usually belongs to the section an
            # earlier one (a view switch) opened, and would be gone once that earlier one is clicked
            c = todo[-1]
            done.add((c["kind"], c["group"], c["option"]))
            label = f"{c['group']}={c['option']}"
            took = self.act(lambda c=c: self._perform(c), f"{visit.title}: {label}")
            visit.choices.append((label, took))
            visit.problems += [f"after {label}: {p}" for p in self.problems()]
        visit.problems.append(f"more than {MAX_ACTIONS_PER_PAGE} choices; stopped clicking")


def walk_role(browser: Any, base: str, role: str, *, password: str) -> list[PageVisit]:
    """Sign in as ``role``, open each page of its navigation and click every choice on it.

    Returns one :class:`PageVisit` per page the role may open (a page whose link is missing, or
    that never rendered, carries the problem). A hung run ends the walk for this role.
    """
    from ui.nav import PAGES

    titles = {p.id: p.title for p in PAGES}
    expected = pages_of(role)
    visits = [PageVisit(role, pid, titles[pid]) for pid in expected]
    w = Walker(browser, base)
    try:
        w.load("/")
        landing_s = w.sign_in(role, password)
        if not w.page.get_by_text(f"Signed in as {role}").is_visible():
            for v in visits:
                v.problems.append("not visited: signing in failed")
            visits[0].problems += [f"on signing in: {p}" for p in w.problems()] or ["signing in showed no account"]
            return visits
        nav = w.nav_titles()
        want = [titles[p] for p in expected]
        if nav != want and not (len(want) == 1 and nav == []):  # one page: Streamlit may show no menu
            visits[0].problems.append(f"navigation lists {nav}, policy says {want}")
        # the page a role lands on renders as part of signing in: walk it first
        landing = w.current_title() or want[0]
        visits.sort(key=lambda v: v.title != landing)
        for i, v in enumerate(visits):
            try:
                if i == 0:
                    v.first_render_s = landing_s
                elif v.title in nav:
                    v.first_render_s = w.open_page(v.title)
                else:
                    v.problems.append("no link in the navigation")
                    continue
                heading = w.page.locator('[data-testid="stMain"] h1').all_inner_texts()
                v.problems += w.problems()
                if not heading:
                    v.problems.append("no page title rendered")
                w.click_every_choice(v)
            except Hung as exc:
                v.problems.append(f"hung: {exc}")
                for rest in visits[i + 1:]:
                    rest.problems.append("not visited: an earlier page hung")
                break
            except Exception as exc:  # noqa: BLE001 - a walk step that fails is a finding; walk on
                v.problems.append(f"walk step failed: {str(exc).splitlines()[0][:ERROR_TEXT_LIMIT]}")
                w.page.keyboard.press("Escape")
    finally:
        w.close()
    return visits


# --- reporting ---------------------------------------------------------------------------------


def _secs(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f}"


def render_markdown(visits: list[PageVisit], *, title: str, note: str = "") -> str:
    """A page x role matrix of first-render seconds, then one row per visit with its slowest choice."""
    from ui.nav import PAGES

    roles = [r for r in ROLES if any(v.role == r for v in visits)]
    cell = {(v.page, v.role): v for v in visits}
    lines = [f"## {title}", ""]
    if note:
        lines += [note, ""]
    lines += ["First render, seconds (from the click on the page's link; the first page of each role from "
              "pressing Sign in). — means the page is not in that role's navigation.", "",
              "| page | " + " | ".join(roles) + " |", "|---|" + "---:|" * len(roles)]
    for p in PAGES:
        if not any((p.id, r) in cell for r in roles):
            continue
        row = []
        for r in roles:
            v = cell.get((p.id, r))
            row.append("—" if v is None else _secs(v.first_render_s) + (" ⚠" if v.problems else ""))
        lines.append(f"| {p.title} | " + " | ".join(row) + " |")
    lines += ["", "| role | page | first render s | choices clicked | slowest choice | s | problems |",
              "|---|---|---:|---:|---|---:|---:|"]
    for v in visits:
        slow = v.slowest_choice
        lines.append(f"| {v.role} | {v.title} | {_secs(v.first_render_s)} | {len(v.choices)} | "
                     f"{slow[0] if slow else ''} | {_secs(slow[1] if slow else None)} | {len(v.problems)} |")
    return "\n".join(lines) + "\n"


def problem_lines(visits: list[PageVisit]) -> list[str]:
    return [f"{v.role} / {v.title}: {p}" for v in visits for p in v.problems]


def server_errors(log_path: Path, *, limit: int = 8) -> list[str]:
    """The last lines of each traceback in the server log (what the error boundary logged), newest last."""
    if not log_path.exists():
        return []
    blocks: list[str] = []
    lines = log_path.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Traceback"):
            j = i + 1
            while j < len(lines) and (lines[j].startswith(" ") or lines[j].startswith("Traceback")):
                j += 1
            head = lines[i - 1].strip() if i else ""
            where = [x.strip() for x in lines[i:j] if x.strip().startswith("File ")][-1:]
            tail = lines[j] if j < len(lines) else ""
            blocks.append(" | ".join(x for x in (head, *where, tail) if x))
    return blocks[-limit:]
