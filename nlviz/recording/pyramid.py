"""Incremental min/max summary pyramid (built while writing, read by ``overview``)."""
from __future__ import annotations

import numpy as np

from nlviz.recording.layout import LOD_BUCKETS, LOD_FACTOR


def group_min(values: np.ndarray, k: int) -> np.ndarray:
    """Min over consecutive groups of ``k`` rows of (n, ...) ``values`` (n a multiple of k)
    -> (n/k, ...); NaN is ignored (an all-NaN group gives NaN), inf is kept."""
    return np.fmin.reduce(values.reshape(-1, k, *values.shape[1:]), axis=1)


def group_max(values: np.ndarray, k: int) -> np.ndarray:
    """Max over consecutive groups of ``k`` rows, as ``group_min``."""
    return np.fmax.reduce(values.reshape(-1, k, *values.shape[1:]), axis=1)


def group_minmax(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``group_min`` and ``group_max`` of the same rows: the one NaN-ignoring min/max
    summary of nlviz (the pyramid, the reader's tail, the replay summary's buckets)."""
    return group_min(values, k), group_max(values, k)


class PyramidBuilder:
    """Feeds rows of S series and returns the completed buckets of every pyramid level.

    Level j has buckets of ``LOD_BUCKETS[j]`` rows; each level is reduced from the one
    below by ``LOD_FACTOR``, so each raw row is touched once. Rows of an incomplete
    bucket wait in a carry buffer (the reader reads that tail from the raw series).
    """

    def __init__(self, n_series: int) -> None:
        self.n_series = n_series
        self._carry_min = [np.zeros((0, n_series), np.float32) for _ in LOD_BUCKETS]
        self._carry_max = [np.zeros((0, n_series), np.float32) for _ in LOD_BUCKETS]

    def push(self, values: np.ndarray) -> list[np.ndarray]:
        """Add (n, S) rows; returns one (k_j, S, 2) float32 array per level (k_j may be 0)."""
        lo = hi = np.asarray(values, np.float32)
        out: list[np.ndarray] = []
        for j in range(len(LOD_BUCKETS)):
            lo = np.concatenate([self._carry_min[j], lo])
            hi = np.concatenate([self._carry_max[j], hi])
            full = (lo.shape[0] // LOD_FACTOR) * LOD_FACTOR
            self._carry_min[j], self._carry_max[j] = lo[full:], hi[full:]
            if full:
                lo, hi = group_min(lo[:full], LOD_FACTOR), group_max(hi[:full], LOD_FACTOR)
            else:
                lo = hi = np.zeros((0, self.n_series), np.float32)
            out.append(np.stack([lo, hi], axis=-1))
        return out
