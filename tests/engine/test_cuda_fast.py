"""On a GPU (skipped without CUDA): the eager engine on CUDA equals the CPU for 200 steps
of the default preset, and ``--device auto`` measures both and says why."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from engine import device_choice
from engine.device import resolve_device
from engine.session import Session
from nlviz.config_loader import load_config

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

STEPS = 200


def _frames(device: str):
    cfg = load_config("default", ['run.engine="eager"'], device=device)
    session = Session(cfg)
    assert session.device.type == device
    return session.step(STEPS)


def close(gpu: np.ndarray, cpu: np.ndarray, what: str) -> None:
    """Equal NaN pattern; elsewhere |gpu - cpu| <= 1e-3 |cpu| + 1e-4 * the column's largest
    finite magnitude (float32 on two devices sums in another order: a tolerance, not equality)."""
    np.testing.assert_array_equal(np.isnan(gpu), np.isnan(cpu), err_msg=what)
    scale = np.abs(np.nan_to_num(cpu)).max(axis=0, keepdims=True)   # per column
    ok = np.isnan(cpu) | (np.abs(gpu - cpu) <= 1e-3 * np.abs(cpu) + 1e-4 * scale)
    assert ok.all(), f"{what}: {int((~ok).sum())} values differ, first at {np.argwhere(~ok)[0]}"


def test_eager_default_on_cuda_equals_cpu_for_200_steps():
    cpu, gpu = _frames("cpu"), _frames("cuda")
    close(gpu.level, cpu.level, "level metrics")
    close(gpu.scalars, cpu.scalars, "scalars")
    np.testing.assert_array_equal(gpu.fired, cpu.fired)
    assert len(gpu.probes) == len(cpu.probes) > 0
    for a, b in zip(gpu.probes, cpu.probes):
        close(a.errors, b.errors, "probe errors")


def test_auto_measures_cpu_and_cuda_and_says_why():
    device_choice.clear_cache()
    choice = resolve_device("auto", load_config("default", device="auto"))
    assert choice.device.type in ("cpu", "cuda")
    assert dict(choice.rates).keys() >= {"cpu", "cuda"}
    assert all(r > 0 for _kind, r in choice.rates)
    best = max(choice.rates, key=lambda kv: kv[1])[0]
    assert choice.device.type == best
    assert re.fullmatch(r"auto: (CPU|CUDA), [\d,]+ steps/s against .*[\d,]+ steps/s "
                        r"measured at start", choice.reason), choice.reason
    s = Session(load_config("default", device="auto"))     # the cached choice, no new run
    assert s.device_choice is choice and s.device_reason == choice.reason
