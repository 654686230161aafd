"""Sign-in gate (local accounts or SSO), sessions that survive a reload, sign-out, first run, and
the account helpers the users, account and scorecard pages use.

Two modes:

- **Local accounts** (default): a user name / password form checked by ``ops.auth.sign_in``
  (Argon2id hashes, lockout after repeated failures, every attempt audited). A sign-in opens a
  server-side session (``ops.auth.start_session``); the browser keeps its signed token in the
  ``opsdeck_session`` cookie, so a reload or a pasted link stays signed in. Every rerun
  re-checks the session against the database (``ops.auth.resume``: one indexed read), so a
  deactivation, a password change, sign-out or ``SESSION_IDLE`` without activity ends it at
  once. With no account at all and no demo data, the gate shows a first-run form that creates
  the first admin with a password the person chooses.
- **SSO** (OIDC through ``st.login``): on when ``.streamlit/secrets.toml`` has an ``[auth]``
  section or ``OPS_AUTH_MODE=sso``. The identity provider says who the person is (its own
  cookie keeps them signed in); the e-mail must belong to an active OpsDeck account, checked
  again on every rerun. ``OPS_AUTH_MODE=local`` forces the form even when secrets hold an
  ``[auth]`` section.

Streamlit can read cookies (``st.context.cookies``, as sent when the page loaded) but not set
them from Python, so the token is written by a two-line script (``st.html`` with JavaScript).
The cookie is therefore not HttpOnly; it is ``SameSite=Strict``, ``Secure`` over HTTPS, holds
only a signed random token, and the server-side session behind it is what counts.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlparse

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from ops import auth as ops_auth
from ops.access import AccessDenied, Viewer
from ops.db import read_session, transaction
from ops.freshness import row_counts
from ui.cache import MAX_ENTRIES, TTL_SECONDS, get_engine
from ui.context import VIEWER_KEY

AUTH_MODE_ENV = "OPS_AUTH_MODE"
LANDING_KEY = "landing_page"  # the page id a signed-out visitor's link named, opened after sign-in
SSO_PROVIDER_ENV = "OPS_AUTH_PROVIDER"  # names the [auth.<provider>] section when there are several
TOKEN_KEY = "auth_token"  # noqa: S105 - a session-state key: the signed session token of this browser tab
DEAD_COOKIE_KEY = "auth_dead_cookie"  # a cookie already found ended: not checked again on every rerun
ENDED_KEY = "auth_ended"  # why the last session ended, said once on the sign-in form
CLEAR_COOKIE_KEY = "auth_clear_cookie"  # the browser may hold an ended token: overwrite it
COOKIE = ops_auth.SESSION_COOKIE


def sso_configured() -> bool:
    """True when sign-in goes through the OIDC provider rather than local passwords."""
    mode = os.environ.get(AUTH_MODE_ENV, "").strip().lower()
    if mode in ("sso", "local"):
        return mode == "sso"
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all means no SSO; any parse error is shown by Streamlit
        return False


def _server_running() -> bool:
    """True under ``streamlit run``; False in ``AppTest``, which has no server and no browser.

    AppTest installs a ``MagicMock(spec=Runtime)`` as the runtime; only a real server has a
    real ``Runtime``. Should a later Streamlit give AppTest a real one, this fails closed: page
    tests would need a session, production never accepts a viewer without one.
    """
    from streamlit.runtime import Runtime

    return Runtime.exists() and type(Runtime.instance()) is Runtime


def _browser_cookie() -> str | None:
    """The session cookie the browser sent when this page loaded (tests replace this function)."""
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no browser context (bare mode): no cookie
        return None
    return value if isinstance(value, str) and value else None


def gate() -> Viewer:
    """Return the signed-in :class:`Viewer`, checked against the database, or show sign-in and stop the run."""
    viewer = _sso_gate() if sso_configured() else _local_gate()
    st.session_state[VIEWER_KEY] = viewer
    _demo_banner()
    return viewer


def _forget(ended: str | None = None) -> None:
    """Drop everything this tab knew about the person (as sign-out does), keeping why it ended."""
    dead = _browser_cookie()
    had_token = bool(st.session_state.get(TOKEN_KEY) or dead)
    landing = st.session_state.get(LANDING_KEY)
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if dead:
        st.session_state[DEAD_COOKIE_KEY] = dead
    if had_token:
        st.session_state[CLEAR_COOKIE_KEY] = True
    if landing:
        st.session_state[LANDING_KEY] = landing
    if ended:
        st.session_state[ENDED_KEY] = ended


def _resume() -> Viewer | None:
    """The viewer of this tab's live session (or of the browser's cookie after a reload), else None."""
    token = st.session_state.get(TOKEN_KEY)
    if not token:
        cookie = _browser_cookie()
        if cookie and cookie != st.session_state.get(DEAD_COOKIE_KEY):
            token = cookie
    if token:
        try:
            viewer = ops_auth.resume(get_engine(), token=token)
        except ops_auth.AuthError as exc:
            _forget(None if str(exc) == "you are not signed in" else f"{str(exc)[0].upper()}{str(exc)[1:]}.")
            return None
        if st.session_state.get(VIEWER_KEY) not in (None, viewer):
            _forget("Your account changed since you signed in: sign in again.")
            return None
        st.session_state[TOKEN_KEY] = token
        if _browser_cookie() != token:
            _write_cookie(token)
        return viewer
    injected = st.session_state.get(VIEWER_KEY)
    if isinstance(injected, Viewer) and not _server_running():
        # AppTest sets the viewer directly (there is no browser to hold a cookie). It is still
        # checked against its account, when there is one; under `streamlit run` only a live
        # server-side session signs anyone in.
        try:
            with read_session(get_engine()) as s:
                ops_auth.require_active(s, injected)
        except AccessDenied as exc:
            _forget(f"{exc}.")
            return None
        return injected
    return None


def _write_cookie(token: str) -> None:
    """Have the browser keep ``token`` so a reload or a pasted link finds the session."""
    max_age = int(ops_auth.SESSION_MAX.total_seconds())
    # In the sidebar: an empty element still takes a row's gap, which would push every page title down.
    st.sidebar.html(_cookie_script(json.dumps(token), max_age), unsafe_allow_javascript=True, width="content")


def _cookie_script(value_js: str, max_age: int) -> str:
    return ("<script>(function(){var s=location.protocol==='https:'?'; Secure':'';"
            f"document.cookie='{COOKIE}='+{value_js}+'; Path=/; Max-Age={max_age}; SameSite=Strict'+s;}})();"
            "</script>")


def _clear_cookie() -> None:
    st.html(_cookie_script("''", 0), unsafe_allow_javascript=True, width="content")


def _local_gate() -> Viewer:
    viewer = _resume()
    if viewer is not None:
        return viewer
    st.session_state.pop(VIEWER_KEY, None)
    _remember_landing()
    with read_session(get_engine()) as s:
        first_run = ops_auth.needs_first_admin(s) and not ops_auth.is_demo_database(s)
    if first_run:
        _first_run_form()
    else:
        _sign_in_form()
    if st.session_state.get(CLEAR_COOKIE_KEY):
        _clear_cookie()  # last, so its empty row sits below the form
    st.stop()
    raise AssertionError("unreachable")


def _signed_in(viewer: Viewer) -> None:
    """Open a server-side session for ``viewer`` in this tab and rerun into the app."""
    with transaction(get_engine()) as s:
        token = ops_auth.start_session(s, viewer=viewer)
    for key in (ENDED_KEY, CLEAR_COOKIE_KEY):
        st.session_state.pop(key, None)
    st.session_state[TOKEN_KEY] = token
    st.session_state[VIEWER_KEY] = viewer
    st.rerun()


def _sign_in_form() -> None:
    st.title("Sign in to OpsDeck")
    ended = st.session_state.get(ENDED_KEY)
    if ended:
        st.info(ended)
    if _is_demo():
        st.warning(f"**Demo data and demo accounts.** This database holds generated demo data. The demo accounts "
                   f"(admin, manager, planner, supplier, carrier, 3pl) share the public password "
                   f"`{ops_auth.DEMO_PASSWORD}`: never load real data here.")
    with st.form("sign_in_form", clear_on_submit=False, enter_to_submit=True):
        username = st.text_input("User name", autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        if not username.strip() or not password:
            st.error("Enter both your user name and your password.")
        else:
            try:
                viewer = ops_auth.sign_in(get_engine(), username=username, password=password)
            except ops_auth.AuthError as exc:
                st.error(f"Sign-in failed: {exc}.")
            else:
                _signed_in(viewer)
    st.caption("Forgot your password or locked out? Ask an OpsDeck admin to unlock or reset your account.")


def _first_run_form() -> None:
    st.title("Welcome to OpsDeck")
    st.write("There is no account yet. Create the first admin account with a password you choose; "
             "that admin then adds everyone else on the **Users** page.")
    with st.form("first_run_form", clear_on_submit=False):
        username = st.text_input("Admin user name", autocomplete="username", key="first_run_name")
        password = st.text_input(f"Password (at least {ops_auth.MIN_PASSWORD_LENGTH} characters)",
                                 type="password", autocomplete="new-password", key="first_run_password")
        repeat = st.text_input("Password again", type="password", autocomplete="new-password",
                               key="first_run_repeat")
        submitted = st.form_submit_button("Create the admin account", type="primary")
    st.caption("Or from a terminal: `python -m ops user add NAME --role admin`.")
    if submitted:
        failure: str | None = None
        try:
            with transaction(get_engine()) as s:
                viewer = ops_auth.create_first_admin(s, username=username, password=password, repeat=repeat)
        except ops_auth.AuthError as exc:
            failure = str(exc)
        if failure:
            st.error(f"Not created: {failure}.")
        else:
            _signed_in(viewer)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def _demo_state(_engine: Engine) -> bool:
    # Not scoped: whether the database holds demo data is the same answer for everyone.
    with read_session(_engine) as s:
        return ops_auth.is_demo_database(s)


def _is_demo() -> bool:
    return _demo_state(get_engine())


def _demo_banner() -> None:
    if _is_demo():
        st.sidebar.markdown(":orange-background[:material/science: **Demo data and demo accounts**] "
                            "generated data; the demo accounts share a public password.")


def _remember_landing() -> None:
    """Keep the page a pasted link names (``/fulfillment?from=...``) so sign-in leads there, not home."""
    if LANDING_KEY in st.session_state:
        return
    try:
        url = st.context.url or ""
    except Exception:  # noqa: BLE001 - no browser context (tests, bare mode): nothing to remember
        url = ""
    path = urlparse(url).path.rstrip("/").rsplit("/", 1)[-1] if url else ""
    if path:
        st.session_state[LANDING_KEY] = path


def _sso_gate() -> Viewer:
    if not st.user.is_logged_in:
        _remember_landing()
        st.title("Sign in to OpsDeck")
        provider = os.environ.get(SSO_PROVIDER_ENV) or None
        st.button("Sign in with your company account", type="primary", on_click=st.login, args=(provider,))
        st.stop()
    email = str(st.user.get("email") or "")
    failure: ops_auth.AuthError | None = None
    known = st.session_state.get(VIEWER_KEY)
    # Audited once per sign-in; every later rerun re-checks the account (deactivation ends access at once).
    with transaction(get_engine()) as s:
        try:
            viewer = ops_auth.viewer_for_email(s, email=email, audit=not isinstance(known, Viewer))
        except ops_auth.AuthError as exc:
            failure = exc  # leave the block normally so the refused attempt is audited
    if failure is None:
        if isinstance(known, Viewer) and known != viewer:
            for key in list(st.session_state.keys()):
                del st.session_state[key]
        return viewer
    st.session_state.pop(VIEWER_KEY, None)
    st.title("OpsDeck")
    st.error(f"No access: {failure}.")
    st.button("Sign out", on_click=st.logout)
    st.stop()
    raise AssertionError("unreachable")


def sign_out() -> None:
    """End this browser's server-side session and forget everything this tab knew; end the SSO session too."""
    token = st.session_state.get(TOKEN_KEY) or _browser_cookie()
    if token:
        with transaction(get_engine()) as s:
            ops_auth.end_session(s, token=token, why="signed out")
    _forget()
    if sso_configured():
        st.logout()


