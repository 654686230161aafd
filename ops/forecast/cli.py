"""``python -m ops forecast [--skus ...] [--jobs N] [--cluster tcp://host:port] [--resume RUN_ID]``: run
(or resume) a forecast, its chunks in local processes or on a Dask distributed cluster (``--cluster``,
default ``OPS_DASK_SCHEDULER``)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from typing import Any


def add_commands(sub: Any) -> None:
    p = sub.add_parser("forecast", help="backtest, choose a model per SKU and forecast (stored as a forecast run)")
    p.add_argument("--skus", nargs="+", metavar="SKU", help="only these SKUs (default: the whole catalogue)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: the number of cores)")
    p.add_argument("--cluster", metavar="ADDRESS", default=None,
                   help="run the chunks on the Dask scheduler at this address, e.g. tcp://10.0.0.5:8786 "
                        "(default: OPS_DASK_SCHEDULER if set; --jobs is then unused; only this process "
                        "uses the database)")
    p.add_argument("--resume", type=int, metavar="RUN_ID", help="finish an interrupted run without redoing stored SKUs")
    p.add_argument("--horizon", type=int, default=13, help="weeks to forecast (default 13)")
    p.add_argument("--origins", type=int, default=6, help="backtest origins (default 6)")
    p.add_argument("--step", type=int, default=2, help="weeks between backtest origins (default 2)")
    p.add_argument("--chunk-size", type=int, default=250, help="SKUs stored per transaction (default 250)")
    p.add_argument("--prophet-max", type=int, default=30,
                   help="try Prophet on at most this many eligible SKUs, highest volume first (default 30; "
                        "0: never; see BENCHMARKS.md)")
    p.add_argument("--as-of", help="cut the history at this day (YYYY-MM-DD), e.g. to evaluate on held-out weeks")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_forecast)


def _cli_error() -> type[Exception]:
    """The one class ``python -m ops`` turns into a one-line message (``ops.cli_error``)."""
    from ops.cli_error import CliError

    return CliError


def cmd_forecast(args: argparse.Namespace) -> int:
    CliError = _cli_error()  # noqa: N806 - the class main() catches
    from ops.db import make_engine
    from ops.forecast.run import ForecastError, run_forecast

    jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
    if jobs < 1:
        raise CliError("--jobs must be at least 1")
    as_of = None
    if args.as_of:
        try:
            as_of = dt.date.fromisoformat(args.as_of)
        except ValueError:
            raise CliError(f"--as-of {args.as_of!r} is not a date (use YYYY-MM-DD)") from None
    cluster = args.cluster if args.cluster is not None else os.environ.get("OPS_DASK_SCHEDULER", "")
    cluster = cluster.strip() or None
    engine = make_engine(args.db) if args.db else make_engine()
    from sqlalchemy import inspect

    if "forecast_runs" not in inspect(engine).get_table_names():
        raise CliError("the database has no forecast tables: run `python -m ops init` (it migrates) first")
    try:
        rid = run_forecast(engine, skus=args.skus, jobs=jobs, resume=args.resume, horizon=args.horizon,
                           origins=args.origins, step=args.step, chunk_size=args.chunk_size,
                           prophet_max=args.prophet_max, as_of=as_of, progress=not args.quiet, cluster=cluster)
    except ForecastError as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        raise CliError("interrupted; the stored SKUs are kept: resume with --resume (see forecast_runs)") from None
    except Exception as exc:  # noqa: BLE001 - one clear line; the run row keeps the error
        raise CliError(f"failed: {type(exc).__name__}: {exc}") from None
    from ops.db import read_session
    from ops.models import ForecastRun

    with read_session(engine) as s:
        run = s.get(ForecastRun, rid)
        assert run is not None
        print(f"forecast run {rid}: {run.n_done} SKUs, {run.n_fallback} on the baseline by fallback, "
              f"history to {run.as_of}" + (f", run on the Dask cluster at {cluster}" if cluster else ""),
              file=sys.stdout)
    return 0
