"""``TrainingController``: shows one training recording in a ``TrainingWindow`` and
follows it while a training writes it.

Every ``POLL_MS`` the file is opened, the rows added since the last look are read
(only those), and the view redrawn; the file is closed again at once, so the training's
``--resume`` (which rewrites the file) is not blocked by the viewer. A resumed file
(``status/resumes`` changed), fewer rows or other names: everything is read again. A
failed look is one line in the status bar, shown once per distinct error, and retried.
"""
from __future__ import annotations

import os

import numpy as np
from PySide6.QtCore import QObject, QTimer

from nlviz.errors import one_line
from nlviz.qt.training.window import TrainingWindow
from nlviz.recording.base import RecordingError
from nlviz.recording.training_reader import TrainingRecording

POLL_MS = 1000


class TrainingController(QObject):
    """Reads the open training recording into ``columns`` and hands them to the view.

    Attributes
    ----------
    path : the open file ("" when none).
    columns : every column read so far (``"step"``, ``"loss/<task>"``, ...).
    names : (tasks, groups, gate_stats) of the open file.
    complete : the writer closed the file cleanly (as of the last look).
    """

    def __init__(self, window: TrainingWindow) -> None:
        super().__init__(window)
        self.window, self.view = window, window.view
        self.path = ""
        self.columns: dict[str, np.ndarray] = {}
        self.names: tuple[tuple[str, ...], ...] = ()
        self.resumes = 0
        self.complete = False
        self.error: str | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)

    @property
    def n_rows(self) -> int:
        """Rows shown."""
        return len(self.columns.get("step", ()))

    def open(self, path: str) -> bool:
        """Show ``path`` and follow it; False (one line in the status bar) when it cannot
        be read as a training recording."""
        self.timer.stop()
        self.path, self.columns, self.names, self.error = str(path), {}, (), None
        try:
            self._look()
        except RecordingError as exc:
            self.window.show_message(one_line(exc), error=True)
            self.path = ""
            return False
        self.window.setWindowTitle(f"nlviz training — {os.path.basename(self.path)}")
        self.window.show_message(f"opened {self.path}")
        self.timer.start()
        return True

    def poll(self) -> int:
        """Read the rows added since the last look and redraw; returns the rows shown.
        Never raises: a failed read is one line in the status bar (retried next time)."""
        if not self.path:
            return 0
        try:
            self._look()
        except Exception as exc:  # noqa: BLE001 - any read error: one line, the app goes on
            text = one_line(exc)
            if text != self.error:
                name = os.path.basename(self.path)
                self.window.show_message(f"cannot read {name} now (retrying): {text}",
                                         error=True)
            self.error = text
            return self.n_rows
        if self.error is not None:
            self.error = None
            self.window.show_message(f"following {os.path.basename(self.path)}: "
                                     f"{self.n_rows:,} outer steps")
        return self.n_rows

    def _look(self) -> None:
        with TrainingRecording.open(self.path) as rec:
            names = (rec.tasks, rec.groups, rec.gate_stats)
            have = self.n_rows
            if names != self.names or rec.resumes != self.resumes or rec.n_rows < have:
                self.view.set_names(*names)
                self.names, self.resumes, self.columns, have = names, rec.resumes, {}, 0
            n = rec.n_rows
            grew = n > have or not self.columns
            if grew:
                new = {c: rec.column(c, have, n) for c in rec.columns}
                self.columns = {c: np.concatenate([self.columns[c], v]) if c in self.columns
                                else v for c, v in new.items()}
            changed = grew or rec.complete != self.complete
            self.complete = rec.complete
            if changed:
                self.view.set_data(self.columns)
                self.view.set_header(self._summary(rec))

    def _summary(self, rec: TrainingRecording) -> str:
        name = os.path.basename(self.path)
        n = self.n_rows
        if not n:
            return f"{name}: no outer steps yet" + ("" if rec.complete else " (following)")
        step, wall, tokens = self.columns["step"], self.columns["wall_time"], \
            self.columns["tokens"]
        parts = [f"{name}: {n:,} outer steps ({int(step[0])}..{int(step[-1])})",
                 f"{float(wall[-1]):.1f} s"]
        if float(wall[-1]) > 0:
            parts.append(f"{int(tokens[-1]):,} tokens ({tokens[-1] / wall[-1]:,.0f}/s)")
        total = self.columns["loss/total"]
        ok = np.flatnonzero(np.isfinite(total))
        if len(ok):
            parts.append(f"last total loss {float(total[ok[-1]]):.4g}")
        parts.append("complete" if rec.complete else "following (still being written)")
        return " · ".join(parts)

    def shutdown(self) -> None:
        """Stop following."""
        self.timer.stop()


__all__ = ["POLL_MS", "TrainingController"]
