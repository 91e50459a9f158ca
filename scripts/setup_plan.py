"""nlviz's one-time set-up, decided here and run by ``scripts/setup.sh``.

Two jobs, in order:

1. torch for this machine, only when no torch is installed (an installed torch is kept):
   an NVIDIA GPU -> the CUDA build (PyPI's default wheel); Linux without one -> the CPU
   build from PyTorch's CPU wheel index, falling back quickly (short timeout, one retry)
   to the default index when that index cannot be reached; macOS and Windows -> the
   default index, whose wheel is already the CPU (or MPS) build there.
2. nlviz itself, editable from this checkout, with its test tools (``pip install -e
   .[test]``), skipped when a stamp says it was done for this pyproject.toml and this
   Python and the install still looks sound, so that re-running the set-up before every
   launch costs a Python start-up and no pip call.

The decision (:func:`plan`) is a pure function of :class:`Facts`, so the tests drive it
with made-up machines; :func:`gather_facts` probes the real one. Standard library only
(``packaging``, which pytest brings, is used to check installed versions when present).
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Protocol

TORCH_VERSION = "2.13.0"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
FAST_FAIL = ("--timeout", "10", "--retries", "1")  # the CPU index may be unreachable
PIP = ("-m", "pip", "install", "--disable-pip-version-check")
STAMP_ENV = "NLVIZ_SETUP_STAMP"  # overrides the stamp's path (tests)
STAMP_NAME = ".setup-stamp"
PREFIX = "nlviz setup:"


@dataclass(frozen=True)
class Facts:
    """What the set-up needs to know about the machine and this Python."""

    system: str                     # platform.system(): "Linux", "Darwin", "Windows"
    torch_version: str | None       # installed torch, None when absent
    torch_build: str | None         # "cpu", "cuda", "rocm", ... (None when absent)
    stamp_fresh: bool               # the stamp matches this pyproject.toml and Python
    install_problem: str | None     # why nlviz's install is not sound, None when it is
    externally_managed: bool = False  # a system Python that refuses pip (PEP 668)


@dataclass(frozen=True)
class Step:
    """One thing to install: ``commands`` are alternatives, tried until one succeeds."""

    say: str
    commands: tuple[tuple[str, ...], ...]
    fallback_say: str = ""


@dataclass(frozen=True)
class Plan:
    """What to do: the steps (none for a no-op), notes to show, and a refusal if any."""

    steps: tuple[Step, ...] = ()
    notes: tuple[str, ...] = ()
    refusal: str | None = None
    write_stamp: bool = False

    @property
    def is_noop(self) -> bool:
        """True when nothing is run and nothing is said."""
        return not self.steps and not self.notes and self.refusal is None


def torch_step(system: str, gpu: bool) -> Step:
    """How to install torch on this machine (see the module docstring)."""
    pin = f"torch=={TORCH_VERSION}"
    plain = (*PIP, pin)
    if system != "Linux":
        return Step(f"installing torch {TORCH_VERSION} from the default index "
                    f"(its {system} build runs on the CPU)", (plain,))
    if gpu:
        return Step(f"installing torch {TORCH_VERSION}, the CUDA build (an NVIDIA GPU "
                    "is present)", (plain,))
    return Step(
        f"installing torch {TORCH_VERSION}, the CPU build from {CPU_INDEX} (no NVIDIA GPU "
        "found)",
        ((*PIP, pin, "--index-url", CPU_INDEX, *FAST_FAIL), plain),
        fallback_say=f"{CPU_INDEX} could not be used; installing torch {TORCH_VERSION} from "
                     "the default index instead (on Linux that may be the large CUDA build)",
    )


NLVIZ_STEP = Step("installing nlviz (editable, from this checkout) with its test tools",
                  ((*PIP, "--quiet", "-e", ".[test]"),))


def plan(facts: Facts, has_gpu: Callable[[], bool]) -> Plan:
    """Decide the set-up. ``has_gpu`` is called only when the answer matters."""
    if facts.stamp_fresh and facts.install_problem is None and facts.torch_version:
        return Plan()
    if facts.externally_managed:
        return Plan(refusal="this Python is managed by the system and refuses pip "
                            "(externally-managed-environment); make a virtual environment "
                            "first: python3 -m venv .venv && . .venv/bin/activate, "
                            "then run this again")
    steps: list[Step] = []
    notes: list[str] = []
    if facts.torch_version is None:
        gpu = facts.system == "Linux" and has_gpu()
        steps.append(torch_step(facts.system, gpu))
    elif facts.torch_build == "cpu" and facts.system == "Linux" and has_gpu():
        notes.append(f"an NVIDIA GPU is present but torch {facts.torch_version} is the CPU "
                     "build; keeping it. For the GPU: python3 -m pip uninstall -y torch, "
                     "then run this again")
    steps.append(NLVIZ_STEP)
    return Plan(steps=tuple(steps), notes=tuple(notes), write_stamp=True)


# --- probes -------------------------------------------------------------------------------


def has_nvidia_gpu(gpus_dir: Path = Path("/proc/driver/nvidia/gpus"),
                   which: Callable[[str], str | None] = shutil.which,
                   run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> bool:
    """An NVIDIA GPU: the driver lists one in /proc, or ``nvidia-smi -L`` names one."""
    try:
        if gpus_dir.is_dir() and any(gpus_dir.iterdir()):
            return True
    except OSError:
        pass
    exe = which("nvidia-smi")
    if exe is None:
        return False
    try:
        out = run([exe, "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and any(line.startswith("GPU ")
                                       for line in out.stdout.splitlines())


def torch_build(version: str, requires: Sequence[str], system: str) -> str:
    """The build of an installed torch from its version's local label (``2.13.0+cpu``);
    an unlabelled Linux wheel is CUDA when it depends on NVIDIA's libraries."""
    local = version.partition("+")[2].lower()
    for prefix, build in (("cpu", "cpu"), ("cu", "cuda"), ("rocm", "rocm"), ("xpu", "xpu")):
        if local.startswith(prefix):
            return build
    if local:
        return local
    if system == "Linux" and any(r.lower().startswith("nvidia-") for r in requires):
        return "cuda"
    return "cpu"


