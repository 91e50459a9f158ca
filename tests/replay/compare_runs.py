"""Real recordings for the compare tests: ``python main.py record`` of the tiny preset,
two configs (CMS periods 4/16 and 16/64) x two seeds."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STEPS = 1200
CONFIGS = {"p4": "[4, 16]", "p16": "[16, 64]"}
SEEDS = (1, 2)


def record(out: Path, periods: str, seed: int, steps: int = STEPS) -> Path:
    """One tiny-preset recording with CMS ``periods`` and ``seed`` (a real CLI run)."""
    proc = subprocess.run(
        [sys.executable, "main.py", "record", "--out", str(out), "--steps", str(steps),
         "--preset", "tiny", "--seed", str(seed), "--no-progress", "--device", "cpu",
         "--set", f"model.cms.periods={periods}", "--set", "run.state_every=0"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
    return out


def record_four(folder: Path) -> list[str]:
    """p4 seed 1, p4 seed 2, p16 seed 1, p16 seed 2 (in that order)."""
    return [str(record(folder / f"{name}-s{seed}.h5", periods, seed))
            for name, periods in CONFIGS.items() for seed in SEEDS]
