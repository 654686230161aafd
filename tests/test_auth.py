"""Local accounts, sign-in, lockout, SSO mapping, demo accounts and the sign-in gate."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from sqlalchemy import Engine, String, Text, func, select
from streamlit.testing.v1 import AppTest

from ops import auth
from ops.access import AccessDenied, Viewer
from ops.db import transaction
from ops.models import Base, Carrier, Decision, ImportRun, Supplier, User, Warehouse
from tests.conftest import ROOT

PASSWORD = "correct horse battery"
WRONG = "Tr0ub4dor&3-wrong"
ADMIN = Viewer(username="root", role="admin")
T0 = dt.datetime(2025, 3, 3, 9, 0)
GENERIC = auth.GENERIC_FAILURE


@pytest.fixture
def db(engine: Engine) -> Engine:
    """Two suppliers, two carriers and two warehouses (one run by the 3PL ``TPL-9``)."""
    with transaction(engine) as s:
        s.add_all([
            Supplier(code="SUP-002", name="Second supplier"),
            Supplier(code="SUP-001", name="First supplier"),
            Carrier(code="ZIP", name="Zip Parcel"),
            Carrier(code="ACME", name="Acme Freight"),
            Warehouse(code="WH-EAST", name="East"),
            Warehouse(code="WH-3PL", name="Partner DC", operator_code="TPL-9"),
        ])
    return engine


def _decisions(engine: Engine, action: str | None = None) -> list[Decision]:
    with transaction(engine) as s:
        stmt = select(Decision).order_by(Decision.id)
        if action:
            stmt = stmt.where(Decision.action == action)
        return list(s.scalars(stmt))


def _add(engine: Engine, username: str = "maria", role: str = "manager", **kw: object) -> None:
    with transaction(engine) as s:
        auth.add_user(s, username=username, role=role, password=kw.pop("password", PASSWORD), actor="cli", **kw)


def _try(engine: Engine, username: str, password: str, now: dt.datetime) -> str | Viewer:
    try:
        return auth.sign_in(engine, username=username, password=password, now=now)
    except auth.AuthError as exc:
        return str(exc)


# --- hashing ----------------------------------------------------------------------------------


def test_hash_is_argon2id_at_or_above_owasp_floor(db: Engine) -> None:
    _add(db)
    with transaction(db) as s:
        stored = s.scalar(select(User.password_hash).where(User.username == "maria"))
    m = re.fullmatch(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+", stored or "")
    assert m, stored
    memory_kib, iterations, lanes = map(int, m.groups())
    assert memory_kib >= 19 * 1024 and iterations >= 2 and lanes >= 1
    assert auth.verify_password(stored, PASSWORD)
    assert not auth.verify_password(stored, PASSWORD + "x")
    assert not auth.verify_password("not a hash", PASSWORD)


def test_clear_password_is_in_no_column_of_any_table_nor_in_logs(db: Engine, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _add(db, "vera", "vendor", vendor_code="SUP-001")
    assert isinstance(_try(db, "vera", PASSWORD, T0), Viewer)
    for _ in range(6):  # wrong passwords, through the lockout
        _try(db, "vera", WRONG, T0)
    _try(db, "nobody", WRONG, T0)
    found = []
    with transaction(db) as s:
        for table in Base.metadata.sorted_tables:
            for col in table.columns:
                if not isinstance(col.type, String | Text):
                    continue
                for secret in (PASSWORD, WRONG):
                    n = s.scalar(select(func.count()).select_from(table).where(col.contains(secret, autoescape=True)))
                    if n:
                        found.append(f"{table.name}.{col.name}")
        assert s.scalar(select(func.count()).select_from(Decision).where(Decision.action.like("login.%"))) == 9
    assert found == []
    assert "login.failed" in caplog.text  # the log did capture sign-in events...
    assert PASSWORD not in caplog.text and WRONG not in caplog.text  # ...but never a password


# --- accounts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"), [("SUP-001", "supplier"), ("ACME", "carrier"), ("TPL-9", "warehouse")]
)
def test_add_vendor_infers_kind_from_code(db: Engine, code: str, kind: str) -> None:
    _add(db, "vendor1", "vendor", vendor_code=code)
    with transaction(db) as s:
        v = auth.viewer_for_username(s, username="VENDOR1")
    assert v == Viewer(username="vendor1", role="vendor", vendor_kind=kind, vendor_code=code)
    added = _decisions(db, "user.add")
    assert [(d.actor, d.entity_key, d.vendor_code) for d in added] == [("cli", "vendor1", code)]
    assert PASSWORD not in (added[0].after or "")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"role": "vendor", "vendor_code": "SUP-404"}, "'SUP-404' matches no supplier code, carrier code or 3PL"),
        ({"role": "vendor"}, "a vendor account needs a vendor code"),
        ({"role": "manager", "vendor_code": "SUP-001"}, "only vendor accounts carry a vendor code"),
        ({"role": "manager", "password": "short7!"}, "at least 8 characters"),
        ({"role": "owner"}, "unknown role 'owner'"),
        ({"role": "manager", "username": "bad name!"}, "user name 'bad name!' is not allowed"),
    ],
)
def test_add_user_refuses_bad_input_clearly_and_writes_nothing(db: Engine, kwargs: dict, message: str) -> None:
    kw = {"username": "newbie", "password": PASSWORD} | kwargs
    with pytest.raises(auth.AuthError, match=re.escape(message)), transaction(db) as s:
        auth.add_user(s, actor="cli", **kw)
    with transaction(db) as s:
        assert s.scalar(select(func.count()).select_from(User)) == 0
    assert _decisions(db) == []


def test_duplicate_user_name_is_refused(db: Engine) -> None:
    _add(db)
    with pytest.raises(auth.AuthError, match="already taken"):
        _add(db, "Maria")


def test_account_changes_need_an_admin_and_roll_back_with_their_audit_row(db: Engine) -> None:
    planner = Viewer(username="pat", role="planner")
    with pytest.raises(AccessDenied), transaction(db) as s:
        auth.add_user(s, username="x1", role="manager", password=PASSWORD, actor=planner)
    # The audit row lives in the same transaction as the change: a later failure removes both.
    with pytest.raises(RuntimeError), transaction(db) as s:
        auth.add_user(s, username="x2", role="manager", password=PASSWORD, actor=ADMIN)
        raise RuntimeError("boom")
    with transaction(db) as s:
        assert s.scalar(select(func.count()).select_from(User)) == 0
    assert _decisions(db) == []


# --- sign-in ------------------------------------------------------------------------------------


def test_success_returns_viewer_and_is_audited(db: Engine) -> None:
    _add(db, "cara", "vendor", vendor_code="ZIP")
    v = _try(db, " Cara ", PASSWORD, T0)
    assert v == Viewer(username="cara", role="vendor", vendor_kind="carrier", vendor_code="ZIP")
    [row] = _decisions(db, "login.ok")
    assert (row.actor, row.entity_key, row.vendor_code, row.at) == ("cara", "cara", "ZIP", T0)


def test_wrong_password_and_unknown_user_get_the_same_generic_message(db: Engine) -> None:
    _add(db)
    assert _try(db, "maria", WRONG, T0) == GENERIC
    assert _try(db, "mario", PASSWORD, T0) == GENERIC
    assert [(d.entity_key, d.outcome) for d in _decisions(db, "login.failed")] == [
        ("maria", "refused"), ("mario", "refused")]


def test_lockout_after_five_failures_for_fifteen_minutes(db: Engine) -> None:
    _add(db)
    msgs = [_try(db, "maria", WRONG, T0 + dt.timedelta(seconds=i)) for i in range(5)]
    assert msgs == [GENERIC] * 5  # the lock is not announced: that would confirm the account exists
    # The right password does not help while locked.
    assert _try(db, "maria", PASSWORD, T0 + dt.timedelta(minutes=14)) == GENERIC
    # The audit log keeps the true reason and until when.
    locks = _decisions(db, "login.locked")
    assert [d.why for d in locks] == ["5 consecutive failures", "attempt while locked"]
    assert all("2025-03-03 09:15:04" in (d.after or "") for d in locks)
    # After the lock runs out the right password works and the count is reset.
    assert isinstance(_try(db, "maria", PASSWORD, T0 + dt.timedelta(minutes=15, seconds=5)), Viewer)
    with transaction(db) as s:
        user = s.scalar(select(User).where(User.username == "maria"))
        assert (user.failed_attempts, user.locked_until) == (0, None)
    actions = [d.action for d in _decisions(db) if d.action.startswith("login.")]
    assert actions == ["login.failed"] * 5 + ["login.locked", "login.locked", "login.ok"]


def test_success_resets_the_failure_count(db: Engine) -> None:
    _add(db)
    for i in range(4):
        _try(db, "maria", WRONG, T0 + dt.timedelta(seconds=i))
    assert isinstance(_try(db, "maria", PASSWORD, T0 + dt.timedelta(seconds=10)), Viewer)
    for i in range(4):
        assert _try(db, "maria", WRONG, T0 + dt.timedelta(seconds=20 + i)) == GENERIC
    assert isinstance(_try(db, "maria", PASSWORD, T0 + dt.timedelta(seconds=30)), Viewer)


def test_locked_deactivated_unknown_and_wrong_answer_alike(db: Engine) -> None:
    """Issue 10 finding 9: a locked account said "account 'manager' is locked", an unknown name did not."""
    _add(db, "manager")
    _add(db, "gone")
    with transaction(db) as s:
        auth.deactivate_user(s, username="gone", actor=ADMIN)
    answers = {}
    for i in range(6):
        answers["manager"] = _try(db, "manager", WRONG, T0 + dt.timedelta(seconds=i))
        answers["nobody"] = _try(db, "nobody", WRONG, T0 + dt.timedelta(seconds=i))
    answers["locked, right password"] = _try(db, "manager", PASSWORD, T0 + dt.timedelta(seconds=7))
    answers["deactivated, right password"] = _try(db, "gone", PASSWORD, T0)
    assert set(answers.values()) == {GENERIC}, answers
    assert "locked" in GENERIC  # the one answer still tells a locked-out person what to do
    why = {(d.entity_key, d.why) for d in _decisions(db) if d.action in ("login.failed", "login.locked")}
    assert {("nobody", "unknown user name"), ("manager", "wrong password"), ("manager", "attempt while locked"),
            ("gone", "account deactivated")} <= why


def test_admin_unlock_and_deactivate(db: Engine) -> None:
    _add(db)
    for i in range(5):
        _try(db, "maria", WRONG, T0 + dt.timedelta(seconds=i))
    with transaction(db) as s:
        auth.unlock_user(s, username="maria", actor=ADMIN)
    assert isinstance(_try(db, "maria", PASSWORD, T0 + dt.timedelta(minutes=1)), Viewer)
    with transaction(db) as s:
        auth.deactivate_user(s, username="maria", actor=ADMIN)
    # Deactivated: the generic message, never "deactivated" (that would confirm the name).
    assert _try(db, "maria", PASSWORD, T0 + dt.timedelta(minutes=2)) == GENERIC
    with pytest.raises(auth.AuthError, match="no active user"), transaction(db) as s:
        auth.viewer_for_username(s, username="maria")
    unlock, deact = _decisions(db, "user.unlock"), _decisions(db, "user.deactivate")
    assert [(d.actor, d.entity_key) for d in unlock + deact] == [("root", "maria"), ("root", "maria")]
    with pytest.raises(AccessDenied), transaction(db) as s:
        auth.unlock_user(s, username="maria", actor=Viewer(username="m", role="manager"))


def test_admin_resets_a_password_and_the_lockout(db: Engine) -> None:
    """The sign-in page tells a locked-out person to ask an admin for a reset: the reset exists."""
    _add(db)
    for i in range(5):
        _try(db, "maria", WRONG, T0 + dt.timedelta(seconds=i))
    new = "a-brand-new-passphrase"
    with transaction(db) as s:
        auth.reset_password(s, username="maria", password=new, actor=ADMIN)
    assert _try(db, "maria", PASSWORD, T0 + dt.timedelta(minutes=1)) == GENERIC
    assert isinstance(_try(db, "maria", new, T0 + dt.timedelta(minutes=1, seconds=1)), Viewer)
    (row,) = _decisions(db, "user.password_reset")
    assert (row.actor, row.entity_key) == ("root", "maria")
    assert new not in (row.before or "") + (row.after or "")
    with pytest.raises(auth.AuthError, match="at least"), transaction(db) as s:
        auth.reset_password(s, username="maria", password="short", actor=ADMIN)
    with pytest.raises(AccessDenied), transaction(db) as s:
        auth.reset_password(s, username="maria", password=new, actor=Viewer(username="m", role="manager"))
    assert len(_decisions(db, "user.password_reset")) == 1


def test_list_users_is_admin_only_and_never_shows_hashes(db: Engine) -> None:
    _add(db)
    _add(db, "vera", "vendor", vendor_code="TPL-9")
    with transaction(db) as s:
        df = auth.list_users(s, viewer=ADMIN)
        with pytest.raises(AccessDenied):
            auth.list_users(s, viewer=Viewer(username="m", role="manager"))
    assert df["username"].tolist() == ["maria", "vera"]
    assert df["vendor_kind"].tolist() == [None, "warehouse"]
    assert not any("hash" in c or "password" in c for c in df.columns)
    assert not df.astype(str).apply(lambda col: col.str.contains("argon2")).any().any()


# --- SSO mapping ----------------------------------------------------------------------------------


def test_viewer_for_email_maps_known_and_refuses_unknown(db: Engine) -> None:
    with transaction(db) as s:
        auth.add_user(s, username="sam", role="vendor", vendor_code="SUP-002", password=None,
                      email="Sam@Example.com", actor=ADMIN)
    with transaction(db) as s:
        assert auth.viewer_for_email(s, email="sam@example.COM") == Viewer(
            username="sam", role="vendor", vendor_kind="supplier", vendor_code="SUP-002")
        with pytest.raises(auth.AuthError, match="no active OpsDeck account is linked to that e-mail"):
            auth.viewer_for_email(s, email="eve@example.com")
    # An SSO-only account has no password to guess.
    assert _try(db, "sam", "", T0) == GENERIC


def test_sso_only_account_needs_an_email(db: Engine) -> None:
    with pytest.raises(auth.AuthError, match="needs an e-mail"), transaction(db) as s:
        auth.add_user(s, username="sam", role="manager", password=None, actor="cli")


# --- demo accounts ----------------------------------------------------------------------------


def _mark_demo(engine: Engine) -> None:
    """What ops.demo.seed records: the data came from the demo generator."""
    with transaction(engine) as s:
        s.add(ImportRun(kind="seed", source="demo:small:7", actor="demo", finished_at=T0, rows_in=6,
                        rows_changed=6, status="ok"))


def test_ensure_demo_accounts_one_per_role_and_idempotent(db: Engine) -> None:
    _mark_demo(db)
    with transaction(db) as s:
        made = auth.ensure_demo_accounts(s)
    assert made == [
        ("admin", "admin", None, auth.DEMO_PASSWORD),
        ("manager", "manager", None, auth.DEMO_PASSWORD),
        ("planner", "planner", None, auth.DEMO_PASSWORD),
        ("supplier", "vendor", "SUP-001", auth.DEMO_PASSWORD),
        ("carrier", "vendor", "ACME", auth.DEMO_PASSWORD),
        ("3pl", "vendor", "TPL-9", auth.DEMO_PASSWORD),
    ]
    kinds = {u: _try(db, u, auth.DEMO_PASSWORD, T0) for u, *_ in made}
    assert {u: (v.role, v.vendor_kind) for u, v in kinds.items() if isinstance(v, Viewer)} == {
        "admin": ("admin", None), "manager": ("manager", None), "planner": ("planner", None),
        "supplier": ("vendor", "supplier"), "carrier": ("vendor", "carrier"), "3pl": ("vendor", "warehouse"),
    }
    with transaction(db) as s:
        assert auth.ensure_demo_accounts(s) == []
        assert s.scalar(select(func.count()).select_from(User)) == 6


def test_ensure_demo_accounts_does_nothing_without_demo_data(engine: Engine) -> None:
    with transaction(engine) as s:
        assert auth.ensure_demo_accounts(s) == []
        assert s.scalar(select(func.count()).select_from(User)) == 0


@pytest.mark.parametrize("imports", [[], [("csv-suppliers", "ok")], [("seed", "refused"), ("csv-carriers", "ok")]])
def test_no_demo_accounts_on_real_data(db: Engine, imports: list[tuple[str, str]]) -> None:
    """Issue 10 finding 4: real suppliers and carriers (no orders) got accounts with the public demo password."""
    with transaction(db) as s:
        s.add_all([ImportRun(kind=k, source="suppliers.csv", actor="cli", finished_at=T0, status=st)
                   for k, st in imports])
    with transaction(db) as s:
        assert auth.ensure_demo_accounts(s) == []
        assert not auth.is_demo_database(s)
        assert auth.needs_first_admin(s)  # the first-run form asks for the first admin instead
    assert _try(db, "admin", auth.DEMO_PASSWORD, T0) == GENERIC


# --- the gate (AppTest) -----------------------------------------------------------------------


def _app(db: Engine, monkeypatch: pytest.MonkeyPatch, mode: str = "local") -> AppTest:
    monkeypatch.setenv("OPS_DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("OPS_AUTH_MODE", mode)
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)


def _submit(at: AppTest, label: str) -> None:
    [button] = [b for b in at.button if b.label == label]
    button.click().run()


def test_gate_local_form_signs_in_and_out(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    _add(db, "vera", "vendor", vendor_code="ZIP")
    at = _app(db, monkeypatch)
    at.run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    assert "viewer" not in at.session_state
    at.text_input[0].input("vera")
    at.text_input[1].input(WRONG)
    _submit(at, "Sign in")
    assert [e.value for e in at.error] == [f"Sign-in failed: {GENERIC}."]
    at.text_input[1].input(PASSWORD)
    _submit(at, "Sign in")
    assert not at.exception
    assert at.session_state["viewer"] == Viewer(username="vera", role="vendor", vendor_kind="carrier",
                                                vendor_code="ZIP")
    assert any("Signed in as **vera**" in c.value for c in at.sidebar.caption)
    assert at.title[0].value == "Your scorecard"
    at.sidebar.button(key="sign_out").click().run()
    assert "viewer" not in at.session_state
    assert [t.label for t in at.text_input] == ["User name", "Password"]


def test_gate_sso_maps_email_or_refuses_with_no_data(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with transaction(db) as s:
        auth.add_user(s, username="sam", role="vendor", vendor_code="SUP-001", password=None,
                      email="sam@example.com", actor="cli")
    at = _app(db, monkeypatch, "sso")
    at.user = {"is_logged_in": False}
    at.run()
    assert [b.label for b in at.button] == ["Sign in with your company account"]
    assert not at.text_input  # no password form in SSO mode

    at = _app(db, monkeypatch, "sso")
    at.user = {"is_logged_in": True, "email": "eve@example.com"}
    at.run()
    assert "viewer" not in at.session_state
    assert len(at.error) == 1 and "eve@example.com" in at.error[0].value
    assert "no active OpsDeck account" in at.error[0].value
    assert not at.dataframe and not at.metric and not at.sidebar.caption

    at = _app(db, monkeypatch, "sso")
    at.user = {"is_logged_in": True, "email": "sam@example.com"}
    at.run()
    assert not at.exception
    assert at.session_state["viewer"] == Viewer(username="sam", role="vendor", vendor_kind="supplier",
                                                vendor_code="SUP-001")
    assert [(d.action, d.entity_key) for d in _decisions(db) if d.action.startswith("login.")] == [
        ("login.failed", "eve@example.com"), ("login.ok", "sam")]


def test_users_page_adds_unlocks_and_deactivates_with_audit(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    _add(db)
    for i in range(5):
        _try(db, "maria", WRONG, T0 + dt.timedelta(seconds=i))
    at = _app(db, monkeypatch)
    at.session_state["viewer"] = ADMIN
    at.run()
    at.switch_page("app_pages/users.py").run()
    assert not at.exception
    shown = at.dataframe[0].value
    assert shown["username"].tolist() == ["maria"] and shown["failed_attempts"].tolist() == [5]
    at.text_input(key="users_new_name").input("tpl-user")
    at.selectbox(key="users_new_role").select("vendor")
    at.text_input(key="users_new_vendor").input("TPL-9")
    at.text_input(key="users_new_password").input("short")
    _submit(at, "Add user")
    assert [e.value for e in at.error] == ["password must be at least 8 characters long"]
    at.text_input(key="users_new_name").input("tpl-user")
    at.selectbox(key="users_new_role").select("vendor")
    at.text_input(key="users_new_vendor").input("TPL-9")
    at.text_input(key="users_new_password").input(PASSWORD)
    _submit(at, "Add user")
    assert not at.exception and not at.error
    assert [s.value for s in at.success] == ["User tpl-user added."]
    assert at.dataframe[0].value["username"].tolist() == ["maria", "tpl-user"]
    at.selectbox(key="users_pick").select("maria").run()
    at.button(key="users_unlock").click().run()
    at.selectbox(key="users_pick").select("tpl-user").run()
    at.button(key="users_deactivate").click().run()
    assert not at.exception and not at.error
    with transaction(db) as s:
        v = auth.viewer_for_username(s, username="maria")
        assert s.scalar(select(User.active).where(User.username == "tpl-user")) is False
    assert v.role == "manager"
    assert [(d.action, d.actor, d.entity_key) for d in _decisions(db) if d.action.startswith("user.")] == [
        ("user.add", "cli", "maria"), ("user.add", "root", "tpl-user"), ("user.unlock", "root", "maria"),
        ("user.deactivate", "root", "tpl-user")]


def test_make_db_on_real_suppliers_and_carriers_makes_no_demo_accounts(db: Engine,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 10 finding 4 as `make run` hit it: `ops seed --if-empty` on real data without orders."""
    from ops.__main__ import main

    url = db.url.render_as_string(hide_password=False)
    assert main(["--db", url, "seed", "--if-empty"]) == 0
    out = capsys.readouterr().out
    assert "not seeding" in out and "python -m ops user add NAME --role admin" in out
    assert "opsdeck-demo" not in out
    with transaction(db) as s:
        assert s.scalar(select(func.count()).select_from(User)) == 0
    # The command line makes the first admin, and resets a forgotten password.
    assert main(["--db", url, "user", "add", "ada", "--role", "admin", "--password", PASSWORD]) == 0
    assert main(["--db", url, "user", "reset", "ada", "--password", "another-passphrase"]) == 0
    assert isinstance(_try(db, "ada", "another-passphrase", T0), Viewer)
    assert [(d.action, d.actor) for d in _decisions(db) if d.action.startswith("user.")] == [
        ("user.add", "cli"), ("user.password_reset", "cli")]
