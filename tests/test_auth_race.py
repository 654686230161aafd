"""The lockout holds under concurrent guessing (issue 10 finding 2).

Ten threads x five wrong passwords against one account: before the fix PostgreSQL checked 39-46
of the 50 passwords (the failure count was read and written without a lock); at most
MAX_FAILED_ATTEMPTS may be checked, on both databases, and the account must end locked.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, select

from ops import auth
from ops.db import transaction
from ops.models import Decision, User

PASSWORD = "correct horse battery"
THREADS = 10
GUESSES = 5


def test_concurrent_wrong_passwords_check_at_most_the_limit(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with transaction(engine) as s:
        auth.add_user(s, username="manager", role="manager", password=PASSWORD, actor="cli")
        stored = s.scalar(select(User.password_hash).where(User.username == "manager"))
    checked = 0
    lock = threading.Lock()
    real_verify = auth.verify_password

    def counting_verify(password_hash: str | None, password: str) -> bool:
        nonlocal checked
        if password_hash == stored:  # the account's own hash, not the dummy that unknown names burn
            with lock:
                checked += 1
        return real_verify(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", counting_verify)
    start = threading.Barrier(THREADS)

    def guess(i: int) -> list[str]:
        start.wait()
        answers = []
        for j in range(GUESSES):
            try:
                auth.sign_in(engine, username="manager", password=f"wrong-{i}-{j}")
            except auth.AuthError as exc:
                answers.append(str(exc))
        return answers

    with ThreadPoolExecutor(THREADS) as pool:
        answers = [a for batch in pool.map(guess, range(THREADS)) for a in batch]
    assert checked == auth.MAX_FAILED_ATTEMPTS
    assert answers == [auth.GENERIC_FAILURE] * THREADS * GUESSES
    with transaction(engine) as s:
        user = s.scalars(select(User).where(User.username == "manager")).one()
        wrong = s.scalars(select(Decision).where(Decision.action == "login.failed",
                                                 Decision.why == "wrong password")).all()
    assert len(wrong) == auth.MAX_FAILED_ATTEMPTS
    assert user.failed_attempts == auth.MAX_FAILED_ATTEMPTS and user.locked_until is not None
    with pytest.raises(auth.AuthError):  # locked: even the right password is refused now
        auth.sign_in(engine, username="manager", password=PASSWORD)
