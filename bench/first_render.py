"""First-render time of every page for every demo role, measured in a real browser.

``python -m bench.first_render`` seeds a fresh default-size SQLite database (seed 42, as ``make run``
does) in a temporary folder, starts ``streamlit run app.py`` on it, and walks the app in Debian's
Chromium as each demo account: sign in, open every page of the navigation, click every chart and
table choice (the same walk as ``tests/test_browser.py``). It prints a Markdown table and writes it
to ``bench/out/first_render.md``, ready to copy into BENCHMARKS.md.

First render is the time from clicking a page's link (for the page a role lands on: from pressing
"Sign in") until Streamlit has finished the script run and the page is drawn. Each role signs in
afresh, so its cached loaders start cold.

Options: ``--db URL`` measures an existing database instead (it must hold the demo accounts, which
``python -m ops seed`` creates; it is only read); ``--size`` picks the demo size for a fresh one;
``--roles`` limits the walk; ``--out`` names the Markdown file. Exits 1 when a page showed an
exception or error, or hung past the 60 s per-page timeout (the problems are listed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from ops.auth import DEMO_PASSWORD
from tests._sweep_browser import (
    DEMO_SEED,
    ROLES,
    chromium,
    chromium_missing_reason,
    problem_lines,
    render_markdown,
    running_app,
    seed_database,
    server_errors,
    walk_role,
)

OUT = Path(__file__).resolve().parent / "out" / "first_render.md"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.first_render", description=__doc__.splitlines()[0])
    p.add_argument("--db", help="database URL to measure (default: a fresh demo SQLite in a temporary folder)")
    p.add_argument("--size", default="default", choices=("small", "default", "bench"),
                   help="demo size of the fresh database (default: default)")
    p.add_argument("--roles", nargs="+", default=list(ROLES), choices=ROLES, help="demo accounts to walk")
    p.add_argument("--password", default=DEMO_PASSWORD, help="the demo accounts' password")
    p.add_argument("--out", type=Path, default=OUT, help=f"Markdown file to write (default: {OUT})")
    args = p.parse_args(argv)

    reason = chromium_missing_reason()
    if reason:
        print(f"cannot measure: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="opsdeck-first-render-") as tmp:
        folder = Path(tmp)
        url = args.db
        if not url:
            t0 = time.perf_counter()
            print(f"seeding a fresh {args.size} demo database (seed {DEMO_SEED})...", flush=True)
            url = seed_database(folder / "ops.db", size=args.size)
            print(f"  seeded in {time.perf_counter() - t0:.0f} s", flush=True)
        log = folder / "streamlit.log"
        visits = []
        with running_app(url, log) as base, chromium() as browser:
            for role in args.roles:
                t0 = time.perf_counter()
                got = walk_role(browser, base, role, password=args.password)
                visits += got
                clicks = sum(len(v.choices) for v in got)
                print(f"  {role}: {len(got)} pages, {clicks} choices in {time.perf_counter() - t0:.0f} s", flush=True)
        if args.db:
            data, where = "given", "the given database"
        else:
            data, where = args.size, f"a fresh {args.size} demo SQLite (seed {DEMO_SEED})"
        table = render_markdown(visits, title=f"First render per role and page ({data} data, browser)",
                                note=f"Measured by `python -m bench.first_render` on {where}, "
                                     f"{time.strftime('%Y-%m-%d')}.")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
        print()
        print(table)
        print(f"written to {args.out}")
        problems = problem_lines(visits)
        if problems:
            print("\nproblems:", *problems, sep="\n  ")
            errors = server_errors(log)
            if errors:
                print("server log errors:", *errors, sep="\n  ")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
