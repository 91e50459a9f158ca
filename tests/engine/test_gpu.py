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


def test_cuda_outer_steps_match_cpu_in_float64():
    """Meta-training on the GPU takes the same AdamW steps as on the CPU."""
    from engine.config import CMSConfig, ModelConfig, TitansConfig
    from engine.outer import OuterLoop, TrainConfig
    cfg = ModelConfig(d_in=4, d=8, dtype="float64", context=2, residual=True,
                      titans=TitansConfig(hidden=5, decay_to="init", grad_clip=1.0,
                                          memory_target="value", self_lr=0.3,
                                          surprise_gates=True),
                      cms=CMSConfig(periods=(2, 4), hidden=5, decay_to="init"))
    train = TrainConfig(steps=3, batch=4, segment=8, segments=2, chunk=2, warmup=1,
                        init="wired")
    loops = [OuterLoop(cfg, train, torch.device(dev)) for dev in ("cpu", "cuda")]
    for loop in loops:
        for _ in range(3):
            loop.step()
    cpu, gpu = (loop.weights() for loop in loops)
    for name, value in cpu.items():
        np.testing.assert_allclose(gpu[name].numpy(), value.numpy(), rtol=1e-7, atol=1e-10,
                                   err_msg=name)
