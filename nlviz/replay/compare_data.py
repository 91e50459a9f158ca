"""The compare window's data, Qt-free: a ``Comparison`` plus cached full curves per run,
the runs grouped by config without ``run.seed`` (``nlviz.analysis.grouping``: seeds of one
setting, labelled by the keys that tell the groups apart) and each run's regime column."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from nlviz.analysis.grouping import Band, Group, band, group_by_config
from nlviz.analysis.retention import Aligned
from nlviz.analysis.switches import Span, regime_spans
from nlviz.replay.compare import Comparison
from nlviz.replay.compare_series import Curve, aligned, run_curve, smooth

T = TypeVar("T")
KEEP = 64          # derived results kept (a few MB for 8 runs of 100k steps)


class CompareData:
    """Curves of the runs of ``cmp``, each read once per (metric, level) and kept."""

    def __init__(self, cmp: Comparison) -> None:
        self.cmp = cmp
        self.groups = group_by_config([r.config for r in cmp.runs])
        self._curves: dict[tuple[int, str, str | None], Curve | None] = {}
        self._regimes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._derived: dict[tuple[object, ...], object] = {}     # bands and aligned, by inputs

    def _kept(self, key: tuple[object, ...], make: Callable[[], T]) -> T:
        """``make()`` once per ``key`` (the newest ``KEEP`` results are kept)."""
        if key not in self._derived:
            if len(self._derived) >= KEEP:
                self._derived.pop(next(iter(self._derived)))
            self._derived[key] = make()
        return self._derived[key]  # type: ignore[return-value]

    def curve(self, run: int, metric: str, level: str | None = None,
              smooth_rows: int = 1) -> Curve | None:
        """The run's full curve (``run_curve``), smoothed over ``smooth_rows`` rows."""
        key = (run, metric, level)
        if key not in self._curves:
            self._curves[key] = run_curve(self.cmp.runs[run], metric, level)
        c = self._curves[key]
        if c is None or metric == "cumulative_path":      # a running sum needs no smoothing
            return c
        return smooth(c, smooth_rows)

    def regimes(self, run: int) -> tuple[np.ndarray, np.ndarray]:
        """(steps (n,), regime (n,)) of one run."""
        if run not in self._regimes:
            r = self.cmp.runs[run]
            self._regimes[run] = (np.asarray(r.steps, np.int64), np.asarray(r.regime()))
        return self._regimes[run]

    def shared_spans(self) -> list[Span]:
        """The runs' regime spans when every run switches regime at the same steps (over
        the steps all of them recorded): those of the longest run; else [] (no common
        regime timeline to shade)."""
        return self._kept(("spans",), self._shared_spans)

    def _shared_spans(self) -> list[Span]:
        per = [regime_spans(*self.regimes(r)) for r in range(len(self.cmp.runs))]
        ends = [s[-1].stop for s in per if s]
        last = min(ends) if len(ends) == len(per) else -1
        keys = {tuple((x.start, x.regime) for x in s if x.start <= last) for s in per}
        return max(per, key=len) if len(keys) == 1 and last >= 0 else []

    def band(self, group: Group, metric: str, level: str | None = None,
             smooth_rows: int = 1) -> Band | None:
        """Mean ± spread (``grouping.band``: common grid, sample std) over the group's
        members that have the level (None: none has)."""
        return self._kept(("band", group.members, metric, level, smooth_rows),
                          lambda: self._band(group, metric, level, smooth_rows))

    def _band(self, group: Group, metric: str, level: str | None,
              smooth_rows: int) -> Band | None:
        curves = [c for m in group.members
                  if (c := self.curve(m, metric, level, smooth_rows)) is not None]
        if not curves:
            return None
        same = all(np.array_equal(c.steps, curves[0].steps) for c in curves[1:])
        return band([c.steps for c in curves], [c.values for c in curves],
                    grid=curves[0].steps if same else None)   # same steps: that is the grid

    def aligned(self, run: int, metric: str, level: str | None, before: int, after: int,
                smooth_rows: int = 1) -> dict[str, Aligned] | None:
        """The run's curve around its regime switches, by visit (None: no such level, or a
        curve on other steps than the regime column, e.g. update per event)."""
        def make() -> dict[str, Aligned] | None:
            c = self.curve(run, metric, level, smooth_rows)
            steps, regime = self.regimes(run)
            if c is None or len(c.steps) != len(steps):
                return None
            return aligned(c, steps, regime, before, after)
        return self._kept(("aligned", run, metric, level, before, after, smooth_rows), make)


__all__ = ["CompareData"]
