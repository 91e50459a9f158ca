"""Per-step update rate, cumulative path, drift rate, labels and gate layout."""
from __future__ import annotations

import numpy as np
import pytest

from engine.frames import GLOBAL_METRICS, LEVEL_METRICS, LevelSpec, RunSpec
from nlviz.analysis.derived import (
    constant_note,
    cumulative_path,
    drift_rate,
    level_label,
    level_rates,
    shared_titans_gates,
    update_per_step,
)
from nlviz.series.views import HistoryView


def test_update_per_step_spreads_each_event_over_its_period() -> None:
    # period 4, events at rows 3, 7, 11 with norms 0.8, 0.4, 1.2; 2 rows pending at the end
    n = 14
    u = np.zeros(n)
    fired = np.zeros(n, np.uint8)
    for row, norm in ((3, 0.8), (7, 0.4), (11, 1.2)):
        u[row], fired[row] = norm, 1
    got = update_per_step(u, fired, 4)
    want = np.r_[[0.2] * 4, [0.1] * 4, [0.3] * 4, [np.nan] * 2]
    np.testing.assert_allclose(got, want)
    # the rate integrates back to the events' total
    assert np.nansum(got) == pytest.approx(0.8 + 0.4 + 1.2)
    assert cumulative_path(u)[-1] == pytest.approx(np.nansum(got))


def test_update_per_step_period_one_is_the_event_norm_and_gaps_are_nan() -> None:
    u = np.array([0.5, 0.25, 0.125])
    np.testing.assert_allclose(update_per_step(u, np.ones(3), 1), u)
    # an event 6 rows after the last: only the 4 rows before it are covered
    fired = np.array([1, 0, 0, 0, 0, 0, 1])
    got = update_per_step(np.array([2.0, 0, 0, 0, 0, 0, 4.0]), fired, 4)
    np.testing.assert_allclose(got, [0.5, np.nan, np.nan, 1, 1, 1, 1])


def test_cumulative_path_treats_nan_as_zero() -> None:
    np.testing.assert_allclose(cumulative_path(np.array([1.0, np.nan, 2.0, 0.5])),
                               [1, 1, 3, 3.5])


def test_drift_rate_per_thousand_steps() -> None:
    step = np.arange(0, 2001)
    drift = 0.1 + 0.0003 * step
    assert drift_rate(step, drift) == pytest.approx(0.3)
    drift[:10] = np.nan
    assert drift_rate(step, drift) == pytest.approx(0.3)
    assert np.isnan(drift_rate(step[:1], drift[:1]))


def test_level_labels() -> None:
    assert level_label(LevelSpec("memory", "titans", 1, (4, 4))) == "memory · every token"
    assert level_label(LevelSpec("cms3", "cms", 64, (4, 4))) == "cms3 · every 64"


def _view(level: np.ndarray) -> HistoryView:
    L, _, n = level.shape
    return HistoryView(np.arange(n, dtype=np.float64), level, level, np.ones((L, n), np.uint8),
                       np.zeros((len(GLOBAL_METRICS), n), np.float32), np.zeros(n, np.int32), n)


def test_gate_layout_finds_shared_titans_gates_and_constant_cms_gates() -> None:
    levels = tuple(LevelSpec(n, "titans", 1, (2, 2)) for n in ("memory", "k", "v")) + (
        LevelSpec("cms1", "cms", 4, (2, 2)), LevelSpec("cms2", "cms", 16, (2, 2)))
    spec = RunSpec(levels, 4, 4)
    rng = np.random.default_rng(0)
    n = 50
    level = np.zeros((5, len(LEVEL_METRICS), n), np.float32)
    lr, ret = LEVEL_METRICS.index("lr"), LEVEL_METRICS.index("retention")
    level[:3, lr] = rng.random(n)                     # shared by the three Titans levels
    level[:3, ret] = rng.random((3, n))               # differs between them
    level[3, lr] = np.float32(0.02)                   # constant
    level[3, ret] = 1.0
    level[4, lr] = np.linspace(0.01, 0.02, n)         # varies
    level[4, ret] = 1.0
    got = shared_titans_gates(_view(level), spec)
    assert got.shared == ("lr",)
    assert got.titans == ("memory", "k", "v")
    assert set(got.constant) == {"cms1", "cms2"}
    assert got.constant["cms1"]["lr"] == pytest.approx(0.02)
    assert got.constant["cms1"]["retention"] == 1.0
    assert set(got.constant["cms2"]) == {"retention"}
    assert constant_note(got.constant["cms1"]) == "η = 0.02, ρ = 1 (constant)"
    assert constant_note({}) == ""


def test_level_rates_use_each_levels_period() -> None:
    levels = (LevelSpec("memory", "titans", 1, (2, 2)), LevelSpec("cms1", "cms", 4, (2, 2)))
    spec = RunSpec(levels, 4, 4)
    n = 8
    level = np.zeros((2, len(LEVEL_METRICS), n), np.float32)
    un = LEVEL_METRICS.index("update_norm")
    level[0, un] = 0.5
    level[1, un, [3, 7]] = [0.8, 0.4]
    v = _view(level)
    v.fired[1] = 0
    v.fired[1, [3, 7]] = 1
    rate, path = level_rates(v, spec)
    np.testing.assert_allclose(rate[0], 0.5)
    np.testing.assert_allclose(rate[1], [0.2] * 4 + [0.1] * 4)
    np.testing.assert_allclose(path[1], [0, 0, 0, 0.8, 0.8, 0.8, 0.8, 1.2], rtol=1e-6)
    # the slow level's event is bigger, its per-step rate is not (the 0.054 vs 0.037)
    assert level[1, un].max() > level[0, un].max() and rate[1].max() < rate[0].max()
