"""A synthetic training recording with plausible curves (tests and screenshots; not shipped).

Every value is a closed-form function of the step (``expected_row``), so a test can check
any row of the file without keeping what was written.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence

from nlviz.recording.training_writer import TrainingRecorder, TrainingRow

TASKS = ("assoc_recall", "regime_shift", "multi_timescale", "text")
GROUPS = ("memory_init", "projections", "cms_init", "gates")
GATE_STATS = ("eta_mean", "eta_std", "alpha_mean", "alpha_std")
HELDOUT_EVERY = 10
HORIZON = 200                   # steps of the learning-rate schedule
CONFIG = {"outer_steps": 200, "batch": 8, "tbptt": 64, "lr": 3e-3, "seed": 0,
          "tasks": list(TASKS)}
MODEL_CONFIG = {"preset": "default", "d_model": 16}


def expected_row(step: int, tasks: Sequence[str] = TASKS, groups: Sequence[str] = GROUPS,
                 gate_stats: Sequence[str] = GATE_STATS) -> TrainingRow:
    """The row of outer step ``step``: losses decaying at a per-task rate, task ``i``
    missing from the batch every ``i + 3``-th step (NaN), held-out every
    ``HELDOUT_EVERY`` steps, warm-up then cosine learning rate over ``HORIZON`` steps."""
    loss = tuple(math.nan if i and step % (i + 3) == 0 else
                 (0.05 + (1.0 + 0.3 * i) * math.exp(-step / (40.0 + 25 * i)))
                 * (1 + 0.08 * math.sin(step * 0.7 + i))
                 for i in range(len(tasks)))
    held = tuple(0.07 + (1.1 + 0.3 * i) * math.exp(-step / (45.0 + 25 * i))
                 if step % HELDOUT_EVERY == 0 else math.nan for i in range(len(tasks)))
    finite = [v for v in loss if not math.isnan(v)]
    grad = tuple((0.5 + g) * math.exp(-step / 150.0) + 0.01 * (g + 1)
                 for g in range(len(groups)))
    gates = tuple(0.05 + 0.02 * k + 0.01 * math.tanh(step / 50.0) * (1 + k)
                  for k in range(len(gate_stats)))
    warm = min(1.0, (step + 1) / 20.0)
    lr = 3e-3 * warm * 0.5 * (1 + math.cos(math.pi * min(step, HORIZON) / HORIZON))
    return TrainingRow(step=step, wall_time=0.25 * step + 0.1, lr=lr, tokens=512 * (step + 1),
                       total=sum(finite) / max(1, len(finite)), loss=loss, heldout=held,
                       grad_norm=grad, gates=gates)


def write_training_file(path: str | os.PathLike[str], steps: int = 200,
                        tasks: Sequence[str] = TASKS, groups: Sequence[str] = GROUPS,
                        gate_stats: Sequence[str] = GATE_STATS, *, start: int = 0,
                        append: bool = False, overwrite: bool = False,
                        close: bool = True) -> TrainingRecorder:
    """Write outer steps [start, steps) to ``path``; returns the recorder (closed unless
    ``close`` is False: then flushed and still open, as during a training)."""
    rec = TrainingRecorder(path, tasks=tasks, groups=groups, gate_stats=gate_stats,
                           config=CONFIG, model_config=MODEL_CONFIG, device="cpu",
                           torch_version="2.x-test", overwrite=overwrite, append=append)
    for s in range(start, steps):
        rec.append(expected_row(s, tasks, groups, gate_stats))
    if close:
        rec.close()
    else:
        rec.flush()
    return rec
