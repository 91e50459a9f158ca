"""``ReplayController``: a recording on the live panels, driven by a ``Player``.

- A play timer calls ``tick(dt)`` -> ``Player.advance(dt)`` (``Player.tick()`` in "every
  step" mode, one recorded row per timer tick); ``tick`` is public so tests drive the clock
  deterministically.
- Scrubbing (dragging the timeline cursor) is throttled to ``SCRUB_HZ``: the first request
  is applied at once, later ones only keep the newest step until the throttle timer fires
  (stale requests are dropped). The slow panels (heatmap, forgetting, input) refresh at most
  every ``SLOW_PANEL_PERIOD`` s while scrubbing or playing, and always when it stops.
- Drawing goes through the shared ``nlviz.qt.presenter.Presenter`` (as live does).
- The plots show the visible range from ``ReplaySource.frame``: exact rows up to its
  ``raw_limit``, else the min/max pyramid (the window then says it is a summary).
- A file still being written (or recovered) is tailed: ``Player.refresh`` every
  ``TAIL_PERIOD_MS``; a cursor at the end follows the end.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QElapsedTimer, QObject, Qt, QTimer
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

from nlviz.errors import UserError
from nlviz.qt import gc_guard
from nlviz.qt.export import save_plot, save_widget
from nlviz.qt.presenter import Frame, FrameRequest, Presenter, PresenterStatus
from nlviz.qt.replay.window import WIDTHS, ReplayWindow, remember_recent
from nlviz.recording.reader import Recording
from nlviz.replay.branch import branchable_steps
from nlviz.replay.compare import flatten
from nlviz.replay.export import export_visible_csv
from nlviz.replay.files import one_line, recording_note, try_open
from nlviz.replay.player import LoopMode, Player, PlayMode
from nlviz.replay.source import ReplayFrame, ReplaySource

SCRUB_HZ = 30.0
SCRUB_INTERVAL_MS = 28          # under 1/30 s so timer slack and the paint still give >= 30 fps
PLAY_INTERVAL_MS = 33
TAIL_PERIOD_MS = 500
TAIL_MAX_FAILURES = 20          # failed tail polls in a row (10 s) before following stops

AskPath = Callable[[str, str, str, str], "str | list[str] | None"]


def dialog_path(kind: str, title: str, default: str, filters: str,
                parent: QWidget | None = None) -> str | list[str] | None:
    """File dialogs: kind "open", "open_many" or "save"; None when cancelled."""
    if kind == "open":
        path, _ = QFileDialog.getOpenFileName(parent, title, default, filters)
        return path or None
    if kind == "open_many":
        paths, _ = QFileDialog.getOpenFileNames(parent, title, default, filters)
        return paths or None
    path, _ = QFileDialog.getSaveFileName(parent, title, default, filters)
    return path or None


SAME_STREAM = "same stream as recorded"


def _live_activity(live: Any) -> str:
    """What a live controller is doing that a branch would replace ("" when idle)."""
    worker = getattr(live, "worker", None)
    session = getattr(worker, "session", None)
    parts = []
    if session is not None and getattr(session, "step_count", 0) > 0:
        parts.append(f"at step {session.step_count:,}")
    if getattr(worker, "recording", False):
        parts.append("recording")
    return ", ".join(parts)


def regime_names(rec: Recording) -> tuple[str, ...]:
    """The recorded stream's regime names (rebuilt from its config), or () if unknown."""
    try:
        from engine.config import Config
        from engine.streams import make_stream
        cfg = Config.from_dict(rec.config)
        return tuple(make_stream(cfg.stream, rec.spec.d_in, cfg.run.seed).regime_names())
    except Exception:  # noqa: BLE001 - names are a nicety; the index is shown instead
        return ()


