"""Switch-aligned averages and recovery after a regime switch.

Definitions
-----------
- *Switch-aligned* (``switch_aligned``): for every switch ``s`` (``Switch.step`` = first
  step of the new regime) the values at steps ``s + o`` for offsets
  ``o = -before .. after - 1`` are gathered (a step not in ``step`` gives NaN), and
  averaged over the switches of each visit group: ``"first"`` (the regime entered is seen
  for the first time), ``"second"``, ``"later"`` (third visit or more). ``std`` is the
  population std over those switches (NaN-ignoring); ``count`` the number of switches.
- *Recovery* (``recovery``), per switch, on the outer loss ``x``:
  ``pre`` = mean of ``x`` over the ``before`` steps before the switch (the old regime's
  settled level; never reaching back past the previous switch in ``switches``); ``early`` = mean of ``x`` over the first ``early`` steps of the new
  regime; ``recovery_steps`` = the smallest ``k >= 0`` such that the mean of ``x`` over
  steps ``s + k .. s + k + smooth - 1`` is at most ``(1 + tol) * pre``, searched while
  that window stays inside the new span and the next ``after`` steps; None when the loss
  never came back (or the data ended first).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from nlviz.analysis.switches import VISIT_GROUPS, Switch, visit_group


@dataclass(frozen=True)
class Aligned:
    """Averages over the switches of one visit group.

    Attributes
    ----------
    offsets : (w,) int64 step offsets from the switch (``-before .. after - 1``).
    mean, std : (k, w) float64 over the switches (NaN where none has data).
    count : number of switches averaged.
    """

    offsets: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    count: int


def gather(step: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """(k, m) values of (k, n) ``values`` at steps ``at`` (m,); NaN where not recorded.
    No copy when ``step`` is already int64 and ``values`` float64 (callers that gather many
    windows convert once)."""
    s = np.asarray(step, np.int64).reshape(-1)                             # (n,)
    v = np.asarray(values, np.float64)
    v = v.reshape(1, -1) if v.ndim == 1 else v                             # (k, n)
    a = np.asarray(at, np.int64).reshape(-1)                               # (m,)
    out = np.full((v.shape[0], len(a)), np.nan)
    if len(s) == 0:
        return out
    pos = np.minimum(np.searchsorted(s, a), len(s) - 1)                    # (m,)
    hit = s[pos] == a
    out[:, hit] = v[:, pos[hit]]
    return out


def switch_aligned(step: np.ndarray, values: np.ndarray, switches: list[Switch], before: int,
                   after: int) -> dict[str, Aligned]:
    """Mean and std of (k, n) ``values`` on windows aligned on ``switches``, per visit
    group (keys ``"first"``, ``"second"``, ``"later"``; see the module docstring)."""
    s = np.asarray(step, np.int64).reshape(-1)                             # (n,), once
    v = np.asarray(values, np.float64)
    v = v.reshape(1, -1) if v.ndim == 1 else v                             # (k, n)
    offsets = np.arange(-int(before), int(after), dtype=np.int64)          # (w,)
    out = {}
    for group in VISIT_GROUPS:
        rows = [gather(s, v, sw.step + offsets) for sw in switches
                if visit_group(sw.visit) == group]                         # each (k, w)
        if rows:
            stack = np.stack(rows)                                         # (c, k, w)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)            # all-NaN columns
                mean, std = np.nanmean(stack, 0), np.nanstd(stack, 0)
        else:
            mean = std = np.full((v.shape[0], len(offsets)), np.nan)
        out[group] = Aligned(offsets, mean, std, len(rows))
    return out


@dataclass(frozen=True)
class Recovery:
    """How the loss behaved after one switch (see the module docstring)."""

    step: int
    regime: int
    visit: int
    pre: float
    early: float
    recovery_steps: int | None


def _mean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else float("nan")


def recovery(step: np.ndarray, loss: np.ndarray, switches: list[Switch], before: int = 200,
             early: int = 100, smooth: int = 50, tol: float = 0.1,
             after: int | None = None) -> list[Recovery]:
    """One ``Recovery`` per switch (see the module docstring). ``after`` caps the search
    (default: until the next switch or the end of the data)."""
    s = np.asarray(step, np.int64).reshape(-1)                             # (n,)
    x = np.asarray(loss, np.float64).reshape(-1)                           # (n,)
    out = []
    for i, sw in enumerate(switches):
        end = switches[i + 1].step if i + 1 < len(switches) else int(s[-1]) + 1 if len(s) else 0
        if after is not None:
            end = min(end, sw.step + int(after))
        lo = sw.step - before if i == 0 else max(sw.step - before, switches[i - 1].step)
        pre = _mean(gather(s, x, np.arange(lo, sw.step))[0])
        post = gather(s, x, np.arange(sw.step, end))[0]                   # (m,) new span
        first = _mean(post[:early])
        rec: int | None = None
        m = len(post) - smooth + 1
        if np.isfinite(pre) and m > 0:
            ok = np.isfinite(post)
            c = np.r_[0.0, np.cumsum(np.where(ok, post, 0.0))]
            k = np.r_[0, np.cumsum(ok)]
            cnt = k[smooth:] - k[:-smooth]                                 # (m,)
            with np.errstate(invalid="ignore", divide="ignore"):
                means = np.where(cnt > 0, (c[smooth:] - c[:-smooth]) / np.maximum(cnt, 1),
                                 np.nan)
                good = np.flatnonzero(means <= (1.0 + tol) * pre)
            rec = int(good[0]) if len(good) else None
        out.append(Recovery(sw.step, sw.regime, sw.visit, pre, first, rec))
    return out


__all__ = ["Aligned", "Recovery", "gather", "recovery", "switch_aligned"]
