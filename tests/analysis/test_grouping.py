"""Grouping by config minus the seed, and bands on a common grid."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from nlviz.analysis.grouping import band, common_grid, group_by_config, stats

BASE = {"model": {"cms": {"periods": [4, 16, 64], "lr": 0.02}},
        "run": {"seed": 0, "device": "auto"}}


def _cfg(seed: int, periods: list[int] | None = None) -> dict:
    c = copy.deepcopy(BASE)
    c["run"]["seed"] = seed
    if periods is not None:
        c["model"]["cms"]["periods"] = periods
    return c


def test_groups_ignore_the_seed_and_name_what_differs() -> None:
    cfgs = [_cfg(0), _cfg(0, [1, 1, 1]), _cfg(1), _cfg(2, [1, 1, 1]), _cfg(2)]
    groups = group_by_config(cfgs)
    assert [g.members for g in groups] == [(0, 2, 4), (1, 3)]
    assert [g.seeds for g in groups] == [(0, 1, 2), (0, 2)]
    assert [g.label for g in groups] == ["model.cms.periods=[4, 16, 64]",
                                         "model.cms.periods=[1, 1, 1]"]
    assert group_by_config([_cfg(0), _cfg(5)])[0].label == "all runs"
    wide = _cfg(0)
    wide["model"]["cms"].update(lr=0.5, hidden=3)
    wide["stream"] = {"name": "text"}
    g = group_by_config([_cfg(0), wide], max_keys=2)
    assert g[1].label == "model.cms.hidden=3, model.cms.lr=0.5 (+1 more keys)"


def test_stats_mean_and_sample_spread() -> None:
    mean, spread, n = stats([1.0, 2.0, 4.0, float("nan")])
    assert (mean, n) == (pytest.approx(7 / 3), 3)
    assert spread == pytest.approx(np.std([1, 2, 4], ddof=1))
    assert stats([3.0]) == (3.0, 0.0, 1)
    m, _, k = stats([])
    assert np.isnan(m) and k == 0


def test_band_on_shared_steps_and_on_interpolated_steps() -> None:
    s = np.arange(0, 10)
    b = band([s, s, s], [s * 1.0, s * 2.0, s * 3.0])
    np.testing.assert_array_equal(b.grid, s)
    np.testing.assert_allclose(b.mean, s * 2.0)
    np.testing.assert_allclose(b.std, np.std(np.stack([s, 2 * s, 3 * s]), 0, ddof=1))
    np.testing.assert_array_equal(b.count, 3)
    # no shared step: the grid is every recorded step in the common range [1, 8]
    a, c = np.arange(0, 10, 2), np.arange(1, 12, 2)
    np.testing.assert_array_equal(common_grid([a, c]), [1, 2, 3, 4, 5, 6, 7, 8])
    b = band([a, c], [a * 1.0, c * 1.0 + 10])
    np.testing.assert_allclose(b.mean, np.arange(1, 9) + 5.0)     # both linear in the step
    one = band([s], [s * 1.0])
    np.testing.assert_allclose(one.std, 0.0)
