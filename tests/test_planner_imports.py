"""A fresh ``python -m ops`` process stays light: importing ops, its command line and every
registered domain loads none of the heavy numerical libraries (SciPy alone took the best part of
a second of every command's start); they load when a computation first needs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("scipy", "prophet", "statsforecast", "sklearn", "dask", "distributed", "lightgbm", "statsmodels")

PROBE = """
import json, sys
import ops, ops.__main__
ops.__main__.build_parser()  # every domain's command line too
from ops.domain import load_domains
names = list(load_domains())
print(json.dumps({"domains": names, "loaded": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def _probe(code: str) -> dict[str, list[str]]:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         timeout=120)
    result: dict[str, list[str]] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_importing_ops_and_its_domains_loads_no_heavy_library() -> None:
    got = _probe(PROBE)
    assert {"planner", "forecast", "inventory"} <= set(got["domains"])
    assert sorted(set(HEAVY) & set(got["loaded"])) == []


def test_planner_math_loads_scipy_when_first_used() -> None:
    # the lazy import still gives SciPy's values: Phi^-1(0.95) and a Poisson quantile by hand
    code = PROBE.replace("print(", "from ops.planner import math as rm\n"
                         "z = float(rm.z_for_cycle_service_level(0.95))\n"
                         "s, _ = rm.newsvendor_poisson(1.0, 3.0, 4.0)\n"
                         "names += [repr(z), repr(s)]\nprint(")
    got = _probe(code)
    z, s = float(got["domains"][-2]), int(got["domains"][-1])
    assert "scipy" in got["loaded"]
    assert abs(z - 1.6448536269514722) < 1e-12
    # smallest S with P(D <= S) >= 3 / 4 for Poisson(4): cumulative 0.629 at 4, 0.785 at 5
    cdf = np.cumsum([np.exp(-4.0) * 4.0 ** k / float(np.prod(np.arange(1, k + 1))) for k in range(10)])
    assert s == int(np.argmax(cdf >= 0.75)) == 5
