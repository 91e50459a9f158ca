"""``ReplaySource``: the ``FrameSource`` of a recording (the live one is ``RunBuffers``).

It hands out the same types as the live buffers for a cursor and a visible step range,
so the same presenter and panels draw either:

- ``history(start_step, stop_step)``: a ``HistoryView`` of the visible range. Up to
  ``raw_limit`` rows it holds the exact recorded rows (``Recording.window``); above, it is
  the min/max summary from the file's pyramid (``Recording.overview``) and
  ``view.is_summary`` is True: each bucket appears twice on the step axis (min row, then
  max row), so a plain line through ``level[l, m]`` draws the envelope. ``last_summary``
  carries the explicit bucket steps / mins / maxs.
- ``probes_at(cursor)``: probe evaluations at or before the cursor (forgetting curves).
- ``snapshot_at(cursor)``: the weight snapshot nearest the cursor.
- ``input_at(cursor)``: the last ``inputs_kept`` inputs/tokens/regimes ending at the cursor.
- ``event_marks()`` / ``events_at(cursor)``: timeline marks and the event log.
"""
from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, replace

import numpy as np

from engine.frames import (
    GLOBAL_METRICS,
    LEVEL_METRICS,
    EvalRecord,
    ProbeRecord,
    RunSpec,
    SnapshotRecord,
)
from nlviz.recording.reader import Recording
from nlviz.series.decimate import max_from
from nlviz.series.smoothing import smooth_series
from nlviz.series.views import HistoryView, InputSlot


@dataclass(frozen=True)
class Summary:
    """The explicit min/max envelope behind a summary ``HistoryView``.

    Attributes
    ----------
    steps : (B,) first step of each bucket.
    level_min, level_max : (L, M, B) float32.
    scalars_min, scalars_max : (G, B) float32.
    fired_any : (L, B) uint8, 1 where the level fired anywhere in the bucket.
    bucket_rows : rows per bucket (1 = raw).
    """

    steps: np.ndarray
    level_min: np.ndarray
    level_max: np.ndarray
    scalars_min: np.ndarray
    scalars_max: np.ndarray
    fired_any: np.ndarray
    bucket_rows: int


@dataclass(frozen=True)
class ReplayFrame:
    """Everything the views need for one replay frame."""

    cursor: int
    view: HistoryView
    is_summary: bool
    summary: Summary | None
    probes: list[ProbeRecord]
    snapshot: SnapshotRecord | None
    input: InputSlot | None


