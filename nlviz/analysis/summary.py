"""The numbers ``nlviz report`` prints for one run, from a ``HistoryView`` of all its rows.

Each run gives a flat ``{name: value}`` dict (``RunSummary.numbers``) so that a group's
mean and spread are taken name by name (``group_numbers``). Names and definitions:

- ``final.<g>`` for ``g`` in outer_loss, copy_loss, zero_loss, oracle_loss: the mean of
  the last ``last`` rows (finite values only). ``ratio.copy`` / ``ratio.zero`` /
  ``ratio.oracle``: ``final.outer_loss`` divided by that baseline's final mean (below 1:
  better than copying the last input / predicting zero; the oracle is the best per-regime
  predictor, so ``ratio.oracle`` >= 1 says how far from it the model is).
- ``recovery.<v>.*`` for visit group ``v`` (first, second, later; see
  ``nlviz.analysis.retention``): ``switches`` (how many), ``pre`` (mean outer loss over the
  ``before`` steps before each switch), ``early`` (mean over the first ``early`` steps after
  it), ``early_ratio`` (mean over switches of early / pre), ``recovered`` (fraction of
  switches after which the ``smooth``-step forward mean came back within ``tol`` of pre
  before the next switch), ``steps`` (mean steps to recover over the recovered switches).
- ``forgetting`` / ``bwt`` / ``evals``: mean over regimes of forgetting and backward
  transfer at the last regular evaluation (``nlviz.analysis.evalmatrix``), and the number
  of evaluations (NaN / 0 without an evaluation matrix).
- ``drift.<level>``: change of ``drift_init`` per 1000 steps over the run
  (``nlviz.analysis.derived.drift_rate``).
- ``flags``: the health flags at the run's last row (``nlviz.analysis.health``).
- ``effects``: knock-out / restore evaluations next to the intact model at the same step
  (``nlviz.analysis.evalmatrix.variant_effects``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.frames import RunSpec
from nlviz.analysis.derived import drift_rate
from nlviz.analysis.evalmatrix import (
    EvalLike,
    VariantEffect,
    backward_transfer,
    forgetting,
    matrix,
    mean_finite,
    variant_effects,
)
from nlviz.analysis.grouping import stats
from nlviz.analysis.health import HealthConfig, HealthFlag, check_health
from nlviz.analysis.retention import recovery
from nlviz.analysis.switches import VISIT_GROUPS, regime_spans, regime_switches, visit_group
from nlviz.series.views import HistoryView

BASELINES: tuple[str, ...] = ("copy_loss", "zero_loss", "oracle_loss")


@dataclass(frozen=True)
class ReportOptions:
    """Windows and tolerances of the report (defaults of ``nlviz report``)."""

    last: int = 500          # rows of the final-loss mean
    before: int = 200        # steps of the pre-switch level
    early: int = 100         # steps of the early post-switch mean
    smooth: int = 50         # forward mean that must come back within tol
    tol: float = 0.10        # "within 10 % of the pre-switch level"
    per: int = 1000          # drift per this many steps
    health: HealthConfig = field(default_factory=HealthConfig)


@dataclass(frozen=True)
class RunSummary:
    """One run's numbers (see the module docstring) and its health flags."""

    numbers: dict[str, float]
    flags: list[HealthFlag]
    rows: int
    first_step: int
    last_step: int
    effects: list[VariantEffect] = field(default_factory=list)


def _tail_mean(x: np.ndarray, last: int) -> float:
    return mean_finite(np.asarray(x, np.float64)[-max(1, last):])


def summarize_run(view: HistoryView, spec: RunSpec, evals: Sequence[EvalLike] = (),
                  opts: ReportOptions = ReportOptions()) -> RunSummary:
    """The report's numbers for one run; ``view`` holds all its exact rows."""
    num: dict[str, float] = {}
    g = spec.global_metrics
    nan = float("nan")
    for name in ("outer_loss", *BASELINES):
        num[f"final.{name}"] = _tail_mean(view.scalars[g.index(name)], opts.last) \
            if name in g and len(view.step) else nan
    loss = num["final.outer_loss"]
    for name in BASELINES:
        base = num[f"final.{name}"]
        num[f"ratio.{name.removesuffix('_loss')}"] = loss / base if base > 0 else nan
    step = view.step.astype(np.int64)
    switches = regime_switches(step, view.regime)
    outer = view.scalars[g.index("outer_loss")] if "outer_loss" in g else np.full(len(step), nan)
    recs = recovery(step, outer, switches, before=opts.before, early=opts.early,
                    smooth=opts.smooth, tol=opts.tol)
    for v in VISIT_GROUPS:
        rs = [r for r in recs if visit_group(r.visit) == v]
        done = [r.recovery_steps for r in rs if r.recovery_steps is not None]
        num[f"recovery.{v}.switches"] = float(len(rs))
        num[f"recovery.{v}.pre"] = mean_finite(np.array([r.pre for r in rs]))
        num[f"recovery.{v}.early"] = mean_finite(np.array([r.early for r in rs]))
        with np.errstate(invalid="ignore", divide="ignore"):
            num[f"recovery.{v}.early_ratio"] = mean_finite(
                np.array([r.early / r.pre if r.pre > 0 else nan for r in rs]))
        num[f"recovery.{v}.recovered"] = len(done) / len(rs) if rs else nan
        num[f"recovery.{v}.steps"] = float(np.mean(done)) if done else nan
    steps_e, loss_e = matrix(list(evals))
    num["evals"] = float(len(steps_e))
    num["forgetting"] = mean_finite(forgetting(loss_e)) if len(steps_e) else nan
    num["bwt"] = mean_finite(backward_transfer(steps_e, loss_e, regime_spans(step, view.regime))) \
        if len(steps_e) else nan
    if "drift_init" in spec.level_metrics:
        mi = spec.level_metrics.index("drift_init")
        for li, lv in enumerate(spec.levels):
            num[f"drift.{lv.name}"] = drift_rate(step, view.level[li, mi], opts.per)
    flags = check_health(view, spec, opts.health)
    first = int(step[0]) if len(step) else 0
    return RunSummary(num, flags, len(step), first, int(step[-1]) if len(step) else 0,
                      variant_effects(list(evals)))


def group_numbers(members: Sequence[RunSummary]) -> dict[str, tuple[float, float, int]]:
    """Name -> (mean, spread, n) over the members' finite values (``grouping.stats``)."""
    names = list(dict.fromkeys(k for m in members for k in m.numbers))
    return {k: stats([m.numbers.get(k, float("nan")) for m in members]) for k in names}


def flag_counts(members: Sequence[RunSummary]) -> dict[tuple[str, str | None], list[int]]:
    """(kind, level) -> the members' since-steps, for the flags any member raised."""
    out: dict[tuple[str, str | None], list[int]] = {}
    for m in members:
        for f in m.flags:
            out.setdefault((f.kind, f.level), []).append(f.since_step)
    return out


__all__ = ["BASELINES", "ReportOptions", "RunSummary", "flag_counts", "group_numbers",
           "summarize_run"]
