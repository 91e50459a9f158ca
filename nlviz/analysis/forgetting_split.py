"""Probe errors split by what they measure and by regime, binned by age.

A ``ProbeRecord`` holds, for every level and probe pair, an error and the pair's age
(steps since it was written). The errors of Titans levels are relative *recall* errors
``||M(k) - v||^2 / ||v||^2``; those of CMS levels are *functional drift*
``||f_t(x) - f_tau(x)|| / ||f_tau(x)||``. They are different quantities and are never
pooled (``quantity`` = ``"recall"`` or ``"drift"``).

Each probe is also labelled by *relation*: ``"same"`` when the regime at write time
(step ``record.step - age``) equals the regime at evaluation time (``record.step``),
``"other"`` when it differs, ``"unknown"`` when either step is outside the given regime
column (the regime at a step is the one of the nearest recorded row at or before it).

Per age bin ``[edges[i], edges[i+1])``: ``mean`` is the mean error of the probes whose
error is above ``floor`` (1e-6, the clip a log plot uses); probes at or below the floor
are *exact zeros* (a memory that returns exactly v, or a CMS level that has not changed)
and are counted in ``zeros`` instead: they are reported, not drawn as perfect recall.
Empty slots (age -1) and NaN errors are dropped.

``rho_age_reference(rho, ages) = rho ** ages`` is the fraction of a write that survives
``ages`` steps of retention ``rho`` with no other change: the reference curve.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.frames import ProbeRecord, RunSpec

FLOOR = 1e-6


@dataclass(frozen=True)
class ForgettingBins:
    """Binned probe errors of one level (or pooled levels), quantity and relation.

    Attributes
    ----------
    level : the level name, or None when pooled over every level of the quantity.
    quantity : ``"recall"`` (Titans) or ``"drift"`` (CMS).
    relation : ``"same"``, ``"other"`` or ``"unknown"`` (regime at write vs at evaluation).
    edges : (B+1,) int64 age bin edges (bin i = ages in [edges[i], edges[i+1])).
    mean : (B,) float64 mean error above the floor (NaN where none).
    count : (B,) int64 probes above the floor.
    zeros : (B,) int64 probes at or below the floor (exact zeros).
    """

    level: str | None
    quantity: str
    relation: str
    edges: np.ndarray
    mean: np.ndarray
    count: np.ndarray
    zeros: np.ndarray


def quantity_of(kind: str) -> str:
    """``"recall"`` for a Titans level, ``"drift"`` for a CMS level."""
    return "recall" if kind == "titans" else "drift"


def age_edges(max_age: int, bins: int = 12) -> np.ndarray:
    """Log-spaced integer age edges from 0 past ``max_age``: (B+1,) int64."""
    top = max(2, int(max_age) + 1)
    e = np.geomspace(1, top, max(1, bins)).astype(np.int64)
    return np.unique(np.r_[0, e, top])


def regime_at(step: np.ndarray, regime: np.ndarray, at: np.ndarray) -> np.ndarray:
    """(m,) regime at steps ``at`` (the nearest recorded row at or before each); -1 where
    ``at`` is before the first or after the last recorded step."""
    s = np.asarray(step).astype(np.int64).reshape(-1)
    r = np.asarray(regime).astype(np.int64).reshape(-1)
    a = np.asarray(at, np.int64).reshape(-1)
    out = np.full(len(a), -1, np.int64)
    if len(s) == 0:
        return out
    pos = np.searchsorted(s, a, side="right") - 1
    ok = (pos >= 0) & (a <= s[-1])
    out[ok] = r[pos[ok]]
    return out


def split_forgetting(probes: list[ProbeRecord], spec: RunSpec, step: np.ndarray,
                     regime: np.ndarray, edges: np.ndarray | None = None,
                     floor: float = FLOOR, pooled: bool = False) -> list[ForgettingBins]:
    """Bin every probe of ``probes`` (see the module docstring), per level (``pooled``
    False) or per quantity; one entry per (level or quantity, relation) that has probes,
    in spec order then same, other, unknown."""
    ages_l, err_l, rel_l = [], [], []
    for p in probes:
        ages = np.asarray(p.ages, np.int64)                                # (P,)
        ok = ages >= 0
        wr = regime_at(step, regime, p.step - ages)
        ev = regime_at(step, regime, np.array([p.step]))[0]
        rel = np.where((wr < 0) | (ev < 0), 2, np.where(wr == ev, 0, 1))  # (P,)
        ages_l.append(ages[ok])
        err_l.append(np.asarray(p.errors, np.float64)[:, ok])             # (L, P')
        rel_l.append(rel[ok])
    L = len(spec.levels)
    ages = np.concatenate(ages_l) if ages_l else np.zeros(0, np.int64)     # (N,)
    errs = np.concatenate(err_l, 1) if err_l else np.zeros((L, 0))         # (L, N)
    rels = np.concatenate(rel_l) if rel_l else np.zeros(0, np.int64)       # (N,)
    e = np.asarray(edges, np.int64) if edges is not None else age_edges(
        int(ages.max()) if len(ages) else 1)
    groups: list[tuple[str | None, str, list[int]]] = []
    if pooled:
        for q in ("recall", "drift"):
            idx = [i for i, lv in enumerate(spec.levels) if quantity_of(lv.kind) == q]
            if idx:
                groups.append((None, q, idx))
    else:
        groups = [(lv.name, quantity_of(lv.kind), [i]) for i, lv in enumerate(spec.levels)]
    out = []
    for name, q, idx in groups:
        for ri, relation in enumerate(("same", "other", "unknown")):
            sel = rels == ri
            if not sel.any():
                continue
            a = np.tile(ages[sel], len(idx))                               # (k,)
            x = errs[idx][:, sel].reshape(-1)                              # (k,)
            fin = np.isfinite(x)
            a, x = a[fin], x[fin]
            b = np.searchsorted(e, a, side="right") - 1                   # bin of each
            inb = (b >= 0) & (b < len(e) - 1)
            nz = inb & (x > floor)
            B = len(e) - 1
            count = np.bincount(b[nz], minlength=B)[:B]
            total = np.bincount(b[nz], weights=x[nz], minlength=B)[:B]
            zeros = np.bincount(b[inb & (x <= floor)], minlength=B)[:B]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
            out.append(ForgettingBins(name, q, relation, e, mean, count.astype(np.int64),
                                      zeros.astype(np.int64)))
    return out


def rho_age_reference(rho: float, ages: np.ndarray) -> np.ndarray:
    """``rho ** ages`` (float64): what a write keeps after ``ages`` steps of retention."""
    return float(rho) ** np.asarray(ages, np.float64)


__all__ = ["FLOOR", "ForgettingBins", "age_edges", "quantity_of", "regime_at",
           "rho_age_reference", "split_forgetting"]
