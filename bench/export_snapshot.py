"""Write every registered export, for every role, to a folder; or compare two such folders.

Used to show that a refactor changes no number: snapshot before, snapshot after, compare.

    python -m bench.export_snapshot write OUT_DIR [--db URL]   # default: a fresh default-seed SQLite
    python -m bench.export_snapshot compare BEFORE_DIR AFTER_DIR [--only PREFIX ...]

Each export is written as CSV (people's labels and rounding) and JSON (raw names) for admin,
manager, planner, one supplier, carrier and 3PL, with the default filters and with a narrowed
filter (a 30-day range, one warehouse, one channel).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import sys
import tempfile
from pathlib import Path

from sqlalchemy import select


def _viewers(session: object) -> list[object]:
    from ops.access import Viewer
    from ops.models import Carrier, Supplier, Warehouse

    s = session
    sup = s.scalar(select(Supplier.code).order_by(Supplier.code).limit(1))  # type: ignore[attr-defined]
    car = s.scalar(select(Carrier.code).order_by(Carrier.code).limit(1))  # type: ignore[attr-defined]
    op = s.scalar(select(Warehouse.operator_code).where(Warehouse.operator_code.is_not(None))  # type: ignore[attr-defined]
                  .order_by(Warehouse.code).limit(1))
    return [Viewer("snap-admin", "admin"), Viewer("snap-manager", "manager"), Viewer("snap-planner", "planner"),
            Viewer("snap-supplier", "vendor", "supplier", sup), Viewer("snap-carrier", "vendor", "carrier", car),
            Viewer("snap-3pl", "vendor", "warehouse", op)]


def write(out: Path, url: str | None) -> None:
    from ops.access import AccessDenied
    from ops.db import make_engine, read_session
    from ops.exports import load_registry, run, to_bytes
    from ops.filters import Filters
    from ops.models import Base, Channel, Warehouse
    from ops.reference import data_span

    if url is None:
        from ops.demo import seed

        url = f"sqlite:///{tempfile.mkdtemp()}/snap.db"
        eng = make_engine(url)
        Base.metadata.create_all(eng)
        seed(eng, size="default", seed=42)
    else:
        eng = make_engine(url)
    out.mkdir(parents=True, exist_ok=True)
    with read_session(eng) as s:
        viewers = _viewers(s)
        span = data_span(s, viewer=viewers[0])
        wh = s.scalar(select(Warehouse.code).order_by(Warehouse.code).limit(1))
        ch = s.scalar(select(Channel.code).order_by(Channel.code).limit(1))
        end = span[1] if span else dt.date.today()
        narrow = Filters(date_from=end - dt.timedelta(days=29), date_to=end, warehouses=(wh,), channels=(ch,))
        for name in sorted(load_registry()):
            for v in viewers:
                for tag, flt in (("all", Filters()), ("narrow", narrow)):
                    base = out / f"{name}__{v.username}__{tag}"  # type: ignore[attr-defined]
                    try:
                        df = run(s, name, viewer=v, filters=flt)  # type: ignore[arg-type]
                    except AccessDenied:
                        continue
                    base.with_suffix(".csv").write_bytes(to_bytes(df, "csv"))
                    base.with_suffix(".json").write_bytes(to_bytes(df, "json"))
    print(f"wrote {len(list(out.iterdir()))} files to {out}")


def compare(before: Path, after: Path, only: list[str]) -> int:
    def files(d: Path) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in d.iterdir()
                if not only or any(p.name.startswith(o) for o in only)}

    a, b = files(before), files(after)
    missing, added = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    print(f"{len(set(a) & set(b))} files in both; {len(changed)} differ; {len(missing)} missing; {len(added)} new")
    for k in changed[:20]:
        print("  differs:", k)
    for k in missing[:20]:
        print("  missing:", k)
    return 1 if (changed or missing) else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("out", type=Path)
    w.add_argument("--db")
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    c.add_argument("--only", nargs="*", default=[])
    args = p.parse_args(argv)
    if args.cmd == "write":
        write(args.out, args.db)
        return 0
    return compare(args.before, args.after, args.only)


if __name__ == "__main__":
    sys.exit(main())
