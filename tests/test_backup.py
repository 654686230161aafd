"""Backup and restore (ops.backup): a backup taken while 8 threads write decisions restores to a
database whose state equals its audit rows; whole-table round trips; refusals.

The check of a restored database is computed from its own rows: the counter threshold's value
and version must equal the number of applied ``threshold.set`` rows in the audit log, and the
last audit row's ``after`` must hold that value (a torn copy would have a state without its audit
row or the reverse).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from ops import backup as bk
from ops import decisions as d
from ops.access import Viewer
from ops.db import make_engine, run_in_transaction, transaction
from ops.models import Base, Decision, Threshold

NAME = "test_backup_counter"
THREADS = 8


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(d, "THRESHOLDS", dict(d.THRESHOLDS))
    d.define_threshold(NAME, label="Counter", unit="decisions", default=0, page="audit")
    return NAME


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _writer(engine: Engine, viewer: Viewer, stop: threading.Event, errors: list[BaseException]) -> None:
    while not stop.is_set():
        def decide(s):  # type: ignore[no-untyped-def]
            seen = d.threshold(s, viewer=viewer, name=NAME, for_update=True)
            return d.set_threshold(s, viewer=viewer, name=NAME, value=seen.value + 1,
                                   expected_version=seen.version, why="increment")
        try:
            run_in_transaction(engine, decide)
        except d.StaleEdit:
            time.sleep(0.001)
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)
            return


def _state_and_audit(engine: Engine) -> tuple[float, int, int, float | None]:
    """(threshold value, version, applied threshold.set audit rows, value in the last audit row)."""
    with transaction(engine) as s:
        value, version = s.execute(select(Threshold.value, Threshold.version).where(Threshold.name == NAME)).one()
        applied = s.scalar(select(func.count()).select_from(Decision).where(
            Decision.outcome == "applied", Decision.action == "threshold.set"))
        last = s.scalar(select(Decision.after).where(Decision.outcome == "applied", Decision.action == "threshold.set")
                        .order_by(Decision.id.desc()).limit(1))
    after = json.loads(last) if last else None
    last_value = float(after["value"]) if isinstance(after, dict) and "value" in after else None
    return float(value), int(version), int(applied or 0), last_value


def _restore_target(engine: Engine, tmp_path: Path, tag: str) -> tuple[str, object]:
    """A fresh empty database of the engine's kind to restore into: (url, context to close)."""
    if engine.dialect.name == "sqlite":
        return f"sqlite:///{tmp_path / f'restored_{tag}.db'}", None
    from tests.conftest import private_pg_database

    ctx = private_pg_database()
    return ctx.__enter__(), ctx


def test_backup_while_eight_threads_write_restores_state_equal_to_audit(engine: Engine, counter: str,
                                                                       tmp_path: Path) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_writer, args=(engine, Viewer(f"writer{i}", "manager"), stop, errors))
               for i in range(THREADS)]
    for t in threads:
        t.start()
    backups: list[Path] = []
    try:
        deadline = time.monotonic() + 60
        while _state_and_audit_safe(engine) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        for i in range(3):  # three backups, each while the writers run
            backups.append(bk.backup(tmp_path / f"b{i}.bak", _url(engine)).path)
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    final_value = _state_and_audit(engine)[0]
    for i, path in enumerate(backups):
        url, ctx = _restore_target(engine, tmp_path, str(i))
        try:
            bk.restore(path, url)
            restored = make_engine(url)
            try:
                value, version, applied, last_value = _state_and_audit(restored)
            finally:
                restored.dispose()
        finally:
            if ctx is not None:
                ctx.__exit__(None, None, None)  # type: ignore[attr-defined]
        assert value >= 20  # taken while the counter was being written
        assert value == applied == version  # every decision with its audit row, nothing torn
        assert last_value == value
        assert value <= final_value
    # The writers went on after the backups: the copies were taken under live writes.
    assert final_value > _restored_first(backups, engine, tmp_path)


def _state_and_audit_safe(engine: Engine) -> float:
    try:
        return _state_and_audit(engine)[0]
    except Exception:  # noqa: BLE001 - the threshold row may not exist yet
        return 0.0


