"""``Presenter``: the one GUI-side pull from a ``FrameSource`` into a panel deck.

Live, a QTimer (about 30 Hz) calls ``redraw``: nothing is copied, the persistent plot
items are pointed at the ring-buffer views, and nothing is drawn at all when the source's
change key and the request are the same as last frame. Replay calls ``present`` itself
with the cursor and visible range its ``Player`` chose. Either way there is one fps
counter, one list of frame times (the benchmarks read ``frame_times``), one slow-panel
period and one status callback.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QWidget

from engine.frames import EvalRecord, ProbeRecord, SnapshotRecord
from nlviz.qt import gc_guard
from nlviz.qt.panels.forgetting import ForgettingPanel
from nlviz.qt.panels.heatmap import HeatmapPanel
from nlviz.qt.panels.inputs import InputPanel
from nlviz.qt.panels.metrics import MetricsPanel
from nlviz.recording.stats import RecorderStats
from nlviz.series.source import FrameSource
from nlviz.series.views import HistoryView, InputSlot, RunStats

SLOW_PANEL_PERIOD = 0.5     # each slow panel (heatmap / probes / inputs ...) at most 2 Hz
RETENTION_LIVE_PERIOD = 2.0  # live: the retention dock (switch-aligned averages over the
                            # whole history, the longest slow turn) at most every 2 s
LIVE_ROWS_PER_PIXEL = 4     # live: a visible range with more rows per pixel is fetched as
                            # a min/max summary of the ring's pyramid (cost ~ pixels)
STATUS_PERIOD = 0.25        # status callback at most 4 Hz
# drawn in turn while live: forgetting, heatmap, inputs, health (+ gate layout), retention
SLOW_PANELS = 5


class PanelDeck(Protocol):
    """The panels a presenter draws into (the live ``MainWindow``, the ``ReplayWindow``)."""

    @property
    def metrics(self) -> MetricsPanel: ...

    @property
    def forgetting(self) -> ForgettingPanel: ...

    @property
    def heatmap(self) -> HeatmapPanel: ...

    @property
    def inputs(self) -> InputPanel: ...


class RetentionView(Protocol):
    """The "Retention" dock's panels (``RetentionPanels``), when a deck has them."""

    def show_frame(self, view: HistoryView, probes: list[ProbeRecord],
                   evals: list[EvalRecord]) -> None: ...

    def visibleRegion(self) -> Any: ...  # noqa: N802 - Qt's name


class StatusSink(Protocol):
    """The live status bar (``nlviz.qt.status``)."""

    def set_numbers(self, steps_per_s: float, steps_done: int, fps: float, playing: bool,
                    engine_pid: int | None = None) -> None: ...

    def set_recording(self, stats: RecorderStats | None) -> None: ...


@dataclass(frozen=True)
class FrameRequest:
    """What to draw.

    Attributes
    ----------
    cursor : step the slow panels show; None: the newest step held (live).
    lo, hi : the step range fetched (inclusive); None: from the first / to the last.
    x_range : set the plots' x range to this first (follow mode); None: leave it.
    sparse : slow panels: True all of them now, False none, None one in turn when due
        and only what changed and is visible (live).
    cut : fetch ``[lo, hi]`` once per source change and cut it at the cursor (fast
        scrubbing of a whole-run summary).
    max_rows : passed to ``FrameSource.history`` (live: a wide visible range comes back as
        a min/max summary of at most this many rows).
    """

    cursor: int | None = None
    lo: int | None = None
    hi: int | None = None
    x_range: tuple[float, float] | None = None
    sparse: bool | None = None
    cut: bool = False
    max_rows: int | None = None


@dataclass(frozen=True)
class Frame:
    """One drawn frame: the series and, when drawn this frame, the slow panels' records."""

    cursor: int
    view: HistoryView
    sparse: bool
    probes: list[ProbeRecord]
    snapshot: SnapshotRecord | None
    input: InputSlot | None

    @property
    def is_summary(self) -> bool:
        """True when the plots show a min/max summary rather than exact rows."""
        return self.view.is_summary


@dataclass(frozen=True)
class PresenterStatus:
    """Status numbers (at most every ``STATUS_PERIOD`` s)."""

    fps: int                       # frames drawn in the last second
    step: int                      # steps done (last step held + 1; 0 while empty)
    steps_per_s: float = 0.0       # from the run's stats (live)
    playing: bool = False
    recording: RecorderStats | None = None   # the recorder's numbers, None when not recording
    engine_pid: int | None = None


