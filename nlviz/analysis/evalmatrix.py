"""The per-regime evaluation matrix, forgetting and backward transfer.

Every ``eval_every`` steps the engine evaluates its frozen weights (no inner writes) on a
held-out window of each regime: an ``EvalRecord`` with ``losses`` (R,) at ``step``. Stacked
over time they form the continual-learning *accuracy matrix*, here with losses: row t is
the evaluation after step ``steps[t]``, column r the regime (``RunSpec.regime_names``).
Lower is better throughout.

Definitions (the continual-learning ones, adapted to losses)
------------------------------------------------------------
- *Forgetting* of regime r: ``F_r = L[T-1, r] - min_{t < T-1} L[t, r]``, the final loss
  minus the best loss any earlier evaluation reached. Larger means more of what was once
  known about r is lost; 0 or below means the final evaluation is the best so far (below 0
  when it beats every earlier one: r is still being learned).
  ``forgetting_over_time`` gives the same at every row (``F[t, r]`` against rows before t).
- *Backward transfer* of regime r: ``BWT_r = L[a_r, r] - L[T-1, r]``, with ``a_r`` the first
  evaluation at or after the end of r's last span that ended before the final evaluation
  (the moment r was last trained). Sign: **positive = later training on other regimes
  lowered the loss on r** (positive transfer); **negative = it raised it** (forgetting, the
  usual case). NaN when r is the regime at the final evaluation, was never trained before
  it, or no evaluation lies between ``a_r`` and the final one.

Only records with ``variant == ""`` (the regular evaluation) enter the matrix; knock-out
and restore variants are compared with the intact model at the same step instead.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from nlviz.analysis.switches import Span


class EvalLike(Protocol):
    """What is read from an ``engine.frames.EvalRecord`` (read-only: frozen records fit)."""

    @property
    def step(self) -> int: ...
    @property
    def losses(self) -> np.ndarray: ...
    @property
    def copy(self) -> np.ndarray: ...
    @property
    def variant(self) -> str: ...


def matrix(evals: list[EvalLike], field: str = "losses",
           variant: str = "") -> tuple[np.ndarray, np.ndarray]:
    """``(steps (T,) int64, values (T, R) float64)`` of the records of ``variant`` sorted
    by step (``field`` "losses" or "copy"); a repeated step keeps the newest record."""
    rows: dict[int, np.ndarray] = {}
    for e in evals:
        if e.variant == variant:
            rows[int(e.step)] = np.asarray(getattr(e, field), np.float64).reshape(-1)
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, 0))
    steps = np.array(sorted(rows), np.int64)
    R = max(len(v) for v in rows.values())
    out = np.full((len(steps), R), np.nan)
    for t, s in enumerate(steps):
        out[t, :len(rows[int(s)])] = rows[int(s)]
    return steps, out


def forgetting_over_time(loss: np.ndarray) -> np.ndarray:
    """(T, R): ``loss[t] - min(loss[:t])`` per regime (NaN at t = 0 or without an
    earlier finite value)."""
    x = np.asarray(loss, np.float64)
    if x.shape[0] == 0:
        return x.copy()
    best = np.fmin.accumulate(np.where(np.isfinite(x), x, np.inf), axis=0)  # (T, R)
    prev = np.vstack([np.full((1, x.shape[1]), np.inf), best[:-1]])
    return np.where(np.isfinite(prev), x - prev, np.nan)


def forgetting(loss: np.ndarray) -> np.ndarray:
    """(R,) forgetting at the final evaluation (see the module docstring)."""
    x = np.asarray(loss, np.float64)
    if x.shape[0] < 2:
        return np.full(x.shape[1] if x.ndim == 2 else 0, np.nan)
    return forgetting_over_time(x)[-1]


def backward_transfer(steps: np.ndarray, loss: np.ndarray, spans: list[Span]) -> np.ndarray:
    """(R,) backward transfer per regime (see the module docstring for the sign)."""
    s = np.asarray(steps, np.int64)
    x = np.asarray(loss, np.float64)
    R = x.shape[1] if x.ndim == 2 else 0
    out = np.full(R, np.nan)
    if len(s) < 2:
        return out
    final = int(s[-1])
    current = next((sp.regime for sp in spans if sp.start <= final <= sp.stop), None)
    for r in range(R):
        if r == current:
            continue
        done = [sp for sp in spans if sp.regime == r and sp.stop < final]
        if not done:
            continue
        a = int(np.searchsorted(s, done[-1].stop, side="left"))
        if a < len(s) - 1:
            out[r] = x[a, r] - x[-1, r]
    return out


@dataclass(frozen=True)
class VariantEffect:
    """A knock-out or restore evaluation next to the intact one at the same step:
    ``intact`` and ``ablated`` (R,) held-out losses; ``delta = ablated - intact`` (positive:
    the model needs what was knocked out / the restored state is worse)."""

    step: int
    variant: str
    intact: np.ndarray
    ablated: np.ndarray

    @property
    def delta(self) -> np.ndarray:
        return self.ablated - self.intact


def variant_effects(evals: list[EvalLike]) -> list[VariantEffect]:
    """Every non-regular record paired with the regular record of the same step (the
    newest of each), in step order; variants without an intact partner are left out."""
    intact: dict[int, np.ndarray] = {}
    other: dict[tuple[int, str], np.ndarray] = {}
    for e in evals:
        row = np.asarray(e.losses, np.float64).reshape(-1)
        if e.variant == "":
            intact[int(e.step)] = row
        else:
            other[(int(e.step), e.variant)] = row
    return [VariantEffect(s, v, intact[s], row) for (s, v), row in sorted(other.items())
            if s in intact]


def mean_finite(x: np.ndarray) -> float:
    """Mean of the finite entries (NaN if none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        v = np.asarray(x, np.float64)
        return float(np.nanmean(np.where(np.isfinite(v), v, np.nan))) if v.size else float("nan")


__all__ = ["EvalLike", "VariantEffect", "backward_transfer", "forgetting", "forgetting_over_time", "matrix",
           "mean_finite", "variant_effects"]
