"""Local accounts and sign-in: who may ask, and as which :class:`~ops.access.Viewer`.

Passwords are hashed with Argon2id at OWASP's floor or above (19 MiB memory, 2 iterations,
1 lane) and are never stored, logged or audited in clear. Five wrong passwords in a row lock
an account for fifteen minutes; a success resets the count. Every sign-in attempt and every
account change appends one row to the ``decisions`` audit log in the caller's transaction.

Failures raise :class:`AuthError` *after* writing their audit row and failure count to the
session: callers catch it inside the transaction so those rows commit (or use
:func:`sign_in`, which does exactly that). The failure count is read and written under a row
lock (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite write transactions are ``BEGIN IMMEDIATE``),
so concurrent guesses check at most ``MAX_FAILED_ATTEMPTS`` passwords before the lock. Every
refusal (unknown name, wrong password, locked, deactivated) gives the same message; the audit
log keeps the true reason.

Sessions: a sign-in in the app starts a server-side session (:func:`start_session`); the
browser keeps a signed token in a cookie so a reload or a pasted link stays signed in.
:func:`check_session` accepts it only while the session is neither revoked nor expired nor
idle for ``SESSION_IDLE`` and its account is active. Deactivation, an admin's password reset
and a password change end the account's sessions at once. Every account write checks its
actor with :func:`require_active`.

Demo accounts (public password) are made only on a database whose data came from
``ops.demo.seed``; a database without accounts or demo data gets its first admin from
:func:`create_first_admin` (the app's first-run form) or ``python -m ops user add``.

Single sign-on (OIDC through ``st.login``) authenticates a person; :func:`viewer_for_email`
authorises them by mapping the e-mail to a user row here. An unknown e-mail gets no data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from typing import Any

import pandas as pd
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ops.access import AccessDenied, Viewer, data_function, require_role, require_viewer
from ops.db import read_session, transaction
from ops.decisions import record
from ops.exports import register
from ops.filters import Filters
from ops.models import ROLES, AppSetting, AuthSession, Carrier, ImportRun, Supplier, User, Warehouse

# OWASP Password Storage Cheat Sheet floor for Argon2id: m=19 MiB, t=2, p=1.
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1
MIN_PASSWORD_LENGTH = 8
# Hashing cost grows with input length; a cap stops a megabyte "password" from tying up a worker.
MAX_PASSWORD_LENGTH = 1024
MAX_FAILED_ATTEMPTS = 5
LOCKOUT = dt.timedelta(minutes=15)
# One answer for an unknown name, a wrong password, a locked and a deactivated account, so the
# sign-in form never confirms that an account exists (the audit log keeps the true reason).
GENERIC_FAILURE = ("wrong user name or password, or the account is locked for a while: "
                   "try again later or ask an admin")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,99}$")
DEMO_PASSWORD = "opsdeck-demo"  # noqa: S105 - the documented demo password, for demo databases only
DEMO_SEED_KIND = "seed"  # import_runs.kind of ops.demo.seed: demo accounts only on such a database

SESSION_COOKIE = "opsdeck_session"
SESSION_IDLE = dt.timedelta(hours=2)  # signed out after this long without a rerun
SESSION_MAX = dt.timedelta(hours=12)  # a working day; then sign in again
SESSION_TOUCH = dt.timedelta(minutes=1)  # last_seen_at is written at most this often (reruns stay reads)
SECRET_ENV = "OPS_SECRET_KEY"  # noqa: S105 - the name of the variable, not a secret
SECRET_SETTING = "session_secret"  # noqa: S105 - the name of the setting, not a secret

HASHER = PasswordHasher(
    time_cost=ARGON2_TIME_COST,
    memory_cost=ARGON2_MEMORY_KIB,
    parallelism=ARGON2_PARALLELISM,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)

log = logging.getLogger(__name__)
_dummy_hash: str | None = None


class AuthError(Exception):
    """Sign-in or account management refused; the message is safe to show the user."""


class AccountLocked(AuthError):
    """Too many wrong passwords: the account is locked until ``until`` (UTC).

    The message is :data:`GENERIC_FAILURE`, the same as for a wrong password: saying "locked"
    only for existing accounts would tell an attacker which names exist.
    """

    def __init__(self, username: str, until: dt.datetime) -> None:
        super().__init__(GENERIC_FAILURE)
        self.username = username
        self.until = until


class SessionEnded(AuthError):
    """A browser's session is over (signed out, expired, idle, revoked); the message says why."""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# --- passwords --------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """Argon2id hash of ``password`` (PHC string: algorithm, parameters, salt and hash)."""
    return HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; False for a missing or malformed hash."""
    if not password_hash:
        return False
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _burn_time(password: str) -> None:
    # Unknown user names take as long as wrong passwords, so timing does not reveal which.
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = HASHER.hash("not-a-real-password")
    verify_password(_dummy_hash, password)


def check_password_rules(password: str) -> None:
    """Raise :class:`AuthError` unless ``password`` is acceptable for a new account."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"password must be at least {MIN_PASSWORD_LENGTH} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AuthError(f"password must be at most {MAX_PASSWORD_LENGTH} characters long")


