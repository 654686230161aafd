"""Sessions that survive a reload and end at once: ops.auth's session functions and the app's gate.

Issue 10 finding 3: a deactivated user kept full access in an open session (the gate returned
the stored viewer without re-checking, and writes never checked ``active``), and in local mode
a reload or a pasted link signed the user out.
"""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from sqlalchemy import Engine, func, select
from streamlit.testing.v1 import AppTest

from ops import auth
from ops.access import AccessDenied, Viewer
from ops.db import read_session, transaction
from ops.models import AppSetting, AuthSession, Decision, ImportRun, User, Warehouse
from tests.conftest import ROOT

PASSWORD = "correct horse battery"
NEW = "a-brand-new-passphrase"
T0 = dt.datetime(2025, 3, 3, 9, 0)
ADMIN = Viewer(username="root", role="admin")
MARIA = Viewer(username="maria", role="manager")


@pytest.fixture
def db(engine: Engine) -> Engine:
    with transaction(engine) as s:
        s.add(Warehouse(code="WH-3PL", name="Partner DC", operator_code="TPL-9"))
        for name, role in (("root", "admin"), ("maria", "manager")):
            auth.add_user(s, username=name, role=role, password=PASSWORD, actor="cli")
    return engine


def _start(engine: Engine, viewer: Viewer = MARIA, now: dt.datetime = T0) -> str:
    with transaction(engine) as s:
        return auth.start_session(s, viewer=viewer, now=now)


def _check(engine: Engine, token: str, now: dt.datetime) -> Viewer | str:
    try:
        with read_session(engine) as s:
            return auth.check_session(s, token=token, now=now).viewer
    except auth.SessionEnded as exc:
        return str(exc)


# --- ops: create, validate, revoke, expire, idle ----------------------------------------------------


def test_a_session_is_a_signed_random_token_stored_only_as_its_hash(db: Engine) -> None:
    token = _start(db)
    assert _check(db, token, T0 + dt.timedelta(minutes=5)) == MARIA
    raw, _, sig = token.rpartition(".")
    assert len(raw) >= 43 and len(sig) == 64
    with transaction(db) as s:
        row = s.scalars(select(AuthSession)).one()
        stored = [row.token_hash, *s.scalars(select(AppSetting.value))]
    assert raw not in stored and token not in stored
    assert (row.created_at, row.last_seen_at, row.expires_at) == (T0, T0, T0 + auth.SESSION_MAX)
    # A forged signature, a token of another server key, garbage: all refused without a match.
    assert _check(db, f"{raw}.{'0' * 64}", T0) == "you are not signed in"
    assert _check(db, f"x{raw}.{sig}", T0) == "you are not signed in"
    assert _check(db, "", T0) == "you are not signed in"
    assert _check(db, "no-dot", T0) == "you are not signed in"


