"""``RunBuffers``: the live ``FrameSource``, ring buffers the engine worker writes and the
GUI presenter reads.

The worker thread calls ``RunBuffers.push(batch)`` once per engine batch; the GUI
thread reads at its own rate (about 30 Hz). No data ever travels through a Qt
signal. Per-step series live in fixed-capacity "double-write" rings: every value is
stored at ``i`` and ``i + R`` (R = capacity + margin), so the latest ``capacity``
values are always one contiguous slice and can be handed to the plots as zero-copy
views. A margin of extra slots means a view handed out stays valid while the
worker writes up to ``margin`` further steps.

Sparse data (probe evaluations, weight snapshots, recent inputs, events, run stats)
sit in small latest-value slots guarded by the same lock.
"""
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable
from typing import Any

import numpy as np

from engine.frames import EvalRecord, FrameBatch, ProbeRecord, RunSpec, SnapshotRecord
from nlviz.series.live_pyramid import LivePyramid
from nlviz.series.smoothing import Smoother
from nlviz.series.views import HistoryView, InputSlot, RunStats


class _Ring:
    """Double-write ring of ``(..., R)`` arrays: the latest ``n <= capacity`` values are
    always the contiguous slice ``[end - n, end)`` of the doubled last axis."""

    def __init__(self, capacity: int, margin: int) -> None:
        self.capacity = capacity
        self.size = capacity + margin      # modulus R
        self.count = 0                     # values ever written

    def alloc(self, lead: tuple[int, ...], dtype: Any) -> np.ndarray:
        return np.zeros((*lead, 2 * self.size), dtype)

    def write_index(self, n: int) -> np.ndarray:
        """Positions (lower copy) for the next ``n`` values (n <= margin)."""
        return (self.count + np.arange(n)) % self.size

    def window(self, n: int | None = None) -> slice:
        """Slice of the latest ``n`` values (default: all held, at most capacity)."""
        held = min(self.count, self.capacity)
        n = held if n is None else min(n, held)
        end = self.count % self.size + self.size
        return slice(end - n, end)


