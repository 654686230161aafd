"""Sign-in gate (local accounts or SSO), sign-out, and the account helpers the users and scorecard pages use.

Two modes:

- **Local accounts** (default): a user name / password form checked by ``ops.auth.sign_in``
  (Argon2id hashes, lockout after repeated failures, every attempt audited).
- **SSO** (OIDC through ``st.login``): on when ``.streamlit/secrets.toml`` has an ``[auth]``
  section or ``OPS_AUTH_MODE=sso``. The identity provider says who the person is; the e-mail
  must belong to an active OpsDeck account, which says what they may see.
  ``OPS_AUTH_MODE=local`` forces the form even when secrets hold an ``[auth]`` section.
"""

from __future__ import annotations

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


def sso_configured() -> bool:
    """True when sign-in goes through the OIDC provider rather than local passwords."""
    mode = os.environ.get(AUTH_MODE_ENV, "").strip().lower()
    if mode in ("sso", "local"):
        return mode == "sso"
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all means no SSO; any parse error is shown by Streamlit
        return False


def gate() -> Viewer:
    """Return the signed-in :class:`Viewer`, or show the sign-in screen and stop the run."""
    v = st.session_state.get(VIEWER_KEY)
    if isinstance(v, Viewer):
        return v
    _remember_landing()
    viewer = _sso_gate() if sso_configured() else _local_gate()
    st.session_state[VIEWER_KEY] = viewer
    st.rerun()
    raise AssertionError("unreachable")  # st.rerun raises


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


def _local_gate() -> Viewer:
    st.title("Sign in to OpsDeck")
    with st.form("sign_in_form", clear_on_submit=False, enter_to_submit=True):
        username = st.text_input("User name", autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        if not username.strip() or not password:
            st.error("Enter both your user name and your password.")
        else:
            try:
                return ops_auth.sign_in(get_engine(), username=username, password=password)
            except ops_auth.AuthError as exc:
                st.error(f"Sign-in failed: {exc}.")
    st.caption("Forgot your password or locked out? Ask an OpsDeck admin to unlock or reset your account.")
    st.stop()
    raise AssertionError("unreachable")


def _sso_gate() -> Viewer:
    if not st.user.is_logged_in:
        st.title("Sign in to OpsDeck")
        provider = os.environ.get(SSO_PROVIDER_ENV) or None
        st.button("Sign in with your company account", type="primary", on_click=st.login, args=(provider,))
        st.stop()
    email = str(st.user.get("email") or "")
    failure: ops_auth.AuthError | None = None
    with transaction(get_engine()) as s:
        try:
            return ops_auth.viewer_for_email(s, email=email, audit=True)
        except ops_auth.AuthError as exc:
            failure = exc  # leave the block normally so the refused attempt is audited
    st.title("OpsDeck")
    st.error(f"No access: {failure}.")
    st.button("Sign out", on_click=st.logout)
    st.stop()
    raise AssertionError("unreachable")


def sign_out() -> None:
    """Forget everything this session knew (viewer, filters, widget values); end the SSO session too."""
    for key in list(st.session_state.keys()):
        del st.session_state[key]
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
