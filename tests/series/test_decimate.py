"""The one min/max decimation against per-bucket loops."""
from __future__ import annotations

import numpy as np

from nlviz.recording.pyramid import group_minmax
from nlviz.series.decimate import (
    max_from,
    minmax_buckets,
    peak_bins,
    visible_slice,
)


def test_minmax_buckets_unaligned_start_and_mask_against_a_loop() -> None:
    rng = np.random.default_rng(5)
    x = np.arange(37, 37 + 1000, dtype=np.float64)
    y = rng.standard_normal((2, 1000))
    mask = (rng.random((2, 1000)) < 0.05).astype(np.uint8)
    lo, hi, k = 10, 990, 40
    bx, mn, mx, tail = minmax_buckets(x, y, lo, hi, k, mask)
    start = lo + (-int(x[lo])) % k
    assert x[start] % k == 0 and bx[0] == x[start] and x[tail] == bx[-1] + k and hi - tail < k
    for b, x0 in enumerate(bx):
        i = int(x0 - x[0])
        for r in range(2):
            sel = mask[r, i:i + k] > 0
            if sel.any():
                assert mn[r, b] == y[r, i:i + k][sel].min() and mx[r, b] == y[r, i:i + k][sel].max()
            else:
                assert np.isnan(mn[r, b]) and np.isnan(mx[r, b])


def test_peak_bins_is_the_max_of_each_group() -> None:
    fired = (np.random.default_rng(1).random((3, 103)) < 0.1).astype(np.uint8)
    out = peak_bins(fired, 10)
    assert out.shape == (3, 11)
    for g in range(11):
        np.testing.assert_array_equal(out[:, g], fired[:, 10 * g:10 * g + 10].max(1))
    assert peak_bins(fired, 1) is fired


def test_max_from_bucket_starts() -> None:
    v = np.array([[0, 0, 1, 0, 0, 0, 0, 1], [5, 1, 1, 1, 2, 9, 0, 0]])
    np.testing.assert_array_equal(max_from(v, np.array([0, 3, 5])), [[1, 0, 1], [5, 2, 9]])


def test_visible_slice_edges() -> None:
    x = np.arange(10, 20, dtype=np.float64)
    assert visible_slice(x, 12, 14) == (1, 6) and visible_slice(x, 0, 5) == (0, 1)


def test_group_minmax_ignores_nan_keeps_inf() -> None:
    v = np.array([[1.0, np.nan], [3.0, np.nan], [np.inf, 2.0], [0.0, -1.0]])
    mn, mx = group_minmax(v, 2)
    np.testing.assert_array_equal(mn, [[1.0, np.nan], [0.0, -1.0]])
    np.testing.assert_array_equal(mx, [[3.0, np.nan], [np.inf, 2.0]])
    r = np.random.default_rng(2).standard_normal((60, 3))
    mn, mx = group_minmax(r, 6)
    for g in range(10):
        np.testing.assert_array_equal(mn[g], r[6 * g:6 * g + 6].min(0))
        np.testing.assert_array_equal(mx[g], r[6 * g:6 * g + 6].max(0))
