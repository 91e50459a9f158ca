"""The compare window's data, Qt-free: a ``Comparison`` plus cached full curves per run,
the runs grouped by config (seed removed) and each run's regime column.

Groups: runs whose recorded configs are equal once ``run.seed`` is removed form one group
(seeds of one setting); each group gets a label naming the keys that tell it from the
other groups.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nlviz.analysis.retention import Aligned
from nlviz.replay.compare import Comparison, config_diff, flatten
from nlviz.replay.compare_series import Band, Curve, aligned, group_band, run_curve, smooth

SEED_KEY = "run.seed"


@dataclass(frozen=True)
class Group:
    """Runs of one config (seeds differing only).

    Attributes
    ----------
    members : indices into ``Comparison.runs``.
    label : the keys that differ from the other groups (``"config"`` when only one group).
    """

    members: tuple[int, ...]
    label: str


def config_key(config: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The config without ``run.seed``, as a hashable sorted tuple of (key, repr)."""
    flat = flatten(config)
    flat.pop(SEED_KEY, None)
    return tuple(sorted((k, repr(_norm(v))) for k, v in flat.items()))


def _norm(v: Any) -> Any:
    return tuple(_norm(x) for x in v) if isinstance(v, (list, tuple)) else v


def group_runs(configs: list[dict[str, Any]]) -> list[Group]:
    """Groups of equal config-without-seed, in the order of their first run."""
    keys = [config_key(c) for c in configs]
    order = list(dict.fromkeys(keys))
    members = [tuple(i for i, k in enumerate(keys) if k == key) for key in order]
    diff = config_diff([{k: v for k, v in flatten(configs[m[0]]).items() if k != SEED_KEY}
                        for m in members]) if len(members) > 1 else []
    labels = []
    for g in range(len(members)):
        parts = [f"{k.split('.', 1)[-1] if k.count('.') > 1 else k}={vals[g]!r}"
                 for k, vals in diff[:3]]
        labels.append(", ".join(parts) + (" …" if len(diff) > 3 else "") if parts else "config")
    return [Group(m, lab) for m, lab in zip(members, labels)]


class CompareData:
    """Curves of the runs of ``cmp``, each read once per (metric, level) and kept."""

    def __init__(self, cmp: Comparison) -> None:
        self.cmp = cmp
        self.groups = group_runs([r.config for r in cmp.runs])
        self._curves: dict[tuple[int, str, str | None], Curve | None] = {}
        self._regimes: dict[int, tuple[np.ndarray, np.ndarray]] = {}

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

    def band(self, group: Group, metric: str, level: str | None = None,
             smooth_rows: int = 1) -> Band | None:
        """Mean ± std over the group's members that have the level (None: none has)."""
        curves = [c for m in group.members
                  if (c := self.curve(m, metric, level, smooth_rows)) is not None]
        return group_band(curves) if curves else None

    def aligned(self, run: int, metric: str, level: str | None, before: int, after: int,
                smooth_rows: int = 1) -> dict[str, Aligned] | None:
        """The run's curve around its regime switches, by visit (None: no such level, or a
        curve on other steps than the regime column, e.g. update per event)."""
        c = self.curve(run, metric, level, smooth_rows)
        steps, regime = self.regimes(run)
        if c is None or len(c.steps) != len(steps):
            return None
        return aligned(c, steps, regime, before, after)


__all__ = ["SEED_KEY", "CompareData", "Group", "config_key", "group_runs"]
