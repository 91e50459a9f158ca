"""Overlay up to 8 recordings on a shared step axis, and tabulate their config differences.

Runs share the global step axis as recorded (no resampling): every run's series keeps its
own steps, so runs of different lengths simply end at different x. Levels are the union of
the runs' level names (first-seen order); a run without a level (or metric) gives None.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nlviz.errors import UserError
from nlviz.recording.reader import Recording

MAX_RUNS = 8
MISSING = None   # value of a config key a run does not have


@dataclass(frozen=True)
class RunSeries:
    """One run's series over the visible range.

    Attributes
    ----------
    steps : (n,) int64 (raw) or bucket start steps (summary).
    values : (n,) raw values, or the bucket minima when ``is_summary``.
    maxs : (n,) bucket maxima when ``is_summary``, else the same array as ``values``.
    is_summary : True when read from the min/max pyramid.
    """

    steps: np.ndarray
    values: np.ndarray
    maxs: np.ndarray
    is_summary: bool


class Comparison:
    """Open recordings side by side (``Comparison.open(paths)`` or from open ``Recording``s).

    Attributes
    ----------
    runs : the recordings, in the order given.
    labels : one unique label per run (file stem, numbered when stems repeat).
    levels : union of level names, first-seen order.
    """

    def __init__(self, runs: Sequence[Recording], raw_limit: int = 20_000,
                 max_points: int = 4000) -> None:
        if not 1 <= len(runs) <= MAX_RUNS:
            raise UserError(f"compare: {len(runs)} runs given; between 1 and {MAX_RUNS} can be "
                            "overlaid")
        self.runs = list(runs)
        self.raw_limit, self.max_points = raw_limit, max_points
        self.labels = _labels([r.path for r in self.runs])
        self.levels: tuple[str, ...] = tuple(dict.fromkeys(lv for r in self.runs for lv in r.levels))
        self.level_metrics: tuple[str, ...] = tuple(dict.fromkeys(
            m for r in self.runs for m in r.spec.level_metrics))
        self.global_metrics: tuple[str, ...] = tuple(dict.fromkeys(
            m for r in self.runs for m in r.spec.global_metrics))

    @classmethod
    def open(cls, paths: Sequence[str | os.PathLike[str]], **kwargs: Any) -> Comparison:
        """Open every path (``RecordingError`` names the bad file; the others are closed)."""
        if len(paths) > MAX_RUNS:
            raise UserError(f"compare: {len(paths)} runs given; at most {MAX_RUNS} can be overlaid")
        runs: list[Recording] = []
        try:
            for p in paths:
                runs.append(Recording.open(p))
        except Exception:
            for r in runs:
                r.close()
            raise
        return cls(runs, **kwargs)

    def close(self) -> None:
        for r in self.runs:
            r.close()

    def __enter__(self) -> Comparison:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def step_range(self) -> tuple[int, int]:
        """(first, last) step over all runs: the shared x range."""
        firsts = [int(r.steps[0]) for r in self.runs if r.n_rows]
        lasts = [int(r.steps[-1]) for r in self.runs if r.n_rows]
        return (min(firsts), max(lasts)) if firsts else (0, 0)

    def has(self, run: int, metric: str, level: str | None) -> bool:
        r = self.runs[run]
        if level is None:
            return metric in r.spec.global_metrics
        return level in r.levels and (metric in r.spec.level_metrics or metric == "fired")

    def series(self, metric: str, level: str | None = None, start_step: int | None = None,
               stop_step: int | None = None) -> list[RunSeries | None]:
        """Per run (order of ``runs``): the series in [start_step, stop_step], or None where
        the run lacks the level / metric. Raw up to ``raw_limit`` rows, else the pyramid."""
        out: list[RunSeries | None] = []
        for i, r in enumerate(self.runs):
            if not self.has(i, metric, level):
                out.append(None)
                continue
            lo, hi = r.row_range(start_step, stop_step)
            if hi - lo > self.raw_limit and metric != "fired":
                ov = r.overview(metric, level, self.max_points, start_step, stop_step)
                out.append(RunSeries(ov.steps, ov.mins, ov.maxs, ov.bucket_rows > 1))
            else:
                w = r.window(metric, level, start_step, stop_step)
                out.append(RunSeries(w.steps, w.values, w.values, False))
        return out

    def level_table(self, metric: str, start_step: int | None = None,
                    stop_step: int | None = None) -> dict[str, list[RunSeries | None]]:
        """``{level: [series per run]}`` for every level in the union (side-by-side panels)."""
        return {lv: self.series(metric, lv, start_step, stop_step) for lv in self.levels}

    def config_diff(self) -> list[tuple[str, list[Any]]]:
        return config_diff(self.runs)


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``); lists stay values."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def config_diff(runs: Sequence[Recording | dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    """``[(dotted key, [value per run])]`` for the keys whose values differ (sorted by key);
    a key a run lacks shows ``None`` there."""
    flat = [flatten(r if isinstance(r, dict) else r.config) for r in runs]
    keys = sorted(set().union(*flat)) if flat else []
    out = []
    for k in keys:
        vals = [f.get(k, MISSING) for f in flat]
        if any(_norm(v) != _norm(vals[0]) or ((k in f) != (k in flat[0]))
               for v, f in zip(vals, flat)):
            out.append((k, vals))
    return out


def _norm(v: Any) -> Any:
    return tuple(_norm(x) for x in v) if isinstance(v, (list, tuple)) else v


def _labels(paths: list[str]) -> list[str]:
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    out = []
    for i, s in enumerate(stems):
        n = stems[:i].count(s)
        out.append(s if stems.count(s) == 1 else f"{s} ({n + 1})")
    return out


__all__ = ["MAX_RUNS", "Comparison", "RunSeries", "config_diff", "flatten"]
