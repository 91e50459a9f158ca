"""The one smoothing against a plain per-step oracle (a Python loop of the recurrence)."""
from __future__ import annotations

import numpy as np

from engine.frames import LEVEL_METRICS, METRIC_INDEX
from nlviz.series.smoothing import Smoother, ffill, smooth_series
from nlviz.series.views import AT_UPDATE_METRICS


def _oracle(level: np.ndarray, fired: np.ndarray, a: float) -> np.ndarray:
    """(L, M, n): debiased EMA per series; at-update metrics over fired steps only, held
    between them, NaN before the first."""
    L, M, n = level.shape
    out = np.full((L, M, n), np.nan)
    at = {METRIC_INDEX[m] for m in AT_UPDATE_METRICS}
    for li in range(L):
        for mi in range(M):
            y, k, held = 0.0, 0, np.nan
            for t in range(n):
                if mi in at and not fired[li, t]:
                    out[li, mi, t] = held
                    continue
                y = a * y + (1 - a) * level[li, mi, t]
                k += 1
                held = y / (1 - a ** k) if a else y
                out[li, mi, t] = held
    return out


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    level = rng.random((2, len(LEVEL_METRICS), n)).astype(np.float32)
    fired = np.stack([np.ones(n), np.arange(n) % 5 == 4]).astype(np.uint8)   # level 1: /5
    return level, fired


def test_one_shot_matches_the_recurrence() -> None:
    level, fired = _data(300)
    for a in (0.0, 0.5, 0.95):
        got = smooth_series(level, fired, a, LEVEL_METRICS)
        want = _oracle(level, fired, a)
        assert got.dtype == np.float32 and got.shape == level.shape
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7, equal_nan=True)
    upd = METRIC_INDEX["update_norm"]
    assert np.isnan(got[1, upd, :4]).all() and np.isfinite(got[1, upd, 4:]).all()
    assert (got[1, upd, 5:9] == got[1, upd, 4]).all()                     # held


def test_pieces_equal_one_shot() -> None:
    level, fired = _data(500)
    whole = smooth_series(level, fired, 0.9, LEVEL_METRICS)
    s = Smoother(0.9, LEVEL_METRICS, 2)
    parts = [s.rows(level[..., a:b], fired[:, a:b]) for a, b in ((0, 3), (3, 200), (200, 500))]
    np.testing.assert_array_equal(np.concatenate(parts, -1), whole)
    s.reset(0.0)                                                            # a new series
    np.testing.assert_array_equal(s.rows(level[..., :50], fired[:, :50])[0], level[0, :, :50])


def test_ffill_holds_the_last_value() -> None:
    col = np.array([np.nan, 1.0, np.nan, np.nan, 3.0, np.nan])
    np.testing.assert_array_equal(ffill(col, 7.0), [7.0, 1.0, 1.0, 1.0, 3.0, 3.0])
    assert np.isnan(ffill(np.array([np.nan, np.nan]), np.nan)).all()
