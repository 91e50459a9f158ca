"""The sparse side of a ``Session``: probe evaluations, weight snapshots, state captures
and frozen evaluations due at their cadences, the newest states kept for restores, and
the ``Ablate`` command (``engine.ablation``). A mixin of ``engine.session.Session``.
"""
from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from engine import events as E
from engine.ablation import AblationError, ablate, describe
from engine.commands import Ablate
from engine.config import Config
from engine.evaluation import Windows, evaluate, heldout_windows
from engine.frames import EvalRecord, EventRecord, StateRecord
from engine.model import HOPE
from engine.observables import ProbeSet, snapshot
from engine.streams import Stream

KEPT_STATES = 32          # states kept for "restore a level to step" (Ablate)


class SessionRecords:
    """Sparse records of a session (mixed into ``Session``, which sets the attributes)."""

    config: Config
    model: HOPE
    probes: ProbeSet
    stream: Stream
    step_count: int
    _evals: list[EvalRecord]
    _windows: tuple[Any, Windows] | None
    kept_states: deque[StateRecord]

    def state_dict(self) -> dict[str, np.ndarray]:  # pragma: no cover - Session's
        raise NotImplementedError

    def _reset_records(self) -> None:
        """A new model: no held-out windows built yet, no kept states."""
        self._windows = None
        self.kept_states = deque(maxlen=KEPT_STATES)

    def _room_to_record(self, run: Any) -> int:
        """Steps until the next probe / snapshot / state is due, so each lands on its step."""
        count = self.model.count
        return min(every - count % every for every in
                   (run.probe_every, run.snapshot_every, run.state_every or 1 << 62,
                    run.eval_every or 1 << 62))

    def _sparse(self, lo: int, hi: int, ghi: int, run: Any, extra: dict[str, list]) -> None:
        """Probe evaluations, snapshots and state captures due in model steps (lo, hi];
        ``ghi`` is the global step count after them (records carry global step indices)."""
        def due(every: int) -> bool:
            return every > 0 and hi // every > lo // every
        if due(run.probe_every):
            rec = self.probes.evaluate(self.model, hi - 1)
            extra["probes"].append(type(rec)(ghi - 1, rec.ages, rec.errors))
        if due(run.snapshot_every):
            extra["snapshots"].append(snapshot(self.model, ghi - 1, run.snapshot_max))
        if due(run.state_every) and not self.model.pending:
            extra["states"].append(StateRecord(ghi - 1, self.state_dict()))
            self.kept_states.append(extra["states"][-1])
        if due(run.eval_every):
            extra["evals"].append(evaluate(self.model, self.heldout(), ghi - 1))

    def heldout(self) -> Windows:
        """The held-out windows of the current stream (built at first use, then kept)."""
        key = (self.config.stream, self.config.run.eval_window)
        if self._windows is None or self._windows[0] != key:
            self._windows = (key, heldout_windows(self.stream, self.config.run.eval_window))
        return self._windows[1]

    def _ablate(self, command: Ablate, step: int) -> EventRecord:
        """Evaluate the intact model and ``command``'s variant on the held-out windows
        (``engine.ablation``); the model is not changed. The two records go with the next
        batch; a level or restore step that is not there gives an error event."""
        restore = None if command.restore_step is None else int(command.restore_step)
        state = None if restore is None else self._kept_state(restore)
        try:
            records = ablate(self.model, self.heldout(), step - 1, command.level, restore, state)
        except AblationError as exc:
            kept = ", ".join(str(s.step) for s in self.kept_states) or "none"
            extra = f" (kept: {kept})" if restore is not None and state is None else ""
            return E.error(step, f"ablate {command.level}: {exc}{extra}")
        self._evals.extend(records)
        return E.ablation(step, command.level, restore, describe(records))

    def _kept_state(self, step: int) -> dict[str, np.ndarray] | None:
        """The kept state captured after ``step`` (the newest ``KEPT_STATES``), or the
        current one when ``step`` is the last step and the model is at a chunk boundary."""
        for s in self.kept_states:
            if s.step == step:
                return s.tensors
        if step == self.step_count - 1 and not self.model.pending:
            return self.state_dict()
        return None



__all__ = ["KEPT_STATES", "SessionRecords"]
