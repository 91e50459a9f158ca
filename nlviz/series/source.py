"""``FrameSource``: what a presenter pulls to draw one frame, live or replay.

Two implementations: ``nlviz.series.ring.RunBuffers`` (live: the engine worker pushes,
it holds the newest ``capacity`` steps) and ``nlviz.replay.source.ReplaySource`` (a
recording). For the same run they give the same answers at the same steps (where the
live buffers still hold them).
"""
from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol, runtime_checkable

from engine.frames import EvalRecord, ProbeRecord, RunSpec, SnapshotRecord
from nlviz.series.views import HistoryView, InputSlot


@runtime_checkable
class FrameSource(Protocol):
    """Per-step series of a step range plus the sparse records at a step.

    ``spec`` is the run's static description. Steps are global step numbers; ranges are
    inclusive; ``None`` means "from the first" / "to the last" step held. Live and replay
    alike, ``HistoryView.level`` has the metrics ``spec.level_metrics`` (which start with
    ``engine.frames.LEVEL_METRICS``) and ``scalars`` the ``spec.global_metrics`` (starting
    with ``GLOBAL_METRICS``); a recording that predates a metric gives NaN rows for it.
    """

    spec: RunSpec

    def change_key(self) -> Hashable:
        """A value that changes whenever any answer below may have changed (new rows,
        new records, a reset, a new smoothing weight); equal keys mean equal answers."""
        ...

    def span(self) -> tuple[int, int] | None:
        """(first, last) step held, or None while empty."""
        ...

    def history(self, start_step: int | None = None, stop_step: int | None = None,
                max_rows: int | None = None) -> HistoryView:
        """Series of the steps in ``[start_step, stop_step]``. At most ``max_rows`` exact
        rows (None: the source's own limit); a longer range may come back as a min/max
        summary (``HistoryView.bucket_rows > 1``). Live buffers return exact zero-copy rows
        when ``max_rows`` is None (the plots decimate), else a summary from their min/max
        pyramid above ``max_rows`` rows."""
        ...

    def probes_at(self, step: int) -> list[ProbeRecord]:
        """The latest kept probe evaluations at or before ``step``, oldest first."""
        ...

    def evals_at(self, step: int) -> list[EvalRecord]:
        """Every kept ``EvalRecord`` (frozen evaluations on held-out windows, regular and
        ablations) at or before ``step``, oldest first (live: all since the last reset;
        replay: read from the file)."""
        ...

    def snapshot_at(self, step: int) -> SnapshotRecord | None:
        """The weight snapshot to show at ``step`` (replay: the nearest one; live: the
        newest, the only one held)."""
        ...

    def input_at(self, step: int) -> InputSlot | None:
        """The kept inputs ending at the row at or before ``step`` (live: the newest)."""
        ...

    def events_at(self, step: int, limit: int = 200) -> list[str]:
        """Event log lines ``"step: kind detail"`` at or before ``step`` (at most ``limit``,
        the newest)."""
        ...


__all__ = ["FrameSource"]
