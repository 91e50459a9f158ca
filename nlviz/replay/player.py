"""``Player``: the replay clock, a video-player model over the recorded steps. No Qt.

The cursor always sits on a recorded step (``steps[row]``). ``advance(dt)`` is a pure
function of the elapsed seconds, so tests (and the GUI timer) drive it
deterministically:

- ``REAL_TIME``: moves ``dt * speed * native_rate`` rows, where ``native_rate`` is the
  recording's own steps per second estimated from ``/wall_time`` (pauses longer than a
  gap cap are ignored). Fractions carry over; at high rates rows are skipped.
- ``EVERY_STEP``: moves whole rows at ``step_rate * speed`` rows per second and never
  skips a row if the GUI ticks at ``tick_interval()`` (then each ``tick()``/``advance``
  moves exactly one row).
- ``MAX``: moves ``max_rate * speed`` rows per second (default 1,000,000 at 1x), the
  "as fast as the views can fetch" mode.

Loop ``OFF`` stops at the end, ``ALL`` wraps to the first row, ``SELECTION`` wraps
inside ``selection`` (inclusive step range). ``tail = True`` follows a file that is
still being written: the player calls ``Recording.refresh()`` at most every
``tail_poll_s`` seconds of ``advance`` time and, when the cursor was at the end, keeps it
at the (new) end.
"""
from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import numpy as np

SPEED_MIN, SPEED_MAX = 0.1, 10.0
SPEEDS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0)   # suggested combo-box values


class PlayMode(str, enum.Enum):
    REAL_TIME = "real_time"
    EVERY_STEP = "every_step"
    MAX = "max"


class LoopMode(str, enum.Enum):
    OFF = "off"
    ALL = "all"
    SELECTION = "selection"


def native_rate(steps: np.ndarray, wall_time: np.ndarray | None, gap_cap_s: float = 1.0,
                default: float = 1000.0) -> float:
    """Recorded rows per second of the original run, from ``wall_time``.

    Time gaps longer than ``gap_cap_s`` (pauses) count as ``gap_cap_s``. Returns
    ``default`` when the file has fewer than two distinct wall times.
    """
    if wall_time is None or len(wall_time) < 2:
        return default
    d = np.diff(np.asarray(wall_time, np.float64))
    d = d[np.isfinite(d) & (d > 0)]
    if d.size == 0:
        return default
    active = float(np.minimum(d, gap_cap_s).sum())
    return (len(wall_time) - 1) / active if active > 0 else default


