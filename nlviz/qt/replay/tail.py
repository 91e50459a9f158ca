"""Following a recording that is still being written (or was recovered): ``Player.refresh``
every ``TAIL_PERIOD_MS``; a cursor at the end follows the end.

A failed refresh (a writer mid-flush, a damaged tail) never escapes ``poll``: it is one
line in the status bar, shown once per distinct error, and retried on the next tick;
after ``TAIL_MAX_FAILURES`` failures in a row following stops, with a message.
"""
from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

from nlviz.errors import one_line
from nlviz.replay.player import Player

TAIL_PERIOD_MS = 500
TAIL_MAX_FAILURES = 20          # failed tail polls in a row (10 s) before following stops

Message = Callable[..., None]   # (text, error=False)


class TailFollower(QObject):
    """Polls the open recording for new rows while ``timer`` runs.

    Parameters
    ----------
    player : the open recording's player (None: nothing open).
    path : the open recording's path ("" when none).
    redraw : draw the cursor's frame (``sparse``: the slow panels too).
    grown : the recording has new rows (update the timeline).
    message : one line in the status bar (``error=True``: in red).
    """

    def __init__(self, player: Callable[[], Player | None], path: Callable[[], str],
                 redraw: Callable[[bool], None], grown: Callable[[], None],
                 message: Message, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.player, self.path, self.redraw, self.grown = player, path, redraw, grown
        self.message = message
        self.error: str | None = None             # last refresh error shown
        self.failures = 0
        self.timer = QTimer(self)
        self.timer.setInterval(TAIL_PERIOD_MS)
        self.timer.timeout.connect(self.poll)

    def start(self) -> None:
        """Follow from now on (a fresh recording: no errors yet)."""
        self.error, self.failures = None, 0
        self.timer.start()

    def stop(self) -> None:
        """Stop following."""
        self.timer.stop()

    def reset(self) -> None:
        """A recording was opened: no errors yet."""
        self.error, self.failures = None, 0

    def poll(self) -> int:
        """Pick up rows a writer added; a cursor at the end follows. Returns the rows."""
        p = self.player()
        if p is None:
            return 0
        was_end, n0 = p.at_end, p.n
        try:
            n = p.refresh()
            if n != n0 or self.error is not None:
                if was_end and not p.playing:
                    p.seek_row(n - 1)
                self.grown()
                self.redraw(True)
        except Exception as exc:  # noqa: BLE001 - any read error: one line, the app goes on
            self._on_error(exc)
            return p.n
        if self.error is not None:
            self.error, self.failures = None, 0
            name = os.path.basename(self.path())
            self.message(f"following {name}: {n:,} steps" if name else "")
        return n

    def _on_error(self, exc: Exception) -> None:
        text = one_line(exc)
        name = os.path.basename(self.path()) or "the recording"
        self.failures += 1
        if self.failures == TAIL_MAX_FAILURES:
            self.timer.stop()
            self.message(f"stopped following {name} after {self.failures} failed reads of "
                         f"its newest rows: {text}", error=True)
        elif self.failures < TAIL_MAX_FAILURES and text != self.error:
            self.message(f"cannot read the newest rows of {name} yet (retrying): {text}",
                         error=True)
        self.error = text


__all__ = ["TAIL_MAX_FAILURES", "TAIL_PERIOD_MS", "TailFollower"]