class RunBuffers:
    """Everything the GUI draws, published by the engine worker.

    Parameters
    ----------
    spec : the run's static description (levels, metrics, d_in).
    capacity : steps of history held per series.
    margin : extra slots so zero-copy views survive further writes.
    probes_kept : how many recent probe evaluations to keep (forgetting curves).
    inputs_kept : how many recent input vectors to keep (input panel).
    """

    def __init__(self, spec: RunSpec, capacity: int = 100_000, margin: int = 32_768,
                 probes_kept: int = 16, inputs_kept: int = 256) -> None:
        self.lock = threading.Lock()          # guards counters and slots (brief holds)
        self._write_lock = threading.Lock()   # one writer at a time (push / re-smoothing)
        self.capacity, self.margin = capacity, margin
        self.probes_kept, self.inputs_kept = probes_kept, inputs_kept
        self._smoother = Smoother(0.0, (), 0)
        self.stats = RunStats()
        self.events: deque[str] = deque(maxlen=200)
        self._event_steps: deque[int] = deque(maxlen=200)
        self.reset(spec)

    # ---- lifecycle -------------------------------------------------------------------
    def reset(self, spec: RunSpec) -> None:
        """Drop all history and size the buffers for ``spec`` (new model or reset)."""
        L, M, G = len(spec.levels), len(spec.level_metrics), len(spec.global_metrics)
        ring = _Ring(self.capacity, self.margin)
        with self._write_lock, self.lock:
            self.spec = spec
            self.generation = getattr(self, "generation", -1) + 1
            self._ring = ring
            self._step = ring.alloc((), np.float64)
            self._level = ring.alloc((L, M), np.float32)
            self._smooth = ring.alloc((L, M), np.float32)
            self._fired = ring.alloc((L,), np.uint8)
            self._scalars = ring.alloc((G,), np.float32)
            self._regime = ring.alloc((), np.int32)
            self._smoother = Smoother(self.smoothing, spec.level_metrics, L)
            self._pyramid = LivePyramid(ring.size, {"level": (L, M), "smooth": (L, M),
                                                    "scalars": (G,), "fired": (L,)})
            self.probes: deque[ProbeRecord] = deque(maxlen=self.probes_kept)
            self.evals: list[EvalRecord] = []     # every evaluation since the reset (small)
            self.snapshot: SnapshotRecord | None = None
            self.input: InputSlot | None = None
            self.version = 0

    # ---- writer side (worker thread) -------------------------------------------------
    def push(self, batch: FrameBatch) -> None:
        """Append one engine batch (any length; long batches are split)."""
        n = len(batch)
        with self._write_lock:
            for s in range(0, n, self.margin):
                self._push_rows(batch, s, min(n, s + self.margin))
        with self.lock:
            self.probes.extend(batch.probes)
            self.evals.extend(batch.evals)
            if batch.snapshots:
                self.snapshot = batch.snapshots[-1]
            if n:
                self._push_inputs(batch)
            self.events.extend(f"{e.step}: {e.kind} {e.detail}" for e in batch.events)
            self._event_steps.extend(e.step for e in batch.events)
            self.version += 1

    def _push_rows(self, b: FrameBatch, lo: int, hi: int) -> None:
        level = b.level[lo:hi].transpose(1, 2, 0)                    # (L, M, n)
        fired = b.fired[lo:hi].T                                     # (L, n)
        cols = {"_step": b.step[lo:hi], "_level": level,
                "_smooth": self._smoother.rows(level, fired), "_fired": fired,
                "_scalars": b.scalars[lo:hi].T, "_regime": b.regime[lo:hi]}
        self._write(cols, hi - lo)

    def _write(self, cols: dict[str, np.ndarray], n: int, start: int | None = None) -> None:
        """Write ``n`` values per ring (both copies) with slice assignments; publish count."""
        ring = self._ring
        pos = (ring.count if start is None else start) % ring.size
        first = min(n, ring.size - pos)                  # before the wrap
        for name, vals in cols.items():
            dst = getattr(self, name)
            for off, (a, b) in ((pos, (0, first)), (0, (first, n))):
                if b > a:
                    dst[..., off:off + b - a] = vals[..., a:b]
                    dst[..., off + ring.size:off + ring.size + b - a] = vals[..., a:b]
        if start is None:
            self._pyramid.append({name[1:]: vals for name, vals in cols.items()})
            with self.lock:
                ring.count += n

    def _push_inputs(self, b: FrameBatch) -> None:
        k = self.inputs_kept
        old = self.input
        if old is None or old.inputs.shape[1] != b.inputs.shape[1]:
            x, t, r = b.inputs[-k:], b.token[-k:], b.regime[-k:]
        else:
            x = np.concatenate([old.inputs, b.inputs[-k:]])[-k:]
            t = np.concatenate([old.token, b.token[-k:]])[-k:]
            r = np.concatenate([old.regime, b.regime[-k:]])[-k:]
        self.input = InputSlot(x, t, r, int(b.step[-1]))

    # ---- reader side (GUI thread): the FrameSource protocol -----------------------------
    @property
    def smoothing(self) -> float:
        """EMA weight of ``HistoryView.smooth`` (set it before pushing, or ``set_smoothing``)."""
        return self._smoother.weight

    @smoothing.setter
    def smoothing(self, weight: float) -> None:
        self._smoother.weight = float(weight)

    def change_key(self) -> Hashable:
        """(generation, version): changes on every push, reset and smoothing change."""
        return (self.generation, self.version)

    def span(self) -> tuple[int, int] | None:
        """(first, last) step held, or None while empty."""
        with self.lock:
            sl = self._ring.window()
            if sl.stop == sl.start:
                return None
            return int(self._step[sl.start]), int(self._step[sl.stop - 1])

    def latest(self, n: int | None = None) -> HistoryView:
        """Zero-copy views of the latest ``n`` steps (default: all held)."""
        with self.lock:
            return self._view(self._ring.window(n))

    def history(self, start_step: int | None = None, stop_step: int | None = None,
                max_rows: int | None = None) -> HistoryView:
        """Zero-copy views of the held steps in ``[start_step, stop_step]`` (default: all
        held); with ``max_rows`` and more rows than that, a min/max summary of at most
        ``max_rows`` rows (for ``max_rows`` >= 16) from the live pyramid instead (``bucket_rows > 1``; each bucket
        twice, min then max, as replay's; ``smooth`` is the envelope of the smoothed
        series), so its cost follows ``max_rows``, not the range."""
        with self.lock:
            sl = self._ring.window()
            steps = self._step[sl]
            lo = 0 if start_step is None else int(np.searchsorted(steps, start_step, "left"))
            hi = len(steps) if stop_step is None else int(
                np.searchsorted(steps, stop_step, "right"))
            hi = max(lo, hi)
            if max_rows is not None and hi - lo > max(2, max_rows):
                first = self._ring.count - (sl.stop - sl.start)       # row index of sl.start
                return self._summary(first + lo, first + hi, max(1, max_rows // 2))
            return self._view(slice(sl.start + lo, sl.start + hi))

    def _summary(self, lo: int, hi: int, buckets: int) -> HistoryView:
        """Min/max view of rows ``[lo, hi)`` (row indices since the reset), at most
        ``buckets`` buckets (caller holds ``lock``)."""
        mn, mx, first, b = self._pyramid.summary(lo, hi, buckets, self._rows)

        def pair(c: str) -> np.ndarray:                               # (..., 2B)
            return np.stack((mn[c], mx[c]), -1).reshape(*mn[c].shape[:-1], -1)

        return HistoryView(np.repeat(first["step"], 2), pair("level"), pair("smooth"),
                           np.repeat(mx["fired"], 2, axis=-1), pair("scalars"),
                           np.repeat(first["regime"], 2), self._ring.count, max(2, b))

    def _rows(self, a: int, b: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray],
                                             dict[str, np.ndarray]]:
        """Rows ``[a, b)`` (row indices since the reset, still held) as pyramid columns."""
        ring = self._ring
        end = ring.count % ring.size + ring.size
        sl = slice(end - (ring.count - a), end - (ring.count - b))
        mn = {"level": self._level[..., sl], "smooth": self._smooth[..., sl],
              "scalars": self._scalars[:, sl]}
        return mn, {**mn, "fired": self._fired[:, sl]}, {"step": self._step[sl],
                                                          "regime": self._regime[sl]}

    def _view(self, sl: slice) -> HistoryView:
        return HistoryView(self._step[sl], self._level[..., sl], self._smooth[..., sl],
                           self._fired[:, sl], self._scalars[:, sl], self._regime[sl],
                           self._ring.count)

    def probes_at(self, step: int) -> list[ProbeRecord]:
        """The kept probe evaluations at or before ``step``, oldest first."""
        with self.lock:
            return [p for p in self.probes if p.step <= step]

    def evals_at(self, step: int) -> list[EvalRecord]:
        """Every evaluation (regular and ablations) at or before ``step``, oldest first."""
        with self.lock:
            return [e for e in self.evals if e.step <= step]

    def snapshot_at(self, step: int) -> SnapshotRecord | None:
        """The newest weight snapshot (the only one held), whatever ``step``."""
        with self.lock:
            return self.snapshot

    def input_at(self, step: int) -> InputSlot | None:
        """The kept inputs ending at the row at or before ``step`` (the newest when ``step``
        is at or after the last pushed step)."""
        with self.lock:
            inp = self.input
            if inp is None or step >= inp.step:
                return inp
            k = min(len(inp.token), self._ring.count, self.capacity)
            steps = self._step[self._ring.window(k)]
            hi = int(np.searchsorted(steps, step, "right"))
            if hi == 0:
                return None
            off = len(inp.token) - k
            return InputSlot(inp.inputs[:off + hi], inp.token[:off + hi], inp.regime[:off + hi],
                             int(steps[hi - 1]))

    def events_at(self, step: int, limit: int = 200) -> list[str]:
        """Kept event log lines at or before ``step`` (the newest ``limit``)."""
        with self.lock:
            lines = [e for e, s in zip(self.events, self._event_steps) if s <= step]
        return lines[max(0, len(lines) - limit):]

    @property
    def total(self) -> int:
        """Steps pushed since the last reset."""
        return self._ring.count

    def set_smoothing(self, weight: float) -> None:
        """Change the EMA weight and recompute the smoothed series over the held history."""
        weight = float(min(max(weight, 0.0), 0.999))
        with self._write_lock:
            sl = self._ring.window()
            level = self._level[..., sl].copy()
            fired = self._fired[:, sl].copy()
            count = self._ring.count
            self._smoother.reset(weight)
            smooth = self._smoother.rows(level, fired)
            n = smooth.shape[-1]
            if n:
                self._write({"_smooth": smooth}, n, start=count - n)
                self._pyramid.restart(count - n)        # its smoothed envelopes are stale
                self._pyramid.append({"level": level, "smooth": smooth,
                                      "scalars": self._scalars[:, sl].copy(), "fired": fired,
                                      "step": self._step[sl].copy(),
                                      "regime": self._regime[sl].copy()})
            with self.lock:
                self.version += 1



__all__ = ["RunBuffers"]
