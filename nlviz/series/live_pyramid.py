"""``LivePyramid``: min/max summaries of the live ring, kept up to date on every append.

Replay draws a long range from the recording's min/max pyramid; the live ring gets the
same so a redraw of 100k steps reads O(pixels) values, not O(steps). Levels hold buckets
of ``base * 2**j`` rows, aligned to the row index since the reset (bucket ``i`` of level
``j`` covers rows ``[i * b_j, (i + 1) * b_j)``), each in a ring of its own sized to the
live ring's rows (capacity + margin) plus two buckets. An append reduces the new rows into
level 0 and every completed bucket of a level into the next: amortised O(1) work per row
and per column, in a few numpy reductions per batch. Floats use the NaN-ignoring
``fmin``/``fmax`` (an all-NaN bucket stays NaN, like the recording's pyramid); ``fired``
is the max (fired anywhere in the bucket); ``step`` and ``regime`` are the bucket's first.

A summary of rows ``[lo, hi)`` uses the finest level with at most the asked number of
buckets; the rows before its first whole bucket and after its last one (fewer than one
bucket each) are reduced from the ring's rows on the spot, so every row of the range is
covered and the newest rows show at once.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

PYRAMID_BASE = 8               # rows per bucket of the finest level
MIN_BUCKETS = 4                # the coarsest level still has at least this many buckets

Cols = dict[str, np.ndarray]
# per-bucket columns: name -> (min or None, max); "first" columns (step, regime) separate
FLOATS = ("level", "smooth", "scalars")


def _reduce(mn: Cols, mx: Cols, k: int) -> tuple[Cols, Cols]:
    """Reduce the last axis (n = g * k) of every column in groups of ``k`` -> (..., g)."""
    rmn = {c: np.fmin.reduce(v.reshape(*v.shape[:-1], -1, k), axis=-1) for c, v in mn.items()}
    rmx = {c: (np.fmax if c in FLOATS else np.maximum).reduce(
        v.reshape(*v.shape[:-1], -1, k), axis=-1) for c, v in mx.items()}
    return rmn, rmx


class _Level:
    """One level: a ring of ``nb`` buckets of ``factor`` items of the level below."""

    def __init__(self, rows: int, factor: int, nb: int, lead: dict[str, tuple[int, ...]],
                 dtypes: dict[str, np.dtype[Any]]) -> None:
        self.rows, self.factor, self.nb = rows, factor, nb
        self.mn: Cols = {c: np.zeros((*lead[c], nb), dtypes[c]) for c in FLOATS}
        self.mx: Cols = {c: np.zeros((*lead[c], nb), dtypes[c]) for c in (*FLOATS, "fired")}
        self.first: Cols = {"step": np.zeros(nb, np.float64), "regime": np.zeros(nb, np.int32)}
        self.done = 0                  # buckets completed (bucket index of the partial one)
        self.part = 0                  # items in the partial bucket
        self.acc: tuple[Cols, Cols, dict[str, np.ndarray]] | None = None

    def restart(self, first_row: int, below_rows: int) -> None:
        """Start empty at row ``first_row`` (rows before it are gone)."""
        self.done = first_row // self.rows
        self.part = (first_row % self.rows) // below_rows
        self.acc = None

    def add(self, mn: Cols, mx: Cols, first: dict[str, np.ndarray]
            ) -> tuple[Cols, Cols, dict[str, np.ndarray]] | None:
        """Add ``n`` items (columns (..., n)); return the buckets completed (or None)."""
        n = first["step"].shape[0]
        f, out = self.factor, []
        i = 0
        if self.part or self.acc is not None:            # fill the partial bucket first
            t = min(f - self.part, n)
            head = _reduce({c: v[..., :t] for c, v in mn.items()},
                           {c: v[..., :t] for c, v in mx.items()}, t)
            hf = {c: v[:1] for c, v in first.items()}
            if self.acc is None:
                self.acc = (head[0], head[1], hf)
            else:
                a0, a1, af = self.acc
                self.acc = ({c: np.fmin(a0[c], head[0][c]) for c in a0},
                            {c: (np.fmax if c in FLOATS else np.maximum)(a1[c], head[1][c])
                             for c in a1}, af)
            self.part += t
            i = t
            if self.part == f:
                out.append(self.acc)
                self.acc, self.part = None, 0
        g = (n - i) // f
        if g:
            j = i + g * f
            rmn, rmx = _reduce({c: v[..., i:j] for c, v in mn.items()},
                               {c: v[..., i:j] for c, v in mx.items()}, f)
            out.append((rmn, rmx, {c: v[i:j:f] for c, v in first.items()}))
            i = j
        if i < n:                                        # a new partial bucket
            tmn, tmx = _reduce({c: v[..., i:] for c, v in mn.items()},
                               {c: v[..., i:] for c, v in mx.items()}, n - i)
            self.acc = (tmn, tmx, {c: v[i:i + 1] for c, v in first.items()})
            self.part = n - i
        if not out:
            return None
        done = (
            {c: np.concatenate([o[0][c] for o in out], -1) for c in mn},
            {c: np.concatenate([o[1][c] for o in out], -1) for c in mx},
            {c: np.concatenate([o[2][c] for o in out]) for c in first})
        self._store(*done)
        return done

    def _store(self, mn: Cols, mx: Cols, first: dict[str, np.ndarray]) -> None:
        k = first["step"].shape[0]
        pos = (self.done + np.arange(k)) % self.nb                     # (k,)
        for c, v in mn.items():
            self.mn[c][..., pos] = v
        for c, v in mx.items():
            self.mx[c][..., pos] = v
        for c, v in first.items():
            self.first[c][pos] = v
        self.done += k                                 # published after the data


class LivePyramid:
    """Min/max levels over a ring of ``rows`` rows (capacity + margin); see the module doc.

    Parameters
    ----------
    rows : rows the live ring can hold (its modulus).
    lead : leading shapes of ``level``/``smooth`` (L, M), ``scalars`` (G,), ``fired`` (L,).
    """

    def __init__(self, rows: int, lead: dict[str, tuple[int, ...]],
                 base: int = PYRAMID_BASE, min_buckets: int = MIN_BUCKETS) -> None:
        f32 = np.dtype(np.float32)
        dtypes: dict[str, np.dtype[Any]] = {"level": f32, "smooth": f32, "scalars": f32,
                                            "fired": np.dtype(np.uint8)}
        self.levels: list[_Level] = []
        b, factor = base, base
        while not self.levels or rows // b >= min_buckets:
            self.levels.append(_Level(b, factor, rows // b + 2, lead, dtypes))
            b, factor = 2 * b, 2
        self.count = 0

    def restart(self, first_row: int) -> None:
        """Empty, continuing at row ``first_row`` (rebuild after the smoothing changed)."""
        below = 1
        for lv in self.levels:
            lv.restart(first_row, below)
            below = lv.rows
        self.count = first_row

    def append(self, cols: Cols) -> None:
        """Add ``n`` rows: ``level``/``smooth`` (L, M, n), ``scalars`` (G, n), ``fired``
        (L, n), ``step`` (n,), ``regime`` (n,)."""
        mn = {c: cols[c] for c in FLOATS}
        mx = {**mn, "fired": cols["fired"]}
        first = {"step": np.asarray(cols["step"], np.float64), "regime": cols["regime"]}
        n = first["step"].shape[0]
        nxt = (mn, mx, first)
        for lv in self.levels:
            got = lv.add(*nxt)
            if got is None:
                break
            nxt = got
        self.count += n

    def pick(self, n_rows: int, max_buckets: int) -> _Level | None:
        """The finest level with at most ``max_buckets`` buckets over ``n_rows`` rows."""
        for lv in self.levels:
            if -(-n_rows // lv.rows) + 1 <= max_buckets:
                return lv
        return self.levels[-1] if self.levels else None

    def summary(self, lo: int, hi: int, max_buckets: int,
                rows: Callable[[int, int], tuple[Cols, Cols, dict[str, np.ndarray]]]
                ) -> tuple[Cols, Cols, dict[str, np.ndarray], int]:
        """Buckets covering rows ``[lo, hi)`` (row indices since the reset): columns of
        (..., B) minima (floats), maxima (floats and ``fired``), first ``step``/``regime``
        and the bucket size in rows. ``rows(a, b)``: the ring's rows ``[a, b)`` as
        (min, max, first) columns of single rows (for the partial buckets at the ends)."""
        lv = self.pick(hi - lo, max_buckets)
        assert lv is not None
        b = lv.rows
        a = -(-lo // b)                                  # first whole bucket
        c = max(a, min(hi // b, lv.done))                # past the last whole bucket
        parts: list[tuple[Cols, Cols, Cols]] = []
        head_end = min(a * b, hi) if a * b > lo else lo
        if head_end > lo:
            parts.append(_whole(*rows(lo, head_end)))
        if c > a:
            pos = np.arange(a, c) % lv.nb                # (B,)
            parts.append(({k: v[..., pos] for k, v in lv.mn.items()},
                          {k: v[..., pos] for k, v in lv.mx.items()},
                          {k: v[pos] for k, v in lv.first.items()}))
        tail = c * b if c > a else head_end
        if tail < hi:
            parts.append(_whole(*rows(tail, hi)))
        mn = {k: np.concatenate([p[0][k] for p in parts], -1) for k in parts[0][0]}
        mx = {k: np.concatenate([p[1][k] for p in parts], -1) for k in parts[0][1]}
        first = {k: np.concatenate([p[2][k] for p in parts]) for k in parts[0][2]}
        return mn, mx, first, b


def _whole(mn: Cols, mx: Cols, first: dict[str, np.ndarray]
           ) -> tuple[Cols, Cols, dict[str, np.ndarray]]:
    """One bucket of all the given rows."""
    n = first["step"].shape[0]
    rmn, rmx = _reduce(mn, mx, n)
    return rmn, rmx, {c: v[:1] for c, v in first.items()}


__all__ = ["MIN_BUCKETS", "PYRAMID_BASE", "LivePyramid"]
