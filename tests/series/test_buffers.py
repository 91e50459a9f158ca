"""Qt-free ring buffers: wrap-around, zero-copy windows, debiased EMA."""
from __future__ import annotations

import numpy as np

from engine.frames import EvalRecord, FrameBatch, LevelSpec, RunSpec
from nlviz.series.ring import RunBuffers
from nlviz.series.smoothing import ema_debiased

SPEC = RunSpec(levels=(LevelSpec("a", "titans", 1, (2, 2)), LevelSpec("b", "cms", 3, (2, 2))),
               d_in=2, probe_size=4)


def _batch(start: int, n: int) -> FrameBatch:
    steps = np.arange(start, start + n)
    level = np.random.default_rng(start).random((n, 2, len(SPEC.level_metrics))).astype(np.float32)
    fired = np.stack([np.ones(n), (steps + 1) % 3 == 0], 1).astype(np.uint8)
    return FrameBatch(step=steps.astype(np.int64), level=level, fired=fired,
                      scalars=np.zeros((n, len(SPEC.global_metrics)), np.float32),
                      inputs=np.zeros((n, 2), np.float32),
                      regime=np.zeros(n, np.int32), token=np.full(n, -1, np.int32),
                      wall_time=np.zeros(n))


def test_ema_matches_recurrence_across_calls():
    x = np.random.default_rng(1).standard_normal((3000, 2))
    for a in (0.0, 0.6, 0.99):
        y, ref = np.zeros(2), []
        for i, row in enumerate(x):
            y = a * y + (1 - a) * row
            ref.append(y / (1 - a ** (i + 1)) if a else y)
        first, state, count = ema_debiased(x[:1234], a, np.zeros(2), np.zeros(2, int))
        rest, _, _ = ema_debiased(x[1234:], a, state, count)
        np.testing.assert_allclose(np.concatenate([first, rest]), ref, rtol=1e-9, atol=1e-12)


def test_ring_wraps_and_keeps_latest():
    buf = RunBuffers(SPEC, capacity=100, margin=40)
    batches = [_batch(s, 37) for s in range(0, 370, 37)]
    for b in batches:
        buf.push(b)
    allf = FrameBatch.concat(batches)
    view = buf.history()
    assert view.total == 370 and len(view.step) == 100
    np.testing.assert_array_equal(view.step, allf.step[-100:])
    np.testing.assert_array_equal(view.level, allf.level[-100:].transpose(1, 2, 0))
    np.testing.assert_array_equal(view.fired, allf.fired[-100:].T)
    assert view.step.base is not None                      # a view, not a copy
    np.testing.assert_array_equal(buf.latest(10).step, allf.step[-10:])


def test_big_batch_is_split_and_resmoothing_is_consistent():
    buf = RunBuffers(SPEC, capacity=500, margin=64)
    buf.set_smoothing(0.8)
    buf.push(_batch(0, 300))
    incremental = buf.history().smooth.copy()
    buf.set_smoothing(0.5)
    buf.set_smoothing(0.8)
    np.testing.assert_allclose(buf.history().smooth, incremental, rtol=1e-5)
    # at-update metric of the period-3 level only moves on fired steps
    from engine.frames import METRIC_INDEX
    sm = np.nan_to_num(buf.history().smooth[1, METRIC_INDEX["update_norm"]])  # NaN before 1st
    fired = buf.history().fired[1].astype(bool)
    changes = np.flatnonzero(np.diff(sm) != 0) + 1
    assert set(changes) <= set(np.flatnonzero(fired))


def test_evals_are_all_kept_and_given_up_to_a_step():
    buf = RunBuffers(SPEC, capacity=50, margin=20)
    recs = []
    for i, start in enumerate(range(0, 200, 20)):       # more steps than the ring holds
        b = _batch(start, 20)
        rec = EvalRecord(start + 19, np.array([i], np.float32), np.array([2 * i], np.float32))
        b.evals.append(rec)
        recs.append(rec)
        buf.push(b)
    assert buf.evals_at(10**9) == recs                   # all of them, oldest first
    assert buf.evals_at(59) == recs[:3] and buf.evals_at(58) == recs[:2]
    assert buf.evals_at(0) == []
    buf.reset(SPEC)
    assert buf.evals_at(10**9) == []