def normalise_username(username: str) -> str:
    """User names are case-insensitive: stored and looked up in lower case, trimmed."""
    return (username or "").strip().lower()


# --- audit ------------------------------------------------------------------------------


def _audit(
    session: Session,
    *,
    actor: str,
    action: str,
    username: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    why: str | None = None,
    outcome: str = "applied",
    vendor_code: str | None = None,
    at: dt.datetime | None = None,
) -> None:
    kind = None
    if vendor_code:  # audit rows carry the vendor's kind and code, so each vendor reads only its own
        kind = session.scalar(select(User.vendor_kind).where(User.username == username))
    record(session, actor=actor, action=action, entity_kind="user", entity_key=username, before=before,
           after=after, why=why, outcome=outcome, vendor_code=vendor_code, vendor_kind=kind, at=at or _utcnow())
    log.info("%s %s by %s (%s)", action, username, actor, outcome)


def _actor_name(session: Session, actor: Viewer | str) -> str:
    """The audit name of whoever changes accounts; a Viewer must be an active admin."""
    if isinstance(actor, Viewer):
        require_role(actor, "admin")
        require_active(session, actor)
        return actor.username
    if not actor or not isinstance(actor, str):
        raise AuthError("account changes need an actor (an admin viewer, or 'cli')")
    return actor


# --- accounts ---------------------------------------------------------------------------


def vendor_kind_for(session: Session, code: str) -> str:
    """The vendor kind whose records carry ``code``: ``supplier``, ``carrier`` or ``warehouse``.

    Looks in ``suppliers.code``, ``carriers.code`` and ``warehouses.operator_code``; raises
    :class:`AuthError` when the code is unknown or ambiguous.
    """
    kinds = []
    if session.scalar(select(func.count()).select_from(Supplier).where(Supplier.code == code)):
        kinds.append("supplier")
    if session.scalar(select(func.count()).select_from(Carrier).where(Carrier.code == code)):
        kinds.append("carrier")
    if session.scalar(select(func.count()).select_from(Warehouse).where(Warehouse.operator_code == code)):
        kinds.append("warehouse")
    if not kinds:
        raise AuthError(
            f"vendor code {code!r} matches no supplier code, carrier code or 3PL warehouse operator code"
        )
    if len(kinds) > 1:
        raise AuthError(f"vendor code {code!r} is ambiguous: it is a {' and a '.join(kinds)} code")
    return kinds[0]


def _viewer_of(user: User) -> Viewer:
    return Viewer(username=user.username, role=user.role, vendor_kind=user.vendor_kind, vendor_code=user.vendor_code)