def site_paths(root: Path) -> list[str]:
    """sys.path without the checkout itself, whose nlviz.egg-info is not an install."""
    skip = {root.resolve(), (root / "scripts").resolve()}
    return [p for p in sys.path if p and Path(p).resolve() not in skip]


def find_dist(name: str, paths: list[str]) -> metadata.Distribution | None:
    """The first installed distribution called ``name`` on ``paths``, or None."""
    return next(iter(metadata.distributions(name=name, path=paths)), None)


class Dist(Protocol):
    """What :func:`install_problem` reads of a distribution (``importlib.metadata``'s or a fake)."""

    @property
    def version(self) -> str: ...

    @property
    def requires(self) -> list[str] | None: ...

    def read_text(self, filename: str) -> str | None: ...


def install_problem(root: Path, find: Callable[[str], Dist | None]) -> str | None:
    """Why nlviz is not soundly installed from ``root`` with its test extra, or None.

    ``find(name)`` returns a distribution (``version``, ``requires``, ``read_text``) or None.
    """
    nlviz = find("nlviz")
    if nlviz is None:
        return "nlviz is not installed"
    try:
        direct = json.loads(nlviz.read_text("direct_url.json") or "{}")
    except ValueError:
        direct = {}
    if not direct.get("dir_info", {}).get("editable") or direct.get("url") != root.as_uri():
        return f"nlviz is installed from {direct.get('url', 'an unknown place')}, not {root}"
    try:
        from packaging.markers import InvalidMarker
        from packaging.requirements import Requirement
    except ImportError:
        return "packaging (which pytest brings) is missing"
    for line in nlviz.requires or []:
        req = Requirement(line)
        try:
            if req.marker is not None and not req.marker.evaluate({"extra": "test"}):
                continue
        except InvalidMarker:
            continue
        dist = find(req.name)
        if dist is None:
            return f"{req.name} is missing"
        if not req.specifier.contains(dist.version, prereleases=True):
            return f"{req.name} {dist.version} does not satisfy {req.specifier}"
    return None


