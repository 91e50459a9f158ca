"""Block means: a long noisy series drawn as the means of blocks of consecutive rows
(fewer vertices to paint, and the level rather than the per-token noise)."""
from __future__ import annotations

import numpy as np


def block_mean(step: np.ndarray, values: np.ndarray, max_points: int
               ) -> tuple[np.ndarray, np.ndarray, int]:
    """Means of blocks of ``k`` consecutive rows, k the smallest that leaves at most
    ``max_points`` blocks (the last block may be shorter); NaNs ignored.

    Returns
    -------
    (x (B,) mean step of each block, y (B,) mean value, k).
    """
    s = np.asarray(step, np.float64)
    v = np.asarray(values, np.float64)
    n = len(s)
    k = max(1, -(-n // max_points))
    if k == 1:
        return s, v, 1
    starts = np.arange(0, n, k)                                          # (B,)
    counts = np.diff(np.r_[starts, n])                                   # (B,)
    ok = np.isfinite(v)
    total = np.add.reduceat(np.where(ok, v, 0.0), starts)
    hits = np.add.reduceat(ok.astype(np.int64), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(hits > 0, total / hits, np.nan)
    return np.add.reduceat(s, starts) / counts, y, k


__all__ = ["block_mean"]
