"""Compare data, Qt-free: smoothing, the min/max envelope and group switch-aligned means
against direct numpy (grouping and bands: nlviz.analysis.grouping, tested there)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from nlviz.analysis.retention import Aligned
from nlviz.replay.compare_series import Curve, envelope, mean_aligned, smooth


def test_smooth_is_a_trailing_mean_that_skips_nan():
    v = np.array([1.0, 2.0, np.nan, 4.0, 5.0, 6.0])
    got = smooth(Curve(np.arange(6), v), 3).values
    want = [np.nanmean(v[max(0, i - 2):i + 1]) for i in range(6)]
    np.testing.assert_allclose(got, want)
    assert smooth(Curve(np.arange(6), v), 1).values is v


def test_envelope_is_min_and_max_per_bucket():
    rng = np.random.default_rng(0)
    v = rng.normal(size=1000)
    v[10:20] = np.nan                                         # NaN only where all are
    s = envelope(np.arange(1000) * 2, v, v, 100)
    assert s.is_summary and len(s.steps) == 100
    np.testing.assert_array_equal(s.steps, np.arange(0, 2000, 20))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)       # the all-NaN bucket
        lo, hi = np.nanmin(v.reshape(100, 10), 1), np.nanmax(v.reshape(100, 10), 1)
    np.testing.assert_array_equal(s.values, lo)
    np.testing.assert_array_equal(s.maxs, hi)
    assert np.isnan(s.values[1]) and not envelope(np.arange(5), v[:5], v[:5], 100).is_summary


def test_group_aligned_mean_is_the_mean_of_member_means():
    off = np.arange(-2, 2)
    m1, m2 = np.array([[1.0, 2, 3, 4]]), np.array([[3.0, 2, 1, 0]])
    none = Aligned(off, np.full((1, 4), np.nan), np.full((1, 4), np.nan), 0)
    x, mean, std, count = mean_aligned([Aligned(off, m1, m1, 2), none, Aligned(off, m2, m2, 3)])
    np.testing.assert_array_equal(x, off)
    np.testing.assert_allclose(mean, [2, 2, 2, 2])
    np.testing.assert_allclose(std, np.std(np.stack([m1[0], m2[0]]), 0, ddof=1))   # as grouping
    assert count == 5
    assert mean_aligned([none])[3] == 0


def test_unknown_metric_is_refused(tmp_path):
    from nlviz.recording.reader import Recording
    from nlviz.replay.compare_series import run_curve
    from tests.replay.test_compare_export_files import make
    make(tmp_path / "r.h5", 2, 100, {"run": {"seed": 0}})
    with Recording.open(tmp_path / "r.h5") as rec, pytest.raises(ValueError, match="nope"):
        run_curve(rec, "nope", "L0")