def stamp_key(pyproject: bytes) -> str:
    """What the stamp records: this pyproject.toml and this Python."""
    h = hashlib.sha256(pyproject)
    h.update(f"\0{sys.version}\0{sys.prefix}".encode())
    return h.hexdigest()


def stamp_path(root: Path) -> Path:
    """Where the stamp lives (``$NLVIZ_SETUP_STAMP`` or ``.setup-stamp`` in the checkout)."""
    return Path(os.environ.get(STAMP_ENV) or root / STAMP_NAME)


def read_stamp(path: Path) -> dict[str, str]:
    """The stamp: one key per Python executable; empty when missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_stamp(path: Path, key: str) -> None:
    """Record that the set-up is done for this Python (other Pythons' keys are kept)."""
    data = read_stamp(path)
    data[sys.executable] = key
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def externally_managed() -> bool:
    """A system Python that pip refuses to install into (PEP 668), outside a venv."""
    if sys.prefix != sys.base_prefix:
        return False
    return Path(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED").exists()


def gather_facts(root: Path) -> tuple[Facts, str]:
    """Probe this machine; also returns the stamp key to write after a good install."""
    key = stamp_key((root / "pyproject.toml").read_bytes())
    paths = site_paths(root)
    fresh = read_stamp(stamp_path(root)).get(sys.executable) == key
    problem = install_problem(root, lambda n: find_dist(n, paths)) if fresh else "not stamped"
    system = platform.system()
    torch = find_dist("torch", paths)
    version = torch.version if torch is not None else None
    build = torch_build(version, torch.requires or [], system) if torch and version else None
    managed = False if fresh and problem is None else externally_managed()
    return Facts(system, version, build, fresh, problem, managed), key


# --- running ------------------------------------------------------------------------------


def run_plan(the_plan: Plan, run: Callable[[Sequence[str]], int], say: Callable[[str], None],
             on_done: Callable[[], None]) -> int:
    """Carry out a plan: each step's commands in turn until one succeeds; 0 when all did."""
    for note in the_plan.notes:
        say(f"{PREFIX} note: {note}")
    if the_plan.refusal is not None:
        say(f"{PREFIX} error: {the_plan.refusal}")
        return 1
    for step in the_plan.steps:
        say(f"{PREFIX} {step.say}")
        for i, cmd in enumerate(step.commands):
            if i:
                say(f"{PREFIX} {step.fallback_say}")
            if run(cmd) == 0:
                break
        else:
            say(f"{PREFIX} error: failed: python {' '.join(step.commands[-1])}")
            return 1
    if the_plan.write_stamp:
        try:
            on_done()
        except OSError as exc:  # a read-only checkout: all installed, just not stamped
            say(f"{PREFIX} note: could not write the stamp ({exc}); the next run checks again")
    return 0


def pip_runner(root: Path) -> Callable[[Sequence[str]], int]:
    """Runs ``python <args>`` (pip, with this Python) in the checkout; returns its status."""
    def run(args: Sequence[str]) -> int:
        return subprocess.run([sys.executable, *args], cwd=root).returncode
    return run


def main() -> int:
    """Probe, decide, run. Exit status 0 when everything is installed."""
    if sys.version_info < (3, 10):  # noqa: UP036 - run by whatever python3 is; it must say so
        print(f"{PREFIX} error: nlviz needs Python 3.10 or newer; this is "
              f"{platform.python_version()} ({sys.executable})", file=sys.stderr)
        return 1
    root = Path(__file__).resolve().parent.parent
    facts, key = gather_facts(root)
    the_plan = plan(facts, has_nvidia_gpu)
    if the_plan.is_noop:
        return 0
    return run_plan(the_plan, pip_runner(root), lambda s: print(s, file=sys.stderr, flush=True),
                    lambda: write_stamp(stamp_path(root), key))


if __name__ == "__main__":
    sys.exit(main())
