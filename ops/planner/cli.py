"""``python -m ops plan [--service-level 0.95] [--fill-rate] [--review-days 7] [--budget N] [--sku SKU] [--csv PATH]``:
the suggested orders as an operator sees them (summary, draft POs), one SKU explained, the lines as CSV."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_commands(sub: Any) -> None:
    p = sub.add_parser("plan", help="suggested orders for the whole catalogue (read only): summary, drafts, CSV")
    p.add_argument("--service-level", type=float, default=0.95, help="target as a fraction, below 1 (default 0.95)")
    p.add_argument("--fill-rate", action="store_true", help="the target is a fill rate (default: cycle service level)")
    p.add_argument("--review-days", type=float, default=7.0, help="review period in days (default 7)")
    p.add_argument("--budget", type=float, default=None, help="cap the order value (lowest priority cut first)")
    p.add_argument("--sku", help="explain this SKU's suggestion step by step")
    p.add_argument("--csv", type=Path, help="write the suggested lines to this CSV file (people's format)")
    p.set_defaults(func=cmd_plan)


def _cli_error() -> type[Exception]:
    """The one class ``python -m ops`` turns into a one-line message (``ops.cli_error``)."""
    from ops.cli_error import CliError

    return CliError


def cmd_plan(args: argparse.Namespace) -> int:
    from ops import fmt
    from ops.access import SYSTEM
    from ops.db import make_engine, read_session
    from ops.exports import to_bytes
    from ops.planner import explain, planner_page
    from ops.planner.math import InputError
    from ops.planner.suggest import Policy

    try:
        policy = Policy(service_level=args.service_level, target="fill_rate" if args.fill_rate else "csl",
                        review_days=args.review_days, budget=args.budget)
        with read_session(make_engine(args.db) if getattr(args, "db", None) else make_engine()) as s:
            page = planner_page(s, viewer=SYSTEM, policy_json=policy.to_json())
    except InputError as exc:
        raise _cli_error()(str(exc)) from None
    if page.empty_reason:
        print(page.empty_reason)
        return 0
    summary = page.summary
    print(f"As of {page.as_of}: {fmt.count(summary['lines'])} lines to order, "
          f"{fmt.count(summary['critical'])} critical, "
          f"order value {fmt.money(summary['order_value'])}, expected fill rate {fmt.pct(summary['fill_rate'])}")
    for note in page.notes + ((page.budget_message,) if page.budget_message else ()):
        print(f"  note: {note}")
    for r in page.drafts.head(10).itertuples(index=False):
        print(f"  {r.supplier} -> {r.warehouse}: {r.lines} lines, {fmt.money(r.order_value)} ({r.urgency})")
    if args.sku:
        for para in explain(page.plan, args.sku):
            print(para.replace("**", ""))
    if args.csv:
        args.csv.write_bytes(to_bytes(page.lines, "csv"))
        print(f"wrote {len(page.lines):,} lines to {args.csv}")
    return 0