class ReplayController(QObject):
    """Owns one open recording and its player; feeds ``window``'s panels.

    Parameters
    ----------
    window : the replay window (views).
    live_provider : returns the live ``Controller`` for "Continue live from here" (may
        build the live window); None = not available.
    raw_limit : visible ranges up to this many rows are drawn from exact rows.
    """

    def __init__(self, window: ReplayWindow, live_provider: Callable[[], Any] | None = None,
                 raw_limit: int = 20_000) -> None:
        super().__init__(window)
        gc_guard.install()       # Qt objects in Python cycles die on this thread only
        self.window = window
        self.live_provider = live_provider
        self.raw_limit = raw_limit
        self.rec: Recording | None = None
        self.src: ReplaySource | None = None
        self.player: Player | None = None
        self.frame: ReplayFrame | None = None
        self.follow = True
        self.width_steps = 0
        self.ask_path: AskPath = lambda kind, title, default, filters: dialog_path(
            kind, title, default, filters, self.window)
        self.confirm: Callable[[str], bool] = self._confirm_dialog
        # "same" or a stream name for the continued run; None = cancelled
        self.ask_stream: Callable[[list[str]], str | None] = self._stream_dialog
        self.compare_windows: list[QWidget] = []
        self._branch_steps = np.zeros(0, np.int64)
        self._pending_seek: int | None = None
        self._scrubbing = False
        self.presenter = Presenter(None, window, on_status=self._on_status,
                                   on_frame=self._on_frame)
        self._events_shown = -1
        self._tail_error: str | None = None       # last tail-refresh error shown
        self._tail_failures = 0
        self.clock = QElapsedTimer()
        self.play_timer = QTimer(self)
        self.play_timer.setInterval(PLAY_INTERVAL_MS)
        self.play_timer.timeout.connect(self._on_play_timer)
        self.scrub_timer = QTimer(self)
        self.scrub_timer.setSingleShot(True)
        self.scrub_timer.setInterval(SCRUB_INTERVAL_MS)
        self.scrub_timer.setTimerType(Qt.PreciseTimer)
        self.scrub_timer.timeout.connect(self._on_scrub_timer)
        self.view_timer = QTimer(self)
        self.view_timer.setSingleShot(True)
        self.view_timer.setInterval(int(1000 / SCRUB_HZ))
        self.view_timer.timeout.connect(lambda: self.redraw(sparse=False))
        self.tail_timer = QTimer(self)
        self.tail_timer.setInterval(TAIL_PERIOD_MS)
        self.tail_timer.timeout.connect(self.poll_tail)
        self.cursor_lines: list[pg.InfiniteLine] = []
        for p in list(window.metrics.plots.values()) + [window.metrics.raster]:
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#ffd43b", width=1))
            line.setZValue(20)
            p.addItem(line, ignoreBounds=True)
            self.cursor_lines.append(line)
        self._connect()

    # ---- wiring ----------------------------------------------------------------------------
    def _connect(self) -> None:
        w, t = self.window, self.window.timeline
        t.seekRequested.connect(self.request_seek)
        t.scrubFinished.connect(self._on_scrub_finished)
        t.playToggled.connect(self.toggle_play)
        t.stepRequested.connect(self.step)
        t.homeRequested.connect(self.home)
        t.endRequested.connect(self.end)
        t.speedChanged.connect(self.set_speed)
        t.modeChanged.connect(self.set_mode)
        t.loopChanged.connect(self.set_loop)
        t.branchRequested.connect(self.continue_live)
        w.width_box.currentIndexChanged.connect(lambda i: self.set_width(WIDTHS[i][1]))
        w.follow_button.toggled.connect(self.set_follow)
        w.metrics.followChanged.connect(self.set_follow)
        w.metrics.raster.sigXRangeChanged.connect(self._on_view_range)
        w.filesDropped.connect(lambda paths: self.open(paths[0]) if len(paths) == 1
                               else self.compare(paths))
        w.openRequested.connect(self.open_dialog)
        w.recentRequested.connect(self.open)
        w.compareRequested.connect(lambda: self.compare())
        w.exportWindowRequested.connect(lambda k: self.export_window(k))
        w.exportPlotRequested.connect(lambda key, k: self.export_plot(key, k))
        w.exportCsvRequested.connect(lambda: self.export_csv())
        w.on_close = self.shutdown

    # ---- opening ---------------------------------------------------------------------------
    def open_dialog(self) -> bool:
        start = os.path.dirname(self.rec.path) if self.rec else os.getcwd()
        path = self.ask_path("open", "Open recording", start, "Recordings (*.h5 *.hdf5)")
        return bool(path) and self.open(str(path))

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
        self.player = Player(rec.steps, rec.file["wall_time"][: rec.n_rows], refresh=self._refresh)
        self.player.tail = rec.recovered
        self.player.tail_poll_s = math.inf           # the tail timer polls instead
        self._branch_steps = branchable_steps(rec)
        self._events_shown = -1
        self._tail_error, self._tail_failures = None, 0
        remember_recent(rec.path)
        w = self.window
        name = os.path.basename(rec.path)
        w.setWindowTitle(f"nlviz replay: {name}")
        w.note.show_text(recording_note(rec))
        spec = rec.spec
        w.metrics.set_levels(spec)
        w.heatmap.set_levels(spec)
        w.forgetting.set_levels(spec)
        w.inputs.set_regime_names(regime_names(rec))
        w.info.setPlainText(self._info_text(rec))
        w.timeline.set_enabled(rec.n_rows > 0)
        self._show_timeline()
        if self.player.tail:
            self.tail_timer.start()
        self.player.end()
        w.show_message(f"opened {name}: {rec.n_rows:,} steps")
        self.redraw(sparse=True)
        return True

    def _refresh(self) -> tuple[np.ndarray, np.ndarray]:
        assert self.src is not None and self.rec is not None
        self.src.refresh()
        self._branch_steps = branchable_steps(self.rec)
        return self.rec.steps, self.rec.file["wall_time"][: self.rec.n_rows]

    def _info_text(self, rec: Recording) -> str:
        lines = [f"file: {rec.path}", f"steps: {rec.n_rows:,}" + (
            f" ({int(rec.steps[0]):,} to {int(rec.steps[-1]):,})" if rec.n_rows else ""),
            f"complete: {rec.complete}", f"created: {rec.created_utc}",
            f"device: {rec.device}", f"stream: {rec.stream}",
            f"levels: {', '.join(rec.levels)}"]
        if rec.parent_run:
            lines.append(f"branched from: {rec.parent_run} at step {rec.parent_step}")
        lines.append("")
        lines += [f"{k} = {v!r}" for k, v in sorted(flatten(rec.config).items())]
        return "\n".join(lines)

    def _show_timeline(self) -> None:
        assert self.src is not None and self.player is not None
        t = self.window.timeline
        steps = self.player.steps
        if len(steps):
            t.set_range(int(steps[0]), int(steps[-1]))
        t.set_events(*self.src.event_marks())

    def close_recording(self) -> None:
        """Stop the timers and close the file."""
        self.pause()
        self.tail_timer.stop()
        if self.rec is not None:
            self.rec.close()
        self.rec = self.src = self.player = self.frame = None

    def shutdown(self) -> None:
        """Window closing: stop timers, close the file and any compare windows."""
        self.close_recording()
        for cw in self.compare_windows:
            cw.close()
        self.compare_windows.clear()

    # ---- transport -------------------------------------------------------------------------
    def seek(self, step: int, sparse: bool = True) -> int:
        """Move the cursor to the recorded step nearest ``step`` and redraw; returns it."""
        if self.player is None:
            return -1
        c = self.player.seek(int(step))
        self.redraw(sparse=sparse)
        return c

    def request_seek(self, step: int) -> None:
        """Throttled seek (timeline drags): at most ``SCRUB_HZ`` redraws, newest wins."""
        if self.player is None:
            return
        self._scrubbing = True
        if self.scrub_timer.isActive():
            self._pending_seek = int(step)            # replaces any stale request
            return
        self._pending_seek = None
        self.scrub_timer.start()                      # period = max(1/30 s, redraw time)
        self.seek(step, sparse=self._slow_due())

    def _on_scrub_timer(self) -> None:
        if self._pending_seek is not None:
            step, self._pending_seek = self._pending_seek, None
            self.scrub_timer.start()
            self.seek(step, sparse=self._slow_due())

    def _on_scrub_finished(self) -> None:
        self._scrubbing = False
        if self._pending_seek is not None:
            step, self._pending_seek = self._pending_seek, None
            self.player.seek(step) if self.player else None
        self.redraw(sparse=True)

    def play(self) -> None:
        if self.player is None or self.player.n == 0:
            return
        self.player.play()
        self.clock.start()
        self._set_interval()
        self.play_timer.start()
        self.window.timeline.set_playing(True)

    def pause(self) -> None:
        self.play_timer.stop()
        if self.player is not None:
            was = self.player.playing
            self.player.pause()
            if was:
                self.redraw(sparse=True)
        self.window.timeline.set_playing(False)

    def toggle_play(self) -> None:
        if self.player is not None and self.player.playing:
            self.pause()
        else:
            self.play()

    def step(self, rows: int) -> int:
        """Move ``rows`` recorded rows (negative = back) and redraw; returns the cursor."""
        if self.player is None:
            return -1
        self.player.seek_row(self.player.row + int(rows))
        self.redraw(sparse=True)
        return self.player.cursor

    def home(self) -> int:
        if self.player is None:
            return -1
        self.player.home()
        self.redraw(sparse=True)
        return self.player.cursor

    def end(self) -> int:
        if self.player is None:
            return -1
        self.player.end()
        self.redraw(sparse=True)
        return self.player.cursor

    def set_speed(self, speed: float) -> None:
        if self.player is not None:
            self.player.set_speed(speed)
            self._set_interval()

    def set_mode(self, mode: str) -> None:
        if self.player is not None:
            self.player.set_mode(mode)
            self._set_interval()

    def set_loop(self, mode: str, start: int = 0, stop: int = 0) -> None:
        if self.player is not None:
            sel = (start, stop) if mode == LoopMode.SELECTION.value else None
            self.player.set_loop(mode, sel)

    def _set_interval(self) -> None:
        p = self.player
        if p is None:
            return
        if p.mode is PlayMode.EVERY_STEP:
            self.play_timer.setInterval(max(1, int(round(1000 * p.tick_interval()))))
        else:
            self.play_timer.setInterval(PLAY_INTERVAL_MS)

    def _on_play_timer(self) -> None:
        dt = self.clock.restart() / 1000.0
        self.tick(dt)

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

    def poll_tail(self) -> int:
        """Pick up rows a writer added; a cursor at the end follows. Returns the rows.

        Never raises: a failed refresh (a writer mid-flush, a damaged tail) is one line in
        the status bar, shown once per distinct error, and retried on the next tick; after
        ``TAIL_MAX_FAILURES`` failures in a row following stops, with a message."""
        p = self.player
        if p is None:
            return 0
        was_end, n0 = p.at_end, p.n
        try:
            n = p.refresh()
            if n != n0 or self._tail_error is not None:
                if was_end and not p.playing:
                    p.seek_row(n - 1)
                self._show_timeline()
                self.redraw(sparse=True)
        except Exception as exc:  # noqa: BLE001 - any read error: one line, the app goes on
            self._on_tail_error(exc)
            return p.n
        if self._tail_error is not None:
            self._tail_error, self._tail_failures = None, 0
            self.window.show_message(f"following {os.path.basename(self.rec.path)}: "
                                     f"{n:,} steps" if self.rec else "")
        return n

    def _on_tail_error(self, exc: Exception) -> None:
        text = one_line(exc)
        name = os.path.basename(self.rec.path) if self.rec is not None else "the recording"
        self._tail_failures += 1
        if self._tail_failures == TAIL_MAX_FAILURES:
            self.tail_timer.stop()
            self.window.show_message(f"stopped following {name} after {self._tail_failures} "
                                     f"failed reads of its newest rows: {text}", error=True)
        elif self._tail_failures < TAIL_MAX_FAILURES and text != self._tail_error:
            self.window.show_message(f"cannot read the newest rows of {name} yet (retrying): "
                                     f"{text}",
                                     error=True)
        self._tail_error = text

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
        x0, x1 = self.window.metrics.raster.viewRange()[0]
        return max(first, int(math.floor(x0))), min(last, int(math.ceil(x1)))

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
        for line in self.cursor_lines:
            line.setValue(c)
        w.summary_label.setText(f"showing a summary (min/max of {fr.view.bucket_rows:,}-step "
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
        s = self._branch_steps
        if len(s) == 0:
            self.window.timeline.set_branchable(False, "this recording holds no engine "
                                                "states (record with run.state_every > 0)")
            return
        i = int(np.searchsorted(s, c, "right")) - 1
        if i < 0:
            self.window.timeline.set_branchable(False, f"the first engine state is at step "
                                                f"{int(s[0]):,}; move the cursor there or later")
            return
        self.window.timeline.set_branchable(
            True, f"restore the engine state at step {int(s[i]):,}, re-play {c - int(s[i]):,} "
            f"steps to {c:,}, then run on live recording to a new file")

    # ---- continue live ------------------------------------------------------------------------
    def branch_default_path(self, step: int) -> str:
        assert self.rec is not None
        stem = os.path.splitext(self.rec.path)[0]
        return f"{stem}-branch-{step}.h5"

    def continue_live(self) -> bool:
        """"Continue live from here": ask for the new recording path and hand the cursor
        step to the live controller's ``continue_from``; returns True if it was called."""
        p, rec = self.player, self.rec
        if p is None or rec is None:
            return False
        step = p.cursor
        self.pause()
        path = self.ask_path("save", "Record the continued run to", self.branch_default_path(step),
                             "Recordings (*.h5)")
        if not path:
            return False
        live = self.live_provider() if self.live_provider is not None else None
        if live is None or not hasattr(live, "continue_from"):
            self.window.show_message("Continue live from here is not available: the live "
                                     "engine has no continue_from in this build", error=True)
            return False
        busy = _live_activity(live)
        if busy and not self.confirm(f"This replaces the live run ({busy}). Continue from "
                                     f"step {step:,} of {os.path.basename(rec.path)}?"):
            self.window.show_message("continue live cancelled; the live run goes on")
            return False
        from engine.streams import STREAMS
        choice = self.ask_stream([SAME_STREAM] + [n for n in STREAMS if n != "file"])
        if choice is None:
            self.window.show_message("continue live cancelled; the live run goes on")
            return False
        try:
            live.continue_from(rec.path, step, str(path))
            if choice != SAME_STREAM and hasattr(live, "switch_stream"):
                from engine.config import StreamConfig
                live.switch_stream(StreamConfig(name=choice))   # queued after the restart
        except Exception as exc:  # noqa: BLE001 - one line, the app stays usable
            self.window.show_message(one_line(exc), error=True)
            return False
        on = "the recorded stream" if choice == SAME_STREAM else f"stream {choice}"
        self.window.show_message(f"continuing live from step {step:,} on {on}, recording to "
                                 f"{os.path.basename(str(path))}")
        return True

    def _stream_dialog(self, options: list[str]) -> str | None:
        item, ok = QInputDialog.getItem(self.window, "Continue live from here",
                                        "Continue on which stream?", options, 0, False)
        return item if ok else None

    def _confirm_dialog(self, text: str) -> bool:
        answer = QMessageBox.question(self.window, "Continue live from here", text)
        return answer == QMessageBox.StandardButton.Yes

    # ---- compare ------------------------------------------------------------------------------
    def compare(self, paths: list[str] | None = None) -> QWidget | None:
        """Open a compare window of the current recording plus ``paths`` (asks if None)."""
        from nlviz.qt.replay.compare import open_compare
        if paths is None:
            start = os.path.dirname(self.rec.path) if self.rec else os.getcwd()
            chosen = self.ask_path("open_many", "Compare with", start, "Recordings (*.h5 *.hdf5)")
            if not chosen:
                return None
            paths = list(chosen) if isinstance(chosen, list) else [str(chosen)]
        if self.rec is not None and os.path.abspath(self.rec.path) not in map(os.path.abspath,
                                                                              paths):
            paths = [self.rec.path, *paths]
        cw = open_compare(paths, self.window.show_message)
        if cw is not None:
            self.compare_windows.append(cw)
            cw.show()
        return cw

    # ---- export -------------------------------------------------------------------------------
    def _default_out(self, suffix: str) -> str:
        base = os.path.splitext(self.rec.path)[0] if self.rec else os.path.join(os.getcwd(),
                                                                                "nlviz")
        return f"{base}-{suffix}"

    def _save_path(self, title: str, default: str, filters: str,
                   path: str | None) -> str | None:
        if path is not None:
            return path
        chosen = self.ask_path("save", title, default, filters)
        return str(chosen) if chosen else None

    def export_window(self, kind: str = "png", path: str | None = None) -> str | None:
        """Picture of the whole replay window (PNG or SVG)."""
        out = self._save_path("Export window", self._default_out(f"window.{kind}"),
                              f"{kind.upper()} (*.{kind})", path)
        return self._report(lambda: save_widget(self.window, out), out) if out else None

    def export_plot(self, key: str, kind: str = "png", path: str | None = None) -> str | None:
        """Picture of one plot (a metric, ``raster``, ``forgetting`` or ``heatmap``)."""
        out = self._save_path("Export plot", self._default_out(f"{key}.{kind}"),
                              f"{kind.upper()} (*.{kind})", path)
        return self._report(lambda: save_plot(self.window.plot_item(key), out), out) \
            if out else None

    def export_csv(self, path: str | None = None) -> int | None:
        """CSV of the visible step range (all levels, all metrics); returns the rows."""
        if self.rec is None:
            self.window.show_message("no recording open", error=True)
            return None
        lo, hi = self.visible_range()
        out = self._save_path("Export visible range", self._default_out(f"{lo}-{hi}.csv"),
                              "CSV (*.csv)", path)
        if not out:
            return None
        try:
            n = export_visible_csv(self.rec, out, lo, hi)
        except (UserError, OSError) as exc:
            self.window.show_message(one_line(exc), error=True)
            return None
        self.window.show_message(f"wrote {n:,} rows (steps {lo:,} to {hi:,}) to {out}")
        return n

    def _report(self, fn: Callable[[], str], out: str) -> str | None:
        try:
            fn()
        except (UserError, OSError) as exc:
            self.window.show_message(one_line(exc), error=True)
            return None
        self.window.show_message(f"saved {out}")
        return out


def open_replay(path: str | None = None, live_provider: Callable[[], Any] | None = None,
                ) -> tuple[ReplayWindow, ReplayController]:
    """A replay window (and its controller), opening ``path`` if given."""
    window = ReplayWindow()
    window.setAttribute(pg.QtCore.Qt.WA_DeleteOnClose, False)
    rc = ReplayController(window, live_provider)
    window.controller = rc  # type: ignore[attr-defined]
    if path:
        rc.open(path)
    return window, rc


__all__ = ["ReplayController", "open_replay", "regime_names"]
