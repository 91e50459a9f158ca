"""``ReplayController``: a recording on the shared panels, driven by a ``Player``.

It opens and closes recordings and wires the replay front's views to the jobs in their
own modules: ``Transport`` (play, steps, scrubbing), ``TailFollower`` (a file still being
written), ``Branching`` (continue live), ``Comparer`` (compare windows). File > Export
and Screenshot go through the shared ``nlviz.qt.exporting.Exporter``.

Drawing goes through the shared ``nlviz.qt.presenter.Presenter``, as live does:
- A play timer calls ``tick(dt)`` -> ``Player.advance(dt)`` (``Player.tick()`` in "every
  step" mode, one recorded row per timer tick); ``tick`` is public so tests drive the clock
  deterministically.
- The slow panels (heatmap, forgetting, input) refresh at most every ``SLOW_PANEL_PERIOD`` s
  while scrubbing or playing, and always when it stops.
- The plots show the visible range from ``ReplaySource.frame``: exact rows up to its
  ``raw_limit``, else the min/max pyramid (the window then says it is a summary).
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QWidget

from nlviz.analysis.health import health_config_for
from nlviz.qt import gc_guard
from nlviz.qt.dialogs import RECORDINGS, Dialogs
from nlviz.qt.file_menu import remember_recent
from nlviz.qt.presenter import Frame, FrameRequest, Presenter, PresenterStatus
from nlviz.qt.replay.ablating import ReplayAblation
from nlviz.qt.replay.branching import Branching, LiveTarget
from nlviz.qt.replay.comparing import Comparer
from nlviz.qt.replay.run_info import info_text, regime_names
from nlviz.qt.replay.tail import TailFollower
from nlviz.qt.replay.transport import SCRUB_HZ, Transport
from nlviz.qt.replay.window import WIDTHS, ReplayFront
from nlviz.recording.reader import Recording
from nlviz.replay.branch import branchable_steps
from nlviz.replay.files import recording_note, try_open
from nlviz.replay.player import Player, PlayMode
from nlviz.replay.source import ReplayFrame, ReplaySource


class ReplayController(QObject):
    """Owns one open recording and its player; feeds the replay front's views.

    Parameters
    ----------
    window : the replay front (its views; ``window.main`` is the main window).
    live_provider : the live engine for "Continue live from here" (may build the live
        window); None = not available.
    raw_limit : visible ranges up to this many rows are drawn from exact rows.
    """

    def __init__(self, window: ReplayFront,
                 live_provider: Callable[[], LiveTarget | None] | None = None,
                 raw_limit: int = 20_000) -> None:
        super().__init__(window.main)
        gc_guard.install()       # Qt objects in Python cycles die on this thread only
        self.window = window
        self.raw_limit = raw_limit
        self.rec: Recording | None = None
        self.src: ReplaySource | None = None
        self.player: Player | None = None
        self.frame: ReplayFrame | None = None
        self.follow = True
        self.width_steps = 0
        self.dialogs = Dialogs(window.main)
        self.presenter = Presenter(None, window.deck, on_status=self._on_status,
                                   on_frame=self._on_frame)
        self._events_shown = -1
        self.transport = Transport(lambda: self.player, lambda sparse: self.redraw(sparse),
                                   self._slow_due, self.tick, window.timeline, self)
        self.tail = TailFollower(lambda: self.player,
                                 lambda: self.rec.path if self.rec is not None else "",
                                 lambda sparse: self.redraw(sparse), self._show_timeline,
                                 window.show_message, self)
        self.branching = Branching(live_provider, self.dialogs, window.timeline,
                                   window.show_message)
        self.comparing = Comparer(lambda: self.rec.path if self.rec is not None else None,
                                  self.dialogs, window.show_message)
        self.view_timer = QTimer(self)
        self.view_timer.setSingleShot(True)
        self.view_timer.setInterval(int(1000 / SCRUB_HZ))
        self.view_timer.timeout.connect(lambda: self.redraw(sparse=False))
        retention = getattr(window.deck, "retention", None)   # the "Retention" dock's tabs
        self.ablation = (None if retention is None else ReplayAblation(
            retention, self._ablation_target, window.show_message, self))
        window.deck.show_cursor()
        self.cursor_lines = window.deck.cursor_lines
        self._connect()

    # ---- wiring ----------------------------------------------------------------------------
    def _connect(self) -> None:
        w = self.window
        w.timeline.branchRequested.connect(self.continue_live)
        w.width_box.currentIndexChanged.connect(lambda i: self.set_width(WIDTHS[i][1]))
        w.follow_button.toggled.connect(self.set_follow)
        w.metrics.followChanged.connect(self.set_follow)
        w.deck.viewRangeChanged.connect(self._on_view_range)
        w.main.closed.connect(self.shutdown)

    @property
    def play_timer(self) -> QTimer:
        """The transport's play timer (``tick`` stops it at the end)."""
        return self.transport.play_timer

    @property
    def _scrubbing(self) -> bool:
        return self.transport.scrubbing

    # ---- File menu (an ``Opener``) ---------------------------------------------------------
    def open_dialog(self) -> bool:
        """Ask for a recording and open it."""
        start = os.path.dirname(self.rec.path) if self.rec else os.getcwd()
        path = self.dialogs.ask_one("open", "Open recording", start, RECORDINGS)
        return bool(path) and self.open(str(path))

    def compare_dialog(self) -> QWidget | None:
        """Ask for recordings to compare with this one."""
        return self.comparing.compare_dialog()

    def compare(self, paths: list[str]) -> QWidget | None:
        """A compare window of this recording plus ``paths``."""
        return self.comparing.compare(paths)

    def visible_recording(self) -> tuple[Recording, int, int] | None:
        """The open recording and the visible step range (for a CSV export)."""
        if self.rec is None:
            return None
        lo, hi = self.visible_range()
        return self.rec, lo, hi

    def export_base(self) -> str:
        """Exports go next to the recording by default."""
        return os.path.splitext(self.rec.path)[0] if self.rec else os.path.join(os.getcwd(),
                                                                                 "nlviz")

    # ---- opening ---------------------------------------------------------------------------
    def open(self, path: str | os.PathLike[str]) -> bool:
        """Open a recording (replacing the current one). A bad file leaves a one-line
        message in the status bar and changes nothing else; returns success."""
        rec = try_open(path)
        if isinstance(rec, str):
            self.window.show_message(rec, error=True)
            return False
        self.close_recording()
        self.rec = rec
        self.src = ReplaySource(rec, raw_limit=self.raw_limit)
        self.player = Player(rec.steps, rec.wall_time(), refresh=self._refresh)
        self.player.tail = rec.recovered
        self.player.tail_poll_s = math.inf           # the tail timer polls instead
        self.branching.steps = branchable_steps(rec)
        self._events_shown = -1
        self.tail.reset()
        remember_recent(rec.path)
        w = self.window
        name = os.path.basename(rec.path)
        w.set_title(name)
        w.note.show_text(recording_note(rec))
        spec = rec.spec
        w.metrics.set_levels(spec)
        w.metrics.health.set_config(health_config_for(rec.config))
        w.heatmap.set_levels(spec)
        w.forgetting.set_levels(spec)
        if self.ablation is not None:
            self.ablation.view.set_spec(spec)
            self.ablation.view.set_state_steps(self.branching.steps)
        w.inputs.set_regime_names(names := regime_names(rec))
        w.timeline.set_regime_names(names)
        w.info.setPlainText(info_text(rec))
        w.timeline.set_enabled(rec.n_rows > 0)
        self._show_timeline()
        if self.player.tail:
            self.tail.start()
        self.player.end()
        w.show_message(f"opened {name}: {rec.n_rows:,} steps")
        self.redraw(sparse=True)
        return True

    def _refresh(self) -> tuple[np.ndarray, np.ndarray]:
        assert self.src is not None and self.rec is not None
        self.src.refresh()
        self.branching.steps = branchable_steps(self.rec)
        return self.rec.steps, self.rec.wall_time()

    def _show_timeline(self) -> None:
        assert self.src is not None and self.player is not None
        t = self.window.timeline
        steps = self.player.steps
        if len(steps):
            t.set_range(int(steps[0]), int(steps[-1]))
        t.set_events(*self.src.event_marks())
        if self.rec is not None:
            t.set_regimes(self.rec.steps, self.rec.regime())

    def close_recording(self) -> None:
        """Stop the timers and close the file."""
        self.transport.pause()
        if self.ablation is not None:
            self.ablation.wait()
        self.tail.stop()
        self.presenter.drop_source()
        if self.rec is not None:
            self.rec.close()
        self.rec = self.src = self.player = self.frame = None

    def shutdown(self) -> None:
        """Window closing: stop timers, close the file and any compare windows."""
        self.close_recording()
        self.comparing.close_all()

    def continue_live(self) -> bool:
        """"Continue live from here" at the cursor (``Branching.continue_live``)."""
        p, rec = self.player, self.rec
        if p is None or rec is None:
            return False
        self.transport.pause()
        return self.branching.continue_live(rec, p.cursor)

    def _ablation_target(self) -> tuple[str, int] | None:
        """(recording path, cursor) for a knock-out / restore evaluation."""
        p, rec = self.player, self.rec
        return None if p is None or rec is None else (rec.path, p.cursor)

    # ---- drawing ---------------------------------------------------------------------------
    def tick(self, dt: float) -> int:
        """One clock tick of ``dt`` seconds (``Player.tick()`` in "every step" mode);
        redraws when the cursor moved; returns the cursor."""
        p = self.player
        if p is None:
            return -1
        before = p.row
        if p.mode is PlayMode.EVERY_STEP:
            p.tick()
        else:
            p.advance(dt)
        stopped = not p.playing and self.window.timeline.playing
        if p.row != before or stopped:
            self.redraw(sparse=stopped or self._slow_due())
        if stopped:                                   # reached the end (loop off)
            self.play_timer.stop()
            self.window.timeline.set_playing(False)
        return p.cursor

    # ---- views ------------------------------------------------------------------------------
    def set_width(self, steps: int) -> None:
        """Visible steps up to the cursor (0 = the whole run on the x axis)."""
        self.width_steps = int(steps)
        self.set_follow(True)

    def set_follow(self, on: bool) -> None:
        """Plots follow the cursor, or stay where the user panned/zoomed."""
        self.follow = bool(on)
        b = self.window.follow_button
        if b.isChecked() != self.follow:
            b.blockSignals(True)
            b.setChecked(self.follow)
            b.blockSignals(False)
        if on:
            self.redraw(sparse=False)

    def _on_view_range(self, *_: object) -> None:
        if not self._setting_range and not self.follow and self.player is not None:
            self.view_timer.start()

    def visible_range(self) -> tuple[int, int]:
        """Steps [lo, hi] (inclusive) the plots show."""
        p = self.player
        if p is None or p.n == 0:
            return 0, 0
        first, last, c = int(p.steps[0]), int(p.steps[-1]), p.cursor
        if self.follow:
            w = self.width_steps
            return (first, c) if w <= 0 else (max(first, c - w + 1), c)
        x0, x1 = self.window.deck.x_view()
        return max(first, math.floor(x0)), min(last, math.ceil(x1))

    def _x_range(self, lo: int, hi: int) -> tuple[float, float]:
        p = self.player
        assert p is not None
        first, last = int(p.steps[0]), int(p.steps[-1])
        if self.width_steps <= 0:
            return first, max(last, first + 1)
        return lo, max(hi, lo + self.width_steps - 1, lo + 1)

    # ---- drawing: the shared Presenter ---------------------------------------------------
    @property
    def redraw_times(self) -> list[float]:
        """Seconds per drawn frame (the presenter's ``frame_times``, for the benchmarks)."""
        return self.presenter.frame_times

    @property
    def _setting_range(self) -> bool:
        return self.presenter.setting_range

    def _slow_due(self) -> bool:
        return self.presenter.slow_due()

    def redraw(self, sparse: bool = True) -> None:
        """Draw the cursor's frame into every panel (``sparse``: the slow panels too); the
        presenter skips it when the recording, cursor and visible range are unchanged."""
        p, src = self.player, self.src
        if p is None or src is None or p.n == 0:
            return
        lo, hi = self.visible_range()
        # while a drag scrubs the whole-run summary view, the whole run's summary is read
        # once and cut at the cursor (the exact frame is drawn when the drag ends)
        cut = (self._scrubbing and self.follow and self.width_steps <= 0
               and src.is_summary_range(lo, hi))
        if self.presenter.source is not src:
            self.presenter.set_source(src)
        self.presenter.present(FrameRequest(
            cursor=p.cursor, lo=None if cut else lo, hi=None if cut else hi,
            x_range=self._x_range(lo, hi) if self.follow else None, sparse=sparse, cut=cut))

    def _on_frame(self, fr: Frame) -> None:
        """The replay window's part of a drawn frame: cursor lines, summary note, event
        log, timeline and branch button."""
        p, src, w = self.player, self.src, self.window
        assert p is not None and src is not None
        c = fr.cursor
        self.frame = ReplayFrame(c, fr.view, fr.is_summary,
                                 src.last_summary if fr.is_summary else None,
                                 fr.probes, fr.snapshot, fr.input)
        w.deck.set_cursor(c)
        w.deck.set_summary(f"showing a summary (min/max of {fr.view.bucket_rows:,}-step "
                           f"buckets)" if fr.is_summary else "")
        if fr.sparse:
            n_events = int(np.searchsorted(src.event_marks()[0], c, "right"))
            if n_events != self._events_shown:
                self._events_shown = n_events
                w.event_log.setPlainText("\n".join(src.events_at(c)))
        w.timeline.set_cursor(c, p.row, p.n, int(p.steps[-1]))
        self._update_branch(c)

    def _on_status(self, s: PresenterStatus) -> None:
        self.window.fps_label.setText(f"render {s.fps} fps")

    def _update_branch(self, c: int) -> None:
        self.branching.update(c)


__all__ = ["ReplayController"]