# --- helpers for the users and scorecard pages --------------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def vendor_card(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer) -> tuple[dict[str, Any], pd.DataFrame]:
    """The viewer's vendor identity and the rows they may see per table."""
    with read_session(_engine) as s:
        return ops_auth.vendor_profile(s, viewer=viewer), row_counts(s, viewer=viewer)


def users_table(viewer: Viewer) -> pd.DataFrame:
    """All accounts (admins only). Not cached: it changes with every write on the users page."""
    with transaction(get_engine()) as s:
        return ops_auth.list_users(s, viewer=viewer)


def change_account(action: str, viewer: Viewer, **kwargs: Any) -> str | None:
    """Run one account write (``add``, ``unlock``, ``reset``, ``deactivate``, ``activate``) for admin ``viewer``.

    Returns an error message to show, or None when the change (and its audit row) committed.
    """
    writers = {
        "add": ops_auth.add_user,
        "unlock": ops_auth.unlock_user,
        "reset": ops_auth.reset_password,
        "deactivate": ops_auth.deactivate_user,
        "activate": lambda s, **kw: ops_auth.set_active(s, active=True, **kw),
    }
    try:
        with transaction(get_engine()) as s:
            writers[action](s, actor=viewer, **kwargs)
    except (ops_auth.AuthError, AccessDenied) as exc:
        return str(exc)
    return None


