"""``bench/gpu.py``'s CPU branch runs end to end (quick mode, in a subprocess): every row of
its table is there with a positive number. No timing is asserted."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROWS = (
    ("HOPE default, per token, all observables, run.engine=eager", "CPU", "steps/s"),
    ("HOPE default, per token, all observables, run.engine=compiled", "CPU", "steps/s"),
    ("HOPE default, per token, --device auto, run.engine=compiled", "auto -> CPU", "steps/s"),
    ("HOPE default, per token, --device cpu, run.engine=compiled", "CPU", "steps/s"),
    ("single Titans memory d=256, C=64: ours", "CPU", "tok/s"),
)


def _table(out: str) -> dict[str, list[str]]:
    rows = {}
    for line in out.splitlines():
        if line.startswith("| ") and not line.startswith("| case"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def _number(text: str) -> float:
    m = re.match(r"([\d,]+(?:\.\d+)?)", text)
    assert m, text
    return float(m.group(1).replace(",", ""))


@pytest.mark.slow
def test_gpu_bench_cpu_branch_quick():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--device", "cpu",
                          "--quick", "--budget-seconds", "30", "--unroll", "2"],
                         capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert out.splitlines()[0].startswith("machine: no GPU; CPU ")
    assert f"torch {__import__('torch').__version__}" in out.splitlines()[0]
    rows = _table(out)
    for name, device, unit in ROWS:
        device_cell, median, spread, _note = rows[name]
        assert device_cell == device
        assert median.endswith(unit) and _number(median) > 0
        lo, hi = (_number(x) for x in spread.split(".."))
        assert 0 < lo <= _number(median) <= hi
    peer = rows.get("titans-pytorch NeuralMemory d=256, C=64")
    if importlib.util.find_spec("titans_pytorch") is None:
        assert peer is None
    else:
        assert peer is not None and _number(peer[1]) > 0
        assert "x the peer" in rows["single Titans memory d=256, C=64: ours"][3]
    device, _m, _s, note = rows["--device auto picks"]
    assert device == "CPU"
    assert re.fullmatch(r"auto: CPU, [\d,]+ steps/s measured at start "
                        r"\(choosing took \d+\.\d\d s\)", note), note
    assert _number(note.split(", ")[1]) > 0
    check = [name for name in rows if name.startswith("auto never slower than CPU: ")]
    assert check == ["auto never slower than CPU: yes"]       # auto picked the CPU itself


def test_gpu_bench_refuses_a_missing_device_in_one_line():
    import torch
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--device", "cuda"],
                         capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert res.returncode == 2
    assert res.stderr.strip() == "bench/gpu.py: --device cuda: not available here (have: cpu)"