def add_user(
    session: Session,
    *,
    username: str,
    role: str,
    vendor_code: str | None = None,
    password: str | None,
    actor: Viewer | str,
    email: str | None = None,
    display_name: str | None = None,
) -> User:
    """Create a local account and audit it (``user.add``).

    ``vendor_code`` is required for ``role="vendor"`` (and refused for other roles); its
    kind is inferred from the supplier, carrier and 3PL codes in the database.
    ``password=None`` makes an SSO-only account (it needs an ``email``). ``actor`` is the
    admin :class:`Viewer` making the change, or a label such as ``"cli"`` for an operator.
    """
    who = _actor_name(session, actor)
    name = normalise_username(username)
    if not USERNAME_RE.match(name):
        raise AuthError(
            f"user name {username!r} is not allowed: use 1-100 letters, digits, '.', '_', '@' or '-'"
        )
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    kind: str | None = None
    code = (vendor_code or "").strip() or None
    if role == "vendor":
        if not code:
            raise AuthError("a vendor account needs a vendor code (supplier, carrier or 3PL operator code)")
        kind = vendor_kind_for(session, code)
    elif code:
        raise AuthError(f"only vendor accounts carry a vendor code; {name!r} is a {role}")
    mail = (email or "").strip().lower() or None
    if password is None:
        if not mail:
            raise AuthError("an account without a password signs in by SSO and needs an e-mail")
    else:
        check_password_rules(password)
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise AuthError(f"user name {name!r} is already taken")
    if mail and session.scalar(select(User.id).where(func.lower(User.email) == mail)) is not None:
        raise AuthError(f"e-mail {mail!r} already belongs to another account")
    user = User(
        username=name,
        email=mail,
        display_name=display_name,
        role=role,
        vendor_kind=kind,
        vendor_code=code,
        password_hash=hash_password(password) if password is not None else None,
        failed_attempts=0,
        active=True,
    )
    session.add(user)
    _audit(
        session,
        actor=who,
        action="user.add",
        username=name,
        after={"role": role, "vendor_kind": kind, "vendor_code": code, "email": mail, "sso_only": password is None},
        vendor_code=code,
    )
    session.flush()
    return user


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == normalise_username(username)))
    if user is None:
        raise AuthError(f"no user named {normalise_username(username)!r}")
    return user


def unlock_user(session: Session, *, username: str, actor: Viewer | str) -> None:
    """Clear a lockout and the failed-attempt count (``user.unlock``)."""
    who = _actor_name(session, actor)
    user = _user(session, username)
    before = {"failed_attempts": user.failed_attempts, "locked_until": user.locked_until}
    user.failed_attempts = 0
    user.locked_until = None
    _audit(session, actor=who, action="user.unlock", username=user.username, before=before,
           after={"failed_attempts": 0, "locked_until": None}, vendor_code=user.vendor_code)
    session.flush()


def set_active(session: Session, *, username: str, active: bool, actor: Viewer | str) -> None:
    """Deactivate (or reactivate) an account (``user.deactivate`` / ``user.activate``).

    An admin cannot deactivate their own account, so there is always someone to undo it.
    """
    who = _actor_name(session, actor)
    user = _user(session, username)
    if not active and user.username == who:
        raise AuthError("you cannot deactivate your own account")
    before = {"active": user.active}
    user.active = active
    _audit(session, actor=who, action="user.activate" if active else "user.deactivate", username=user.username,
           before=before, after={"active": active}, vendor_code=user.vendor_code)
    if not active:
        end_sessions(session, username=user.username, why="account deactivated")
    session.flush()


def reset_password(session: Session, *, username: str, password: str, actor: Viewer | str) -> None:
    """Set a new password for an account and clear its lockout (``user.password_reset``).

    The admin tells the person the new password out of band. The audit row records that the
    password changed, never the password or its hash. Every open session of the account ends.
    """
    who = _actor_name(session, actor)
    user = _user(session, username)
    check_password_rules(password)
    before = {"failed_attempts": user.failed_attempts, "locked_until": user.locked_until,
              "had_password": user.password_hash is not None}
    user.password_hash = hash_password(password)
    user.failed_attempts = 0
    user.locked_until = None
    _audit(session, actor=who, action="user.password_reset", username=user.username, before=before,
           after={"failed_attempts": 0, "locked_until": None, "had_password": True}, vendor_code=user.vendor_code)
    end_sessions(session, username=user.username, why="password reset by an admin")
    session.flush()


