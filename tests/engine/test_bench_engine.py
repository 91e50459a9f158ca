"""bench/interleave.py, the statistics behind bench/engine.py and bench/threads.py: medians and
spread per case, ratios taken within each round, the printed tables, the round order. Fixed
numbers and a fake clock; nothing here is timed."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "bench" / "interleave.py"
_spec = importlib.util.spec_from_file_location("bench_interleave", _PATH)
assert _spec and _spec.loader
il = importlib.util.module_from_spec(_spec)
sys.modules["bench_interleave"] = il       # dataclasses look their module up by name
_spec.loader.exec_module(il)


def test_summarize_median_and_range():
    assert il.summarize([3.0, 1.0, 2.0]) == il.Spread(2.0, 1.0, 3.0)
    assert il.summarize([1.0, 2.0, 3.0, 10.0]) == il.Spread(2.5, 1.0, 10.0)
    with pytest.raises(ValueError):
        il.summarize([])


def test_ratio_is_taken_within_each_round_not_of_medians():
    samples = {"a": [100.0, 200.0, 300.0], "b": [50.0, 50.0, 100.0]}
    per_round = il.round_ratios(samples, il.Ratio("a / b", "a", "b"))
    assert per_round == [2.0, 4.0, 3.0]
    assert il.summarize(per_round) == il.Spread(3.0, 2.0, 4.0)
    # the ratio of the medians would be 200 / 50 = 4: not what is reported
    assert il.summarize(samples["a"]).median / il.summarize(samples["b"]).median == 4.0


def test_ratio_of_a_missing_case_is_none_and_unequal_rounds_refused():
    samples = {"a": [1.0, 2.0], "b": [1.0]}
    assert il.round_ratios(samples, il.Ratio("a / c", "a", "c")) is None
    with pytest.raises(ValueError, match="a / b: 2 rounds vs 1"):
        il.round_ratios(samples, il.Ratio("a / b", "a", "b"))


def test_tables_rows_values_and_missing_cases():
    samples = {"A": [100.0, 200.0, 300.0], "B": [50.0, 50.0, 100.0]}
    ratios = [il.Ratio("A / B", "A", "B"), il.Ratio("A / C", "A", "C")]
    text = il.format_tables([("A", "steps/s"), ("B", "tok/s"), ("C", "tok/s")], samples,
                            ratios, missing="n/a (not installed)")
    assert text.splitlines() == [
        "| case | median | spread (min-max), 3 rounds |",
        "|---|---|---|",
        "| A | 200 steps/s | 100-300 |",
        "| B | 50.0 tok/s | 50.0-100 |",
        "| C | n/a (not installed) | |",
        "",
        "| ratio | median of per-round ratios | range |",
        "|---|---|---|",
        "| A / B | 3.00x | 2.00-4.00x |",
        "| A / C | n/a (not installed) | |",
    ]


def test_rounds_rotate_the_start_and_collect_one_sample_per_case_per_round():
    calls: list[str] = []

    def case(name: str, value: float) -> il.Case:
        def measure() -> float:
            calls.append(name)
            return value + len(calls)
        return il.Case(name, "tok/s", measure)

    samples = il.run_rounds([case("x", 0.0), case("y", 100.0), case("z", 200.0)], rounds=3)
    assert calls == ["x", "y", "z", "y", "z", "x", "z", "x", "y"]
    assert samples == {"x": [1.0, 6.0, 8.0], "y": [102.0, 104.0, 109.0],
                       "z": [203.0, 205.0, 207.0]}


def test_timed_rate_counts_units_over_the_elapsed_time():
    clock = [0.0]

    def call() -> int:
        clock[0] += 0.4                    # each call takes 0.4 s and does 10 units
        return 10

    # calls end at 0.4, 0.8, 1.2 s: the third reaches 1 s, so 30 units / 1.2 s
    assert il.timed_rate(call, 1.0, lambda: clock[0]) == pytest.approx(25.0)
    clock[0] = 0.0
    assert il.timed_rate(call, 0.0, lambda: clock[0]) == pytest.approx(25.0)   # at least one call: 10 / 0.4