class Player:
    """Replay clock over ``steps`` (strictly increasing recorded global steps).

    Parameters
    ----------
    steps : (n,) int64 recorded steps.
    wall_time : (n,) float64 seconds since run start (for the real-time rate), or None.
    refresh : called in tail mode to fetch a longer ``(steps, wall_time)``; None = no tail.
    step_rate : rows per second of ``EVERY_STEP`` at 1x.
    max_rate : rows per second of ``MAX`` at 1x.
    big_step : N of ``step_forward(big=True)`` / ``step_back(big=True)``.
    """

    def __init__(self, steps: np.ndarray, wall_time: np.ndarray | None = None, *,
                 refresh: Callable[[], tuple[np.ndarray, np.ndarray | None]] | None = None,
                 step_rate: float = 30.0, max_rate: float = 1_000_000.0, big_step: int = 100
                 ) -> None:
        self._refresh = refresh
        self.step_rate, self.max_rate, self.big_step = float(step_rate), float(max_rate), big_step
        self.playing = False
        self.speed = 1.0
        self.mode = PlayMode.REAL_TIME
        self.loop = LoopMode.OFF
        self.selection: tuple[int, int] | None = None
        self.tail = False
        self.tail_poll_s = 0.5
        self._tail_clock = 0.0
        self._frac = 0.0
        self.row = 0
        self._set_steps(steps, wall_time)

    @classmethod
    def from_recording(cls, rec: Any, **kwargs: Any) -> Player:
        """A player over an open ``Recording`` (tail mode calls ``rec.refresh()``)."""
        def refresh() -> tuple[np.ndarray, np.ndarray]:
            rec.refresh()
            return rec.steps, rec.wall_time()
        p = cls(rec.steps, rec.wall_time(), refresh=refresh, **kwargs)
        p.tail = bool(rec.recovered)
        return p

    def _set_steps(self, steps: np.ndarray, wall_time: np.ndarray | None) -> None:
        self.steps = np.asarray(steps, np.int64)
        self.native_rate = native_rate(self.steps, wall_time)
        self.row = min(self.row, max(0, len(self.steps) - 1))

    # ---- state ---------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.steps)

    @property
    def cursor(self) -> int:
        """The recorded step under the cursor (-1 for an empty recording)."""
        return int(self.steps[self.row]) if self.n else -1

    @property
    def at_end(self) -> bool:
        return self.row >= self.n - 1

    def rows_per_second(self) -> float:
        """Rows the cursor moves per second of wall time in the current mode and speed."""
        base = {PlayMode.REAL_TIME: self.native_rate, PlayMode.EVERY_STEP: self.step_rate,
                PlayMode.MAX: self.max_rate}[self.mode]
        return base * self.speed

    def tick_interval(self) -> float:
        """Seconds between GUI ticks so that ``EVERY_STEP`` moves one row per tick."""
        return 1.0 / max(1e-9, self.step_rate * self.speed)

    # ---- controls -------------------------------------------------------------------------
    def play(self) -> None:
        if self.n == 0:
            return
        lo, hi = self._bounds()
        if self.loop is not LoopMode.OFF and not lo <= self.row <= hi:
            self.row = lo
        elif self.loop is LoopMode.OFF and self.at_end and not self.tail:
            self.row = 0                  # play at the end restarts, like a video player
        self.playing = True
        self._frac = 0.0

    def pause(self) -> None:
        self.playing = False
        self._frac = 0.0

    def toggle(self) -> bool:
        """Play/pause; returns the new ``playing``."""
        self.pause() if self.playing else self.play()
        return self.playing

    def set_speed(self, speed: float) -> float:
        """Clamp to [0.1, 10]; returns the speed in use."""
        self.speed = float(min(SPEED_MAX, max(SPEED_MIN, speed)))
        return self.speed

    def set_mode(self, mode: PlayMode | str) -> None:
        self.mode = PlayMode(mode)
        self._frac = 0.0

    def set_loop(self, loop: LoopMode | str, selection: tuple[int, int] | None = None) -> None:
        """Loop mode; ``selection`` (inclusive steps) is required for ``SELECTION``."""
        loop = LoopMode(loop)
        if selection is not None:
            a, b = sorted((int(selection[0]), int(selection[1])))
            self.selection = (a, b)
        if loop is LoopMode.SELECTION and self.selection is None:
            raise ValueError("loop 'selection' needs a selection (start_step, stop_step)")
        self.loop = loop

    def seek(self, step: int) -> int:
        """Move to the recorded step nearest ``step`` (ties: the earlier); returns it."""
        self.row = self.snap_row(step)
        self._frac = 0.0
        return self.cursor

    def snap(self, step: int) -> int:
        """The recorded step nearest ``step`` (ties: the earlier), without moving."""
        return int(self.steps[self.snap_row(step)]) if self.n else -1

    def snap_row(self, step: int) -> int:
        if self.n == 0:
            return 0
        i = int(np.searchsorted(self.steps, step, "left"))
        if i >= self.n:
            return self.n - 1
        if i > 0 and step - self.steps[i - 1] <= self.steps[i] - step:
            return i - 1
        return i

    def seek_row(self, row: int) -> int:
        self.row = int(min(max(row, 0), max(0, self.n - 1)))
        self._frac = 0.0
        return self.cursor

    def step_forward(self, n: int = 1, big: bool = False) -> int:
        """Move ``n`` (or ``big_step``) recorded steps forward, clamped; returns the cursor."""
        return self.seek_row(self.row + (self.big_step if big else n))

    def step_back(self, n: int = 1, big: bool = False) -> int:
        return self.seek_row(self.row - (self.big_step if big else n))

    def home(self) -> int:
        return self.seek_row(self._bounds()[0] if self.loop is LoopMode.SELECTION else 0)

    def end(self) -> int:
        return self.seek_row(self._bounds()[1] if self.loop is LoopMode.SELECTION else self.n - 1)

    def tick(self) -> int:
        """One ``EVERY_STEP`` tick: exactly one row forward (with loop / stop rules)."""
        if self.playing:
            self._move(1)
        return self.cursor

    # ---- the clock ----------------------------------------------------------------------------
    def advance(self, dt_seconds: float) -> int:
        """Advance the clock by ``dt_seconds`` of wall time; returns the new cursor step."""
        if self.tail and self._refresh is not None:
            self._tail_clock += max(0.0, dt_seconds)
            if self._tail_clock >= self.tail_poll_s:
                self._tail_clock = 0.0
                self.refresh()
        if not self.playing or self.n == 0 or dt_seconds <= 0:
            return self.cursor
        self._frac += dt_seconds * self.rows_per_second()
        whole = int(self._frac)
        self._frac -= whole
        if whole:
            self._move(whole)
        return self.cursor

    def refresh(self) -> int:
        """Tail: pick up rows a writer added; a cursor at the end follows. Returns ``n``."""
        if self._refresh is None:
            return self.n
        was_end = self.at_end
        steps, wall = self._refresh()
        self._set_steps(steps, wall)
        if was_end and self.tail and self.playing:
            self.row = max(0, self.n - 1)
        return self.n

    def _bounds(self) -> tuple[int, int]:
        """Row range the cursor plays in (selection or everything), inclusive."""
        if self.loop is LoopMode.SELECTION and self.selection is not None and self.n:
            lo = int(np.searchsorted(self.steps, self.selection[0], "left"))
            hi = int(np.searchsorted(self.steps, self.selection[1], "right")) - 1
            if hi >= lo:
                return min(lo, self.n - 1), hi
        return 0, max(0, self.n - 1)

    def _move(self, rows: int) -> None:
        lo, hi = self._bounds()
        target = self.row + rows
        if target <= hi:
            self.row = target
            return
        if self.loop is LoopMode.OFF:
            self.row = hi
            if not self.tail:
                self.playing = False
            self._frac = 0.0
            return
        span = hi - lo + 1
        self.row = lo + (target - lo) % span if self.row >= lo else lo + (target - hi - 1) % span


ReplayClock = Player

__all__ = [
    "SPEEDS",
    "SPEED_MAX",
    "SPEED_MIN",
    "LoopMode",
    "PlayMode",
    "Player",
    "ReplayClock",
    "native_rate",
]