def change_password(session: Session, *, viewer: Viewer, current: str, new: str, repeat: str,
                    keep_token: str | None = None, now: dt.datetime | None = None) -> int:
    """A signed-in person changes their own password (``user.password_change``).

    Needs the current password (a session left open on a shared screen is not enough) and the
    new one twice. Ends every other session of the account; the one holding ``keep_token``
    (the browser making the change) stays. A wrong current password counts towards the lockout
    like a wrong sign-in. Returns the number of other sessions ended.
    """
    require_viewer(viewer)
    require_active(session, viewer)
    now = now or _utcnow()
    user = session.scalar(select(User).where(User.username == viewer.username).with_for_update())
    if user is None or user.password_hash is None:
        raise AuthError("this account signs in through your company (SSO): change the password there")
    if new != repeat:
        raise AuthError("the two new passwords differ")
    check_password_rules(new)
    if user.locked_until is not None and now < user.locked_until:
        raise AuthError("too many wrong passwords: try again later or ask an admin")
    if not verify_password(user.password_hash, current or ""):
        user.failed_attempts = (user.failed_attempts or 0) + 1
        _audit(session, actor=user.username, action="user.password_change", username=user.username,
               why="wrong current password", after={"failed_attempts": user.failed_attempts}, outcome="refused",
               vendor_code=user.vendor_code, at=now)
        if user.failed_attempts >= MAX_FAILED_ATTEMPTS:
            user.locked_until = now + LOCKOUT
        session.flush()
        raise AuthError("the current password is wrong")
    if verify_password(user.password_hash, new):
        raise AuthError("the new password is the same as the current one")
    user.password_hash = hash_password(new)
    user.failed_attempts = 0
    user.locked_until = None
    ended = end_sessions(session, username=user.username, why="password changed", keep_token=keep_token, now=now)
    _audit(session, actor=user.username, action="user.password_change", username=user.username,
           after={"other_sessions_ended": ended}, vendor_code=user.vendor_code, at=now)
    session.flush()
    return ended


def deactivate_user(session: Session, *, username: str, actor: Viewer | str) -> None:
    """Deactivate an account: it can no longer sign in, by password or SSO."""
    set_active(session, username=username, active=False, actor=actor)


# --- sign-in ----------------------------------------------------------------------------


def authenticate(session: Session, *, username: str, password: str, now: dt.datetime | None = None) -> Viewer:
    """Check a user name and password; return the :class:`Viewer` or raise :class:`AuthError`.

    The message never says whether the name or the password was wrong, nor whether the account
    is locked or deactivated. After ``MAX_FAILED_ATTEMPTS`` consecutive failures the account
    locks for ``LOCKOUT`` (:class:`AccountLocked` carries until when, for the caller's logs);
    a success resets the count. Writes the failure
    count and one audit row (``login.ok``, ``login.failed`` or ``login.locked``) to ``session``
    before returning or raising: catch the error inside the transaction so they commit.
    """
    now = now or _utcnow()
    name = normalise_username(username)
    # The row lock makes read-check-count one step: concurrent wrong guesses queue here instead
    # of all reading the same count (on PostgreSQL 10 threads x 5 guesses checked up to 46
    # passwords). SQLite ignores FOR UPDATE; its write transactions are BEGIN IMMEDIATE already.
    user = session.scalar(select(User).where(User.username == name).with_for_update()
                          .execution_options(populate_existing=True)) if name else None
    if user is None:
        _burn_time(password or "")
        _audit(session, actor=name or "?", action="login.failed", username=name or "?", why="unknown user name",
               outcome="refused", at=now)
        session.flush()
        raise AuthError(GENERIC_FAILURE)
    if user.locked_until is not None:
        if now < user.locked_until:
            _burn_time(password or "")  # a locked account answers as slowly as a wrong password
            _audit(session, actor=name, action="login.locked", username=name, why="attempt while locked",
                   after={"locked_until": user.locked_until}, outcome="refused", vendor_code=user.vendor_code, at=now)
            session.flush()
            raise AccountLocked(name, user.locked_until)
        user.locked_until = None  # the lock has run out: start counting afresh
        user.failed_attempts = 0
    ok = verify_password(user.password_hash, password or "")
    if ok and user.active:
        before = {"failed_attempts": user.failed_attempts}
        user.failed_attempts = 0
        if user.password_hash and HASHER.check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        _audit(session, actor=name, action="login.ok", username=name, before=before, vendor_code=user.vendor_code,
               at=now)
        session.flush()
        return _viewer_of(user)
    user.failed_attempts = (user.failed_attempts or 0) + 1
    why = "account deactivated" if ok else ("no local password (SSO only)" if not user.password_hash
                                           else "wrong password")
    _audit(session, actor=name, action="login.failed", username=name, why=why,
           after={"failed_attempts": user.failed_attempts}, outcome="refused", vendor_code=user.vendor_code, at=now)
    if user.failed_attempts >= MAX_FAILED_ATTEMPTS:
        user.locked_until = now + LOCKOUT
        _audit(session, actor=name, action="login.locked", username=name,
               why=f"{user.failed_attempts} consecutive failures", after={"locked_until": user.locked_until},
               outcome="applied", vendor_code=user.vendor_code, at=now)
        session.flush()
        raise AccountLocked(name, user.locked_until)
    session.flush()
    raise AuthError(GENERIC_FAILURE)


