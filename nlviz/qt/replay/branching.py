""""Continue live from here": restore the engine state at the replay cursor into the live
engine and run on, recording to a new file.

The live side is reached only through ``LiveTarget`` (the live ``Controller`` is one);
the branch button's state follows the cursor (``update``).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol

import numpy as np

from engine.config import StreamConfig
from engine.streams import STREAMS
from nlviz.errors import one_line
from nlviz.qt.dialogs import Dialogs
from nlviz.qt.replay.timeline import TimelineWidget
from nlviz.recording.reader import Recording

SAME_STREAM = "same stream as recorded"
TITLE = "Continue live from here"
Message = Callable[..., None]   # (text, error=False)


class LiveTarget(Protocol):
    """What a branch needs from the live engine."""

    def continue_from(self, recording_path: str, step: int,
                      record_path: str | None = None) -> None:
        """Replace the live run by the recording's state at ``step``; record to
        ``record_path``."""

    def switch_stream(self, stream: StreamConfig) -> None:
        """Feed ``stream`` from the next step on (queued after the restart)."""

    def activity(self) -> str:
        """What a branch would replace ("at step 1,234, recording"; "" when idle)."""


class Branching:
    """Continue-live for the replay window.

    Parameters
    ----------
    live_provider : the live engine (may build the live window); None or returning None:
        not available.
    dialogs : asks for the new recording's path, the stream and a confirmation.
    timeline : its branch button is enabled where the recording holds a state.
    message : one line in the status bar.
    """

    def __init__(self, live_provider: Callable[[], LiveTarget | None] | None,
                 dialogs: Dialogs, timeline: TimelineWidget, message: Message) -> None:
        self.live_provider = live_provider
        self.dialogs, self.timeline, self.message = dialogs, timeline, message
        self.steps = np.zeros(0, np.int64)         # steps with a stored engine state

    def update(self, cursor: int) -> None:
        """Enable the branch button where a state at or before ``cursor`` exists."""
        s = self.steps
        if len(s) == 0:
            self.timeline.set_branchable(False, "this recording holds no engine states "
                                         "(record with run.state_every > 0)")
            return
        i = int(np.searchsorted(s, cursor, "right")) - 1
        if i < 0:
            self.timeline.set_branchable(False, f"the first engine state is at step "
                                         f"{int(s[0]):,}; move the cursor there or later")
            return
        self.timeline.set_branchable(
            True, f"restore the engine state at step {int(s[i]):,}, re-play "
            f"{cursor - int(s[i]):,} steps to {cursor:,}, then run on live recording to a "
            "new file")

    @staticmethod
    def default_path(rec: Recording, step: int) -> str:
        """``<recording>-branch-<step>.h5`` next to the recording."""
        return f"{os.path.splitext(rec.path)[0]}-branch-{step}.h5"

    def continue_live(self, rec: Recording, step: int) -> bool:
        """Ask for the new recording's path (and, if the live engine is busy, whether to
        replace its run; and the stream), then hand ``step`` to the live engine's
        ``continue_from``; returns True if it was called."""
        path = self.dialogs.ask_one("save", "Record the continued run to",
                                    self.default_path(rec, step), "Recordings (*.h5)")
        if not path:
            return False
        live = self.live_provider() if self.live_provider is not None else None
        if live is None:
            self.message(f"{TITLE} is not available: no live engine in this window's app",
                         error=True)
            return False
        busy = live.activity()
        if busy and not self.dialogs.confirm(TITLE, f"This replaces the live run ({busy}). "
                                             f"Continue from step {step:,} of "
                                             f"{os.path.basename(rec.path)}?"):
            self.message("continue live cancelled; the live run goes on")
            return False
        choice = self.dialogs.ask_item(TITLE, "Continue on which stream?",
                                       [SAME_STREAM] + [n for n in STREAMS if n != "file"])
        if choice is None:
            self.message("continue live cancelled; the live run goes on")
            return False
        try:
            live.continue_from(rec.path, step, path)
            if choice != SAME_STREAM:
                live.switch_stream(StreamConfig(name=choice))     # queued after the restart
        except Exception as exc:  # noqa: BLE001 - one line, the app stays usable
            self.message(one_line(exc), error=True)
            return False
        on = "the recorded stream" if choice == SAME_STREAM else f"stream {choice}"
        self.message(f"continuing live from step {step:,} on {on}, recording to "
                     f"{os.path.basename(path)}")
        return True


__all__ = ["SAME_STREAM", "Branching", "LiveTarget"]
