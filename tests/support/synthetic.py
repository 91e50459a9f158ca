"""Deterministic synthetic ``FrameBatch`` streams (tests, golden files, benchmarks; not shipped).

Every value is a closed-form function of the step, so a reader can check any row
without keeping the batches: see ``expected_level``.
"""
from __future__ import annotations

import numpy as np

from engine.frames import (
    EventRecord,
    FrameBatch,
    LevelSpec,
    ProbeRecord,
    RunSpec,
    SnapshotRecord,
    StateRecord,
)


def synthetic_spec(n_levels: int = 4, d_in: int = 4, probe_size: int = 4,
                   snapshot_shape: tuple[int, int] = (4, 4)) -> RunSpec:
    """A run with ``n_levels`` levels of periods 1, 4, 16, ..."""
    levels = tuple(LevelSpec(f"L{i}", "titans" if i == 0 else "cms", 4 ** i, snapshot_shape)
                   for i in range(n_levels))
    return RunSpec(levels=levels, d_in=d_in, probe_size=probe_size)


def expected_level(spec: RunSpec, steps: np.ndarray) -> np.ndarray:
    """(n, L, M) float32 level metrics of the synthetic run at ``steps``."""
    s = np.asarray(steps, np.float64)[:, None, None]
    li = np.arange(len(spec.levels))[None, :, None]
    mi = np.arange(len(spec.level_metrics))[None, None, :]
    return (np.sin(s * 0.01 * (li + 1)) + mi + 0.001 * s).astype(np.float32)


def state_template(spec: RunSpec) -> dict[str, np.ndarray]:
    """Engine-state tensor names/shapes/dtypes of the synthetic run."""
    return {"step_count": np.array(0, np.int64), "model/w": np.zeros((3, 4), np.float32),
            "config_json": np.array('{"synthetic": true}')}


def synthetic_batch(spec: RunSpec, start: int, n: int, *, sparse_every: int = 64,
                    state_every: int = 256, t_per_step: float = 1e-3) -> FrameBatch:
    """Steps [start, start + n) of the synthetic run, with sparse records every
    ``sparse_every`` steps and states every ``state_every`` steps (0 = none)."""
    steps = np.arange(start, start + n, dtype=np.int64)
    L, G = len(spec.levels), len(spec.global_metrics)
    periods = np.asarray(spec.update_periods)
    fired = ((steps[:, None] + 1) % periods[None, :] == 0).astype(np.uint8)
    scalars = np.stack([np.cos(steps * 0.003 * (g + 1)) for g in range(G)], 1).astype(np.float32)
    inputs = (np.arange(spec.d_in)[None, :] + steps[:, None] * 0.5).astype(np.float32)
    b = FrameBatch(step=steps, level=expected_level(spec, steps), fired=fired, scalars=scalars,
                   inputs=inputs, regime=(steps // 100 % 2).astype(np.int32),
                   token=(steps % 256).astype(np.int32), wall_time=steps * t_per_step)
    for s in steps.tolist():
        if sparse_every and s % sparse_every == sparse_every - 1:
            errs = np.full((L, spec.probe_size), s * 1e-3, np.float32)
            errs[:, -1] = np.nan
            b.probes.append(ProbeRecord(s, np.arange(spec.probe_size, dtype=np.int64), errs))
            w = tuple(np.full(lv.snapshot_shape, s + i, np.float32) for i, lv in enumerate(spec.levels))
            b.snapshots.append(SnapshotRecord(s, w, tuple(x * 0.5 for x in w)))
        if state_every and s % state_every == state_every - 1:
            b.states.append(StateRecord(s, {"step_count": np.array(s + 1, np.int64),
                                            "model/w": np.full((3, 4), s, np.float32),
                                            "config_json": np.array('{"synthetic": true}')}))
        if s == 0:
            b.events.append(EventRecord(0, "start", "synthetic stream"))
    return b