class ReplaySource:
    """Read the live views' data shapes from an open ``Recording``.

    Parameters
    ----------
    rec : the open recording.
    raw_limit : visible ranges of at most this many rows are read raw (exact values).
    max_points : buckets of a summary view (about; from the pyramid).
    probes_kept, inputs_kept : as in ``RunBuffers`` (forgetting curves / input panel).
    smoothing : EMA weight for ``HistoryView.smooth`` in raw views (0 = raw values);
        the EMA starts at the start of the visible range.
    """

    def __init__(self, rec: Recording, raw_limit: int = 20_000, max_points: int = 4000,
                 probes_kept: int = 16, inputs_kept: int = 256, smoothing: float = 0.0) -> None:
        self.rec = rec
        self.raw_limit, self.max_points = int(raw_limit), int(max_points)
        self.probes_kept, self.inputs_kept = probes_kept, inputs_kept
        self.smoothing = float(smoothing)
        self.spec = current_spec(rec.spec)      # this nlviz's metrics (older files: NaN)
        self.last_summary: Summary | None = None
        self._snap_cache: tuple[int, SnapshotRecord] | None = None
        self._reload_sparse()

    # ---- sparse indices (cached; refreshed with the file) --------------------------------
    def _reload_sparse(self) -> None:
        self._probe_steps = np.asarray(self.rec.probe_steps(), np.int64)
        self._snap_steps = np.asarray(self.rec.snapshot_steps(), np.int64)
        self._events = self.rec.events
        self._event_steps = np.array([e.step for e in self._events], np.int64)
        self._evals = self.rec.evals()
        self._eval_steps = np.array([e.step for e in self._evals], np.int64)

    def refresh(self) -> int:
        """Tail: pick up rows a writer added (``Recording.refresh``); returns ``n_rows``."""
        n = self.rec.refresh()
        self._reload_sparse()
        return n

    @property
    def steps(self) -> np.ndarray:
        """(n,) recorded step numbers."""
        return self.rec.steps

    @property
    def total(self) -> int:
        """Recorded rows."""
        return self.rec.n_rows

    def change_key(self) -> Hashable:
        """Changes when a tail refresh added rows or records, or the smoothing changed."""
        return (self.rec.n_rows, len(self._probe_steps), len(self._snap_steps),
                len(self._event_steps), len(self._eval_steps), self.smoothing, self.raw_limit,
                self.max_points)

    def span(self) -> tuple[int, int] | None:
        """(first, last) recorded step, or None for an empty recording."""
        n = self.rec.n_rows
        return (int(self.rec.steps[0]), int(self.rec.steps[n - 1])) if n else None

    def is_summary_range(self, start_step: int | None, stop_step: int | None,
                         max_rows: int | None = None) -> bool:
        """True when ``history`` of this range is a min/max summary (over ``max_rows``,
        default ``raw_limit``, rows)."""
        lo, hi = self.rec.row_range(start_step, stop_step)
        return hi - lo > (self.raw_limit if max_rows is None else max_rows)

    # ---- per-step series ------------------------------------------------------------------
    def history(self, start_step: int | None = None, stop_step: int | None = None,
                max_rows: int | None = None) -> HistoryView:
        """View of the steps in [start_step, stop_step]: exact rows up to ``max_rows``
        (default ``raw_limit``), else the min/max summary. See the module doc."""
        if self.is_summary_range(start_step, stop_step, max_rows):
            s = self.summary(start_step, stop_step)
            self.last_summary = s
            level = _interleave(s.level_min, s.level_max)
            regime = self.rec.column_at("regime", None, s.steps)
            return HistoryView(np.repeat(s.steps, 2).astype(np.float64), level, level,
                               np.repeat(s.fired_any, 2, axis=-1),
                               _interleave(s.scalars_min, s.scalars_max), np.repeat(regime, 2),
                               self.rec.n_rows, max(2, s.bucket_rows))   # 2+: a summary
        self.last_summary = None
        return self.raw(start_step, stop_step)

    def raw(self, start_step: int | None = None, stop_step: int | None = None) -> HistoryView:
        """Exact recorded rows of steps in [start_step, stop_step] as a ``HistoryView``."""
        rec, spec = self.rec, self.spec
        lo, hi = rec.row_range(start_step, stop_step)
        n, Lv, M = hi - lo, len(spec.levels), len(spec.level_metrics)
        level = np.empty((Lv, M, n), np.float32)
        fired = np.empty((Lv, n), np.uint8)
        for li, lv in enumerate(spec.level_names):   # damaged chunks read as NaN / 0
            for mi, m in enumerate(spec.level_metrics):
                level[li, mi] = rec.column(m, lv, lo, hi)
            fired[li] = rec.column("fired", lv, lo, hi)
        scalars = np.empty((len(spec.global_metrics), n), np.float32)
        for gi, m in enumerate(spec.global_metrics):
            scalars[gi] = rec.column(m, None, lo, hi)
        regime = rec.regime(lo, hi)
        # the live buffers' smoothing, started at the first visible row
        smooth = smooth_series(level, fired, self.smoothing, spec.level_metrics)
        return HistoryView(rec.steps[lo:hi].astype(np.float64), level, smooth, fired, scalars,
                           regime, rec.n_rows)

    def summary(self, start_step: int | None = None, stop_step: int | None = None) -> Summary:
        """Min/max envelope of every series over [start_step, stop_step] from the pyramid."""
        rec, spec = self.rec, self.spec
        lmin, lmax = [], []
        steps = None
        bucket = 1
        for lv in spec.level_names:
            mins, maxs = [], []
            for m in spec.level_metrics:
                ov = rec.overview(m, lv, self.max_points, start_step, stop_step)
                mins.append(ov.mins)
                maxs.append(ov.maxs)
                steps, bucket = ov.steps, ov.bucket_rows
            lmin.append(mins)
            lmax.append(maxs)
        smin, smax = [], []
        for m in spec.global_metrics:
            ov = rec.overview(m, None, self.max_points, start_step, stop_step)
            smin.append(ov.mins)
            smax.append(ov.maxs)
            steps, bucket = ov.steps, ov.bucket_rows
        assert steps is not None
        fired = self._fired_any(steps, start_step, stop_step)
        B = len(steps)
        return Summary(np.asarray(steps, np.int64),
                       np.asarray(lmin, np.float32).reshape(len(spec.levels), -1, B),
                       np.asarray(lmax, np.float32).reshape(len(spec.levels), -1, B),
                       np.asarray(smin, np.float32).reshape(-1, B),
                       np.asarray(smax, np.float32).reshape(-1, B), fired, bucket)

    def _fired_any(self, bucket_steps: np.ndarray, start_step: int | None,
                   stop_step: int | None) -> np.ndarray:
        """(L, B): 1 where the level fired anywhere in the bucket (reads the uint8 column)."""
        rec = self.rec
        lo, hi = rec.row_range(start_step, stop_step)
        starts = np.searchsorted(rec.steps, bucket_steps, "left")
        starts = np.clip(starts - lo, 0, max(0, hi - lo - 1))
        out = np.zeros((len(self.spec.levels), len(bucket_steps)), np.uint8)
        if hi <= lo or len(bucket_steps) == 0:
            return out
        for li, lv in enumerate(self.spec.level_names):
            col = rec.column("fired", lv, lo, hi)
            out[li] = max_from(col, starts)
        return out

    # ---- sparse records at the cursor ----------------------------------------------------
    def probes_at(self, cursor: int) -> list[ProbeRecord]:
        """The ``probes_kept`` latest probe evaluations at or before ``cursor`` (oldest first),
        the replay equivalent of ``RunBuffers.probes``."""
        i = int(np.searchsorted(self._probe_steps, cursor, "right"))
        lo = max(0, i - self.probes_kept)
        if i == lo:
            return []
        return [self.rec.probe_at_row(r, int(self._probe_steps[r])) for r in range(lo, i)]

    def evals_at(self, cursor: int) -> list[EvalRecord]:
        """Every recorded evaluation (regular and ablations) at or before ``cursor``,
        oldest first."""
        i = int(np.searchsorted(self._eval_steps, cursor, "right"))
        return self._evals[:i]

    def forgetting_at(self, cursor: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(ages (P,), errors (L, P)) of the probe evaluation at or before ``cursor``."""
        p = self.probes_at(cursor)
        return (p[-1].ages, p[-1].errors) if p else None

    def snapshot_at(self, cursor: int) -> SnapshotRecord | None:
        """The weight snapshot nearest ``cursor`` (ties: the earlier); cached."""
        steps = self._snap_steps
        if len(steps) == 0:
            return None
        i = int(np.searchsorted(steps, cursor))
        if i == len(steps) or (i > 0 and cursor - steps[i - 1] <= steps[i] - cursor):
            i -= 1
        if self._snap_cache is None or self._snap_cache[0] != int(steps[i]):
            rec = self.rec.snapshot_at(int(steps[i]))
            if rec is None:         # the file's snapshots shrank under us: nothing to show
                return None
            self._snap_cache = (int(steps[i]), rec)
        return self._snap_cache[1]

    def input_at(self, cursor: int) -> InputSlot | None:
        """The last ``inputs_kept`` inputs ending at the recorded row at or before ``cursor``
        (``RunBuffers.input`` in live mode)."""
        hi = int(np.searchsorted(self.rec.steps, cursor, "right"))
        if hi == 0:
            return None
        lo = max(0, hi - self.inputs_kept)
        r = self.rec
        return InputSlot(r.inputs(lo, hi), r.token(lo, hi), r.regime(lo, hi),
                         int(r.steps[hi - 1]))

    def event_marks(self) -> tuple[np.ndarray, list[str], list[str]]:
        """(steps (E,), kinds, details) of every event, for marks on the timeline."""
        return (self._event_steps.copy(), [e.kind for e in self._events],
                [e.detail for e in self._events])

    def events_at(self, cursor: int, limit: int = 200) -> list[str]:
        """Event log lines ``"step: kind detail"`` up to ``cursor`` (the newest ``limit``)."""
        i = int(np.searchsorted(self._event_steps, cursor, "right"))
        return [f"{e.step}: {e.kind} {e.detail}" for e in self._events[max(0, i - limit):i]]

    def events_until(self, cursor: int, limit: int = 200) -> list[str]:
        """The same as ``events_at`` (older name)."""
        return self.events_at(cursor, limit)

    # ---- everything at once ------------------------------------------------------------------
    def frame(self, cursor: int, start_step: int | None = None, stop_step: int | None = None,
              sparse: bool = True) -> ReplayFrame:
        """One replay frame: visible-range history plus the sparse panels at ``cursor``
        (``sparse=False`` skips them, e.g. while scrubbing faster than the slow panels)."""
        view = self.history(start_step, stop_step)
        summ = view.is_summary
        return ReplayFrame(int(cursor), view, summ, self.last_summary if summ else None,
                           self.probes_at(cursor) if sparse else [],
                           self.snapshot_at(cursor) if sparse else None,
                           self.input_at(cursor) if sparse else None)


def current_spec(spec: RunSpec) -> RunSpec:
    """``spec`` with this nlviz's metric lists first (``LEVEL_METRICS``, ``GLOBAL_METRICS``),
    then any other metric the file has: every view indexes metrics the same way live and
    in replay; a metric the file lacks reads as NaN (``Recording.column``)."""
    level = LEVEL_METRICS + tuple(m for m in spec.level_metrics if m not in LEVEL_METRICS)
    glob = GLOBAL_METRICS + tuple(m for m in spec.global_metrics if m not in GLOBAL_METRICS)
    return replace(spec, level_metrics=level, global_metrics=glob)


def _interleave(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., B) and (..., B) -> (..., 2B): a[0], b[0], a[1], b[1], ..."""
    return np.stack([a, b], -1).reshape(*a.shape[:-1], -1)


__all__ = ["ReplayFrame", "ReplaySource", "Summary", "current_spec"]
