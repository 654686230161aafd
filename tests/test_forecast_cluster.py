"""The forecast job on a Dask distributed cluster stores the same forecasts as the local run.

The cluster is a real one on loopback: a scheduler and two worker processes (one thread each) started
by ``distributed.LocalCluster``; the job reaches it by address, as it would a remote one. The data is
the default demo (seed 7): a year of weekly history, so the backtest really chooses between models
(the small demo's 12 weeks put every SKU on the baseline and would compare only that).
"""

from __future__ import annotations

import contextlib
import io
import socket
from collections.abc import Iterator

import pandas as pd
import pytest
from sqlalchemy import Engine, select

import ops.forecast.run as run_module
from ops.db import read_session
from ops.forecast.run import ForecastError, run_forecast
from ops.models import ForecastChoice, ForecastRun, ForecastScore, ForecastWeek

pytestmark = pytest.mark.slow

SKUS = [f"SKU-{i:05d}" for i in range(1, 21)]  # smooth, erratic, intermittent and lumpy SKUs (asserted below)
CHUNK = 5  # four chunks: more than the two workers take at once
# bookkeeping that legitimately differs between two runs of the same forecast: the run, the chunk
# number (a resumed run numbers its remaining chunks from 0) and the measured fit time
NOT_COMPARED = {"run_id", "chunk", "fit_seconds"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """The scheduler address of a two-worker cluster on 127.0.0.1 (worker processes, no dashboard).

    Worker processes are spawned, and a spawned process first runs the parent's ``__main__`` file: after
    any AppTest in this pytest process that is ``app.py`` (AppTest leaves it there), which a worker
    cannot run. The cluster starts, and lives, with a plain ``__main__`` instead."""
    import sys
    import types

    from distributed import LocalCluster

    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as lc:
            yield str(lc.scheduler_address)
    finally:
        sys.modules["__main__"] = main


@pytest.fixture
def demo(engine: Engine) -> Engine:
    from ops.demo import seed

    seed(engine, size="default", seed=7)
    return engine


def _stored(engine: Engine, run_id: int) -> dict[str, pd.DataFrame]:
    """The run's stored rows per table, sorted by key, without the columns that are not compared."""
    out = {}
    with read_session(engine) as s:
        for name, table, key in (("choices", ForecastChoice, ["sku"]), ("scores", ForecastScore, ["sku", "model"]),
                                 ("weeks", ForecastWeek, ["sku", "week"])):
            cols = [c for c in table.__table__.columns if c.name not in NOT_COMPARED]
            rows = s.execute(select(*cols).where(table.run_id == run_id)).all()
            df = pd.DataFrame(rows, columns=[c.name for c in cols])
            out[name] = df.sort_values(key).reset_index(drop=True)
    return out


def _assert_same(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    for name in want:
        assert len(got[name]) == len(want[name]) > 0, name
        pd.testing.assert_frame_equal(got[name], want[name], check_exact=False, rtol=1e-9, atol=1e-9,
                                      obj=name)


def _status(engine: Engine, run_id: int) -> tuple[str, int, str | None]:
    with read_session(engine) as s:
        run = s.get(ForecastRun, run_id)
        assert run is not None
        return run.status, run.n_done, run.error


def test_cluster_run_stores_the_local_forecasts(demo: Engine, cluster: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from distributed import Client, get_task_stream

    from ops.__main__ import main

    monkeypatch.setattr(run_module, "CLUSTER_IN_FLIGHT", 1)  # two chunks out at a time: the refill path runs
    local_id = run_forecast(demo, skus=SKUS, jobs=1, chunk_size=CHUNK)
    local = _stored(demo, local_id)

    # what the local run chose is worth comparing: several models, intermittent SKUs among them
    ch = local["choices"]
    assert set(ch["sku"]) == set(SKUS) and ch["fallback_reason"].isna().all()
    assert {"intermittent", "smooth"} <= set(ch["pattern"]) and ch["model"].nunique() >= 3
    assert len(local["weeks"]) == 20 * 13 and (local["weeks"]["yhat"] > 0).any()
    for lo, hi in (("lo95", "lo80"), ("lo80", "yhat"), ("yhat", "hi80"), ("hi80", "hi95")):
        assert (local["weeks"][lo] <= local["weeks"][hi]).all()

    # the command line, with the scheduler named by OPS_DASK_SCHEDULER
    monkeypatch.setenv("OPS_DASK_SCHEDULER", cluster)
    out = io.StringIO()
    url = demo.url.render_as_string(hide_password=False)
    with Client(cluster, set_as_default=False) as watcher, get_task_stream(watcher) as stream, \
            contextlib.redirect_stdout(out):
        code = main(["--db", url, "forecast", "--skus", *SKUS, "--chunk-size", str(CHUNK), "--quiet"])
    assert code == 0
    assert "20 SKUs, 0 on the baseline by fallback" in out.getvalue()
    assert out.getvalue().strip().endswith(f"run on the Dask cluster at {cluster}")
    cluster_id = int(out.getvalue().split(":")[0].removeprefix("forecast run "))
    assert cluster_id != local_id and _status(demo, cluster_id)[:2] == ("succeeded", 20)
    # the chunks really ran on the cluster's workers (4 tasks, each on one of the two workers)
    chunk_tasks = [t for t in stream.data if "-chunk-" in str(t["key"])]
    with Client(cluster, set_as_default=False) as c:
        workers = set(c.scheduler_info()["workers"])
    assert len(workers) == 2
    assert len(chunk_tasks) == 4 and {t["worker"] for t in chunk_tasks} <= workers
    _assert_same(_stored(demo, cluster_id), local)

    # a cluster run killed after its first stored chunk resumes on the cluster to the same forecasts
    class Killed(Exception):
        pass

    def kill(chunk: int) -> None:
        raise Killed("killed after the first stored chunk")

    with pytest.raises(Killed):
        run_forecast(demo, skus=SKUS, chunk_size=CHUNK, cluster=cluster, on_chunk=kill)
    with read_session(demo) as s:
        killed_id = max(s.execute(select(ForecastRun.id)).scalars())
    status, done, error = _status(demo, killed_id)
    assert status == "failed" and done == CHUNK and "killed" in (error or "")
    assert run_forecast(demo, resume=killed_id, cluster=cluster) == killed_id
    assert _status(demo, killed_id)[:2] == ("succeeded", 20)
    _assert_same(_stored(demo, killed_id), local)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_scheduler_fails_the_run_with_a_clear_message(engine: Engine,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_module, "CLUSTER_CONNECT_SECONDS", 1.0)
    address = f"tcp://127.0.0.1:{_closed_port()}"
    with pytest.raises(ForecastError, match=f"cannot reach the Dask scheduler at {address}"):
        run_forecast(engine, cluster=address)
    with pytest.raises(ForecastError, match="not a Dask scheduler address"):
        run_forecast(engine, cluster="127.0.0.1")  # no port
    with read_session(engine) as s:
        runs = s.execute(select(ForecastRun.status, ForecastRun.error).order_by(ForecastRun.id)).all()
    assert [r[0] for r in runs] == ["failed", "failed"]
    assert address in (runs[0][1] or "") and "not a Dask scheduler address" in (runs[1][1] or "")
