"""``RecordedAblation``: a knock-out / restore evaluation of a recording, off the GUI thread.

``nlviz.replay.ablation.ablate_recorded`` rebuilds the engine from the recorded config
and the nearest recorded state (importing torch the first time), which takes longer than
a frame; it runs in a Python thread on its own handle of the file, and the answer comes
back on the GUI thread through ``finished``. One evaluation at a time.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, SignalInstance

from engine.frames import EvalRecord, RunSpec
from nlviz.errors import one_line


class RecordedAblation(QObject):
    """Runs one ``ablate_recorded`` at a time in a worker thread.

    Signals
    -------
    finished(object records, str error) : the EvalRecords (intact first) and "" on
        success; ``[]`` and one line saying why on failure. Delivered on the thread that
        owns this object (queued).
    """

    finished = Signal(object, str)
    _done = Signal(object, str)                 # worker thread -> owner thread

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None
        self.seconds = 0.0                      # wall time of the last evaluation
        self._done.connect(self._on_done, Qt.ConnectionType.QueuedConnection)

    @property
    def busy(self) -> bool:
        """True while an evaluation runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, path: str, step: int, level: str, restore_step: int | None) -> bool:
        """Evaluate ``level`` knocked out (``restore_step`` None) or restored to
        ``restore_step``, at the recorded state nearest at or before ``step`` of the
        recording at ``path``; False (nothing started) while one is running."""
        if self.busy:
            return False
        self._thread = threading.Thread(
            target=self._run, args=(str(path), int(step), str(level), restore_step),
            name="nlviz-ablation", daemon=True)
        self._thread.start()
        return True

    def wait(self, timeout_s: float = 60.0) -> bool:
        """Block until the running evaluation ends (closing, tests); True if none runs."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return not self.busy

    def _run(self, path: str, step: int, level: str, restore_step: int | None) -> None:
        t0 = time.perf_counter()
        try:
            from nlviz.recording.reader import Recording
            from nlviz.replay.ablation import ablate_recorded
            with Recording.open(path) as rec:
                records: list[EvalRecord] = ablate_recorded(rec, step, level, restore_step)
            error = ""
        except Exception as exc:  # noqa: BLE001 - shown as one line, the app keeps going
            records, error = [], one_line(exc)
        self.seconds = time.perf_counter() - t0
        self._done.emit(records, error)

    def _on_done(self, records: list[EvalRecord], error: str) -> None:
        self.finished.emit(records, error)


class AblationView(Protocol):
    """What the replay ablation talks to (``RetentionPanels``)."""

    @property
    def ablationRequested(self) -> SignalInstance: ...  # noqa: N802 - a Qt signal

    def set_spec(self, spec: RunSpec) -> None: ...

    def show_ablation(self, records: list[EvalRecord]) -> None: ...

    def set_state_steps(self, steps: Sequence[int] | np.ndarray | None) -> None: ...

    def set_ablation_busy(self, busy: bool, text: str = "") -> None: ...


class ReplayAblation(QObject):
    """Answers the retention panels' ``ablationRequested`` in a replay: evaluates the
    open recording at the cursor (``RecordedAblation``) and shows the answer.

    Parameters
    ----------
    view : the retention panels.
    target : (recording path, cursor step) now, or None while nothing is open.
    show_message : the replay window's status line (text, error).
    """

    def __init__(self, view: AblationView, target: Callable[[], tuple[str, int] | None],
                 show_message: Callable[..., None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view, self.target, self.show_message = view, target, show_message
        self.runner = RecordedAblation(self)
        self.runner.finished.connect(self._on_finished)
        view.ablationRequested.connect(self.ablate)

    def ablate(self, level: str, restore_step: int | None = None) -> bool:
        """Evaluate ``level`` knocked out (or restored to ``restore_step``) at the cursor's
        recorded state; False when nothing was started."""
        where = self.target()
        if where is None:
            return False
        path, cursor = where
        if not self.runner.start(path, cursor, level, restore_step):
            self.show_message("an ablation is still being evaluated")
            return False
        what = "knocked out" if restore_step is None else f"restored to step {restore_step:,}"
        self.view.set_ablation_busy(True, f"evaluating {level} {what} at step {cursor:,}…")
        return True

    def wait(self, timeout_s: float = 60.0) -> bool:
        """Block until a running evaluation ends (closing the recording, tests)."""
        return self.runner.wait(timeout_s)

    def _on_finished(self, records: list[EvalRecord], error: str) -> None:
        if error:
            self.view.set_ablation_busy(False, f"ablation failed: {error}")
            self.show_message(f"ablation failed: {error}", error=True)
            return
        self.view.set_ablation_busy(False)
        self.view.show_ablation(records)
        self.show_message(f"ablation evaluated in {self.runner.seconds:.1f} s")


__all__ = ["AblationView", "RecordedAblation", "ReplayAblation"]
