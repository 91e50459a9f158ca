"""What a frame source hands the panels: plain numpy views and small value records.

Shared by the live ring buffers (``nlviz.series.ring``) and the replay source
(``nlviz.replay.source``), so the same panels draw either.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nlviz.recording.stats import RecorderStats

# Metrics that only change when a level fires: smoothed (and drawn) on fired steps only.
AT_UPDATE_METRICS: tuple[str, ...] = ("update_norm", "update_rel")


@dataclass
class HistoryView:
    """Per-step series of a step range (live: zero-copy views, valid for ``margin`` more steps).

    Attributes
    ----------
    step : (n,) float64 global step numbers (float64 for pyqtgraph's fast search).
    level : (L, M, n) float32 raw metrics.
    smooth : (L, M, n) float32 debiased EMA of ``level`` (== level when smoothing is 0).
    fired : (L, n) uint8.
    scalars : (G, n) float32.
    regime : (n,) int32.
    total : steps the source holds in all (live: pushed since the last reset; replay: rows).
    bucket_rows : 1 for exact rows; above 1 the view is a min/max summary of buckets of that
        many rows, each bucket appearing twice on the step axis (min row, then max row).
    """

    step: np.ndarray
    level: np.ndarray
    smooth: np.ndarray
    fired: np.ndarray
    scalars: np.ndarray
    regime: np.ndarray
    total: int
    bucket_rows: int = 1

    @property
    def is_summary(self) -> bool:
        """True when the rows are min/max bucket summaries rather than exact rows."""
        return self.bucket_rows > 1

    def head(self, k: int) -> HistoryView:
        """The first ``k`` columns (views, no copy)."""
        return HistoryView(self.step[:k], self.level[..., :k], self.smooth[..., :k],
                           self.fired[:, :k], self.scalars[:, :k], self.regime[:k], self.total,
                           self.bucket_rows)


@dataclass
class RunStats:
    """Worker-side numbers for the status bar (written by the worker, read by the GUI)."""

    steps_per_s: float = 0.0
    batch: int = 0
    playing: bool = False
    recording: RecorderStats | None = None     # the recorder's last numbers, or None
    record_blocked_s: float = 0.0


@dataclass
class InputSlot:
    """The most recent inputs: (k, d_in) vectors, tokens and regimes, oldest first."""

    inputs: np.ndarray
    token: np.ndarray
    regime: np.ndarray
    step: int


__all__ = ["AT_UPDATE_METRICS", "HistoryView", "InputSlot", "RunStats"]
