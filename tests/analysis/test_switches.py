"""Regime spans and switches against hand-written schedules."""
from __future__ import annotations

import numpy as np

from nlviz.analysis.switches import Span, Switch, regime_spans, regime_switches, visit_group


def test_spans_and_visits_of_a_known_schedule() -> None:
    # A for 0..9, B 10..19, A 20..29, C 30..34, B 35..39 (steps 100.. with a gap)
    regime = np.array([0] * 10 + [1] * 10 + [0] * 10 + [2] * 5 + [1] * 5, np.int32)
    step = np.arange(40) + 100
    spans = regime_spans(step, regime)
    assert spans == [Span(100, 109, 0, 1), Span(110, 119, 1, 1), Span(120, 129, 0, 2),
                     Span(130, 134, 2, 1), Span(135, 139, 1, 2)]
    assert regime_switches(step, regime) == [
        Switch(110, 1, 0, 1), Switch(120, 0, 1, 2), Switch(130, 2, 0, 1), Switch(135, 1, 2, 2)]


def test_single_regime_has_one_span_and_no_switch() -> None:
    step = np.arange(5)
    assert regime_spans(step, np.zeros(5)) == [Span(0, 4, 0, 1)]
    assert regime_switches(step, np.zeros(5)) == []
    assert regime_spans(np.zeros(0), np.zeros(0)) == []


def test_steps_with_gaps_keep_the_recorded_steps() -> None:
    step = np.array([0, 1, 2, 50, 51, 52])
    regime = np.array([0, 0, 0, 1, 1, 0])
    assert regime_spans(step, regime) == [Span(0, 2, 0, 1), Span(50, 51, 1, 1),
                                          Span(52, 52, 0, 2)]


def test_summary_rows_give_bucket_accurate_spans() -> None:
    # buckets of 10 steps, each twice (min row, max row); regime of each bucket's first row
    bucket_steps = np.arange(0, 100, 10)
    regime_exact = (np.arange(100) // 30) % 2            # switches at 30, 60, 90
    step = np.repeat(bucket_steps, 2).astype(np.float64)
    regime = np.repeat(regime_exact[bucket_steps], 2)
    spans = regime_spans(step, regime)
    assert spans == [Span(0, 29, 0, 1), Span(30, 59, 1, 1), Span(60, 89, 0, 2),
                     Span(90, 90, 1, 2)]
    assert [s.step for s in regime_switches(step, regime)] == [30, 60, 90]


def test_visit_groups() -> None:
    assert [visit_group(v) for v in (1, 2, 3, 7)] == ["first", "second", "later", "later"]
