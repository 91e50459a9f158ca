"""Replay transport: play / pause, steps, Home / End, speed, mode, loop, and throttled
scrubbing, on the ``Player`` of the open recording.

- A play timer calls the controller's ``tick(dt)`` (``Player.tick()`` in "every step"
  mode: one recorded row per timer tick).
- Scrubbing (dragging the timeline cursor) is throttled to ``SCRUB_HZ``: the first request
  is applied at once, later ones only keep the newest step until the throttle timer fires
  (stale requests are dropped). ``scrubbing`` is True from the first request until the
  drag ends.
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QElapsedTimer, QObject, Qt, QTimer

from nlviz.qt.replay.timeline import TimelineWidget
from nlviz.replay.player import LoopMode, Player, PlayMode

SCRUB_HZ = 30.0
SCRUB_INTERVAL_MS = 28          # under 1/30 s so timer slack and the paint still give >= 30 fps
PLAY_INTERVAL_MS = 33


class Transport(QObject):
    """Moves the cursor of ``player()`` and asks for redraws.

    Parameters
    ----------
    player : the open recording's player (None: nothing open).
    redraw : draw the cursor's frame (``sparse``: the slow panels too).
    slow_due : True when the slow panels are due again while scrubbing.
    tick : one play-timer tick of ``dt`` seconds (the controller's).
    timeline : the view whose play button shows the state.
    """

    def __init__(self, player: Callable[[], Player | None], redraw: Callable[[bool], None],
                 slow_due: Callable[[], bool], tick: Callable[[float], int],
                 timeline: TimelineWidget, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.player, self.redraw, self.slow_due, self.tick = player, redraw, slow_due, tick
        self.timeline = timeline
        self.scrubbing = False
        self._pending_seek: int | None = None
        self.clock = QElapsedTimer()
        self.play_timer = QTimer(self)
        self.play_timer.setInterval(PLAY_INTERVAL_MS)
        self.play_timer.timeout.connect(self._on_play_timer)
        self.scrub_timer = QTimer(self)
        self.scrub_timer.setSingleShot(True)
        self.scrub_timer.setInterval(SCRUB_INTERVAL_MS)
        self.scrub_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.scrub_timer.timeout.connect(self._on_scrub_timer)
        t = timeline
        t.seekRequested.connect(self.request_seek)
        t.scrubFinished.connect(self.scrub_finished)
        t.playToggled.connect(self.toggle_play)
        t.stepRequested.connect(self.step)
        t.homeRequested.connect(self.home)
        t.endRequested.connect(self.end)
        t.speedChanged.connect(self.set_speed)
        t.modeChanged.connect(self.set_mode)
        t.loopChanged.connect(self.set_loop)

    # ---- cursor ---------------------------------------------------------------------------
    def seek(self, step: int, sparse: bool = True) -> int:
        """Move the cursor to the recorded step nearest ``step`` and redraw; returns it."""
        p = self.player()
        if p is None:
            return -1
        c = p.seek(int(step))
        self.redraw(sparse)
        return c

    def request_seek(self, step: int) -> None:
        """Throttled seek (timeline drags): at most ``SCRUB_HZ`` redraws, newest wins."""
        if self.player() is None:
            return
        self.scrubbing = True
        if self.scrub_timer.isActive():
            self._pending_seek = int(step)            # replaces any stale request
            return
        self._pending_seek = None
        self.scrub_timer.start()                      # period = max(1/30 s, redraw time)
        self.seek(step, sparse=self.slow_due())

    def _on_scrub_timer(self) -> None:
        if self._pending_seek is not None:
            step, self._pending_seek = self._pending_seek, None
            self.scrub_timer.start()
            self.seek(step, sparse=self.slow_due())

    def scrub_finished(self) -> None:
        """The drag ended: land on the newest request and draw every panel."""
        self.scrubbing = False
        p = self.player()
        if self._pending_seek is not None:
            step, self._pending_seek = self._pending_seek, None
            if p is not None:
                p.seek(step)
        self.redraw(True)

    def step(self, rows: int) -> int:
        """Move ``rows`` recorded rows (negative = back) and redraw; returns the cursor."""
        p = self.player()
        if p is None:
            return -1
        p.seek_row(p.row + int(rows))
        self.redraw(True)
        return p.cursor

    def home(self) -> int:
        """The first recorded step; returns it."""
        p = self.player()
        if p is None:
            return -1
        p.home()
        self.redraw(True)
        return p.cursor

    def end(self) -> int:
        """The last recorded step; returns it."""
        p = self.player()
        if p is None:
            return -1
        p.end()
        self.redraw(True)
        return p.cursor

    # ---- playing --------------------------------------------------------------------------
    def play(self) -> None:
        """Play from the cursor."""
        p = self.player()
        if p is None or p.n == 0:
            return
        p.play()
        self.clock.start()
        self._set_interval()
        self.play_timer.start()
        self.timeline.set_playing(True)

    def pause(self) -> None:
        """Stop playing (a redraw of every panel if it was playing)."""
        self.play_timer.stop()
        p = self.player()
        if p is not None:
            was = p.playing
            p.pause()
            if was:
                self.redraw(True)
        self.timeline.set_playing(False)

    def toggle_play(self) -> None:
        """Play or pause."""
        p = self.player()
        if p is not None and p.playing:
            self.pause()
        else:
            self.play()

    def set_speed(self, speed: float) -> None:
        """Playback speed (a factor of the recording's pace)."""
        p = self.player()
        if p is not None:
            p.set_speed(speed)
            self._set_interval()

    def set_mode(self, mode: str) -> None:
        """"real_time", "every_step" or "max"."""
        p = self.player()
        if p is not None:
            p.set_mode(mode)
            self._set_interval()

    def set_loop(self, mode: str, start: int = 0, stop: int = 0) -> None:
        """Loop "off", "all" or "selection" (``start``..``stop``)."""
        p = self.player()
        if p is not None:
            sel = (start, stop) if mode == LoopMode.SELECTION.value else None
            p.set_loop(mode, sel)

    def _set_interval(self) -> None:
        p = self.player()
        if p is None:
            return
        if p.mode is PlayMode.EVERY_STEP:
            self.play_timer.setInterval(max(1, round(1000 * p.tick_interval())))
        else:
            self.play_timer.setInterval(PLAY_INTERVAL_MS)

    def _on_play_timer(self) -> None:
        self.tick(self.clock.restart() / 1000.0)


__all__ = ["PLAY_INTERVAL_MS", "SCRUB_HZ", "SCRUB_INTERVAL_MS", "Transport"]
