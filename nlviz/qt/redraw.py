"""The GUI-side pull: a QTimer (about 30 Hz) copies nothing, it points the persistent
plot items at the ring-buffer views and refreshes the side panels when they changed."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from nlviz.buffers import RunBuffers
from nlviz.qt import gc_guard

if TYPE_CHECKING:
    from nlviz.qt.main_window import MainWindow

SLOW_PANEL_PERIOD = 0.5        # heatmap / probes / inputs at most 2 Hz (hidden docks: never)
STATUS_PERIOD = 0.25           # status bar at most 4 Hz


class Redrawer(QObject):
    """Pulls ``RunBuffers`` into the window's views on a timer.

    Parameters
    ----------
    buffers : what the worker publishes.
    window : the views.
    fps : redraw rate.
    """

    def __init__(self, buffers: RunBuffers, window: MainWindow, fps: float = 30.0) -> None:
        super().__init__()
        gc_guard.install()       # Qt objects in Python cycles die on this thread only
        self.buffers = buffers
        self.window = window
        self.follow = True
        self.window_steps = 5_000
        self.timer = QTimer(self)
        self.timer.setInterval(int(1000 / fps))
        self.timer.timeout.connect(self.redraw)
        self._seen = (-1, -1)
        self._in_redraw = False
        self._slow_t = self._status_t = 0.0
        self._slow_turn = 0
        self._seen_probe = self._seen_snap = self._seen_input = None
        self._frames: list[float] = []
        self.frame_times: list[float] = []     # seconds per redraw (for the benchmark)
        self.engine_pid: Callable[[], int | None] | None = None   # set by the controller
        window.metrics.raster.sigXRangeChanged.connect(self.mark_dirty)

    def mark_dirty(self, *_: object) -> None:
        """Redraw on the next tick (the user panned or zoomed while paused)."""
        if not self._in_redraw:
            self._seen = (-1, -1)

    def start(self) -> None:
        """Start pulling."""
        self.timer.start()

    def stop(self) -> None:
        """Stop pulling."""
        self.timer.stop()

    def set_fps(self, fps: float) -> None:
        """Change the redraw rate."""
        self.timer.setInterval(int(1000 / max(1.0, fps)))

    def force(self) -> None:
        """Redraw now even if nothing changed (e.g. after a view setting changed)."""
        self._seen = (-1, -1)
        self._slow_t = self._status_t = 0.0
        self._seen_probe = self._seen_snap = self._seen_input = None
        self.redraw()
        self._slow_panels()

    def redraw(self) -> None:
        """One frame: skip when the buffers did not change."""
        b, w = self.buffers, self.window
        stats = b.stats
        key = (b.generation, b.version)
        now = time.perf_counter()
        if key != self._seen:
            t0 = now
            self._seen = key
            view = b.history()
            self._in_redraw = True
            if self.follow and len(view.step):      # range first: the plots decimate to it
                w.metrics.set_x_window(float(view.step[-1]), float(self.window_steps))
            self._in_redraw = False
            w.metrics.set_data(view)
            w.metrics.set_raster(view)
            if now - self._slow_t >= SLOW_PANEL_PERIOD / 3:
                self._slow_t = now
                self._slow_panels(self._slow_turn)
                self._slow_turn = (self._slow_turn + 1) % 3
            self._frames.append(now)
            self.frame_times.append(time.perf_counter() - t0)
            del self.frame_times[:-1000]
        if now - self._status_t < STATUS_PERIOD:
            return
        self._status_t = now
        self._frames = [t for t in self._frames if now - t < 1.0]
        step = int(b.history(1).step[-1]) + 1 if b.total else 0
        w.status.set_numbers(stats.steps_per_s, step, len(self._frames), stats.playing,
                             self.engine_pid() if self.engine_pid else None)
        w.status.set_recording(stats.recording)

    def _slow_panels(self, turn: int | None = None) -> None:
        """Side panels, one per call in turn (``None``: all), so that no frame carries more
        than one of them: each still refreshes every ``SLOW_PANEL_PERIOD``."""
        b, w = self.buffers, self.window
        with b.lock:
            probes = list(b.probes)
            snap, inp = b.snapshot, b.input
        if turn in (None, 0) and probes and probes[-1] is not self._seen_probe \
                and not w.forgetting.visibleRegion().isEmpty():
            self._seen_probe = probes[-1]
            w.forgetting.set_probes(probes)
        if turn in (None, 1) and snap is not None and snap is not self._seen_snap \
                and not w.heatmap.visibleRegion().isEmpty():
            self._seen_snap = snap
            w.heatmap.set_snapshot(snap)
        if turn in (None, 2) and inp is not None and inp is not self._seen_input \
                and not w.inputs.visibleRegion().isEmpty():
            self._seen_input = inp
            w.inputs.set_input(inp)
