"""The ``gui`` and ``slow`` markers (tests/conftest.py) select what they say."""
from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

from tests.support.markers import SLOW, TESTS

ROOT = TESTS.parent


def test_every_slow_entry_names_a_test_function() -> None:
    for key in sorted(SLOW):
        rel, function = key.split("::")
        tree = ast.parse((TESTS / rel).read_text(encoding="utf-8"))
        names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert function in names, f"tests/support/markers.py SLOW: {key} names no test"


def collect(*args: str) -> list[str]:
    """Node ids pytest selects for ``args`` (collection only, nothing runs)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p",
                          "no:cacheprovider", *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode in (0, 5), out.stdout + out.stderr    # 5: nothing selected
    return [line for line in out.stdout.splitlines() if "::" in line]


@pytest.mark.slow        # three collections, each importing torch and Qt
def test_not_gui_and_not_slow_leave_out_what_they_name() -> None:
    files = ["tests/gui/test_paint.py", "tests/gui/test_app.py", "tests/recording/test_cli.py",
             "tests/test_wheel.py", "tests/test_preflight.py"]
    quick = set(collect("-m", "not gui and not slow", *files))
    gui = set(collect("-m", "gui", *files))
    slow = set(collect("-m", "slow", *files))
    assert not quick & gui and not quick & slow
    # every test under tests/gui/, and only those, is gui
    assert {n.split("::")[0] for n in gui} == {"tests/gui/test_paint.py", "tests/gui/test_app.py"}
    # slow: the list in conftest, the files that mark themselves, the GUI tests with an engine
    assert "tests/recording/test_cli.py::test_ctrl_c_keeps_steps_and_closes_cleanly" in slow
    assert len([n for n in slow if "::test_bad_input_exits_2_with_one_line[" in n]) == 7
    assert "tests/test_wheel.py::test_the_installed_wheel_records_and_reads_a_run" in slow
    assert "tests/gui/test_app.py::test_step_controls_move_exactly" in slow   # the gui fixture
    assert "tests/gui/test_paint.py::test_plotwidget_with_data_paints" not in slow
    # the rest is the quick pass
    assert any(n.startswith("tests/test_preflight.py::") for n in quick)
    assert any(n.startswith("tests/recording/test_cli.py::") for n in quick)
    assert not any(n.startswith(("tests/gui/", "tests/test_wheel.py")) for n in quick)