def sign_in(engine: Engine, *, username: str, password: str, now: dt.datetime | None = None) -> Viewer:
    """:func:`authenticate` in its own transaction that commits the audit row even when it fails."""
    with transaction(engine) as s:
        try:
            return authenticate(s, username=username, password=password, now=now)
        except AuthError as exc:
            failure = exc  # leave the block normally so the audit row commits
    raise failure


def viewer_for_username(session: Session, *, username: str) -> Viewer:
    """The :class:`Viewer` of an active account (for the command line's ``--as``)."""
    user = session.scalar(select(User).where(User.username == normalise_username(username)))
    if user is None or not user.active:
        raise AuthError(f"no active user named {normalise_username(username)!r}")
    return _viewer_of(user)


def viewer_for_email(session: Session, *, email: str, audit: bool = False) -> Viewer:
    """Authorise an SSO identity: the :class:`Viewer` of the active account with this e-mail.

    Raises :class:`AuthError` (no data) when no active account carries the e-mail. With
    ``audit=True`` the attempt is recorded as ``login.ok`` / ``login.failed``.
    """
    mail = (email or "").strip().lower()
    user = session.scalar(select(User).where(func.lower(User.email) == mail)) if mail else None
    if user is None or not user.active:
        if audit:
            _audit(session, actor=mail or "?", action="login.failed", username=mail or "?",
                   why="SSO e-mail not mapped to an active account", outcome="refused")
            session.flush()
        raise AuthError(
            f"you signed in as {mail or 'an account without an e-mail'}, but no active OpsDeck account "
            "is linked to that e-mail; ask an admin to add one"
        )
    if audit:
        _audit(session, actor=user.username, action="login.ok", username=user.username, why="sso",
               vendor_code=user.vendor_code)
        session.flush()
    return _viewer_of(user)


# --- the account behind every rerun and every write ------------------------------------------


def require_active(session: Session, viewer: Viewer) -> None:
    """Refuse (:class:`AccessDenied`) a viewer whose account is deactivated or no longer as signed in.

    Call it in the transaction of every write made for a person (ops.decisions' writes, account
    changes), so a session opened before a deactivation cannot change anything, even from a
    widget callback that runs before the page's sign-in check. A role or vendor scope that
    changed since sign-in is refused too. A name with no account (the command line's
    ``SYSTEM``) passes: sign-in only ever yields viewers of existing accounts, and accounts are
    deactivated, never deleted.
    """
    require_viewer(viewer)
    user = session.scalar(select(User).where(User.username == viewer.username))
    if user is None:
        return
    if not user.active:
        raise AccessDenied(f"the account {viewer.username!r} is deactivated: nothing was changed")
    if _viewer_of(user) != viewer:
        raise AccessDenied(f"the account {viewer.username!r} changed since you signed in: sign in again")


