"""Regime spans and regime switches from the per-step ``regime`` column.

Definitions
-----------
- A *span* is a maximal run of consecutive rows with the same regime label. ``start`` and
  ``stop`` are the first and last recorded step of the run (inclusive).
- Its *visit* counts how many spans of that regime began so far, this one included: the
  first time regime A is seen is visit 1, the next span of A is visit 2, and so on.
- A *switch* is the start of every span but the first: ``step`` is the first step of the
  new regime, ``regime`` the new label, ``previous`` the label before, ``visit`` the visit
  number of the span it starts.

Summary views
-------------
A summary ``HistoryView`` (``is_summary``) holds each bucket twice (its min row, then its
max row) and the regime of the bucket's first row. Rows with a repeated step are dropped
first, so a span then starts at the first *bucket* whose first row has the new regime:
switch steps are exact to within one bucket (``bucket_rows`` steps), and a regime that
lasts less than a bucket can be missed. Spans of a summary end one step before the next
span starts (the bucket covers those steps). Use exact rows when the numbers matter.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Span:
    """A maximal run of one regime: steps ``start`` .. ``stop`` (inclusive), the
    ``visit``-th span of ``regime`` (1 = the first time it is seen)."""

    start: int
    stop: int
    regime: int
    visit: int


@dataclass(frozen=True)
class Switch:
    """A regime change: ``step`` is the first step of ``regime`` (left ``previous``);
    ``visit`` is the visit number of the span it starts (1 = first time this regime)."""

    step: int
    regime: int
    previous: int
    visit: int


def _dedup(step: np.ndarray, regime: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Drop rows whose step repeats the previous row's (min/max summary pairs)."""
    s = np.asarray(step).astype(np.int64, copy=False).reshape(-1)          # (n,)
    r = np.asarray(regime).astype(np.int64, copy=False).reshape(-1)        # (n,)
    if len(s) != len(r):
        raise ValueError(f"step has {len(s)} rows, regime has {len(r)}")
    if len(s) < 2:
        return s, r, False
    keep = np.r_[True, s[1:] != s[:-1]]
    return s[keep], r[keep], not bool(keep.all())


def regime_spans(step: np.ndarray, regime: np.ndarray) -> list[Span]:
    """Spans of equal regime, oldest first (see the module docstring).

    Parameters
    ----------
    step : (n,) step numbers, increasing (a summary's repeated steps allowed).
    regime : (n,) regime label of each row.
    """
    s, r, summary = _dedup(step, regime)
    if len(s) == 0:
        return []
    starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])                  # (k,)
    ends = np.r_[starts[1:] - 1, len(s) - 1]                               # (k,)
    seen: dict[int, int] = {}
    spans: list[Span] = []
    for i, (a, b) in enumerate(zip(starts, ends)):
        reg = int(r[a])
        seen[reg] = seen.get(reg, 0) + 1
        stop = int(s[starts[i + 1]]) - 1 if summary and i + 1 < len(starts) else int(s[b])
        spans.append(Span(int(s[a]), stop, reg, seen[reg]))
    return spans


def regime_switches(step: np.ndarray, regime: np.ndarray) -> list[Switch]:
    """Every regime change, oldest first (the first span is not a switch)."""
    spans = regime_spans(step, regime)
    return [Switch(cur.start, cur.regime, prev.regime, cur.visit)
            for prev, cur in itertools.pairwise(spans)]


def visit_group(visit: int) -> str:
    """``"first"``, ``"second"`` or ``"later"`` (visit 1, 2, >= 3)."""
    return "first" if visit <= 1 else "second" if visit == 2 else "later"


VISIT_GROUPS: tuple[str, ...] = ("first", "second", "later")

__all__ = ["VISIT_GROUPS", "Span", "Switch", "regime_spans", "regime_switches", "visit_group"]
