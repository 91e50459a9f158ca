"""Qt-free data path shared by live and replay: the ``FrameSource`` protocol, the views it
hands out, the live ring buffers, and the one smoothing and decimation."""
from __future__ import annotations

from nlviz.series.ring import RunBuffers
from nlviz.series.smoothing import Smoother, ema_debiased
from nlviz.series.source import FrameSource
from nlviz.series.views import AT_UPDATE_METRICS, HistoryView, InputSlot, RunStats

__all__ = ["AT_UPDATE_METRICS", "FrameSource", "HistoryView", "InputSlot", "RunBuffers",
           "RunStats", "Smoother", "ema_debiased"]
