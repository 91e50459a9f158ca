"""The one smoothing of the metric series, shared by the live buffers and replay.

``ema_debiased`` is TensorBoard's debiased exponential moving average, computed in
blocks with numpy (no Python loop per step). ``Smoother`` carries its state across
calls, so a series smoothed in pieces (live batches) equals one smoothed at once
(a replay range); metrics in ``AT_UPDATE_METRICS`` are smoothed over fired steps only
and forward-filled between them (NaN before the first update).
"""
from __future__ import annotations

import math

import numpy as np

from engine.frames import METRIC_INDEX
from nlviz.series.views import AT_UPDATE_METRICS


def ema_debiased(x: np.ndarray, weight: float, y0: np.ndarray, c0: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Debiased exponential moving average along axis 0 (TensorBoard's smoothing).

    Parameters
    ----------
    x : (n, k) samples.
    weight : smoothing weight in [0, 1); 0 returns ``x`` unchanged.
    y0 : (k,) biased EMA state before ``x`` (0 at the start of a series).
    c0 : (k,) number of samples already folded into ``y0``.

    Returns
    -------
    (smoothed (n, k) float64, new biased state (k,), new counts (k,))
    """
    x = np.asarray(x, np.float64)
    n = x.shape[0]
    if n == 0:
        return x.copy(), y0, c0
    c_end = c0 + n
    if weight <= 0.0:
        return x.copy(), x[-1].copy(), c_end
    a = float(weight)
    block = max(1, int(150 * math.log(10) / -math.log(a)))   # keeps a**-j below 1e150
    out = np.empty_like(x)
    y = y0.astype(np.float64)
    for s in range(0, n, block):
        xb = x[s:s + block]
        j = np.arange(1, xb.shape[0] + 1, dtype=np.float64)[:, None]
        acc = y[None, :] + (1 - a) * np.cumsum(xb * a ** -j, axis=0)
        out[s:s + block] = acc * a ** j
        y = out[s + xb.shape[0] - 1].copy()
    cap = 40.0 / -math.log10(a)                               # a**cap = 1e-40: bias gone
    p0 = np.where(c0 > cap, 0.0, a ** np.minimum(c0, cap))    # no denormals
    pj = a ** np.minimum(np.arange(1, n + 1, dtype=np.float64), cap)
    debias = 1.0 - p0[None, :] * pj[:, None]
    return out / debias, y, c_end


class Smoother:
    """Stateful smoothing of (L, M, n) metric rows, as drawn in ``HistoryView.smooth``.

    Parameters
    ----------
    weight : EMA weight in [0, 1) (0: the raw values).
    level_metrics : the run's per-level metric names (``RunSpec.level_metrics``).
    n_levels : L.
    """

    def __init__(self, weight: float, level_metrics: tuple[str, ...], n_levels: int) -> None:
        self.weight = float(weight)
        M = len(level_metrics)
        self._y = np.zeros((n_levels, M))
        self._c = np.zeros((n_levels, M), np.int64)
        self._at_state: dict[tuple[int, int], tuple[float, int, float]] = {}
        self._at_update = [METRIC_INDEX[m] for m in AT_UPDATE_METRICS if m in level_metrics]

    def reset(self, weight: float | None = None) -> None:
        """Start a new series (optionally with a new weight)."""
        if weight is not None:
            self.weight = float(weight)
        self._y[:] = 0.0
        self._c[:] = 0
        self._at_state = {}

    def rows(self, level: np.ndarray, fired: np.ndarray) -> np.ndarray:
        """Smooth the next rows: level (L, M, n), fired (L, n) -> (L, M, n) float32."""
        L, M, n = level.shape
        if n == 0:
            return level.astype(np.float32)
        w = self.weight
        flat = level.reshape(L * M, n).T                             # (n, L*M)
        out, y, c = ema_debiased(flat, w, self._y.ravel(), self._c.ravel())
        self._y, self._c = y.reshape(L, M), c.reshape(L, M)
        out = out.T.reshape(L, M, n)
        for li in range(L):
            sel = np.flatnonzero(fired[li])
            for mi in self._at_update:
                y0, c0, last = self._at_state.get((li, mi), (0.0, 0, np.nan))
                sm, y1, c1 = ema_debiased(level[li, mi, sel][:, None], w,
                                          np.array([y0]), np.array([c0]))
                col = np.full(n, np.nan)
                col[sel] = sm[:, 0]
                out[li, mi] = ffill(col, last)
                self._at_state[(li, mi)] = (float(y1[0]), int(c1[0]), float(out[li, mi, -1]))
        return out.astype(np.float32)


def ffill(col: np.ndarray, first: float) -> np.ndarray:
    """Forward-fill NaNs in a 1-D array, starting from ``first``."""
    mask = np.isnan(col)
    if not mask.any():
        return col
    idx = np.where(~mask, np.arange(col.size), -1)
    np.maximum.accumulate(idx, out=idx)
    return np.where(idx >= 0, col[np.maximum(idx, 0)], first)


def smooth_series(level: np.ndarray, fired: np.ndarray, weight: float,
                  level_metrics: tuple[str, ...]) -> np.ndarray:
    """One-shot ``Smoother.rows`` from a fresh start (replay: EMA from the first row)."""
    return Smoother(weight, level_metrics, level.shape[0]).rows(level, fired)


__all__ = ["Smoother", "ema_debiased", "ffill", "smooth_series"]
