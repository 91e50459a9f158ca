"""Incremental min/max summary pyramid (built while writing, read by ``overview``)."""
from __future__ import annotations

import numpy as np

from nlviz.recording.layout import LOD_BUCKETS, LOD_FACTOR


def reduce_minmax(values: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max over consecutive groups of ``factor`` rows, ignoring NaN (a group of
    only NaN gives NaN); inf is kept. ``values`` is (n, S) with n a multiple of factor."""
    grouped = values.reshape(-1, factor, *values.shape[1:])
    return np.fmin.reduce(grouped, axis=1), np.fmax.reduce(grouped, axis=1)


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
                lo = np.fmin.reduce(lo[:full].reshape(-1, LOD_FACTOR, self.n_series), axis=1)
                hi = np.fmax.reduce(hi[:full].reshape(-1, LOD_FACTOR, self.n_series), axis=1)
            else:
                lo = hi = np.zeros((0, self.n_series), np.float32)
            out.append(np.stack([lo, hi], axis=-1))
        return out