# --- sessions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveSession:
    """A session :func:`check_session` accepted: who, and whether ``last_seen_at`` is due a write."""

    id: int
    viewer: Viewer
    last_seen_at: dt.datetime
    expires_at: dt.datetime

    def needs_touch(self, now: dt.datetime) -> bool:
        return now - self.last_seen_at >= SESSION_TOUCH


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _secret(session: Session, *, create: bool) -> bytes | None:
    """The signing key: ``OPS_SECRET_KEY``, else a random one kept in ``app_settings`` (made on first use)."""
    env = os.environ.get(SECRET_ENV)
    if env:
        return env.encode()
    value = session.scalar(select(AppSetting.value).where(AppSetting.name == SECRET_SETTING))
    if value is None and create:
        try:
            with session.begin_nested():  # two first sign-ins at once: one insert wins, the other reads it
                session.add(AppSetting(name=SECRET_SETTING, value=secrets.token_urlsafe(48)))
        except IntegrityError:
            pass
        value = session.scalar(select(AppSetting.value).where(AppSetting.name == SECRET_SETTING))
    return value.encode() if value else None


def _sign(key: bytes, token: str) -> str:
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def _unsign(session: Session, signed: str) -> str | None:
    """The token inside ``signed`` when its signature is good; None otherwise."""
    if not isinstance(signed, str) or len(signed) > 200:
        return None
    token, _, sig = signed.rpartition(".")
    key = _secret(session, create=False) if token and sig else None
    if key is None:
        return None
    return token if hmac.compare_digest(_sign(key, token), sig) else None


def start_session(session: Session, *, viewer: Viewer, now: dt.datetime | None = None) -> str:
    """Open a server-side session for ``viewer`` (just signed in); return the signed token for its cookie.

    The token is 256 random bits; the database keeps only its SHA-256, so a copy of the database
    cannot be turned into a working cookie, and the signature lets a forged cookie be refused.
    """
    require_viewer(viewer)
    now = now or _utcnow()
    user = session.scalar(select(User).where(User.username == viewer.username))
    if user is None or not user.active:
        raise AuthError(GENERIC_FAILURE)
    key = _secret(session, create=True)
    if key is None:
        raise AuthError("no key to sign sessions with")
    token = secrets.token_urlsafe(32)
    session.add(AuthSession(token_hash=_token_hash(token), user_id=user.id, created_at=now, last_seen_at=now,
                            expires_at=now + SESSION_MAX))
    session.flush()
    return f"{token}.{_sign(key, token)}"


def check_session(session: Session, *, token: str, now: dt.datetime | None = None) -> ActiveSession:
    """The live session behind a signed ``token``, or :class:`SessionEnded` saying why there is none.

    A read (one indexed lookup joined to the account), cheap enough for every rerun: refused when
    the signature is wrong, the session was revoked, it passed ``expires_at``, it saw no activity
    for ``SESSION_IDLE``, or its account is deactivated.
    """
    now = now or _utcnow()
    raw = _unsign(session, token)
    if raw is None:
        raise SessionEnded("you are not signed in")
    row = session.execute(select(AuthSession, User).join(User, User.id == AuthSession.user_id)
                          .where(AuthSession.token_hash == _token_hash(raw))).first()
    if row is None:
        raise SessionEnded("you are not signed in")
    sess, user = row
    if sess.revoked_at is not None:
        if sess.revoked_why == "signed out":
            raise SessionEnded("you are not signed in")
        raise SessionEnded(f"you were signed out: {sess.revoked_why or 'session ended'}")
    if now >= sess.expires_at:
        raise SessionEnded(f"your session ended after {SESSION_MAX.total_seconds() / 3600:g} hours")
    if now - sess.last_seen_at >= SESSION_IDLE:
        raise SessionEnded(f"you were signed out after {SESSION_IDLE.total_seconds() / 3600:g} hours without activity")
    if not user.active:
        raise SessionEnded("you were signed out: account deactivated")
    return ActiveSession(id=sess.id, viewer=_viewer_of(user), last_seen_at=sess.last_seen_at,
                         expires_at=sess.expires_at)


def touch_session(session: Session, *, session_id: int, now: dt.datetime | None = None) -> None:
    """Record activity on a live session (what keeps it from idling out)."""
    session.execute(update(AuthSession).where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
                    .values(last_seen_at=now or _utcnow()))


