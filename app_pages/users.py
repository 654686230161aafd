"""User accounts: list, add, unlock, reset passwords and deactivate (admins only; every change is audited)."""

import streamlit as st

from ops.auth import MIN_PASSWORD_LENGTH
from ops.models import ROLES
from ui.auth import change_account, users_table
from ui.context import require_page
from ui.downloads import download_buttons
from ui.table import show_table

viewer = require_page("users")
st.title("Users")

flash = st.session_state.pop("users_flash", None)
if flash:
    st.success(flash)

users = users_table(viewer)
show_table(users, key="users_table")
download_buttons(users, name="users", key="users_dl")


def _done(message: str | None, success: str) -> None:
    if message:
        st.error(message)
    else:
        st.session_state["users_flash"] = success
        st.rerun()


st.subheader("Add a user")
with st.form("users_add", clear_on_submit=True):
    c1, c2, c3 = st.columns(3)
    username = c1.text_input("User name", key="users_new_name")
    role = c2.selectbox("Role", ROLES, index=ROLES.index("manager"), key="users_new_role")
    vendor = c3.text_input("Vendor code (vendors only)", key="users_new_vendor",
                           help="A supplier code, a carrier code or a 3PL warehouse operator code.")
    c4, c5 = st.columns(2)
    email = c4.text_input("E-mail (for SSO sign-in, optional)", key="users_new_email")
    password = c5.text_input(f"Password (at least {MIN_PASSWORD_LENGTH} characters)", type="password",
                             key="users_new_password", help="Leave empty for an SSO-only account.")
    if st.form_submit_button("Add user", type="primary"):
        _done(change_account("add", viewer, username=username, role=role, vendor_code=vendor or None,
                             email=email or None, password=password or None), f"User {username.strip()} added.")

st.subheader("Unlock, reset a password, or deactivate")
names = users["username"].tolist()
who = st.selectbox("Account", names, index=None, placeholder="Pick an account", key="users_pick")
c1, c2, c3 = st.columns([1, 1, 4])
if c1.button("Unlock", key="users_unlock", disabled=who is None):
    _done(change_account("unlock", viewer, username=who), f"{who} unlocked.")
if c2.button("Deactivate", key="users_deactivate", disabled=who is None):
    _done(change_account("deactivate", viewer, username=who), f"{who} deactivated: they can no longer sign in.")
with st.form("users_reset", clear_on_submit=True, border=False):
    new_password = st.text_input(f"New password for the account picked above (at least {MIN_PASSWORD_LENGTH} "
                                 "characters)", type="password", key="users_reset_password")
    if st.form_submit_button("Reset password", disabled=who is None):
        _done(change_account("reset", viewer, username=who, password=new_password),
              f"{who}'s password was reset and any lockout cleared: tell them the new password.")
if who is not None and not bool(users.loc[users["username"] == who, "active"].iloc[0]) and c3.button(
    "Reactivate", key="users_activate"
):
    _done(change_account("activate", viewer, username=who), f"{who} reactivated.")
