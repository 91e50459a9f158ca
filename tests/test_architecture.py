"""Boundaries checked by tests, not goodwill.

engine/ may import torch, numpy and the standard library only; the Qt-free parts of nlviz
may not import Qt, pyqtgraph or nlviz.qt; the headless CLI never loads Qt. The per-package
rules are import-linter contracts in pyproject.toml (``lint-imports``, run by
tests/test_static.py); here each kind of contract is shown to fail on a planted import, and
every nlviz sub-package must be named by one.
"""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.tools import console_script

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
QT = {"PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6", "qtpy", "superqt"}
ENGINE_FORBIDDEN = QT | {"h5py", "nlviz"}
ENGINE_ALLOWED_THIRD_PARTY = {"torch", "numpy"}
LINT_IMPORTS = console_script("lint-imports")


def imported_modules(path: Path) -> set[str]:
    """Dotted name of every absolute import in a file, at any depth (function-level too).
    ``from a.b import c`` gives ``a.b`` and ``a.b.c`` (c may be a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def imported_roots(path: Path) -> set[str]:
    """Top-level package of every import in a file."""
    return {name.split(".")[0] for name in imported_modules(path)}


def py_files(*parts: str) -> list[Path]:
    return sorted((ROOT.joinpath(*parts)).rglob("*.py"))


@pytest.mark.parametrize("path", py_files("engine"), ids=lambda p: p.name)
def test_engine_imports_only_torch_numpy_stdlib(path: Path) -> None:
    roots = imported_roots(path)
    assert not roots & ENGINE_FORBIDDEN, f"{path.name} imports {roots & ENGINE_FORBIDDEN}"
    third_party = {r for r in roots if r not in sys.stdlib_module_names and r != "engine"}
    assert third_party <= ENGINE_ALLOWED_THIRD_PARTY, f"{path.name} imports {third_party}"


def qt_imports(path: Path) -> set[str]:
    """The imports of a file that reach Qt: a Qt package, or nlviz.qt and below."""
    return {name for name in imported_modules(path)
            if name.split(".")[0] in QT or name == "nlviz.qt" or name.startswith("nlviz.qt.")}


# cli.py is the one entry point above both fronts: its lazy import of nlviz.qt.app starts the GUI
ENTRY_POINTS = {"nlviz/cli.py"}
QT_FREE = [p for p in py_files("nlviz") if "qt" not in p.relative_to(ROOT / "nlviz").parts
           and p.relative_to(ROOT).as_posix() not in ENTRY_POINTS]


@pytest.mark.parametrize("path", QT_FREE, ids=lambda p: str(p.relative_to(ROOT)))
def test_nlviz_core_is_qt_free(path: Path) -> None:
    rel = path.relative_to(ROOT)
    assert not qt_imports(path), f"{rel} imports {sorted(qt_imports(path))}"


def test_the_cli_reaches_qt_only_through_nlviz_qt() -> None:
    bad = {m for m in qt_imports(ROOT / "nlviz" / "cli.py") if not m.startswith("nlviz.qt")}
    assert not bad, f"nlviz/cli.py imports {sorted(bad)}"


def test_the_checks_see_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from PySide6 import QtCore\n    import h5py\n"
                   "from nlviz.qt.theme import LEVEL_COLORS\nimport nlviz.errors\n")
    assert imported_roots(bad) == {"PySide6", "h5py", "nlviz"}
    # the blind spot of a roots-only check: nlviz.qt is under the allowed root nlviz
    assert qt_imports(bad) == {"PySide6", "PySide6.QtCore", "nlviz.qt.theme",
                               "nlviz.qt.theme.LEVEL_COLORS"}


# ---------------------------------------------------------------------- import-linter contracts
def contracts() -> list[dict]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(data["tool"]["importlinter"]["contracts"])


def test_every_nlviz_subpackage_is_named_by_a_contract() -> None:
    named: set[str] = set()
    for c in contracts():
        for key in ("source_modules", "allowed_importers"):
            named.update(m.removesuffix(".**") for m in c.get(key, []))
        for container in c.get("containers", []):
            for layer in c.get("layers", []):
                named.update(f"{container}.{tail.strip().strip('()')}"
                             for tail in layer.replace(":", "|").split("|"))
    packages = {f"nlviz.{p.parent.name}" for p in (ROOT / "nlviz").glob("*/__init__.py")}
    assert packages - named == set(), "add a contract for these packages in pyproject.toml"


def lint_imports(cwd: Path, *contract_ids: str) -> subprocess.CompletedProcess[str]:
    args = [LINT_IMPORTS, "--no-cache", "--no-logo"]
    for cid in contract_ids:
        args += ["--contract", cid]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(cwd)     # the packages under cwd, not an installed copy
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """engine/, nlviz/ and pyproject.toml copied, to plant imports in."""
    junk = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("engine", "nlviz"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=junk)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


# (contract id, file in the copy, a line appended to it (the file is created if missing)).
# host/ and series/ are planted as new packages: their contracts, written before the packages
# exist, apply once they do.
PLANTS = [
    ("engine-alone", "engine/planted.py", "import h5py"),
    ("qt-only-in-nlviz-qt", "nlviz/commands/planted.py", "from PySide6 import QtCore"),
    ("replay-commands-qt-free", "nlviz/replay/planted.py",
     "def f():\n    from nlviz.qt.theme import LEVEL_COLORS"),
    ("recording-hdf5-only", "nlviz/recording/planted.py", "import nlviz.config_loader"),
    ("nlviz-layers", "nlviz/errors.py", "import nlviz.qt.theme"),     # the bottom layer
    ("panels-passive", "nlviz/qt/panels/planted.py", "import nlviz.qt.app"),
    ("host-qt-free", "nlviz/host/planted.py", "import pyqtgraph"),
    ("training-qt-free", "nlviz/training/planted.py", "import PySide6"),
    ("series-pure", "nlviz/series/planted.py", "import torch"),
    ("analysis-pure", "nlviz/analysis/planted.py", "def f():\n    import h5py"),
]


@pytest.mark.parametrize("contract,path,line", PLANTS, ids=[p[0] for p in PLANTS])
def test_a_planted_import_breaks_its_contract(tree_copy: Path, contract: str, path: str,
                                              line: str) -> None:
    assert contract in {c["id"] for c in contracts()}
    target = tree_copy / path
    target.parent.mkdir(exist_ok=True)
    (target.parent / "__init__.py").touch()
    before = target.read_text(encoding="utf-8") if target.exists() else ""
    target.write_text(f"{before}\n{line}\n", encoding="utf-8")
    out = lint_imports(tree_copy, contract)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Contracts: 0 kept, 1 broken." in out.stdout, out.stdout
    module = path.removesuffix(".py").replace("/", ".")
    assert f"{module} -> " in out.stdout, out.stdout      # the planted import is the one named


def test_a_planted_cycle_breaks_the_acyclic_contract(tree_copy: Path) -> None:
    pkg = tree_copy / "nlviz" / "series"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").touch()
    (pkg / "planted_a.py").write_text("import nlviz.series.planted_b\n", encoding="utf-8")
    (pkg / "planted_b.py").write_text("def f():\n    import nlviz.series.planted_a\n",
                                      encoding="utf-8")
    out = lint_imports(tree_copy, "nlviz-acyclic")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "No cycles are allowed in nlviz.series." in out.stdout, out.stdout


@pytest.mark.parametrize("contract", [p[0] for p in PLANTS if p[0] != "recording-hdf5-only"
                                      and p[0] != "nlviz-layers"])
def test_the_unplanted_copy_keeps_the_contract(tree_copy: Path, contract: str) -> None:
    """The control for the test above: without the planted file the same contract is kept."""
    out = lint_imports(tree_copy, contract)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Contracts: 1 kept, 0 broken." in out.stdout, out.stdout


# ------------------------------------------------------------------------ what really loads
@pytest.mark.slow        # a child process that imports torch
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


@pytest.mark.slow        # a child process that imports torch
def test_importing_engine_session_loads_no_app_modules() -> None:
    code = ("import sys, engine.session\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'nlviz', 'h5py', 'PySide6', 'pyqtgraph'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
