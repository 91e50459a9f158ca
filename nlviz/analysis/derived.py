"""Timescale-honest per-step quantities, level labels and which gate columns to draw.

Definitions
-----------
- *Update per step* (``update_per_step``): a level that fires every ``period`` steps moves
  its weights by ``update_norm`` at each event; spread over the steps that event covers,
  it moves ``update_norm / period`` per step. Every row gets the rate of the event that
  covers it: the next fired row at or after it, if that is fewer than ``period`` rows
  away; rows no event covers (after the last event, or a gap) are NaN. A level that fires
  every step gets its ``update_norm`` unchanged. Compute it on exact rows, not a summary.
- *Cumulative path* (``cumulative_path``): the running sum of the per-event update norms,
  the length of the path the weights walked (NaN counts as 0). Its slope is the update
  per step; it ends at the same value whichever of the two it is built from.
- *Drift rate* (``drift_rate``): the change of ``drift_init`` (``||W_t - W_0|| / ||W_0||``)
  from the first to the last finite row, per 1000 steps.
- *Shared gates*: the Titans memories (memory, k, v, eta, alpha) apply one eta and one rho,
  so their ``lr`` / ``retention`` columns are identical; ``shared_titans_gates`` says which
  are (draw them once) and which CMS gate columns are constant over the view (state them
  in the label with ``constant_note``, do not plot them).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.frames import LevelSpec, RunSpec
from nlviz.series.views import HistoryView

GATE_METRICS: tuple[str, ...] = ("lr", "retention")
GATE_SYMBOLS = {"lr": "η", "retention": "ρ"}


def update_per_step(update_norm: np.ndarray, fired: np.ndarray, period: int) -> np.ndarray:
    """(n,) float64 per-step update rate: each event's norm / ``period`` on the rows it
    covers (see the module docstring); NaN where no event covers a row."""
    u = np.asarray(update_norm, np.float64).reshape(-1)                    # (n,)
    f = np.asarray(fired).reshape(-1) > 0                                  # (n,)
    if len(u) != len(f):
        raise ValueError(f"update_norm has {len(u)} rows, fired has {len(f)}")
    p = max(1, int(period))
    n = len(u)
    out = np.full(n, np.nan)
    idx = np.flatnonzero(f)                                                # (e,) event rows
    if n == 0 or len(idx) == 0:
        return out
    pos = np.searchsorted(idx, np.arange(n), side="left")                 # next event >= row
    has = pos < len(idx)
    nxt = idx[np.minimum(pos, len(idx) - 1)]                               # (n,)
    ok = has & (nxt - np.arange(n) < p)
    out[ok] = u[nxt[ok]] / p
    return out


def level_rates(view: HistoryView, spec: RunSpec) -> tuple[np.ndarray, np.ndarray]:
    """``(update per step, cumulative path)``, each (L, n) float64, of every level of
    ``view`` (exact rows) from its ``update_norm`` and ``fired`` rows and its period."""
    mi = spec.level_metrics.index("update_norm")
    L, n = len(spec.levels), len(view.step)
    rate, path = np.full((L, n), np.nan), np.zeros((L, n))
    for li, lv in enumerate(spec.levels):
        rate[li] = update_per_step(view.level[li, mi], view.fired[li], lv.update_period)
        path[li] = cumulative_path(view.level[li, mi])
    return rate, path


def cumulative_path(update_norm: np.ndarray) -> np.ndarray:
    """(n,) float64 running sum of per-event update norms (NaN counts as 0)."""
    u = np.asarray(update_norm, np.float64).reshape(-1)
    return np.cumsum(np.where(np.isfinite(u), u, 0.0))


def drift_rate(step: np.ndarray, drift: np.ndarray, per: int = 1000) -> float:
    """Change of ``drift`` from its first to its last finite row per ``per`` steps
    (NaN with fewer than two finite rows or no steps between them)."""
    s = np.asarray(step, np.float64).reshape(-1)
    d = np.asarray(drift, np.float64).reshape(-1)
    ok = np.flatnonzero(np.isfinite(d))
    if len(ok) < 2 or s[ok[-1]] <= s[ok[0]]:
        return float("nan")
    return float((d[ok[-1]] - d[ok[0]]) / (s[ok[-1]] - s[ok[0]]) * per)


def level_label(level: LevelSpec) -> str:
    """What the level is: ``"memory · every token"``, ``"cms3 · every 64"``."""
    p = int(level.update_period)
    return f"{level.name} · " + ("every token" if p <= 1 else f"every {p}")


@dataclass(frozen=True)
class GateLayout:
    """Which gate columns carry information.

    Attributes
    ----------
    shared : gate metrics (of ``GATE_METRICS``) identical across every Titans level over
        the view: draw them once (for the first Titans level).
    titans : the Titans level names, in spec order.
    constant : CMS level name -> {gate metric: value} for gate columns constant over the
        view (state them in the label, do not plot them).
    """

    shared: tuple[str, ...]
    titans: tuple[str, ...]
    constant: dict[str, dict[str, float]] = field(default_factory=dict)


def _is_constant(x: np.ndarray, rtol: float) -> float | None:
    """The value of a column constant within ``rtol`` (relative), else None."""
    v = np.asarray(x, np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return None
    lo, hi = float(v.min()), float(v.max())
    mean = float(v.mean())
    return mean if hi - lo <= rtol * max(abs(mean), 1e-300) else None


def shared_titans_gates(view: HistoryView, spec: RunSpec, rtol: float = 1e-6) -> GateLayout:
    """Which Titans gate columns are the same for all Titans levels and which CMS gate
    columns are constant (within ``rtol`` relative; float32 rounding of a constant is
    about 2e-7) over the rows of ``view``."""
    titans = [i for i, lv in enumerate(spec.levels) if lv.kind == "titans"]
    shared: list[str] = []
    constant: dict[str, dict[str, float]] = {}
    for m in GATE_METRICS:
        if m not in spec.level_metrics:
            continue
        mi = spec.level_metrics.index(m)
        if len(titans) > 1:
            ref = view.level[titans[0], mi]                               # (n,)
            if all(np.allclose(view.level[i, mi], ref, rtol=rtol, atol=0.0, equal_nan=True)
                   for i in titans[1:]):
                shared.append(m)
        for i, lv in enumerate(spec.levels):
            if lv.kind != "cms":
                continue
            value = _is_constant(view.level[i, mi], rtol)
            if value is not None:
                constant.setdefault(lv.name, {})[m] = value
    return GateLayout(tuple(shared), tuple(spec.levels[i].name for i in titans), constant)


def constant_note(values: dict[str, float]) -> str:
    """The label text for constant gates, e.g. eta = 0.02 and rho = 1 written with their
    Greek letters and "(constant)"; "" if ``values`` is empty."""
    if not values:
        return ""
    parts = [f"{GATE_SYMBOLS.get(m, m)} = {v:.3g}" for m, v in values.items()]
    return ", ".join(parts) + " (constant)"


__all__ = ["GATE_METRICS", "GateLayout", "constant_note", "cumulative_path", "drift_rate",
           "level_label", "level_rates", "shared_titans_gates", "update_per_step"]
