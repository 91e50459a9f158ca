"""The health checks evaluated from the newest rows back (a condition false at the last
row costs one chunk) give exactly the flags of the whole-history computation they
replaced, on random data: runs of every length, NaN, short and long windows."""
from __future__ import annotations

import numpy as np
import pytest

from engine.frames import RunSpec
from nlviz.analysis import health as H
from nlviz.analysis.health import HealthConfig, HealthFlag, check_health
from nlviz.series.views import HistoryView
from tests.analysis.synth import col, healthy, scal, spec


def _final_run_start(cond: np.ndarray) -> int | None:
    if len(cond) == 0 or not cond[-1]:
        return None
    false = np.flatnonzero(~cond)
    return int(false[-1]) + 1 if len(false) else 0


def _full_worse_than_copy(view: HistoryView, sp: RunSpec, cfg: HealthConfig
                          ) -> list[HealthFlag]:
    """The previous implementation: trailing means over the whole history."""
    g = sp.global_metrics
    w = max(1, int(cfg.loss_window))
    loss = H._trailing_mean(np.asarray(view.scalars[g.index("outer_loss")], np.float64), w)
    copy = H._trailing_mean(np.asarray(view.scalars[g.index("copy_loss")], np.float64), w)
    with np.errstate(invalid="ignore"):
        cond = (copy > 0) & (loss > (1.0 + cfg.copy_margin) * copy)
    start = _final_run_start(cond)
    if start is None:
        return []
    return [HealthFlag("worse_than_copy", None, int(view.step[start]),
                       f"loss {loss[-1]:.4g} > copy-last-input {copy[-1]:.4g} "
                       f"(means over the last {w} steps)")]


def _full_collapse(view: HistoryView, sp: RunSpec, cfg: HealthConfig) -> list[HealthFlag]:
    mi = sp.level_metrics.index("weight_norm")
    first = H.initial_norms(view, sp)
    assert first is not None
    out = []
    for li, lv in enumerate(sp.levels):
        w = np.asarray(view.level[li, mi], np.float64)
        w0 = first[li]
        if not np.isfinite(w0) or w0 <= 0:
            continue
        start = _final_run_start(w < cfg.collapse_frac * w0)
        if start is not None:
            out.append(HealthFlag("collapse", lv.name, int(view.step[start]),
                                  f"weight norm {w[-1]:.3g} < {cfg.collapse_frac:g} x its "
                                  f"start {w0:.3g}"))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_tail_first_flags_equal_the_whole_history(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sp = spec()
    n_flagged = 0
    for run in (0, 1, 7, 199, 200, 1023, 1024, 1025, 3000, 5000, 10**9):
        v = healthy(sp, n=6000, seed=seed)
        n = len(v.step)
        loss, copy = scal(sp, v, "outer_loss"), scal(sp, v, "copy_loss")
        copy[:] = rng.uniform(0.5, 1.5, n)
        loss[:] = copy * rng.uniform(0.2, 0.99, n)                # better than copy ...
        k = min(run, n)
        if k:
            loss[n - k:] = copy[n - k:] * rng.uniform(1.01, 3.0, k)   # ... but not lately
        loss[rng.random(n) < 0.01] = np.nan
        loss[rng.random(n) < 0.002] = 1e6                          # spikes break runs
        wn = col(sp, v, "cms1", "weight_norm")
        wn[:] = 1.0
        if k:
            wn[n - k:] = rng.uniform(0.0, 0.049, k)                # collapsed lately
        wn[n - k:][rng.random(k) < 0.001] = 1.0
        for window in (1, 50, 200, 2000):
            cfg = HealthConfig(loss_window=window)
            want = _full_worse_than_copy(v, sp, cfg)
            assert H._worse_than_copy(v, sp, cfg) == want
            collapsed = _full_collapse(v, sp, cfg)
            assert H._collapse(v, sp, cfg, None) == collapsed
            n_flagged += bool(want) + bool(collapsed)
        flags = check_health(v, sp)
        assert [f for f in flags if f.kind == "worse_than_copy"] == \
            _full_worse_than_copy(v, sp, HealthConfig())
    assert n_flagged >= 40                                 # both flags were exercised
