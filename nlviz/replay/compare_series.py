"""What the compare window plots, Qt-free: every metric of a run as one full-resolution
curve (raw columns and the timescale-honest derived ones), smoothing, the min/max envelope
drawn for long ranges, the mean ± std band of a group of seeds, and the switch-aligned
average around regime switches.

Level metrics are matched across runs by level name (``cms1`` of a run with period 4 and
``cms1`` of a run with period 16 are the same row); ``update_per_step`` spreads each update
event over its period so that levels of different periods are comparable per step, while
``update_per_event`` keeps the size of each event (labelled as such).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nlviz.analysis.derived import cumulative_path, update_per_step
from nlviz.analysis.grouping import band
from nlviz.analysis.retention import Aligned, switch_aligned
from nlviz.analysis.switches import regime_switches
from nlviz.recording.reader import Recording
from nlviz.replay.compare import RunSeries

# (key, title) of the per-level metrics, in selector order
LEVEL_CHOICES: tuple[tuple[str, str], ...] = (
    ("update_per_step", "update per step"),
    ("surprise", "surprise"),
    ("cumulative_path", "cumulative path"),
    ("drift_init", "drift from init"),
    ("weight_norm", "weight norm"),
    ("contribution", "contribution"),
    ("update_per_event", "update per event (size of each update, not per step)"),
)
# (key, title) of the global series drawn as the loss and its baselines
LOSS = "outer_loss"
BASELINES: tuple[tuple[str, str], ...] = (
    ("copy_loss", "copy last input"), ("zero_loss", "predict zero"),
    ("oracle_loss", "best per-regime predictor"))
VISITS: tuple[tuple[str, str], ...] = (
    ("first", "first visit"), ("second", "second visit"), ("later", "later visits"))
TITLES = dict(LEVEL_CHOICES) | dict(BASELINES) | {LOSS: "outer loss"}


@dataclass(frozen=True)
class Curve:
    """One run's series, all recorded rows (or the fired rows of ``update_per_event``).

    Attributes
    ----------
    steps : (n,) int64 global steps.
    values : (n,) float64 (NaN where the recording has no such column or value).
    """

    steps: np.ndarray
    values: np.ndarray

    def constant(self) -> float | None:
        """The value when every finite value is the same one (and there is at least one),
        else None. All-NaN curves are not constant (``available`` tells those)."""
        v = self.values[np.isfinite(self.values)]
        return float(v[0]) if len(v) and bool(np.all(v == v[0])) else None

    @property
    def available(self) -> bool:
        return bool(np.isfinite(self.values).any())


def level_period(rec: Recording, level: str) -> int | None:
    """The update period of ``level`` in ``rec`` (None if the run has no such level)."""
    return next((lv.update_period for lv in rec.spec.levels if lv.name == level), None)


def _column(rec: Recording, name: str, level: str | None) -> np.ndarray:
    """(n,) float64 column, NaN rows when the recording predates the column."""
    have = rec.spec.level_metrics if level is not None else rec.spec.global_metrics
    if name != "fired" and name not in have:
        return np.full(rec.n_rows, np.nan)
    return np.asarray(rec.column(name, level), np.float64)


def run_curve(rec: Recording, metric: str, level: str | None = None) -> Curve | None:
    """The full curve of ``metric`` (a ``LEVEL_CHOICES`` key with ``level``, or a global
    metric with ``level`` None); None when the run has no such level."""
    if metric not in TITLES and metric not in rec.spec.level_metrics + rec.spec.global_metrics:
        raise ValueError(f"compare: unknown metric {metric!r}")
    steps = np.asarray(rec.steps, np.int64)
    if level is None:
        return Curve(steps, _column(rec, metric, None))
    period = level_period(rec, level)
    if period is None:
        return None
    if metric in ("update_per_step", "cumulative_path", "update_per_event"):
        norm = _column(rec, "update_norm", level)                       # (n,)
        fired = _column(rec, "fired", level)                            # (n,)
        if metric == "update_per_step":
            return Curve(steps, np.asarray(update_per_step(norm, fired, period), np.float64))
        if metric == "cumulative_path":
            return Curve(steps, np.asarray(cumulative_path(norm), np.float64))
        sel = fired > 0
        return Curve(steps[sel], norm[sel])
    return Curve(steps, _column(rec, metric, level))


def smooth(c: Curve, rows: int) -> Curve:
    """Trailing mean over the last ``rows`` rows (NaN rows skipped; 1 = unchanged)."""
    if rows <= 1 or len(c.values) == 0:
        return c
    ok = np.isfinite(c.values)
    s = np.concatenate([[0.0], np.cumsum(np.where(ok, c.values, 0.0))])   # (n+1,)
    k = np.concatenate([[0], np.cumsum(ok)])                              # (n+1,)
    hi = np.arange(1, len(c.values) + 1)
    lo = np.maximum(0, hi - rows)
    cnt = k[hi] - k[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(cnt > 0, (s[hi] - s[lo]) / np.maximum(cnt, 1), np.nan)
    return Curve(c.steps, out)


def clip(c: Curve, start: int | None, stop: int | None) -> Curve:
    """Rows with steps in [start, stop] (None = open)."""
    lo = 0 if start is None else int(np.searchsorted(c.steps, start, "left"))
    hi = len(c.steps) if stop is None else int(np.searchsorted(c.steps, stop, "right"))
    return Curve(c.steps[lo:hi], c.values[lo:hi])


def envelope(steps: np.ndarray, lo: np.ndarray, hi: np.ndarray,
             max_points: int) -> RunSeries:
    """At most ``max_points`` buckets of equal row count: min of ``lo`` and max of ``hi``
    per bucket (NaN only where a whole bucket is NaN); unchanged when short enough."""
    n = len(steps)
    if n <= max_points:
        return RunSeries(steps, lo, hi, False)
    size = -(-n // max_points)
    starts = np.arange(0, n, size)
    return RunSeries(steps[starts], np.fmin.reduceat(lo, starts), np.fmax.reduceat(hi, starts),
                     True)


def display(c: Curve, start: int | None, stop: int | None, raw_limit: int,
            max_points: int) -> RunSeries:
    """The curve's rows in [start, stop]: raw up to ``raw_limit`` rows, else a min/max
    envelope of about ``max_points`` buckets."""
    v = clip(c, start, stop)
    if len(v.steps) <= raw_limit:
        return RunSeries(v.steps, v.values, v.values, False)
    return envelope(v.steps, v.values, v.values, max_points)


def aligned(c: Curve, regime_steps: np.ndarray, regime: np.ndarray, before: int,
            after: int) -> dict[str, Aligned]:
    """``switch_aligned`` of one curve around the run's regime switches (keys ``first``,
    ``second``, ``later``); the curve must share the regime's steps."""
    switches = regime_switches(regime_steps, regime)
    return switch_aligned(c.steps, c.values[None, :], switches, before, after)


def mean_aligned(parts: Sequence[Aligned]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """A group's switch-aligned curve: (offsets (w,), mean over members of their mean (w,),
    spread over members (w,), as ``grouping.band``), total switch count); members without
    a switch are left out."""
    use = [a for a in parts if a.count > 0]
    if not use:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0), 0
    b = band([a.offsets for a in use], [a.mean[0] for a in use])
    return np.asarray(b.grid), b.mean, b.std, sum(a.count for a in use)


__all__ = ["BASELINES", "LEVEL_CHOICES", "LOSS", "TITLES", "VISITS", "Curve", "aligned",
           "clip", "display", "envelope", "level_period", "mean_aligned", "run_curve",
           "smooth"]