def resume(engine: Engine, *, token: str, now: dt.datetime | None = None) -> Viewer:
    """:func:`check_session` in a read transaction, then :func:`touch_session` when due (at most once a minute).

    What the app's gate calls on every rerun: a read, and a short write now and then.
    """
    now = now or _utcnow()
    with read_session(engine) as s:
        live = check_session(s, token=token, now=now)
    if live.needs_touch(now):
        with transaction(engine) as s:
            touch_session(s, session_id=live.id, now=now)
    return live.viewer


def end_session(session: Session, *, token: str, why: str = "signed out", now: dt.datetime | None = None) -> None:
    """Revoke the session behind ``token`` (sign-out); a bad or unknown token does nothing."""
    raw = _unsign(session, token)
    if raw is None:
        return
    session.execute(update(AuthSession).where(AuthSession.token_hash == _token_hash(raw),
                                              AuthSession.revoked_at.is_(None))
                    .values(revoked_at=now or _utcnow(), revoked_why=why[:100]))


def end_sessions(session: Session, *, username: str, why: str, keep_token: str | None = None,
                 now: dt.datetime | None = None) -> int:
    """Revoke every open session of ``username`` (but the one holding ``keep_token``); return how many."""
    user_id = session.scalar(select(User.id).where(User.username == normalise_username(username)))
    if user_id is None:
        return 0
    stmt = update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    raw = _unsign(session, keep_token) if keep_token else None
    if raw is not None:
        stmt = stmt.where(AuthSession.token_hash != _token_hash(raw))
    result = session.execute(stmt.values(revoked_at=now or _utcnow(), revoked_why=why[:100]))
    return int(getattr(result, "rowcount", 0) or 0)


def open_sessions(session: Session, *, username: str, now: dt.datetime | None = None) -> int:
    """How many live (not revoked, not expired, not idle) sessions ``username`` has."""
    now = now or _utcnow()
    return int(session.scalar(
        select(func.count()).select_from(AuthSession).join(User, User.id == AuthSession.user_id)
        .where(User.username == normalise_username(username), AuthSession.revoked_at.is_(None),
               AuthSession.expires_at > now, AuthSession.last_seen_at > now - SESSION_IDLE)) or 0)


# --- first run --------------------------------------------------------------------------------


def is_demo_database(session: Session) -> bool:
    """True when the data came from the demo generator (an ``import_runs`` row of kind ``seed``)."""
    return session.scalar(select(ImportRun.id).where(ImportRun.kind == DEMO_SEED_KIND, ImportRun.status == "ok")
                          .limit(1)) is not None


def needs_first_admin(session: Session) -> bool:
    """True when nobody can sign in yet: no account at all (the first-run form creates the first admin)."""
    return not session.scalar(select(func.count()).select_from(User))


