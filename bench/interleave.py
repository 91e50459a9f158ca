"""Interleaved throughput measurement: every case runs once per round, rounds repeat, and
the report gives per-case medians with their spread and, for each ratio, the median of the
per-round ratios with their range.

On a shared, noisy machine a slow minute hits every case of that round alike, so a ratio
taken within a round is far steadier than a ratio of medians taken minutes apart. Pure
Python (no torch): ``bench/engine.py`` and ``bench/threads.py`` build the cases, the tests
check the arithmetic with fixed numbers.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """One measured configuration: ``measure()`` returns units per second for one round."""

    name: str
    unit: str                          # "steps/s" or "tok/s"
    measure: Callable[[], float]


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator``, taken within each round."""

    label: str
    numerator: str                     # a case name
    denominator: str                   # a case name


@dataclass(frozen=True)
class Spread:
    """Median and range (min, max) of a set of samples."""

    median: float
    low: float
    high: float


def summarize(values: Sequence[float]) -> Spread:
    """Median and min-max of ``values`` (at least one)."""
    if not values:
        raise ValueError("no samples")
    return Spread(statistics.median(values), min(values), max(values))


def round_ratios(samples: dict[str, list[float]], ratio: Ratio) -> list[float] | None:
    """Per-round ``numerator / denominator``; None when either case has no samples
    (e.g. the peer is not installed)."""
    num, den = samples.get(ratio.numerator), samples.get(ratio.denominator)
    if not num or not den:
        return None
    if len(num) != len(den):
        raise ValueError(f"{ratio.label}: {len(num)} rounds vs {len(den)}")
    return [a / b for a, b in zip(num, den)]


def run_rounds(cases: Sequence[Case], rounds: int,
               log: Callable[[str], None] | None = None) -> dict[str, list[float]]:
    """Run every case once per round; round r starts at case r (mod n) so that no case
    always runs first (or always right after the same neighbour)."""
    samples: dict[str, list[float]] = {c.name: [] for c in cases}
    n = len(cases)
    for r in range(rounds):
        t0 = time.perf_counter()
        for k in range(n):
            case = cases[(r + k) % n]
            samples[case.name].append(case.measure())
        if log:
            log(f"round {r + 1}/{rounds}: {time.perf_counter() - t0:.1f} s")
    return samples


def _num(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def format_tables(cases: Sequence[tuple[str, str]], samples: dict[str, list[float]],
                  ratios: Sequence[Ratio], missing: str = "n/a") -> str:
    """Two markdown tables: cases (median, spread) and ratios (median of per-round ratios,
    range). ``cases`` is (name, unit) in print order; a case without samples says ``missing``."""
    rounds = max((len(v) for v in samples.values()), default=0)
    lines = [f"| case | median | spread (min-max), {rounds} rounds |", "|---|---|---|"]
    for name, unit in cases:
        vals = samples.get(name)
        if not vals:
            lines.append(f"| {name} | {missing} | |")
            continue
        s = summarize(vals)
        lines.append(f"| {name} | {_num(s.median)} {unit} | {_num(s.low)}-{_num(s.high)} |")
    lines += ["", "| ratio | median of per-round ratios | range |", "|---|---|---|"]
    for ratio in ratios:
        per_round = round_ratios(samples, ratio)
        if per_round is None:
            lines.append(f"| {ratio.label} | {missing} | |")
            continue
        s = summarize(per_round)
        lines.append(f"| {ratio.label} | {s.median:.2f}x | {s.low:.2f}-{s.high:.2f}x |")
    return "\n".join(lines)


def timed_rate(call: Callable[[], int], seconds: float,
               clock: Callable[[], float] = time.perf_counter) -> float:
    """Units per second of repeated ``call()`` (each returns the units it did) until at least
    ``seconds`` have passed; at least one call. Bounded in time, so a collapsed case (a busy
    neighbour) costs the same wall time as a fast one."""
    done, t0 = 0, clock()
    while True:
        done += call()
        elapsed = clock() - t0
        if elapsed >= seconds:
            return done / elapsed