def _restored_first(backups: list[Path], engine: Engine, tmp_path: Path) -> float:
    url, ctx = _restore_target(engine, tmp_path, "first")
    try:
        bk.restore(backups[0], url)
        eng = make_engine(url)
        try:
            return _state_and_audit(eng)[0]
        finally:
            eng.dispose()
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)  # type: ignore[attr-defined]


def _tables(engine: Engine) -> dict[str, pd.DataFrame]:
    out = {}
    with engine.connect() as c:
        for t in ("decisions", "thresholds", "entity_states"):
            df = pd.read_sql(f"SELECT * FROM {t}", c)  # noqa: S608 - constant names
            out[t] = df.sort_values(list(df.columns)[:1]).reset_index(drop=True)
    return out


def test_round_trip_keeps_every_row(engine: Engine, counter: str, tmp_path: Path) -> None:
    v = Viewer("boss", "manager")
    for i in range(5):
        run_in_transaction(engine, lambda s, i=i: d.set_threshold(s, viewer=v, name=NAME, value=i + 1,
                                                                  why=f"step {i}"))
    before = _tables(engine)
    assert len(before["decisions"]) == 5
    path = bk.backup(tmp_path / "full.bak", _url(engine)).path
    url, ctx = _restore_target(engine, tmp_path, "rt")
    try:
        bk.restore(path, url)
        restored = make_engine(url)
        try:
            after = _tables(restored)
        finally:
            restored.dispose()
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)  # type: ignore[attr-defined]
    for name, df in before.items():
        pd.testing.assert_frame_equal(after[name], df, check_dtype=False)


def test_restore_refuses_to_replace_a_database_in_use(sqlite_engine: Engine, counter: str, tmp_path: Path) -> None:
    v = Viewer("boss", "manager")
    run_in_transaction(sqlite_engine, lambda s: d.set_threshold(s, viewer=v, name=NAME, value=3, why="x"))
    path = bk.backup(tmp_path / "a.bak", _url(sqlite_engine)).path
    other = tmp_path / "other.db"
    eng = make_engine(f"sqlite:///{other}")
    Base.metadata.create_all(eng)
    run_in_transaction(eng, lambda s: d.set_threshold(s, viewer=v, name=NAME, value=99, why="y"))
    eng.dispose()
    with pytest.raises(bk.BackupError, match="already holds decisions or orders: pass --force"):
        bk.restore(path, f"sqlite:///{other}")
    bk.restore(path, f"sqlite:///{other}", force=True)
    eng = make_engine(f"sqlite:///{other}")
    try:
        assert _state_and_audit(eng)[:3] == (3.0, 1, 1)
    finally:
        eng.dispose()


def test_bad_inputs_say_what_and_where(tmp_path: Path) -> None:
    with pytest.raises(bk.BackupError, match="does not exist"):
        bk.restore(tmp_path / "missing.bak", f"sqlite:///{tmp_path / 'x.db'}")
    junk = tmp_path / "junk.bak"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(bk.BackupError, match="not a SQLite backup"):
        bk.restore(junk, f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(bk.BackupError, match="does not exist"):
        bk.backup(tmp_path / "out.bak", f"sqlite:///{tmp_path / 'nothing.db'}")
    assert not (tmp_path / "out.bak").exists()


def test_cli_backup_and_restore(sqlite_engine: Engine, counter: str, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    v = Viewer("boss", "manager")
    run_in_transaction(sqlite_engine, lambda s: d.set_threshold(s, viewer=v, name=NAME, value=7, why="x"))
    out = tmp_path / "cli.bak"
    assert bk.main(["backup", str(out), "--db", _url(sqlite_engine)]) == 0
    target = f"sqlite:///{tmp_path / 'cli_restored.db'}"
    assert bk.main(["restore", str(out), "--db", target]) == 0
    assert bk.main(["restore", str(out), "--db", target]) == 2  # now in use: refused without --force
    assert "pass --force" in capsys.readouterr().err
    eng = make_engine(target)
    try:
        assert _state_and_audit(eng)[:3] == (7.0, 1, 1)
    finally:
        eng.dispose()
