"""The static checks, run with the suite: ruff, mypy and the import contracts.

Settings live in pyproject.toml ([tool.ruff], [tool.mypy], [tool.importlinter]); the tools are
pinned in the ``test`` extra, which scripts/setup.sh installs. Each test fails with the tool's
own report.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.tools import console_script

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``args`` in the checkout, with the checkout first on the import path (an installed nlviz
    elsewhere must not be what is checked)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def report(out: subprocess.CompletedProcess[str]) -> str:
    return f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"


def test_ruff() -> None:
    out = run(sys.executable, "-m", "ruff", "check", "--no-cache", ".")
    assert out.returncode == 0, report(out)
    assert "All checks passed!" in out.stdout, report(out)


@pytest.mark.slow
def test_mypy() -> None:
    out = run(sys.executable, "-m", "mypy")       # files and flags: [tool.mypy]
    assert out.returncode == 0, report(out)
    assert out.stdout.startswith("Success: no issues found"), report(out)


def test_import_contracts() -> None:
    out = run(console_script("lint-imports"), "--no-logo")
    assert out.returncode == 0, report(out)
    assert " 0 broken." in out.stdout, report(out)
