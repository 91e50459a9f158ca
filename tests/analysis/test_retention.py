"""Switch-aligned averages and recovery on a hand-made loss with known switches."""
from __future__ import annotations

import numpy as np
import pytest

from nlviz.analysis.retention import recovery, switch_aligned
from nlviz.analysis.switches import Switch, regime_switches


def _loss_schedule() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Regimes A B A B A of 100 steps; after each switch the loss jumps to a height
    that depends on the visit and decays linearly back to 1 in a known number of steps."""
    step = np.arange(500) + 1000
    regime = (np.arange(500) // 100) % 2
    loss = np.ones(500)
    # switch at rows 100, 200, 300, 400: visits 1 (B), 2 (A), 2 (B), 3 (A)
    for row, height, length in ((100, 5.0, 40), (200, 3.0, 20), (300, 3.0, 30), (400, 2.0, 10)):
        loss[row:row + length] = np.linspace(height, 1.0, length, endpoint=False)
    return step, regime, loss


def test_switch_aligned_groups_by_visit() -> None:
    step, regime, loss = _loss_schedule()
    sw = regime_switches(step, regime)
    assert [(s.step, s.visit) for s in sw] == [(1100, 1), (1200, 2), (1300, 2), (1400, 3)]
    values = np.stack([loss, 2 * loss])                                   # (2, n)
    got = switch_aligned(step, values, sw, before=10, after=20)
    np.testing.assert_array_equal(got["first"].offsets, np.arange(-10, 20))
    assert [got[g].count for g in ("first", "second", "later")] == [1, 2, 1]
    np.testing.assert_allclose(got["first"].mean[0], loss[90:120])
    np.testing.assert_allclose(got["first"].std, 0.0)
    pair = np.stack([loss[190:220], loss[290:320]])
    np.testing.assert_allclose(got["second"].mean[0], pair.mean(0))
    np.testing.assert_allclose(got["second"].mean[1], 2 * pair.mean(0))
    np.testing.assert_allclose(got["second"].std[0], pair.std(0))
    np.testing.assert_allclose(got["later"].mean[0], loss[390:420])


def test_switch_aligned_window_past_the_data_is_nan_and_empty_groups_are_nan() -> None:
    step, _, loss = _loss_schedule()
    got = switch_aligned(step, loss, [Switch(1490, 1, 0, 1)], before=5, after=20)
    m = got["first"].mean[0]
    np.testing.assert_allclose(m[:15], loss[485:500])
    assert np.isnan(m[15:]).all()
    assert got["later"].count == 0 and np.isnan(got["later"].mean).all()


def test_recovery_steps_and_early_loss() -> None:
    step, regime, loss = _loss_schedule()
    sw = regime_switches(step, regime)
    rec = recovery(step, loss, sw, before=50, early=10, smooth=5, tol=0.1)
    assert [r.visit for r in rec] == [1, 2, 2, 3]
    for r, (row, _h, _len) in zip(rec, ((100, 5.0, 40), (200, 3.0, 20), (300, 3.0, 30),
                                        (400, 2.0, 10))):
        assert r.pre == pytest.approx(loss[row - 50:row].mean())
        assert r.early == pytest.approx(loss[row:row + 10].mean())
        # independent: first k whose 5-step forward mean is within 10 % of pre
        k = next(k for k in range(100) if loss[row + k:row + k + 5].mean() <= 1.1 * r.pre)
        assert r.recovery_steps == k
    # the pre-switch window stops at the previous switch: 150 steps back from 1200 would
    # reach into the span before 1100
    wide = recovery(step, loss, sw, before=150, early=10, smooth=5)
    assert wide[1].pre == pytest.approx(loss[100:200].mean())
    assert wide[0].pre == pytest.approx(loss[0:100].mean())
    # the loss never comes back within 1 %: None
    flat = loss.copy()
    flat[100:200] = 2.0
    assert recovery(step, flat, sw, before=50, smooth=5, tol=0.01)[0].recovery_steps is None
    # without the next switch the search runs on into the next span, unless capped
    k = next(k for k in range(400) if flat[100 + k:105 + k].mean() <= 1.01)
    assert k == 120                 # past the next switch's own jump (rows 200..219)
    assert recovery(step, flat, sw[:1], before=50, smooth=5, tol=0.01)[0].recovery_steps == k
    assert recovery(step, flat, sw[:1], before=50, smooth=5, tol=0.01,
                    after=100)[0].recovery_steps is None