def test_the_signing_key_can_come_from_the_environment(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(auth.SECRET_ENV, "k1" * 20)
    token = _start(db)
    assert _check(db, token, T0) == MARIA
    monkeypatch.setenv(auth.SECRET_ENV, "k2" * 20)  # rotating the key ends every session
    assert _check(db, token, T0) == "you are not signed in"


def test_idle_and_absolute_expiry(db: Engine) -> None:
    token = _start(db)
    assert _check(db, token, T0 + auth.SESSION_IDLE - dt.timedelta(seconds=1)) == MARIA
    assert "without activity" in str(_check(db, token, T0 + auth.SESSION_IDLE))
    # Activity keeps it alive, but never past SESSION_MAX.
    now = T0
    while now < T0 + auth.SESSION_MAX - dt.timedelta(hours=1):
        now += dt.timedelta(hours=1)
        assert auth.resume(db, token=token, now=now) == MARIA
    with read_session(db) as s:
        assert s.scalar(select(AuthSession.last_seen_at)) == now
    assert "ended after 12 hours" in str(_check(db, token, T0 + auth.SESSION_MAX))


def test_resume_writes_last_seen_at_most_once_a_minute(db: Engine) -> None:
    token = _start(db)
    auth.resume(db, token=token, now=T0 + dt.timedelta(seconds=30))
    with read_session(db) as s:
        assert s.scalar(select(AuthSession.last_seen_at)) == T0  # a read only: reruns stay cheap
    auth.resume(db, token=token, now=T0 + dt.timedelta(seconds=61))
    with read_session(db) as s:
        assert s.scalar(select(AuthSession.last_seen_at)) == T0 + dt.timedelta(seconds=61)


def test_sign_out_ends_only_that_session(db: Engine) -> None:
    a, b = _start(db), _start(db)
    with transaction(db) as s:
        auth.end_session(s, token=a)
        auth.end_session(s, token="forged.token")  # does nothing
    assert _check(db, a, T0) == "you are not signed in"
    assert _check(db, b, T0) == MARIA


@pytest.mark.parametrize(("change", "why"), [
    ("deactivate", "you were signed out: account deactivated"),
    ("reset", "you were signed out: password reset by an admin"),
])
def test_deactivation_and_admin_reset_end_every_session_at_once(db: Engine, change: str, why: str) -> None:
    tokens = [_start(db), _start(db)]
    other = _start(db, ADMIN)
    with transaction(db) as s:
        assert auth.open_sessions(s, username="maria", now=T0) == 2
        if change == "deactivate":
            auth.deactivate_user(s, username="maria", actor=ADMIN)
        else:
            auth.reset_password(s, username="maria", password=NEW, actor=ADMIN)
    assert [_check(db, t, T0) for t in tokens] == [why, why]
    assert _check(db, other, T0) == ADMIN
    with transaction(db) as s:
        assert auth.open_sessions(s, username="maria", now=T0) == 0


def test_a_deactivated_account_cannot_start_a_session(db: Engine) -> None:
    with transaction(db) as s:
        auth.deactivate_user(s, username="maria", actor=ADMIN)
    with pytest.raises(auth.AuthError), transaction(db) as s:
        auth.start_session(s, viewer=MARIA)


def test_password_change_needs_the_current_password_and_ends_the_other_sessions(db: Engine) -> None:
    mine, elsewhere = _start(db), _start(db)

    def change(current: str, new: str, repeat: str) -> str | int:
        try:
            with transaction(db) as s:
                return auth.change_password(s, viewer=MARIA, current=current, new=new, repeat=repeat, keep_token=mine)
        except auth.AuthError as exc:
            return str(exc)

    assert change("wrong password", NEW, NEW) == "the current password is wrong"
    assert change(PASSWORD, NEW, NEW + "x") == "the two new passwords differ"
    assert change(PASSWORD, "short", "short") == "password must be at least 8 characters long"
    assert _check(db, elsewhere, T0) == MARIA  # refusals change nothing
    assert change(PASSWORD, NEW, NEW) == 1
    assert _check(db, mine, T0) == MARIA
    assert _check(db, elsewhere, T0) == "you were signed out: password changed"
    assert isinstance(auth.sign_in(db, username="maria", password=NEW), Viewer)
    with pytest.raises(auth.AuthError):
        auth.sign_in(db, username="maria", password=PASSWORD)
    rows = [(d.actor, d.outcome, d.why) for d in _decisions(db, "user.password_change")]
    assert rows == [("maria", "applied", None)]  # refused attempts in their own rolled-back transactions
    with transaction(db) as s:
        assert NEW not in str(s.scalars(select(Decision.after)).all())


def test_a_wrong_current_password_is_audited_and_counts_towards_the_lockout(db: Engine) -> None:
    for _ in range(auth.MAX_FAILED_ATTEMPTS):
        # the refusal is caught inside the transaction, so the count and the audit row commit (as the app does)
        with transaction(db) as s, contextlib.suppress(auth.AuthError):
            auth.change_password(s, viewer=MARIA, current="guess-guess", new=NEW, repeat=NEW)
    with transaction(db) as s:
        user = s.scalars(select(User).where(User.username == "maria")).one()
        assert user.failed_attempts == auth.MAX_FAILED_ATTEMPTS and user.locked_until is not None
    assert len(_decisions(db, "user.password_change")) == auth.MAX_FAILED_ATTEMPTS


def _decisions(engine: Engine, action: str) -> list[Decision]:
    with transaction(engine) as s:
        return list(s.scalars(select(Decision).where(Decision.action == action).order_by(Decision.id)))


# --- every write checks the account -------------------------------------------------------------


def test_require_active_refuses_a_deactivated_or_changed_account(db: Engine) -> None:
    with transaction(db) as s:
        auth.require_active(s, MARIA)
        auth.require_active(s, Viewer(username="system", role="admin"))  # the command line: no account
        with pytest.raises(AccessDenied, match="changed since you signed in"):
            auth.require_active(s, Viewer(username="maria", role="admin"))
        auth.add_user(s, username="boss", role="admin", password=PASSWORD, actor="cli")
    boss = Viewer(username="boss", role="admin")
    with transaction(db) as s:
        auth.deactivate_user(s, username="boss", actor=ADMIN)
    # A deactivated admin's open tab can no longer change accounts (it could before).
    with pytest.raises(AccessDenied, match="deactivated"), transaction(db) as s:
        auth.unlock_user(s, username="maria", actor=boss)
    with pytest.raises(AccessDenied, match="deactivated"), transaction(db) as s:
        auth.reset_password(s, username="maria", password=NEW, actor=boss)
    assert _decisions(db, "user.unlock") == [] and _decisions(db, "user.password_reset") == []


# --- first run ---------------------------------------------------------------------------------


def test_first_admin_only_while_there_is_no_account(engine: Engine) -> None:
    with transaction(engine) as s:
        assert auth.needs_first_admin(s)
    with pytest.raises(auth.AuthError, match="differ"), transaction(engine) as s:
        auth.create_first_admin(s, username="ada", password=PASSWORD, repeat=PASSWORD + "!")
    with transaction(engine) as s:
        assert auth.create_first_admin(s, username="Ada", password=PASSWORD, repeat=PASSWORD) == Viewer(
            username="ada", role="admin")
    with pytest.raises(auth.AuthError, match="an account exists already"), transaction(engine) as s:
        auth.create_first_admin(s, username="eve", password=PASSWORD, repeat=PASSWORD)
    assert [(d.actor, d.entity_key) for d in _decisions(engine, "user.add")] == [("first-run", "ada")]


# --- the gate in the app (AppTest) -----------------------------------------------------------------


def _app(db: Engine, monkeypatch: pytest.MonkeyPatch, *, cookie: str | None = None,
         server: bool = True) -> AppTest:
    """The app as a browser sees it: a real server (no viewer injected by a test) and the cookie it sent."""
    import ui.auth

    monkeypatch.setenv("OPS_DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("OPS_AUTH_MODE", "local")
    monkeypatch.setattr(ui.auth, "_browser_cookie", lambda: cookie, raising=False)
    monkeypatch.setattr(ui.auth, "_server_running", lambda: server, raising=False)
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)


def _sign_in(at: AppTest, username: str, password: str = PASSWORD) -> None:
    at.run()
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    [button] = [b for b in at.button if b.label == "Sign in"]
    button.click().run()


def _cookie_scripts(at: AppTest) -> list[str]:
    return [str(getattr(h.proto, "body", "")) for h in at.get("html") if auth.SESSION_COOKIE in
            str(getattr(h.proto, "body", ""))]


def test_sign_in_opens_a_session_and_hands_the_browser_its_cookie(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(db, monkeypatch)
    _sign_in(at, "maria")
    assert not at.exception
    assert at.session_state["viewer"] == MARIA
    token = at.session_state["auth_token"]
    assert _check(db, token, dt.datetime.now(dt.UTC).replace(tzinfo=None)) == MARIA
    [script] = _cookie_scripts(at)
    assert f"'{auth.SESSION_COOKIE}='+\"{token}\"" in script and "SameSite=Strict" in script
    # Sign-out revokes the server-side session and overwrites the cookie.
    at.sidebar.button(key="sign_out").click().run()
    assert "viewer" not in at.session_state
    assert _check(db, token, dt.datetime.now(dt.UTC).replace(tzinfo=None)) == "you are not signed in"
    assert any("Max-Age=0" in s for s in _cookie_scripts(at))


def test_a_reload_or_a_pasted_link_stays_signed_in(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Failed before: a new browser session (reload, link) always showed the sign-in form."""
    token = _start(db, now=dt.datetime.now(dt.UTC).replace(tzinfo=None))
    at = _app(db, monkeypatch, cookie=token)
    at.run()
    assert not at.exception
    assert at.session_state["viewer"] == MARIA
    assert not [t for t in at.text_input if t.label == "Password"]
    assert any("Signed in as **maria**" in c.value for c in at.sidebar.caption)
    assert not _cookie_scripts(at)  # the browser has it already


def test_deactivation_signs_an_open_tab_out_at_its_next_rerun(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Failed before: the gate returned the stored viewer, so the deactivated user kept full access."""
    at = _app(db, monkeypatch)
    _sign_in(at, "maria")
    assert at.session_state["viewer"] == MARIA
    with transaction(db) as s:
        auth.deactivate_user(s, username="maria", actor=ADMIN)
    at.run()
    assert "viewer" not in at.session_state
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    assert [i.value for i in at.info] == ["You were signed out: account deactivated."]
    assert not at.dataframe and not at.metric


def test_an_ended_cookie_shows_the_sign_in_form(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    token = _start(db, now=dt.datetime.now(dt.UTC).replace(tzinfo=None))
    with transaction(db) as s:
        auth.reset_password(s, username="maria", password=NEW, actor=ADMIN)
    at = _app(db, monkeypatch, cookie=token)
    at.run()
    assert "viewer" not in at.session_state
    assert [i.value for i in at.info] == ["You were signed out: password reset by an admin."]
    assert any("Max-Age=0" in s for s in _cookie_scripts(at))


def test_under_a_real_server_a_viewer_without_a_session_is_not_trusted(db: Engine,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(db, monkeypatch)
    at.session_state["viewer"] = ADMIN
    at.run()
    assert "viewer" not in at.session_state
    assert [t.label for t in at.text_input] == ["User name", "Password"]


def test_a_test_injected_viewer_is_still_checked_against_its_account(db: Engine,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with transaction(db) as s:
        auth.deactivate_user(s, username="maria", actor=ADMIN)
    at = _app(db, monkeypatch, server=False)
    at.session_state["viewer"] = MARIA
    at.run()
    assert "viewer" not in at.session_state
    assert [t.label for t in at.text_input] == ["User name", "Password"]


def test_password_change_in_the_app_ends_the_other_sessions(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = _start(db, now=dt.datetime.now(dt.UTC).replace(tzinfo=None))
    at = _app(db, monkeypatch)
    _sign_in(at, "maria")
    at.text_input(key="account_current").input(PASSWORD)
    at.text_input(key="account_new").input(NEW)
    at.text_input(key="account_repeat").input(NEW + "?")
    [button] = [b for b in at.button if b.label == "Change password"]
    button.click().run()
    assert [e.value for e in at.error] == ["Password not changed: the two new passwords differ."]
    at.text_input(key="account_current").input(PASSWORD)
    at.text_input(key="account_new").input(NEW)
    at.text_input(key="account_repeat").input(NEW)
    [button] = [b for b in at.button if b.label == "Change password"]
    button.click().run()
    assert not at.exception and not at.error
    assert [s.value for s in at.sidebar.success] == ["Password changed. 1 other session signed out."]
    assert at.session_state["viewer"] == MARIA  # this tab stays signed in
    assert "password changed" in str(_check(db, elsewhere, dt.datetime.now(dt.UTC).replace(tzinfo=None)))


def test_first_run_form_creates_the_first_admin(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Failed before: an empty installation had no way in but the demo accounts."""
    at = _app(engine, monkeypatch)
    at.run()
    assert at.title[0].value == "Welcome to OpsDeck"
    at.text_input(key="first_run_name").input("ada")
    at.text_input(key="first_run_password").input(PASSWORD)
    at.text_input(key="first_run_repeat").input(PASSWORD)
    [button] = [b for b in at.button if b.label == "Create the admin account"]
    button.click().run()
    assert not at.exception
    assert at.session_state["viewer"] == Viewer(username="ada", role="admin")
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(User)) == 1
    # From now on the sign-in form, never the first-run form again.
    at2 = _app(engine, monkeypatch)
    at2.run()
    assert [t.label for t in at2.text_input] == ["User name", "Password"]


def test_demo_database_says_so_loudly(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with transaction(db) as s:
        s.add(ImportRun(kind="seed", source="demo:small:7", actor="demo", finished_at=T0, status="ok"))
    at = _app(db, monkeypatch)
    at.run()
    assert any("Demo data and demo accounts" in w.value for w in at.warning)
    _sign_in(at, "maria")
    assert any("Demo data and demo accounts" in m.value for m in at.sidebar.markdown)
