"""``python -m ops returns ...``: the returns commands (theme mining runs here, never on page load)."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_themes(args: argparse.Namespace) -> int:
    from ops.cli_error import CliError
    from ops.db import make_engine, transaction
    from ops.returns.themes import create_run, run_job

    engine = make_engine(args.db) if getattr(args, "db", None) else make_engine()
    try:
        run_id = args.run_id
        if run_id is None:
            with transaction(engine) as s:
                run_id = create_run(s, started_by="cli", seed=args.seed)
        run_job(engine, int(run_id), n_themes=args.themes, seed=args.seed)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    with transaction(engine) as s:
        from ops.access import SYSTEM
        from ops.returns.themes import theme_table

        table = theme_table(s, viewer=SYSTEM, run_id=int(run_id))
    print(f"run {run_id}: {len(table)} themes")
    for r in table.itertuples(index=False):
        print(f"  {r.theme_no}: {r.n_docs:>7,}  {r.top_terms}")
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser("returns", help="returns root-cause jobs")
    rs = p.add_subparsers(dest="returns_command", required=True)
    t = rs.add_parser("themes", help="mine return-comment themes (TF-IDF + NMF) into the theme tables")
    t.add_argument("--themes", type=int, default=8, help="number of themes (default 8)")
    t.add_argument("--seed", type=int, default=42, help="random seed (same seed, same themes)")
    t.add_argument("--run-id", type=int, default=None, help="fill this queued run (the page's button)")
    t.set_defaults(func=cmd_themes)