def change_own_password(viewer: Viewer, *, current: str, new: str, repeat: str) -> tuple[str | None, int]:
    """The signed-in person changes their password; returns (error message or None, other sessions ended).

    This tab's session stays; every other session of the account ends. A wrong current password
    is audited and counts towards the lockout, so it commits even though the change is refused.
    """
    token = st.session_state.get(TOKEN_KEY)
    failure: str | None = None
    ended = 0
    with transaction(get_engine()) as s:
        try:
            ended = ops_auth.change_password(s, viewer=viewer, current=current, new=new, repeat=repeat,
                                             keep_token=token)
        except (ops_auth.AuthError, AccessDenied) as exc:
            failure = str(exc)  # leave the block normally so the refused attempt is audited
    return failure, ended


def account_menu(viewer: Viewer) -> None:
    """A sidebar "My account" popover: change your own password (current one, then the new one twice)."""
    if sso_configured():
        return  # the company account's password is changed at the identity provider
    flash = st.session_state.pop("account_flash", None)
    if flash:
        st.sidebar.success(flash)
    with st.sidebar.popover("My account", icon=":material/account_circle:"), \
            st.form("account_password", clear_on_submit=True):
        st.markdown("**Change your password**")
        current = st.text_input("Current password", type="password", autocomplete="current-password",
                                key="account_current")
        new = st.text_input(f"New password (at least {ops_auth.MIN_PASSWORD_LENGTH} characters)",
                            type="password", autocomplete="new-password", key="account_new")
        repeat = st.text_input("New password again", type="password", autocomplete="new-password",
                               key="account_repeat")
        st.caption("This signs you out everywhere else. Forgotten it? An admin can reset it.")
        if st.form_submit_button("Change password", type="primary"):
            error, ended = change_own_password(viewer, current=current, new=new, repeat=repeat)
            if error:
                st.error(f"Password not changed: {error}.")
            else:
                others = f" {ended} other session{'s' if ended != 1 else ''} signed out." if ended else ""
                st.session_state["account_flash"] = f"Password changed.{others}"
                st.rerun()
