"""The package installs: a wheel built from pyproject.toml carries the presets and the shipped
text, and, installed into a fresh virtual environment, records and reads a run from another
directory with no trace of this checkout on the import path.

Offline: the wheel is built without build isolation, the venv sees the host's site-packages
(torch, numpy, h5py come from there) and the wheel is installed with --no-deps --no-index.
The host may also hold an editable nlviz (scripts/setup.sh installs one); the test checks that
the venv imports nlviz and engine from the wheel, not from there.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PRESETS = sorted(p.name for p in (ROOT / "nlviz" / "presets").glob("*.toml"))
TEXT = ROOT / "engine" / "data" / "alice_ch1.txt"


def run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``args`` with PYTHONPATH unset, so only what is installed can be imported."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_NO_INDEX"] = "1"                 # never reach a package index
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, f"{args}: exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the sources (a build in the checkout would leave
    build/ there, and stale files in build/ end up in later wheels)."""
    src = tmp_path_factory.mktemp("src")
    junk = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("engine", "nlviz"):
        shutil.copytree(ROOT / name, src / name, ignore=junk)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    dist = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(dist)], cwd=src)
    wheels = list(dist.glob("nlviz-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv over the host's site-packages, with the wheel installed into it."""
    env_dir = tmp_path_factory.mktemp("venv") / "env"
    run([sys.executable, "-m", "venv", "--system-site-packages", str(env_dir)], cwd=env_dir.parent)
    run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index",
         str(wheel)], cwd=env_dir.parent)
    return env_dir


def test_the_wheel_holds_the_presets_and_the_text_and_no_tests(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert PRESETS == ["consolidation.toml", "default.toml", "tiny.toml"]
    for preset in PRESETS:
        assert f"nlviz/presets/{preset}" in names
    assert "engine/data/alice_ch1.txt" in names
    assert zipfile.ZipFile(wheel).read("engine/data/alice_ch1.txt") == TEXT.read_bytes()
    assert "nlviz/cli.py" in names and "engine/session.py" in names
    for model in ("default", "consolidation"):      # the shipped trained models
        assert zipfile.ZipFile(wheel).read(f"nlviz/models/{model}.npz") == \
            (ROOT / "nlviz" / "models" / f"{model}.npz").read_bytes()
        assert f"nlviz/training/{model}.toml" in names
    assert not [n for n in names if n.startswith("tests/") or "synthetic" in n]


def test_the_installed_wheel_records_and_reads_a_run(venv: Path, tmp_path: Path) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    python, nlviz = venv / "bin" / "python", venv / "bin" / "nlviz"

    # imported from the venv: not the checkout, not an editable install on the host
    where = run([str(python), "-c", "import engine, nlviz; print(nlviz.__file__); "
                 "print(engine.__file__)"], cwd=work).stdout.split()
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
               cwd=work).stdout.strip()
    assert where == [f"{site}/nlviz/__init__.py", f"{site}/engine/__init__.py"]
    assert Path(site).is_relative_to(venv)

    run([str(nlviz), "record", "--out", "run.h5", "--steps", "200", "--preset", "tiny"],
        cwd=work)
    info = run([str(nlviz), "info", "run.h5"], cwd=work).stdout
    assert re.search(r"^steps:\s+200 \(step 0 \.\. 199\)$", info, re.M), info
    assert re.search(r"^status:\s+complete$", info, re.M), info
    with h5py.File(work / "run.h5", "r") as f:
        np.testing.assert_array_equal(f["steps"][:], np.arange(200))

    # the shipped text, read from the installed package data
    run([str(nlviz), "record", "--out", "text.h5", "--steps", "20", "--preset", "tiny",
         "--stream", "text", "--no-progress"], cwd=work)
    info = run([str(nlviz), "info", "text.h5"], cwd=work).stdout
    assert f"(alice_ch1.txt, {TEXT.stat().st_size} bytes)" in info, info

    # the default preset starts from the shipped model, found in the installed package data
    run([str(nlviz), "record", "--out", "trained.h5", "--steps", "20", "--no-progress"],
        cwd=work)
    info = run([str(nlviz), "info", "trained.h5"], cwd=work).stdout
    assert re.search(r"^model:\s+default\.npz sha256 [0-9a-f]{12} \(3000 outer steps\)$", info,
                     re.M), info
