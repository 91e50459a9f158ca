"""Runs grouped by configuration over seeds, and mean +- spread bands.

Definitions
-----------
- Two runs are in the same *group* when their resolved configs (as recorded) are equal
  once ``run.seed`` is removed: the same experiment with another seed. Groups keep the
  order in which their first member appears.
- A group's *label* lists the config keys whose values differ between the groups
  (``"model.cms.periods=[1, 1, 1]"``; the first few, then how many more), or
  ``"all runs"`` when there is one group.
- *Spread* is the sample standard deviation over the members (``ddof=1``), 0 for a group
  of one; ``stats`` also gives the member count.
- A *band* (``band``) puts every member's series on a common step grid: by default the
  steps all members recorded; if they share none, every recorded step inside the range
  all of them cover. A member is linearly interpolated between its recorded steps and
  NaN outside them; mean, spread and count are taken per grid step over the finite values.
"""
from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SEED_KEY = "run.seed"


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict -> ``{"a.b.c": value}``."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _text(v: Any) -> str:
    return json.dumps(v, sort_keys=True) if not isinstance(v, str) else v


@dataclass(frozen=True)
class Group:
    """Runs that differ only by seed.

    Attributes
    ----------
    key : canonical JSON of the config without ``run.seed`` (equal keys = same group).
    label : what sets the group apart (see the module docstring).
    members : indices into the configs given to ``group_by_config``.
    seeds : the members' ``run.seed`` values (None where absent).
    """

    key: str
    label: str
    members: tuple[int, ...]
    seeds: tuple[Any, ...]


def group_by_config(configs: Sequence[dict[str, Any]], max_keys: int = 4) -> list[Group]:
    """Group runs by config minus the seed (see the module docstring); labels name at
    most ``max_keys`` differing keys (values cut at 40 characters)."""
    flats = [flatten(c) for c in configs]
    keys = [json.dumps({k: v for k, v in f.items() if k != SEED_KEY}, sort_keys=True)
            for f in flats]
    order: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        order.setdefault(k, []).append(i)
    firsts = [flats[m[0]] for m in order.values()]
    names = sorted({k for f in firsts for k in f} - {SEED_KEY})
    differ = [k for k in names if len({_text(f.get(k)) for f in firsts}) > 1]
    groups = []
    for (key, members), first in zip(order.items(), firsts):
        parts = [f"{k}={_text(first.get(k))[:40]}" for k in differ[:max_keys]]
        more = len(differ) - max_keys
        label = ", ".join(parts) + (f" (+{more} more keys)" if more > 0 else "") or "all runs"
        groups.append(Group(key, label, tuple(members),
                            tuple(flats[i].get(SEED_KEY) for i in members)))
    return groups


def stats(values: Sequence[float]) -> tuple[float, float, int]:
    """``(mean, spread, n)`` of the finite values (spread: ddof=1, 0 for one value;
    NaN mean for none)."""
    v = np.asarray(values, np.float64).reshape(-1)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, len(v)


@dataclass(frozen=True)
class Band:
    """Mean +- spread of a group's series on a common grid: ``grid`` (g,) steps,
    ``mean`` / ``std`` (g,) float64, ``count`` (g,) members with a finite value."""

    grid: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    count: np.ndarray


def common_grid(steps: Sequence[np.ndarray]) -> np.ndarray:
    """The steps every member recorded, else every step inside their common range."""
    if not steps:
        return np.zeros(0, np.int64)
    arrs = [np.asarray(s, np.int64).reshape(-1) for s in steps]
    g = arrs[0]
    for s in arrs[1:]:
        g = np.intersect1d(g, s)
    if len(g) or any(len(s) == 0 for s in arrs):
        return g
    lo, hi = max(int(s[0]) for s in arrs), min(int(s[-1]) for s in arrs)
    u = np.unique(np.concatenate(arrs))
    return u[(u >= lo) & (u <= hi)]


def band(steps: Sequence[np.ndarray], values: Sequence[np.ndarray],
         grid: np.ndarray | None = None) -> Band:
    """Mean and spread of members' (n_i,) ``values`` at their (n_i,) ``steps`` on
    ``grid`` (default ``common_grid``); see the module docstring."""
    g = common_grid(steps) if grid is None else np.asarray(grid)
    rows = []
    for s, v in zip(steps, values):
        s = np.asarray(s, np.float64).reshape(-1)
        v = np.asarray(v, np.float64).reshape(-1)
        ok = np.isfinite(v)
        row = np.full(len(g), np.nan)
        if ok.sum() >= 1:
            inside = (g >= s[ok][0]) & (g <= s[ok][-1])
            row[inside] = np.interp(np.asarray(g, np.float64)[inside], s[ok], v[ok])
        rows.append(row)
    stack = np.vstack(rows) if rows else np.zeros((0, len(g)))             # (k, g)
    count = np.isfinite(stack).sum(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(stack, 0) if len(rows) else np.full(len(g), np.nan)
        std = np.where(count > 1, np.nanstd(stack, 0, ddof=1) if len(rows) > 1 else 0.0, 0.0)
    return Band(np.asarray(g), mean, std, count)


__all__ = ["SEED_KEY", "Band", "Group", "band", "common_grid", "flatten", "group_by_config",
           "stats"]
