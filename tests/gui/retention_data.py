"""Synthetic inputs for the retention panel tests: a run spec with Titans and CMS levels,
a history view with regime switches, probe evaluations and evaluation records."""
from __future__ import annotations

import numpy as np

from engine.frames import LEVEL_METRICS, EvalRecord, LevelSpec, ProbeRecord, RunSpec
from nlviz.series.views import HistoryView

METRICS = tuple(dict.fromkeys((*LEVEL_METRICS, "weight_norm", "contribution")))
REGIMES = ("sine", "square", "noise")
LEVELS = (("memory", "titans", 1), ("k", "titans", 1), ("cms1", "cms", 1),
          ("cms2", "cms", 16))
SEGMENT = 200          # steps per regime span
SCHEDULE = (0, 1, 0, 2, 1, 0, 2, 0, 1, 0)      # visits: 1,1,2,1,2,3,2,4,3,5


def spec() -> RunSpec:
    """Four levels (two Titans, two CMS), three named regimes, the new metric columns."""
    levels = tuple(LevelSpec(n, k, p, (4, 4)) for n, k, p in LEVELS)
    return RunSpec(levels=levels, d_in=2, probe_size=8, level_metrics=METRICS,
                   regime_names=REGIMES)


def view(seed: int = 0) -> HistoryView:
    """SEGMENT steps per entry of SCHEDULE; every metric random, regime from SCHEDULE."""
    rng = np.random.default_rng(seed)
    n = SEGMENT * len(SCHEDULE)
    step = np.arange(n, dtype=np.float64)
    level = rng.random((len(LEVELS), len(METRICS), n)).astype(np.float32)     # (L, M, n)
    level[1, METRICS.index("contribution")] = np.nan           # k steers: NaN
    level[0, METRICS.index("retention")] = 0.99
    scalars = rng.random((4, n)).astype(np.float32)                            # (G, n)
    regime = np.repeat(np.array(SCHEDULE, np.int32), SEGMENT)
    fired = np.ones((len(LEVELS), n), np.uint8)
    return HistoryView(step, level, level.copy(), fired, scalars, regime, n)


def probes(seed: int = 0, k: int = 4) -> list[ProbeRecord]:
    """``k`` probe evaluations near the end of the view; some errors exactly zero."""
    rng = np.random.default_rng(seed)
    out = []
    for j in range(k):
        s = SEGMENT * len(SCHEDULE) - 1 - 50 * (k - 1 - j)
        ages = rng.integers(0, 1500, 8)
        ages[-1] = -1                                           # one empty slot
        errors = rng.random((len(LEVELS), 8)).astype(np.float32) + 0.01
        errors[2, :3] = 0.0                                     # exact zeros (cms1)
        errors[:, -1] = np.nan
        out.append(ProbeRecord(s, ages.astype(np.int64), errors))
    return out


def evals(n: int = 5, seed: int = 0) -> list[EvalRecord]:
    """``n`` regular evaluations every 400 steps, R = len(REGIMES)."""
    rng = np.random.default_rng(seed)
    return [EvalRecord(400 * (i + 1) - 1, rng.random(len(REGIMES)).astype(np.float32),
                       rng.random(len(REGIMES)).astype(np.float32)) for i in range(n)]
