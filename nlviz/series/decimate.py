"""The one min/max bucket decimation: many samples drawn as the extremes of buckets.

Used by the metric plots (``minmax_buckets``: buckets aligned to step numbers, with an
exact raw tail), the fired raster (``peak_bins``: max over fixed groups) and the replay
summary's fired flags (``max_from``: max over buckets that start at given indices).
The NaN-ignoring group min/max of the recording's summary is ``nlviz.recording.pyramid.group_minmax``.
"""
from __future__ import annotations

import numpy as np


def visible_slice(x: np.ndarray, x0: float, x1: float) -> tuple[int, int]:
    """Index range of ``x`` (sorted) covering ``[x0, x1]`` plus one point each side."""
    lo = max(0, int(np.searchsorted(x, x0)) - 1)
    hi = min(len(x), int(np.searchsorted(x, x1, side="right")) + 1)
    return lo, hi


def minmax_buckets(x: np.ndarray, y: np.ndarray, lo: int, hi: int, k: int,
                   mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                            int]:
    """Peak-decimate ``y[..., lo:hi]`` into buckets of ``k`` steps aligned to ``x % k == 0``.

    Returns ``(bx, mn, mx, tail)``: bucket start x (nb,), min and max (..., nb) and the
    index where the raw tail (the partial last bucket, drawn exactly) starts. With ``mask``
    (..., n) only masked samples count; empty buckets hold NaN.
    """
    start = lo + (-int(x[lo])) % k
    nb = max(0, (hi - start) // k)
    end = start + nb * k
    seg = y[..., start:end].reshape(*y.shape[:-1], nb, k)            # (..., nb, k)
    if mask is None:
        mn, mx = seg.min(-1), seg.max(-1)
    else:
        m = mask[..., start:end].reshape(*mask.shape[:-1], nb, k) > 0
        mn = np.where(m, seg, np.inf).min(-1)
        mx = np.where(m, seg, -np.inf).max(-1)
        empty = ~m.any(-1)
        mn[empty] = np.nan
        mx[empty] = np.nan
    return x[start:end:k], mn, mx, end


def peak_bins(values: np.ndarray, k: int) -> np.ndarray:
    """Max over consecutive groups of ``k`` columns of (R, n) ``values`` -> (R, ceil(n/k));
    the last group is padded with zeros (for non-negative flags such as ``fired``)."""
    if k <= 1:
        return values
    pad = (-values.shape[1]) % k
    return np.pad(values, ((0, 0), (0, pad))).reshape(values.shape[0], -1, k).max(2)


def max_from(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Max of (R, n) ``values`` over buckets starting at column ``starts`` (B,) (each runs
    to the next start, the last to the end) -> (R, B)."""
    return np.maximum.reduceat(values, starts, axis=-1)


__all__ = ["max_from", "minmax_buckets", "peak_bins", "visible_slice"]
