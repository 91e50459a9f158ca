"""Boundaries checked by tests, not goodwill.

engine/ may import torch, numpy and the standard library only; the Qt-free parts of
nlviz may not import Qt or pyqtgraph; the headless CLI never loads Qt.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
QT = {"PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6", "qtpy", "superqt"}
ENGINE_FORBIDDEN = QT | {"h5py", "nlviz"}
ENGINE_ALLOWED_THIRD_PARTY = {"torch", "numpy"}


def imported_roots(path: Path) -> set[str]:
    """Top-level package of every import in a file, at any depth (function-level too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def py_files(*parts: str) -> list[Path]:
    return sorted((ROOT.joinpath(*parts)).rglob("*.py"))


@pytest.mark.parametrize("path", py_files("engine"), ids=lambda p: p.name)
def test_engine_imports_only_torch_numpy_stdlib(path: Path) -> None:
    roots = imported_roots(path)
    assert not roots & ENGINE_FORBIDDEN, f"{path.name} imports {roots & ENGINE_FORBIDDEN}"
    third_party = {r for r in roots if r not in sys.stdlib_module_names and r != "engine"}
    assert third_party <= ENGINE_ALLOWED_THIRD_PARTY, f"{path.name} imports {third_party}"


QT_FREE = [p for p in py_files("nlviz") if "qt" not in p.relative_to(ROOT / "nlviz").parts]


@pytest.mark.parametrize("path", QT_FREE, ids=lambda p: str(p.relative_to(ROOT)))
def test_nlviz_core_is_qt_free(path: Path) -> None:
    rel = path.relative_to(ROOT)
    roots = imported_roots(path)
    if rel.as_posix() == "nlviz/cli.py":  # its one lazy import goes through nlviz.qt.app
        assert not roots & QT
        return
    assert not roots & QT, f"{rel} imports {roots & QT}"


def test_the_checks_see_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from PySide6 import QtCore\n    import h5py\n")
    assert imported_roots(bad) == {"PySide6", "h5py"}


def test_headless_record_never_loads_qt(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from nlviz.cli import main\n"
        f"rc = main(['record', '--out', {str(tmp_path / 'r.h5')!r}, '--steps', '20', "
        "'--preset', 'tiny', '--no-progress'])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'PySide6', 'pyqtgraph', 'shiboken6'})\n"
        "print('LOADED', bad)\n"
        "sys.exit(rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "LOADED []" in out.stdout


def test_importing_engine_session_loads_no_app_modules() -> None:
    code = ("import sys, engine.session\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'nlviz', 'h5py', 'PySide6', 'pyqtgraph'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
