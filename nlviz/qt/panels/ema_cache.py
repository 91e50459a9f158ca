"""The loss panel's smoothing, kept across frames: the debiased EMA of the loss and
baseline columns is extended by the new rows only (live: 64 new rows a frame instead of
100k), keyed by step number. A view that does not continue the cached rows (another run,
a seek back, other values at a cached step) starts the cache again from its own rows.
"""
from __future__ import annotations

import numpy as np

from nlviz.series.smoothing import ema_debiased

MAX_ROWS = 400_000               # rows kept at most (the oldest are dropped)


class EmaCache:
    """Smoothed rows by step: ``rows(step, raw)`` is the EMA of ``raw`` as smoothed from the
    cache's first row on (equal to smoothing from the view's first row once that is many
    EMA lengths after the cache start, and exactly equal when they are the same row)."""

    def __init__(self, weight: float) -> None:
        self.weight = weight
        self.n = 0
        self._steps = np.zeros(0)
        self._raw = np.zeros((0, 0), np.float32)         # (S, cap) what was smoothed
        self._vals = np.zeros((0, 0), np.float32)        # (S, cap)
        self._y = np.zeros(0)
        self._c = np.zeros(0)

    @property
    def steps(self) -> np.ndarray:
        """The cached steps (n,)."""
        return self._steps[:self.n]

    def _append(self, step: np.ndarray, raw: np.ndarray, vals: np.ndarray) -> None:
        """Append rows; when full, move the newest rows (at most ``MAX_ROWS``) into a buffer
        twice their size (amortized: no copy of the whole cache per frame)."""
        m, S = len(step), raw.shape[0]
        if self.n + m > self._steps.shape[0]:
            keep = min(self.n, max(0, MAX_ROWS - m))
            cap = max(1024, 2 * (keep + m))
            steps, r, v = np.zeros(cap), np.zeros((S, cap), np.float32), \
                np.zeros((S, cap), np.float32)
            lo = self.n - keep
            steps[:keep] = self._steps[lo:self.n]
            r[:, :keep] = self._raw[:, lo:self.n]
            v[:, :keep] = self._vals[:, lo:self.n]
            self._steps, self._raw, self._vals, self.n = steps, r, v, keep
        self._steps[self.n:self.n + m] = step
        self._raw[:, self.n:self.n + m] = raw
        self._vals[:, self.n:self.n + m] = vals
        self.n += m

    def _continues(self, step: np.ndarray, raw: np.ndarray) -> tuple[int, int] | None:
        """(index of ``step[0]`` in the cache, index in ``step`` after the cached rows), or
        None when ``step``/``raw`` do not continue the cache."""
        c = self.steps
        if self.n == 0 or raw.shape[0] != self._raw.shape[0] or step[0] < c[0]:
            return None
        i0 = int(np.searchsorted(c, step[0]))
        if i0 >= self.n or c[i0] != step[0]:
            return None
        j = int(np.searchsorted(step, c[-1], side="right"))          # first new row
        if j == 0 or step[j - 1] != c[-1] or self.n - i0 != j:       # no gap, no extra row
            return None
        same = (np.array_equal(raw[:, 0], self._raw[:, i0], equal_nan=True) and
                np.array_equal(raw[:, j - 1], self._raw[:, self.n - 1], equal_nan=True))
        return (i0, j) if same else None

    def rows(self, step: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """EMA (S, m) float32 of ``raw`` (S, m) at ``step`` (m,) (sorted, unique)."""
        if len(step) == 0:
            return raw.astype(np.float32)
        at = self._continues(step, raw)
        if at is None:
            S = raw.shape[0]
            out, self._y, self._c = ema_debiased(raw.T, self.weight, np.zeros(S), np.zeros(S))
            self.n = 0
            self._steps = np.zeros(0)
            self._raw = self._vals = np.zeros((S, 0), np.float32)
            self._append(step, raw, out.T.astype(np.float32))
            return self._vals[:, :len(step)]
        i0, j = at
        if j < len(step):
            out, self._y, self._c = ema_debiased(raw[:, j:].T, self.weight, self._y, self._c)
            before = self.n
            self._append(step[j:], raw[:, j:], out.T.astype(np.float32))
            i0 -= before + (len(step) - j) - self.n                   # rows dropped in front
            if i0 < 0:                                                # (a view > MAX_ROWS)
                self.n = 0
                return self.rows(step, raw)
        return self._vals[:, i0:i0 + len(step)]


__all__ = ["EmaCache"]
