"""CUDA runs match the CPU (skipped where no GPU is present, as in CI)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.session import Session
from nlviz.config_loader import load_config

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


@pytest.mark.parametrize("chunk", [1, 16])
def test_cuda_matches_cpu_in_float64(chunk):
    sets = ["model.dtype=\"float64\"", f"model.titans.chunk_size={chunk}"]
    cpu = Session(load_config("tiny", sets, device="cpu")).step(96)
    gpu_session = Session(load_config("tiny", sets, device="cuda"))
    assert gpu_session.device.type == "cuda"
    gpu = gpu_session.step(96)
    np.testing.assert_allclose(gpu.level, cpu.level, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(gpu.scalars, cpu.scalars, rtol=1e-6, atol=1e-9)
    for a, b in zip(gpu.probes, cpu.probes):
        np.testing.assert_allclose(a.errors, b.errors, rtol=1e-6, atol=1e-9)


def test_cuda_float32_default_runs_and_reports_device():
    s = Session(load_config("default", device="cuda"))
    batch = s.step(256)
    assert s.device_name.startswith("CUDA")
    assert np.isfinite(batch.level).all()