def create_first_admin(session: Session, *, username: str, password: str, repeat: str) -> Viewer:
    """Create the first admin account with a password the person chooses (``user.add`` by ``first-run``).

    Refused once any account exists: only the very first visitor of a new installation gets
    here. The users table is locked for the check on PostgreSQL (SQLite writes are serialised
    already), so two visitors at once cannot both become admin.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE"))
    if not needs_first_admin(session):
        raise AuthError("an account exists already: sign in, or ask an admin for an account")
    if password != repeat:
        raise AuthError("the two passwords differ")
    user = add_user(session, username=username, role="admin", password=password, actor="first-run")
    return _viewer_of(user)


# --- reads ------------------------------------------------------------------------------

USER_COLUMNS = ["username", "email", "display_name", "role", "vendor_kind", "vendor_code", "active",
                "failed_attempts", "locked_until", "created_at"]


@register("users", title="User accounts", page="users")
@data_function
def list_users(session: Session, *, viewer: Viewer, filters: Filters | None = None) -> pd.DataFrame:
    """Every account, for admins (never the password hash).

    Returns
    -------
    DataFrame with columns ``username`` (str), ``email`` (str or None), ``display_name``
    (str or None), ``role`` (str), ``vendor_kind`` (str or None), ``vendor_code``
    (str or None), ``active`` (bool), ``failed_attempts`` (int64), ``locked_until``
    (datetime64, NaT when not locked), ``created_at`` (datetime64).
    """
    require_role(viewer, "admin")
    stmt = select(*(getattr(User, c) for c in USER_COLUMNS)).order_by(User.username)
    df = pd.DataFrame(session.execute(stmt).all(), columns=USER_COLUMNS)
    df["locked_until"] = pd.to_datetime(df["locked_until"])
    df["created_at"] = pd.to_datetime(df["created_at"])
    return df.astype({"active": "bool", "failed_attempts": "int64"})


@data_function
def vendor_profile(session: Session, *, viewer: Viewer) -> dict[str, Any]:
    """Who a vendor viewer is: kind, code, display name and what they run.

    Returns
    -------
    dict with ``kind``, ``code``, ``name`` (str) and ``sites`` (list of warehouse codes a 3PL
    operates; empty for other kinds); an empty dict for staff (non-vendor) viewers.
    """
    require_viewer(viewer)
    if not viewer.is_vendor:
        return {}
    code = viewer.vendor_code
    name: str | None = None
    sites: list[str] = []
    if viewer.vendor_kind == "supplier":
        name = session.scalar(select(Supplier.name).where(Supplier.code == code))
    elif viewer.vendor_kind == "carrier":
        name = session.scalar(select(Carrier.name).where(Carrier.code == code))
    elif viewer.vendor_kind == "warehouse":
        sites = list(session.scalars(select(Warehouse.code).where(Warehouse.operator_code == code)
                                     .order_by(Warehouse.code)))
        name = code
    return {"kind": viewer.vendor_kind, "code": code, "name": name or code, "sites": sites}


# --- demo accounts ----------------------------------------------------------------------


def ensure_demo_accounts(session: Session) -> list[tuple[str, str, str | None, str]]:
    """Create one demo account per role on a demo database that has no accounts yet.

    Accounts: ``admin``, ``manager``, ``planner``, ``supplier`` (first supplier code),
    ``carrier`` (first carrier code) and ``3pl`` (the operator of the first 3PL-run
    warehouse), all with the public password :data:`DEMO_PASSWORD`. Does nothing when any
    account exists, when the data did not come from ``ops.demo.seed`` (:func:`is_demo_database`:
    real suppliers and carriers must never get accounts with a published password), or when
    it holds no suppliers and carriers (idempotent).

    Returns
    -------
    list of ``(username, role, vendor_code or None, password)`` for the accounts created.
    """
    if session.scalar(select(func.count()).select_from(User)) or not is_demo_database(session):
        return []
    supplier = session.scalar(select(Supplier.code).order_by(Supplier.code).limit(1))
    carrier = session.scalar(select(Carrier.code).order_by(Carrier.code).limit(1))
    operator = session.scalar(
        select(Warehouse.operator_code).where(Warehouse.operator_code.is_not(None))
        .order_by(Warehouse.code).limit(1)
    )
    if supplier is None and carrier is None:
        return []
    wanted: list[tuple[str, str, str | None]] = [("admin", "admin", None), ("manager", "manager", None),
                                                  ("planner", "planner", None)]
    wanted += [(u, "vendor", c) for u, c in (("supplier", supplier), ("carrier", carrier), ("3pl", operator)) if c]
    created = []
    for username, role, code in wanted:
        add_user(session, username=username, role=role, vendor_code=code, password=DEMO_PASSWORD,
                 actor="demo", display_name=f"Demo {username}")
        created.append((username, role, code, DEMO_PASSWORD))
    return created


__all__ = [
    "AccessDenied", "AccountLocked", "ActiveSession", "AuthError", "SessionEnded", "add_user", "authenticate",
    "change_password", "check_session", "create_first_admin", "deactivate_user", "end_session", "end_sessions",
    "ensure_demo_accounts", "is_demo_database", "list_users", "needs_first_admin", "open_sessions",
    "require_active", "reset_password", "resume", "set_active", "sign_in", "start_session", "touch_session",
    "unlock_user", "vendor_profile", "viewer_for_email", "viewer_for_username",
]
