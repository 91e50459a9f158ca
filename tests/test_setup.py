"""scripts/setup.sh and its decisions (scripts/setup_plan.py): which torch, when to do nothing."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("setup_plan", ROOT / "scripts" / "setup_plan.py")
assert _spec is not None and _spec.loader is not None
sp = importlib.util.module_from_spec(_spec)
sys.modules["setup_plan"] = sp
_spec.loader.exec_module(sp)

PIN = f"torch=={sp.TORCH_VERSION}"
PIP = ("-m", "pip", "install", "--disable-pip-version-check")
CPU_CMD = (*PIP, PIN, "--index-url", "https://download.pytorch.org/whl/cpu",
           "--timeout", "10", "--retries", "1")
PLAIN_CMD = (*PIP, PIN)
NLVIZ_CMD = (*PIP, "--quiet", "-e", ".[test]")


def facts(**kw: Any) -> Any:  # an sp.Facts (sp is loaded from a path: mypy cannot see it)
    base = dict(system="Linux", torch_version=None, torch_build=None, stamp_fresh=False,
                install_problem="not stamped")
    base.update(kw)
    return sp.Facts(**base)


class Gpu:
    """A fake GPU probe that remembers whether it was asked."""

    def __init__(self, answer: bool) -> None:
        self.answer, self.calls = answer, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.answer


# --- the decision table ---------------------------------------------------------------------


def test_linux_without_gpu_or_torch_tries_the_cpu_index_then_the_default_one() -> None:
    p = sp.plan(facts(), Gpu(False))
    assert [s.commands for s in p.steps] == [(CPU_CMD, PLAIN_CMD), (NLVIZ_CMD,)]
    assert "CPU build" in p.steps[0].say and "no NVIDIA GPU" in p.steps[0].say
    assert "default index" in p.steps[0].fallback_say
    assert p.notes == () and p.write_stamp


def test_linux_with_a_gpu_and_no_torch_installs_the_default_cuda_build() -> None:
    p = sp.plan(facts(), Gpu(True))
    assert [s.commands for s in p.steps] == [(PLAIN_CMD,), (NLVIZ_CMD,)]
    assert "CUDA build" in p.steps[0].say


@pytest.mark.parametrize("system", ["Darwin", "Windows"])
def test_macos_and_windows_use_the_default_index_without_probing(system: str) -> None:
    gpu = Gpu(True)
    p = sp.plan(facts(system=system), gpu)
    assert [s.commands for s in p.steps] == [(PLAIN_CMD,), (NLVIZ_CMD,)]
    assert gpu.calls == 0


def test_cpu_torch_on_a_gpu_machine_is_kept_and_said() -> None:
    p = sp.plan(facts(torch_version="2.13.0+cpu", torch_build="cpu"), Gpu(True))
    assert [s.commands for s in p.steps] == [(NLVIZ_CMD,)]
    assert p.notes == (("an NVIDIA GPU is present but torch 2.13.0+cpu is the CPU build; "
                        "keeping it. For the GPU: python3 -m pip uninstall -y torch, then run "
                        "this again"),)


@pytest.mark.parametrize("build,gpu", [("cpu", False), ("cuda", True), ("cuda", False),
                                       ("rocm", False)])
def test_an_installed_torch_is_never_touched(build: str, gpu: bool) -> None:
    probe = Gpu(gpu)
    p = sp.plan(facts(torch_version="2.5.1", torch_build=build), probe)
    assert [s.commands for s in p.steps] == [(NLVIZ_CMD,)]
    assert p.notes == ()
    assert probe.calls == (1 if build == "cpu" else 0)


def test_fresh_stamp_and_sound_install_is_a_noop_without_any_probe() -> None:
    gpu = Gpu(True)
    p = sp.plan(facts(torch_version="2.13.0+cpu", torch_build="cpu", stamp_fresh=True,
                      install_problem=None), gpu)
    assert p.is_noop and p.steps == () and not p.write_stamp
    assert gpu.calls == 0


def test_stale_stamp_reinstalls_nlviz() -> None:
    p = sp.plan(facts(torch_version="2.13.0", torch_build="cuda", stamp_fresh=False,
                      install_problem=None), Gpu(True))
    assert [s.commands for s in p.steps] == [(NLVIZ_CMD,)] and p.write_stamp


def test_broken_install_reinstalls_even_with_a_fresh_stamp() -> None:
    p = sp.plan(facts(torch_version="2.13.0", torch_build="cuda", stamp_fresh=True,
                      install_problem="pytest-qt is missing"), Gpu(True))
    assert [s.commands for s in p.steps] == [(NLVIZ_CMD,)]


def test_torch_removed_after_the_stamp_is_installed_again() -> None:
    p = sp.plan(facts(stamp_fresh=True, install_problem=None), Gpu(False))
    assert [s.commands for s in p.steps] == [(CPU_CMD, PLAIN_CMD), (NLVIZ_CMD,)]


def test_externally_managed_python_is_refused_with_the_venv_line() -> None:
    p = sp.plan(facts(externally_managed=True), Gpu(False))
    assert p.steps == ()
    assert p.refusal is not None and "python3 -m venv .venv" in p.refusal
    said: list[str] = []
    assert sp.run_plan(p, lambda c: pytest.fail("ran pip"), said.append, lambda: None) == 1
    assert said == [f"nlviz setup: error: {p.refusal}"]


# --- probes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("version,requires,system,build", [
    ("2.13.0+cpu", [], "Linux", "cpu"),
    ("2.13.0+cu126", [], "Linux", "cuda"),
    ("2.5.1+rocm6.2", [], "Linux", "rocm"),
    ("2.13.0", ["nvidia-cuda-runtime-cu12==12.6.77; platform_system == 'Linux'"], "Linux", "cuda"),
    ("2.13.0", ["filelock"], "Linux", "cpu"),
    ("2.13.0", [], "Darwin", "cpu"),
])
def test_torch_build_from_its_metadata(version: str, requires: list[str], system: str,
                                       build: str) -> None:
    assert sp.torch_build(version, requires, system) == build


def _smi(stdout: str, rc: int = 0):
    def run(cmd, **kw):
        assert cmd == ["/usr/bin/nvidia-smi", "-L"] and kw["timeout"] == 10
        return subprocess.CompletedProcess(cmd, rc, stdout, "")
    return run


def test_gpu_probe(tmp_path: Path) -> None:
    empty, gpus = tmp_path / "empty", tmp_path / "gpus"
    empty.mkdir()
    (gpus / "0000:01:00.0").mkdir(parents=True)

    def none(name: str) -> None:
        return None

    def smi(name: str) -> str:
        return "/usr/bin/nvidia-smi"

    assert sp.has_nvidia_gpu(gpus, none, _smi(""))
    assert not sp.has_nvidia_gpu(empty, none, _smi("GPU 0: x"))
    assert not sp.has_nvidia_gpu(tmp_path / "absent", none, _smi("GPU 0: x"))
    assert sp.has_nvidia_gpu(empty, smi, _smi("GPU 0: NVIDIA H200 (UUID: GPU-1)\n"))
    assert not sp.has_nvidia_gpu(empty, smi, _smi("No devices were found\n"))
    assert not sp.has_nvidia_gpu(empty, smi, _smi("GPU 0: x\n", rc=9))

    def hangs(cmd, **kw):
        raise subprocess.TimeoutExpired(cmd, kw["timeout"])
    assert not sp.has_nvidia_gpu(empty, smi, hangs)


def _dist(version: str, requires=(), direct: dict | None = None):
    text = {"direct_url.json": json.dumps(direct) if direct is not None else None}
    return SimpleNamespace(version=version, requires=list(requires), read_text=text.get)


def _installed(**over):
    here = {"dir_info": {"editable": True}, "url": ROOT.as_uri()}
    dists = {
        "nlviz": _dist("0.1.0", ["torch>=2.2", "PySide6-Essentials<6.12,>=6.5",
                                 'tomli>=2.0; python_version < "1.0"',
                                 'pytest-qt>=4.2; extra == "test"', 'ruff; extra == "dev"'],
                       here),
        "torch": _dist("2.13.0+cpu"), "PySide6-Essentials": _dist("6.11.3"),
        "pytest-qt": _dist("4.5.0"),
    }
    dists.update(over)
    return dists.get


def test_install_check_names_what_is_wrong() -> None:
    assert sp.install_problem(ROOT, _installed()) is None  # ruff (dev) and tomli not needed
    assert sp.install_problem(ROOT, _installed(nlviz=None)) == "nlviz is not installed"
    elsewhere = _dist("0.1.0", [], {"dir_info": {"editable": True}, "url": "file:///elsewhere"})
    assert sp.install_problem(ROOT, _installed(nlviz=elsewhere)) == (
        f"nlviz is installed from file:///elsewhere, not {ROOT}")
    wheel = _dist("0.1.0", [], {"url": ROOT.as_uri(), "dir_info": {}})
    assert "not " + str(ROOT) in sp.install_problem(ROOT, _installed(nlviz=wheel))
    assert sp.install_problem(ROOT, _installed(**{"pytest-qt": None})) == "pytest-qt is missing"
    assert sp.install_problem(ROOT, _installed(**{"PySide6-Essentials": _dist("6.12.0")})) == (
        "PySide6-Essentials 6.12.0 does not satisfy <6.12,>=6.5")


def test_stamp_is_keyed_by_pyproject_and_python(tmp_path: Path) -> None:
    key = sp.stamp_key(b"a")
    assert key == sp.stamp_key(b"a") and key != sp.stamp_key(b"b")
    stamp = tmp_path / "stamp"
    assert sp.read_stamp(stamp) == {}
    stamp.write_text("{not json")
    assert sp.read_stamp(stamp) == {}
    stamp.write_text(json.dumps({"/other/python": "x"}))
    sp.write_stamp(stamp, key)
    assert sp.read_stamp(stamp) == {"/other/python": "x", sys.executable: key}


# --- running a plan -----------------------------------------------------------------------------


def test_run_plan_falls_back_from_the_cpu_index_and_stamps() -> None:
    ran: list[tuple[str, ...]] = []
    said: list[str] = []
    stamped: list[int] = []

    def pip(c: Sequence[str]) -> int:
        ran.append(tuple(c))
        return 1 if c == CPU_CMD else 0

    p = sp.plan(facts(), Gpu(False))
    rc = sp.run_plan(p, pip, said.append, lambda: stamped.append(1))
    assert rc == 0 and stamped == [1]
    assert ran == [CPU_CMD, PLAIN_CMD, NLVIZ_CMD]
    assert said[1] == f"nlviz setup: {p.steps[0].fallback_say}"


def test_run_plan_stops_at_a_failure_and_does_not_stamp() -> None:
    ran: list[tuple[str, ...]] = []
    said: list[str] = []

    def pip(c: Sequence[str]) -> int:
        ran.append(tuple(c))
        return 1

    p = sp.plan(facts(torch_version="2.13.0+cpu", torch_build="cpu"), Gpu(False))
    rc = sp.run_plan(p, pip, said.append, lambda: pytest.fail("stamped after a failure"))
    assert rc == 1 and ran == [NLVIZ_CMD]
    assert said[-1] == "nlviz setup: error: failed: python " + " ".join(NLVIZ_CMD)


def test_an_unwritable_stamp_is_a_note_not_a_failure() -> None:
    said: list[str] = []

    def cannot() -> None:
        raise PermissionError(13, "Permission denied")
    p = sp.plan(facts(torch_version="2.13.0+cpu", torch_build="cpu"), Gpu(False))
    assert sp.run_plan(p, lambda c: 0, said.append, cannot) == 0
    assert said[-1].startswith("nlviz setup: note: could not write the stamp")


# --- the real script, with pip replaced by a recorder ----------------------------------------


def _fake_pip_env(tmp_path: Path, stamp: Path) -> tuple[dict[str, str], Path]:
    """An environment where ``python -m pip`` records its arguments instead of installing."""
    calls = tmp_path / "pip-calls.jsonl"
    pkg = tmp_path / "fakepip" / "pip"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(
        "import json, sys\n"
        f"with open({str(calls)!r}, 'a') as f:\n"
        "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n")
    env = dict(os.environ, PYTHON=sys.executable, NLVIZ_SETUP_STAMP=str(stamp),
               PYTHONPATH=os.pathsep.join(filter(None, [str(pkg.parent),
                                                        os.environ.get("PYTHONPATH")])))
    return env, calls


def _setup(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh")], env=env, cwd="/",
                          capture_output=True, text=True, timeout=120)


def test_real_run_with_a_stale_stamp_installs_nlviz_and_stamps(tmp_path: Path) -> None:
    if sp.find_dist("torch", sp.site_paths(ROOT)) is None:
        pytest.skip("torch is not installed in this Python")
    stamp = tmp_path / "stamp"
    env, calls = _fake_pip_env(tmp_path, stamp)
    out = _setup(env)
    assert out.returncode == 0, out.stderr
    assert [json.loads(line) for line in calls.read_text().splitlines()] == [list(NLVIZ_CMD[2:])]
    assert out.stderr == ("nlviz setup: installing nlviz (editable, from this checkout) with its "
                          "test tools\n")
    key = sp.stamp_key((ROOT / "pyproject.toml").read_bytes())
    assert sp.read_stamp(stamp) == {sys.executable: key}


def test_real_noop_run_calls_no_pip_and_says_nothing(tmp_path: Path) -> None:
    problem = sp.install_problem(ROOT, lambda n: sp.find_dist(n, sp.site_paths(ROOT)))
    if problem is not None:
        pytest.skip(f"this Python is not set up from this checkout ({problem}); "
                    "run scripts/setup.sh first")
    stamp = tmp_path / "stamp"
    sp.write_stamp(stamp, sp.stamp_key((ROOT / "pyproject.toml").read_bytes()))
    env, calls = _fake_pip_env(tmp_path, stamp)
    out = _setup(env)
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    assert not calls.exists()
