"""What of an engine batch goes to the GUI: every row, fewer sparse records (Qt-free).

At compiled-engine rates (10k-100k steps/s) probe evaluations, weight snapshots and state
records arrive hundreds of times per second. The recorder gets every one of them (the
loop appends the whole batch to it first); the GUI shows only the newest of each, so the
batch sent through the pipe carries at most one record of each thinned kind per
``GUI_RECORD_PERIOD_S`` (time-based, the newest one; older ones waiting in the same
period are dropped, never pickled). Per-step rows, events and evaluations are never
thinned: the ring, the event log and the retention matrix need every one.

A record that is not due yet is held back, not lost for the GUI: the next batch after the
period carries it (if no newer one replaced it), and ``flush`` hands out what is held
when the run pauses, so a paused window always shows the newest record of each kind.
Thinning happens in the engine process, before pickling: the cheapest place.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from engine.frames import FrameBatch, RunSpec

GUI_RECORD_PERIOD_S = 0.25      # at most 4 records per second per kind to the GUI
THINNED_KINDS: tuple[str, ...] = ("probes", "snapshots", "states")


class GuiThinner:
    """Thins the sparse records of the batches sent to the GUI (see the module doc).

    Parameters
    ----------
    period : seconds between two records of one kind sent to the GUI.
    clock : monotonic seconds (injectable for tests).
    """

    def __init__(self, period: float = GUI_RECORD_PERIOD_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.period = float(period)
        self.clock = clock
        self._last: dict[str, float] = {k: float("-inf") for k in THINNED_KINDS}
        self._held: dict[str, Any] = {}              # kind -> newest record not sent yet

    def thin(self, batch: FrameBatch) -> FrameBatch:
        """The batch to send: the same rows, events and evals; of each thinned kind at
        most the newest record, and only when the last one sent is ``period`` old."""
        now = self.clock()
        out: dict[str, list[Any]] = {}
        for kind in THINNED_KINDS:
            records = getattr(batch, kind)
            if records:
                self._held[kind] = records[-1]
            if kind in self._held and now - self._last[kind] >= self.period:
                out[kind] = [self._held.pop(kind)]
                self._last[kind] = now
            else:
                out[kind] = []
        if all(len(out[k]) == len(getattr(batch, k)) for k in THINNED_KINDS):
            return batch                              # nothing dropped: no copy
        return replace(batch, probes=out["probes"], snapshots=out["snapshots"],
                       states=out["states"])

    def flush(self, spec: RunSpec) -> FrameBatch | None:
        """An empty batch (no rows) with the held records, or None when none are held."""
        if not self._held:
            return None
        now = self.clock()
        for kind in self._held:
            self._last[kind] = now
        held, self._held = self._held, {}
        out = {k: [held[k]] if k in held else [] for k in THINNED_KINDS}
        return replace(FrameBatch.empty(spec), probes=out["probes"],
                       snapshots=out["snapshots"], states=out["states"])

    def reset(self) -> None:
        """Forget held records and times (a new session spec)."""
        self._last = {k: float("-inf") for k in THINNED_KINDS}
        self._held = {}


__all__ = ["GUI_RECORD_PERIOD_S", "THINNED_KINDS", "GuiThinner"]
