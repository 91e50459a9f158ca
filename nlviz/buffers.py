"""Qt-free ring buffers the engine worker writes and the GUI timer reads.

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

import math
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.frames import METRIC_INDEX, FrameBatch, ProbeRecord, RunSpec, SnapshotRecord

# Metrics that only change when a level fires: smoothed (and drawn) on fired steps only.
AT_UPDATE_METRICS: tuple[str, ...] = ("update_norm", "update_rel")


def ema_debiased(x: np.ndarray, weight: float, y0: np.ndarray, c0: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Debiased exponential moving average along axis 0 (TensorBoard's smoothing).

    Parameters
    ----------
    x : (n, k) samples.
    weight : smoothing weight in [0, 1); 0 returns ``x`` unchanged.
    y0 : (k,) biased EMA state before ``x`` (0 at the start of a series).
    c0 : (k,) number of samples already folded into ``y0``.

    Returns
    -------
    (smoothed (n, k) float64, new biased state (k,), new counts (k,))
    """
    x = np.asarray(x, np.float64)
    n = x.shape[0]
    if n == 0:
        return x.copy(), y0, c0
    c_end = c0 + n
    if weight <= 0.0:
        return x.copy(), x[-1].copy(), c_end
    a = float(weight)
    block = max(1, int(150 * math.log(10) / -math.log(a)))   # keeps a**-j below 1e150
    out = np.empty_like(x)
    y = y0.astype(np.float64)
    for s in range(0, n, block):
        xb = x[s:s + block]
        j = np.arange(1, xb.shape[0] + 1, dtype=np.float64)[:, None]
        acc = y[None, :] + (1 - a) * np.cumsum(xb * a ** -j, axis=0)
        out[s:s + block] = acc * a ** j
        y = out[s + xb.shape[0] - 1].copy()
    cap = 40.0 / -math.log10(a)                               # a**cap = 1e-40: bias gone
    p0 = np.where(c0 > cap, 0.0, a ** np.minimum(c0, cap))    # no denormals
    pj = a ** np.minimum(np.arange(1, n + 1, dtype=np.float64), cap)
    debias = 1.0 - p0[None, :] * pj[:, None]
    return out / debias, y, c_end


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


@dataclass
class HistoryView:
    """Zero-copy views of the latest per-step series (valid for ``margin`` more steps).

    Attributes
    ----------
    step : (n,) float64 global step numbers (float64 for pyqtgraph's fast search).
    level : (L, M, n) float32 raw metrics.
    smooth : (L, M, n) float32 debiased EMA of ``level`` (== level when smoothing is 0).
    fired : (L, n) uint8.
    scalars : (G, n) float32.
    regime : (n,) int32.
    total : steps ever pushed (since the last reset of the buffers).
    """

    step: np.ndarray
    level: np.ndarray
    smooth: np.ndarray
    fired: np.ndarray
    scalars: np.ndarray
    regime: np.ndarray
    total: int


@dataclass
class RunStats:
    """Worker-side numbers for the status bar (written by the worker, read by the GUI)."""

    steps_per_s: float = 0.0
    batch: int = 0
    playing: bool = False
    recording: tuple | None = None     # Recorder.stats() tuple, or None
    record_blocked_s: float = 0.0


@dataclass
class InputSlot:
    """The most recent inputs: (k, d_in) vectors, tokens and regimes, oldest first."""

    inputs: np.ndarray
    token: np.ndarray
    regime: np.ndarray
    step: int


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
        self.smoothing = 0.0
        self.stats = RunStats()
        self.events: deque[str] = deque(maxlen=200)
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
            self._ema_y = np.zeros((L, M))
            self._ema_c = np.zeros((L, M), np.int64)
            self._at_state: dict[tuple[int, int], tuple[float, int, float]] = {}
            self._at_update = [METRIC_INDEX[m] for m in AT_UPDATE_METRICS
                               if m in spec.level_metrics]
            self.probes: deque[ProbeRecord] = deque(maxlen=self.probes_kept)
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
            if batch.snapshots:
                self.snapshot = batch.snapshots[-1]
            if n:
                self._push_inputs(batch)
            self.events.extend(f"{e.step}: {e.kind} {e.detail}" for e in batch.events)
            self.version += 1

    def _push_rows(self, b: FrameBatch, lo: int, hi: int) -> None:
        level = b.level[lo:hi].transpose(1, 2, 0)                    # (L, M, n)
        fired = b.fired[lo:hi].T                                     # (L, n)
        cols = {"_step": b.step[lo:hi], "_level": level,
                "_smooth": self._smooth_rows(level, fired), "_fired": fired,
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
            with self.lock:
                ring.count += n

    def _smooth_rows(self, level: np.ndarray, fired: np.ndarray) -> np.ndarray:
        """EMA of (L, M, n) rows, carrying state; at-update metrics use fired steps only."""
        L, M, n = level.shape
        if n == 0:
            return level.astype(np.float32)
        w = self.smoothing
        flat = level.reshape(L * M, n).T
        out, y, c = ema_debiased(flat, w, self._ema_y.ravel(), self._ema_c.ravel())
        self._ema_y, self._ema_c = y.reshape(L, M), c.reshape(L, M)
        out = out.T.reshape(L, M, n)
        for li in range(L):
            sel = np.flatnonzero(fired[li])
            for mi in self._at_update:
                y0, c0, last = self._at_state.get((li, mi), (0.0, 0, np.nan))
                sm, y1, c1 = ema_debiased(level[li, mi, sel][:, None], w,
                                          np.array([y0]), np.array([c0]))
                col = np.full(n, np.nan)
                col[sel] = sm[:, 0]
                out[li, mi] = _ffill(col, last)
                self._at_state[(li, mi)] = (float(y1[0]), int(c1[0]), float(out[li, mi, -1]))
        return out.astype(np.float32)

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

    # ---- reader side (GUI thread) ----------------------------------------------------
    def history(self, n: int | None = None) -> HistoryView:
        """Zero-copy views of the latest ``n`` steps (default: all held)."""
        with self.lock:
            sl = self._ring.window(n)
            return HistoryView(self._step[sl], self._level[..., sl], self._smooth[..., sl],
                               self._fired[:, sl], self._scalars[:, sl], self._regime[sl],
                               self._ring.count)

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
            self.smoothing = weight
            self._ema_y[:] = 0.0
            self._ema_c[:] = 0
            self._at_state = {}
            smooth = self._smooth_rows(level, fired)
            n = smooth.shape[-1]
            if n:
                self._write({"_smooth": smooth}, n, start=count - n)
            with self.lock:
                self.version += 1


def _ffill(col: np.ndarray, first: float) -> np.ndarray:
    """Forward-fill NaNs in a 1-D array, starting from ``first``."""
    mask = np.isnan(col)
    if not mask.any():
        return col
    idx = np.where(~mask, np.arange(col.size), -1)
    np.maximum.accumulate(idx, out=idx)
    out = np.where(idx >= 0, col[np.maximum(idx, 0)], first)
    return out


__all__ = ["AT_UPDATE_METRICS", "HistoryView", "InputSlot", "RunBuffers", "RunStats",
           "ema_debiased"]
