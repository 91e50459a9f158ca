"""Status bar: device, steps/s, step, render fps, recording, memory in use."""
from __future__ import annotations

import os
import re
import resource
import sys

from PySide6.QtWidgets import QLabel, QSizePolicy, QStatusBar, QWidget

from nlviz.recording.stats import RecorderStats

DEVICE_LABEL_MAX_PX = 460


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process (this one by default) in MB: current where the OS tells
    it, else this process's peak; 0 for another process that cannot be read."""
    try:
        with open(f"/proc/{pid}/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        if pid != "self":
            return 0.0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1e6 if sys.platform == "darwin" else 1e3)


def _short_reason(reason: str) -> str:
    """The reason as the status bar shows it: ``"auto: CPU, 1,210 steps/s against CUDA 480
    steps/s measured at start"`` -> ``"auto: 1,210 steps/s against CUDA 480 steps/s measured
    at start"`` (the device is named just before); "" for an explicit request."""
    if reason == "requested":
        return ""
    return re.sub(r"^auto: [A-Z]+, ", "auto: ", reason)


class StatusPanel(QStatusBar):
    """A message on the left, render fps on the right, and (``engine``: the live window)
    the engine's numbers: device, steps/s, step, recording, memory. Updated by the
    redraw timer."""

    def __init__(self, parent: QWidget | None = None, engine: bool = True) -> None:
        super().__init__(parent)
        self.device = QLabel("device: -")
        self.device.setMaximumWidth(DEVICE_LABEL_MAX_PX)   # a long reason clips; full tooltip
        self.rate = QLabel("paused")
        self.step = QLabel("no steps yet")
        self.fps = QLabel("render 0 fps")
        self.record = QLabel("not recording")
        self.memory = QLabel("mem -")
        self.message = QLabel("")
        # a long message must not widen the window (full text in the tooltip)
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        shown: tuple[QLabel, ...] = (self.device, self.rate, self.step, self.fps, self.record,
                                     self.memory)
        if not engine:                           # the others stay hidden children
            for w in shown[:3] + shown[4:]:
                w.setParent(self)
                w.hide()
            shown = (self.fps,)
            self.fps.setText("")
        for w in shown:
            self.addPermanentWidget(w)
        self.addWidget(self.message, 1)

    def set_device(self, name: str, note: str | None, reason: str = "",
                   engine: str = "") -> None:
        """Device name and why (``reason``: ``Session.device_reason``, e.g. what ``--device
        auto`` measured; "requested" is not repeated), with the fallback note if any, and
        which engine computes (``engine``: ``Session.engine_note``; in full in the tooltip)."""
        why = _short_reason(reason)
        self.device.setText(f"device: {name}" + (f" ({why})" if why else "")
                            + (f" · {engine_word(engine)}" if engine else "")
                            + (" ⚠" if note else ""))
        self.device.setToolTip("\n".join(x for x in (name, reason, engine, note) if x))
        if note:
            self.show_message(note)

    def set_numbers(self, steps_per_s: float, steps_done: int, fps: float, playing: bool,
                    engine_pid: int | None = None) -> None:
        """Per-redraw numbers; memory is this (GUI) process plus the engine process."""
        self.rate.setText(f"{steps_per_s:,.0f} steps/s" if playing else "paused")
        # the last step's index, as on the plots' x axis and in the Input panel
        self.step.setText(f"step {steps_done - 1:,}" if steps_done > 0 else "no steps yet")
        self.step.setToolTip(f"{steps_done:,} steps done (steps count from 0)")
        self.fps.setText(f"render {fps:.0f} fps")
        gui = rss_mb()
        engine = rss_mb(engine_pid) if engine_pid else 0.0
        self.memory.setText(f"mem {gui + engine:,.0f} MB")
        self.memory.setToolTip(f"GUI process {gui:,.0f} MB + engine process {engine:,.0f} MB")

    def set_recording(self, stats: RecorderStats | None) -> None:
        """Recorder stats, or None when not recording."""
        if stats is None:
            self.record.setText("not recording")
            self.record.setStyleSheet("")
            return
        name = os.path.basename(stats.path)
        mb = stats.bytes_on_disk / 1e6
        rows, fill = stats.rows_committed, stats.queue_fill
        blocked = stats.blocked_seconds_total
        bp = f", back-pressure {blocked:.1f}s" if blocked > 0 or fill > 0.9 else ""
        self.record.setText(f"● REC {name} {mb:.1f} MB, {rows:,} rows, queue {fill:.0%}{bp}")
        self.record.setToolTip(self.record.text())
        self.record.setStyleSheet("color: #ff6b6b;")

    def show_message(self, text: str, error: bool = False) -> None:
        """A sticky message on the left (errors in red)."""
        self.message.setText(text)
        self.message.setStyleSheet("color: #ff6b6b;" if error else "")
        self.message.setToolTip(text)


def engine_word(note: str) -> str:
    """The engine in a word or two from ``Session.engine_note``: "compiled", "eager", or
    "eager → compiled" while ``run.engine = auto`` has not switched yet."""
    if note.startswith("compiled"):
        return "compiled"
    return "eager → compiled" if "then compiled" in note else "eager"
