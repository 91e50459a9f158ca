"""Small synthetic runs (spec + HistoryView) for the analysis tests: every column named,
the issue-11 columns included whether or not the engine in this tree has them yet."""
from __future__ import annotations

import numpy as np

from engine.frames import GLOBAL_METRICS, LEVEL_METRICS, LevelSpec, RunSpec
from nlviz.series.views import HistoryView

LM = tuple(dict.fromkeys(LEVEL_METRICS + ("weight_norm", "contribution")))
GM = tuple(dict.fromkeys(GLOBAL_METRICS + ("copy_loss", "zero_loss", "oracle_loss")))
TITANS = ("memory", "k", "v", "eta", "alpha")


def spec(cms_periods: tuple[int, ...] = (4, 16)) -> RunSpec:
    levels = tuple(LevelSpec(n, "titans", 1, (4, 4)) for n in TITANS) + tuple(
        LevelSpec(f"cms{i + 1}", "cms", p, (4, 4)) for i, p in enumerate(cms_periods))
    return RunSpec(levels, 4, 4, LM, GM, ("A", "B"))


def healthy(sp: RunSpec, n: int = 1500, first_step: int = 1000, seed: int = 0) -> HistoryView:
    """A run where nothing is wrong: varying Titans gates, steady weight norms, loss
    below copying, contribution NaN only where it is by definition, oracle known."""
    rng = np.random.default_rng(seed)
    L = len(sp.levels)
    level = np.zeros((L, len(LM), n), np.float32)
    m = {name: i for i, name in enumerate(LM)}
    gate_lr = 0.05 + 0.01 * rng.standard_normal(n)
    gate_ret = 0.998 + 0.001 * rng.standard_normal(n)
    for li, lv in enumerate(sp.levels):
        level[li, m["surprise"]] = rng.random(n)
        level[li, m["weight_norm"]] = 2.0 + 0.1 * rng.random(n)
        if lv.kind == "titans":
            level[li, m["lr"]], level[li, m["retention"]] = gate_lr, gate_ret
            level[li, m["contribution"]] = 0.3 if lv.name == "memory" else np.nan
        else:
            level[li, m["lr"]], level[li, m["retention"]] = 0.02, 1.0
            level[li, m["contribution"]] = 0.1
    scalars = np.zeros((len(GM), n), np.float32)
    g = {name: i for i, name in enumerate(GM)}
    scalars[g["outer_loss"]] = 0.5 + 0.1 * rng.random(n)
    scalars[g["copy_loss"]] = 1.0 + 0.1 * rng.random(n)
    scalars[g["zero_loss"]] = 2.0
    scalars[g["oracle_loss"]] = 0.01
    fired = np.ones((L, n), np.uint8)
    regime = ((np.arange(n) // 300) % 2).astype(np.int32)
    step = np.arange(first_step, first_step + n, dtype=np.float64)
    return HistoryView(step, level, level.copy(), fired, scalars, regime, n)


def col(sp: RunSpec, view: HistoryView, level: str, metric: str) -> np.ndarray:
    """The (n,) row of one level metric (a writable view)."""
    return view.level[sp.level_names.index(level), sp.level_metrics.index(metric)]


def scal(sp: RunSpec, view: HistoryView, metric: str) -> np.ndarray:
    return view.scalars[sp.global_metrics.index(metric)]