class Presenter(QObject):
    """Pulls a ``FrameSource`` into a ``PanelDeck``.

    Parameters
    ----------
    source : what to draw (``RunBuffers`` or ``ReplaySource``; None: nothing yet);
        ``set_source`` swaps it.
    deck : the panels.
    fps : the timer's redraw rate (``start`` starts the timer; replay does not need it).
    on_status : gets a ``PresenterStatus`` at most every ``STATUS_PERIOD`` s.
    run_stats : the live worker's numbers for the status (steps/s, playing, recording).
    on_frame : called after each drawn frame, inside its timing (window extras).
    """

    def __init__(self, source: FrameSource | None, deck: PanelDeck, fps: float = 30.0,
                 on_status: Callable[[PresenterStatus], None] | None = None,
                 run_stats: Callable[[], RunStats] | None = None,
                 on_frame: Callable[[Frame], None] | None = None) -> None:
        super().__init__()
        gc_guard.install()       # Qt objects in Python cycles die on this thread only
        self.source = source
        self.deck = deck
        self.on_status, self.run_stats, self.on_frame = on_status, run_stats, on_frame
        self.engine_pid: Callable[[], int | None] | None = None   # set by the live controller
        self.follow = True               # live: the plots follow the newest step
        self.window_steps = 5_000        # live: steps shown while following
        self.setting_range = False       # True while the presenter moves the x range
        self.frame: Frame | None = None  # the last drawn frame
        self.frame_times: list[float] = []   # seconds per drawn frame (benchmarks)
        self.timer = QTimer(self)
        self.timer.setInterval(int(1000 / fps))
        self.timer.timeout.connect(self.redraw)
        self._generation = 0             # bumped by set_source, drop_source and stop
        self._stopped = False            # after stop(): no slow-panel turn is queued
        self._seen: Hashable = None      # key of the last drawn frame
        self._seen_slow: list[object] = [None] * SLOW_PANELS   # records shown (live)
        self._seen_sparse: Hashable = None   # (source key, cursor) of all slow panels drawn
        self._whole: tuple[Hashable, HistoryView] | None = None
        self._frames: deque[float] = deque()   # draw times in the last second (fps)
        self._slow_t = self._status_t = 0.0
        self._retention_t = -RETENTION_LIVE_PERIOD
        self._slow_turn = 0
        self._last_req: FrameRequest | None = None
        deck.metrics.raster.sigXRangeChanged.connect(self.mark_dirty)
        deck.metrics.settingsChanged.connect(self.redo)

    # ---- control -------------------------------------------------------------------------
    def set_source(self, source: FrameSource) -> None:
        """Draw from ``source`` from now on (everything is redrawn)."""
        self.source = source
        self._generation += 1
        self._whole = None
        self._reset_seen()

    def drop_source(self) -> None:
        """Forget the source before it closes (replay: the file): a slow-panel turn still
        queued by a frame is skipped instead of reading a closed file."""
        self.source = None
        self._generation += 1
        self._whole = None
        self._reset_seen()

    def start(self) -> None:
        """Start the redraw timer."""
        self._stopped = False
        self.timer.start()

    def stop(self) -> None:
        """Stop the redraw timer; a slow-panel turn a frame already queued is skipped (the
        window may be deleted before it runs)."""
        self.timer.stop()
        self._generation += 1
        self._stopped = True

    def set_fps(self, fps: float) -> None:
        """Change the timer's redraw rate."""
        self.timer.setInterval(int(1000 / max(1.0, fps)))

    def mark_dirty(self, *_: object) -> None:
        """Redraw on the next tick (the user panned or zoomed while paused)."""
        if not self.setting_range:
            self._seen = None

    def force(self) -> None:
        """Redraw now even if nothing changed (e.g. after a view setting changed), slow
        panels included."""
        if self.source is None:
            return
        self._reset_seen()
        self._slow_t = self._status_t = 0.0
        self.redraw()
        self._slow_panels(self._cursor(None), None, False)

    def redo(self) -> None:
        """Draw the last request again (a view setting changed: quantity, log y)."""
        self._seen = None
        if self.source is not None and self._last_req is not None:
            self.present(self._last_req, force=True)

    def slow_due(self) -> bool:
        """True when the slow panels may be drawn again (``SLOW_PANEL_PERIOD`` since)."""
        return time.perf_counter() - self._slow_t >= SLOW_PANEL_PERIOD

    @property
    def _src(self) -> FrameSource:
        assert self.source is not None, "no source yet"
        return self.source

    def _reset_seen(self) -> None:
        self._retention_t = -RETENTION_LIVE_PERIOD
        self._seen = self._seen_sparse = None
        self._seen_slow = [None] * SLOW_PANELS

    # ---- frames --------------------------------------------------------------------------
    def redraw(self) -> None:
        """One timer tick (live): follow the newest step, skip when nothing changed."""
        if self.source is None:
            return
        span = self.source.span()
        x_range = None
        if self.follow and span is not None:
            last = float(span[1])
            x_range = (max(0.0, last - self.window_steps), last + 1)
        lo = hi = rows = None
        if span is not None:                 # wide: only the visible range, summarised
            x0, x1 = x_range if x_range is not None else self.deck.metrics.raster.viewRange()[0]
            lo, hi = max(span[0], int(np.floor(x0))), min(span[1], int(np.ceil(x1)))
            px = max(100, int(self.deck.metrics.raster.getViewBox().width()))
            rows = 2 * px                    # <= 1 bucket (2 rows) per pixel: drawn as is
            if hi - lo + 1 <= LIVE_ROWS_PER_PIXEL * px:
                lo = hi = rows = None        # narrow: every held row, exact (as before)
        self.present(FrameRequest(lo=lo, hi=hi, x_range=x_range, max_rows=rows))

    def present(self, req: FrameRequest, force: bool = False) -> Frame | None:
        """Draw ``req`` unless the source and the request are unchanged since the last
        drawn frame (and ``force`` is False); returns the frame, or None when skipped."""
        if self.source is None:
            return None
        now = time.perf_counter()
        src_key = (self._generation, self.source.change_key())
        key = (src_key, req.cursor, req.lo, req.hi, req.x_range, req.cut, req.max_rows)
        frame = None
        self._last_req = req
        if force or key != self._seen or (req.sparse and self._seen_sparse != (
                src_key, req.cursor)):
            frame = self._draw(req, src_key, now)
            self._seen = key
        self._status(now)
        return frame

    def _draw(self, req: FrameRequest, src_key: Hashable, t0: float) -> Frame:
        m = self.deck.metrics
        if req.x_range is not None:          # range first: the plots decimate to it
            self.setting_range = True
            m.set_x_range(*req.x_range)
            self.setting_range = False
        view = self._fetch(req, src_key)
        # live summary: the raster still counts the exact fired flags (uint8, cheap), so
        # its rates stay events per step rather than the schedule's 1/period
        exact = self._src.history(req.lo, req.hi) if (
            req.max_rows is not None and view.is_summary) else None
        m.set_data(view, exact)
        cursor = self._cursor(req.cursor)
        records: tuple[list[ProbeRecord], SnapshotRecord | None, InputSlot | None] = (
            [], None, None)
        if req.sparse:
            records = self._slow_panels(cursor, None, True)
            self._seen_sparse = (src_key, req.cursor)
        elif req.sparse is None and not self._stopped and \
                t0 - self._slow_t >= SLOW_PANEL_PERIOD / SLOW_PANELS:
            # live: the slow panel runs as its own event after this frame, so the event
            # loop gets a turn between the two (the longest block is one, not their sum)
            self._slow_t = t0
            turn, generation = self._slow_turn, self._generation
            QTimer.singleShot(0, self, lambda: self._slow_later(cursor, turn, generation))
            self._slow_turn = (self._slow_turn + 1) % SLOW_PANELS
        frame = Frame(cursor, view, bool(req.sparse), *records)
        self.frame = frame
        if self.on_frame is not None:
            self.on_frame(frame)
        now = time.perf_counter()
        self._frames.append(now)
        while now - self._frames[0] >= 1.0:      # kept to the last second as it grows
            self._frames.popleft()
        self.frame_times.append(now - t0)
        del self.frame_times[:-1000]
        return frame

    def _fetch(self, req: FrameRequest, src_key: Hashable) -> HistoryView:
        if not req.cut or req.cursor is None:
            return self._src.history(req.lo, req.hi, req.max_rows)
        if self._whole is None or self._whole[0] != (src_key, req.lo, req.hi):
            self._whole = ((src_key, req.lo, req.hi), self._src.history(req.lo, req.hi))
        view = self._whole[1]
        return view.head(int(np.searchsorted(view.step, req.cursor, "right")))

    def _cursor(self, cursor: int | None) -> int:
        if cursor is not None:
            return cursor
        span = self._src.span()
        return span[1] if span is not None else -1

    def _slow_later(self, cursor: int, turn: int, generation: int) -> None:
        """A slow-panel turn queued by a live frame (skipped if the source changed)."""
        if self.source is not None and generation == self._generation:
            self._slow_panels(cursor, turn, False)

    def _slow_panels(self, cursor: int, turn: int | None, every: bool
                     ) -> tuple[list[ProbeRecord], SnapshotRecord | None, InputSlot | None]:
        """The slow panels at ``cursor``: one (``turn``) or all (None). ``every``: draw
        them whatever was shown before and whether visible, and say when a record is
        missing (replay); else only new records into visible panels (live)."""
        self._slow_t = time.perf_counter()
        d, src = self.deck, self._src
        probes: list[ProbeRecord] = []
        snap: SnapshotRecord | None = None
        inp: InputSlot | None = None
        if turn in (None, 0):
            probes = src.probes_at(cursor)
            if every and not probes:
                d.forgetting.clear(f"no probe evaluation at or before step {cursor:,}")
            elif probes and self._fresh(0, probes[-1], every, d.forgetting):
                # the view gives the regime at write and evaluation time (same / other)
                d.forgetting.set_probes(probes, src.history(None, cursor) if cursor >= 0
                                        else src.history())
        if turn in (None, 1):
            snap = src.snapshot_at(cursor)
            if snap is not None and self._fresh(1, snap, every, d.heatmap):
                d.heatmap.set_snapshot(snap, cursor if every else None)
        if turn in (None, 2):
            inp = src.input_at(cursor)
            if inp is not None and self._fresh(2, inp, every, d.inputs):
                d.inputs.set_input(inp)
        if turn in (None, 3):                  # health flags, gate layout: whole history
            d.metrics.set_slow(src.history(None, cursor) if cursor >= 0 else src.history())
        retention: RetentionView | None = getattr(d, "retention", None)
        due = every or self._slow_t - self._retention_t >= RETENTION_LIVE_PERIOD
        if turn in (None, 4) and retention is not None and due and (
                every or not retention.visibleRegion().isEmpty()):
            self._retention_t = self._slow_t
            retention.show_frame(src.history(None, cursor) if cursor >= 0 else src.history(),
                                 probes or src.probes_at(cursor), src.evals_at(cursor))
        return probes, snap, inp

    def _fresh(self, i: int, record: object, every: bool, panel: QWidget) -> bool:
        """Draw ``record`` into slow panel ``i``? (live: new and the panel visible)."""
        if every:
            return True
        if record is self._seen_slow[i] or panel.visibleRegion().isEmpty():
            return False
        self._seen_slow[i] = record
        return True

    def _status(self, now: float) -> None:
        if self.on_status is None or now - self._status_t < STATUS_PERIOD:
            return
        self._status_t = now
        while self._frames and now - self._frames[0] >= 1.0:
            self._frames.popleft()
        span = self._src.span()
        stats = self.run_stats() if self.run_stats is not None else None
        self.on_status(PresenterStatus(
            len(self._frames), span[1] + 1 if span is not None else 0,
            stats.steps_per_s if stats else 0.0, stats.playing if stats else False,
            stats.recording if stats else None,
            self.engine_pid() if self.engine_pid is not None else None))


def status_bar_sink(status: StatusSink) -> Callable[[PresenterStatus], None]:
    """A status callback that writes into the live window's status bar."""
    def show(s: PresenterStatus) -> None:
        status.set_numbers(s.steps_per_s, s.step, s.fps, s.playing, s.engine_pid)
        status.set_recording(s.recording)
    return show


__all__ = ["LIVE_ROWS_PER_PIXEL", "RETENTION_LIVE_PERIOD", "SLOW_PANEL_PERIOD", "STATUS_PERIOD", "Frame", "FrameRequest", "PanelDeck",
           "Presenter", "PresenterStatus", "StatusSink", "status_bar_sink"]
