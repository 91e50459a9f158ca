"""Baseline losses of a stream window: what a trivial predictor scores on the same tokens
and with the same mask as the model's outer loss (``GLOBAL_METRICS`` copy_loss,
zero_loss, oracle_loss). numpy only; the session computes them from the stream sample,
off the model's hot path.

Shape legend: n tokens, d_in stream width.
"""
from __future__ import annotations

import numpy as np


def baseline_losses(x: np.ndarray, clean: np.ndarray | None, prev: np.ndarray | None,
                    next_step: bool) -> np.ndarray:
    """(n, 3) float32 [copy, zero, oracle] for the window x (n, d_in).

    copy: next_step ``1/2 ||x_{t-1} - x_t||^2`` with ``prev`` (d_in,) the input fed before
    the window (None: the model has predicted nothing yet, so the first token scores 0,
    as outer_loss does); reconstruction: 0 (x_t is the input). zero: ``1/2 ||x_t||^2``.
    oracle: ``1/2 ||x_t - clean_t||^2`` with ``clean`` (n, d_in) the stream's noiseless
    values, NaN where the stream has none.
    """
    xd = x.astype(np.float64)
    out = np.empty((len(xd), 3), np.float64)
    if next_step:
        before = np.concatenate([xd[:1] if prev is None else prev[None], xd[:-1]])
        out[:, 0] = 0.5 * np.square(before - xd).sum(1)
    else:
        out[:, 0] = 0.0
    out[:, 1] = 0.5 * np.square(xd).sum(1)
    out[:, 2] = np.nan if clean is None else 0.5 * np.square(xd - clean).sum(1)
    if next_step and prev is None and len(out):
        out[0] = 0.0
    return out.astype(np.float32)


__all__ = ["baseline_losses"]
