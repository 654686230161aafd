"""The layer rules, enforced by ruff's banned-api rule (ops/ruff.toml, app_pages/ruff.toml) and run here
so `make test` fails on a violation, not only `make lint`.

- ``ops`` never imports streamlit (it is a plain library; UI belongs in ``ui/``).
- ``app_pages`` never imports sqlalchemy or ``ops.db`` (pages read through ``ui/`` loaders).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

RUFF = Path(sys.executable).with_name("ruff")


def _ruff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    if not RUFF.exists():
        pytest.fail(f"ruff is not installed next to {sys.executable}: pip install -r requirements.txt")
    return subprocess.run([str(RUFF), "check", "--select", "TID251", "--output-format", "concise", *args],
                          cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=120, check=False)


def test_the_tree_keeps_the_layer_rules() -> None:
    done = _ruff(".")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("path", "source", "banned"), [
    ("app_pages/probe.py", "import sqlalchemy\n", "sqlalchemy"),
    ("app_pages/probe.py", "from sqlalchemy import select\n", "sqlalchemy"),
    ("app_pages/probe.py", "from ops.db import read_session\n", "ops.db"),
    ("ops/probe.py", "import streamlit as st\n", "streamlit"),
    ("ops/inventory/probe.py", "from streamlit import cache_data\n", "streamlit"),
])
def test_a_violation_is_caught(path: str, source: str, banned: str) -> None:
    done = _ruff("--stdin-filename", path, "-", stdin=source)
    assert done.returncode == 1 and "TID251" in done.stdout and f"`{banned}` is banned" in done.stdout, done.stdout


@pytest.mark.parametrize(("path", "source"), [
    ("ui/probe.py", "import streamlit as st\nfrom sqlalchemy import Engine\n"),
    ("ops/probe.py", "from sqlalchemy import select\n"),
    ("app_pages/probe.py", "import streamlit as st\nfrom ui.cache import get_engine\n"),
])
def test_allowed_imports_pass(path: str, source: str) -> None:
    assert _ruff("--stdin-filename", path, "-", stdin=source).returncode == 0
