"""Starting the forecast job in the background (for the page) and reading whether one is running.

The page never fits a model: it records the request through ``ops.decisions`` (a
``forecast_job`` entity state, so who started a run is in the audit log and vendors are refused),
then :func:`launch` starts ``python -m ops forecast`` as a separate process that writes its
progress to ``forecast_runs``; the page reads that table to show it.

A run counts as **running** while its status is ``running`` and its heartbeat (written with every
stored chunk) is younger than :data:`STALE_SECONDS`; an older one was killed or crashed and is shown
as interrupted, resumable with ``--resume``.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ops.decisions import Change, ChangeSet, define_entity_kind
from ops.models import EntityState, ForecastRun

JOB_KIND = "forecast_job"
JOB_KEY = "catalogue"
STALE_SECONDS = 600
ROOT = Path(__file__).resolve().parents[2]

define_entity_kind(JOB_KIND, label="Forecast run request", page="forecast")


def job_version(session: Session) -> int:
    """The version of the request row (0 before the first request), for the guarded write."""
    v = session.scalar(select(EntityState.version).where(EntityState.entity_kind == JOB_KIND,
                                                         EntityState.entity_key == JOB_KEY))
    return int(v or 0)


def request_change(expected_version: int, *, resume: int | None = None) -> ChangeSet:
    """The change set recording a request to run (or resume) the forecast; apply with ``decisions.apply``."""
    what = f"resume run {resume}" if resume else "run the forecast for the whole catalogue"
    return ChangeSet(changes=(Change(JOB_KIND, JOB_KEY, "state", None, "flagged", int(expected_version)),
                              Change(JOB_KIND, JOB_KEY, "note", None, what, int(expected_version))), why=what)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def is_stale(status: str | None, heartbeat_at: Any, now: dt.datetime | None = None) -> bool:
    """A ``running`` run whose heartbeat is older than :data:`STALE_SECONDS` (killed or crashed)."""
    if status != "running" or heartbeat_at is None:
        return False
    return ((now or _now()) - heartbeat_at).total_seconds() > STALE_SECONDS


def active_run(session: Session) -> int | None:
    """Id of a run in progress (status running, fresh heartbeat), else None."""
    row = session.execute(select(ForecastRun.id, ForecastRun.status, ForecastRun.heartbeat_at)
                          .where(ForecastRun.status == "running").order_by(ForecastRun.id.desc()).limit(1)).first()
    if row is None or is_stale(row[1], row[2]):
        return None
    return int(row[0])


def launch(database_url: str, *, resume: int | None = None, jobs: int | None = None) -> int:
    """Start ``python -m ops forecast`` detached from the caller; returns its pid. Output goes to a
    log file in the temporary folder (the run's status and error are in ``forecast_runs``)."""
    # the URL goes in the environment, not the command line (which other users can list)
    cmd = [sys.executable, "-m", "ops", "forecast", "--quiet"]
    if resume:
        cmd += ["--resume", str(int(resume))]
    if jobs:
        cmd += ["--jobs", str(int(jobs))]
    log = Path(tempfile.gettempdir()) / f"opsdeck_forecast_{os.getpid()}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=out, stdin=subprocess.DEVNULL,  # noqa: S603
                                start_new_session=True, env={**os.environ, "OPS_DATABASE_URL": database_url})
    return int(proc.pid)
