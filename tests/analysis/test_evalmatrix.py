"""Evaluation matrix, forgetting and backward transfer on a hand-made matrix."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from nlviz.analysis.evalmatrix import (
    backward_transfer,
    forgetting,
    forgetting_over_time,
    matrix,
    variant_effects,
)
from nlviz.analysis.switches import regime_spans


@dataclass(frozen=True)
class Rec:          # the fields of engine.frames.EvalRecord the analysis reads
    step: int
    losses: np.ndarray
    copy: np.ndarray
    variant: str = ""


LOSS = {99: [0.2, 1.0], 199: [0.6, 0.3], 299: [0.25, 0.8], 350: [0.5, 0.4]}


def _evals() -> list[Rec]:
    """Out of step order; step 199 first arrives with a wrong row that a later record
    replaces; a knock-out variant at 350."""
    good = {s: Rec(s, np.array(v, np.float32), np.array([2.0, 2.0], np.float32))
            for s, v in LOSS.items()}
    return [good[299], Rec(199, np.array([9.0, 9.0]), np.zeros(2)), good[99], good[199],
            Rec(350, np.array([7.0, 7.0]), np.zeros(2), "knockout:memory"), good[350]]


def test_matrix_sorts_by_step_keeps_the_newest_and_the_regular_variant() -> None:
    steps, loss = matrix(_evals())
    np.testing.assert_array_equal(steps, [99, 199, 299, 350])
    np.testing.assert_allclose(loss, np.array(list(LOSS.values())), rtol=1e-6)
    ko_steps, ko = matrix(_evals(), variant="knockout:memory")
    np.testing.assert_array_equal(ko_steps, [350])
    np.testing.assert_allclose(ko, [[7.0, 7.0]])
    _, copy = matrix(_evals(), "copy")
    np.testing.assert_allclose(copy, np.full((4, 2), 2.0))
    empty_steps, empty = matrix([])
    assert empty_steps.shape == (0,) and empty.shape == (0, 0)


def test_forgetting_and_backward_transfer() -> None:
    steps = np.array(sorted(LOSS))
    loss = np.array([LOSS[s] for s in steps], np.float64)
    # independent, by hand: final minus the best earlier
    np.testing.assert_allclose(forgetting(loss), [0.5 - 0.2, 0.4 - 0.3])
    over = forgetting_over_time(loss)
    assert np.isnan(over[0]).all()
    np.testing.assert_allclose(over[1], [0.6 - 0.2, 0.3 - 1.0])
    # regimes A 0-99, B 100-199, A 200-299, B 300-399; the final evaluation (350) is in B
    step = np.arange(400)
    spans = regime_spans(step, (step // 100) % 2)
    bwt = backward_transfer(steps, loss, spans)
    # A was last trained up to 299: evaluated at 299 (0.25), at the end 0.5 -> -0.25
    assert bwt[0] == pytest.approx(0.25 - 0.5)
    assert np.isnan(bwt[1])                                           # B is being trained
    assert np.isnan(forgetting(loss[:1])).all()


def test_variant_effects_pair_each_ablation_with_the_intact_model() -> None:
    fx = variant_effects([*_evals(), Rec(123, np.array([1.0, 1.0]), np.zeros(2), "knockout:k")])
    assert [(f.step, f.variant) for f in fx] == [(350, "knockout:memory")]   # 123: no partner
    np.testing.assert_allclose(fx[0].intact, LOSS[350], rtol=1e-6)
    np.testing.assert_allclose(fx[0].delta, np.array([7.0, 7.0]) - LOSS[350], rtol=1e-6)
