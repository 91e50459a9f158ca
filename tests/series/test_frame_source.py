"""Live (RunBuffers) and replay (ReplaySource) are one FrameSource: for the same engine run
they give the same answers at the same steps."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from nlviz.recording.reader import Recording
from nlviz.replay.source import ReplaySource
from nlviz.series.ring import RunBuffers
from nlviz.series.source import FrameSource
from nlviz.series.views import AT_UPDATE_METRICS, HistoryView
from tests.series.conftest import INPUTS_KEPT, N_STEPS, PROBES_KEPT, TwinRun

FIELDS = ("step", "level", "smooth", "fired", "scalars", "regime")


@pytest.fixture
def replay(twin_run: TwinRun) -> Iterator[ReplaySource]:
    rec = Recording.open(twin_run.path)
    yield ReplaySource(rec, probes_kept=PROBES_KEPT, inputs_kept=INPUTS_KEPT)
    rec.close()


def _same_view(a: HistoryView, b: HistoryView, fields: tuple[str, ...] = FIELDS) -> None:
    for name in fields:
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape and x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)
    assert a.total == b.total == N_STEPS and a.bucket_rows == b.bucket_rows == 1


def test_both_satisfy_the_protocol(twin_run: TwinRun, replay: ReplaySource) -> None:
    assert isinstance(twin_run.live, FrameSource) and isinstance(replay, FrameSource)
    assert twin_run.live.spec == replay.spec
    assert twin_run.live.span() == replay.span() == (0, N_STEPS - 1)


def test_same_history_whole_run_and_a_range(twin_run: TwinRun, replay: ReplaySource) -> None:
    live = twin_run.live
    _same_view(live.history(), replay.history())
    a, b = live.history(120, 219), replay.history(120, 219)
    _same_view(a, b, tuple(f for f in FIELDS if f != "smooth"))
    # smoothing 0: plain metrics smooth == raw on both; the at-update ones are held between
    # updates, live from before the range, replay from the range's first update (NaN before)
    plain = [i for i, m in enumerate(live.spec.level_metrics)
             if m not in AT_UPDATE_METRICS]
    np.testing.assert_array_equal(a.smooth[:, plain], b.smooth[:, plain])
    held = np.isfinite(b.smooth)
    assert not held.all() and held.any()
    np.testing.assert_array_equal(a.smooth[held], b.smooth[held])
    np.testing.assert_array_equal(live.history(120, 219).step, np.arange(120, 220))
    np.testing.assert_array_equal(live.history(120, 219).level,
                                  twin_run.ref.level[120:220].transpose(1, 2, 0))
    assert len(live.history(N_STEPS + 5, None).step) == 0
    assert len(replay.history(N_STEPS + 5, None).step) == 0


def test_same_smoothing_over_the_whole_run(twin_run: TwinRun, replay: ReplaySource) -> None:
    live = twin_run.live
    key = live.change_key()
    live.set_smoothing(0.9)
    assert live.change_key() != key
    rkey = replay.change_key()
    replay.smoothing = 0.9
    assert replay.change_key() != rkey
    try:
        a, b = live.history().smooth, replay.history().smooth   # incl. the at-update metrics
        assert np.isfinite(a).any() and not np.array_equal(a, live.history().level)
        np.testing.assert_allclose(a, b, rtol=1e-6, equal_nan=True)
    finally:
        live.set_smoothing(0.0)


@pytest.mark.parametrize("step", [N_STEPS - 1, 380, 370])
def test_same_sparse_records_at_a_step(twin_run: TwinRun, replay: ReplaySource, step: int
                                       ) -> None:
    live = twin_run.live
    lp, rp = live.probes_at(step), replay.probes_at(step)
    # the live buffers keep the newest PROBES_KEPT: at an earlier step they hold fewer
    assert lp and [p.step for p in lp] == [p.step for p in rp][len(rp) - len(lp):]
    assert all(p.step <= step for p in lp)
    for a, b in zip(lp, rp[len(rp) - len(lp):]):
        np.testing.assert_array_equal(a.ages, b.ages)
        np.testing.assert_array_equal(a.errors, b.errors)
    li, ri = live.input_at(step), replay.input_at(step)
    assert li is not None and ri is not None and li.step == ri.step == step
    k = len(li.token)                                  # the live ones: the newest of those
    assert k == (INPUTS_KEPT if step == N_STEPS - 1 else INPUTS_KEPT - (N_STEPS - 1 - step))
    np.testing.assert_array_equal(li.inputs, ri.inputs[-k:])
    np.testing.assert_array_equal(li.token, ri.token[-k:])
    np.testing.assert_array_equal(li.regime, ri.regime[-k:])
    assert live.events_at(step) == replay.events_at(step)


def test_same_snapshot_and_events_at_the_newest_step(twin_run: TwinRun,
                                                     replay: ReplaySource) -> None:
    last = N_STEPS - 1
    a, b = twin_run.live.snapshot_at(last), replay.snapshot_at(last)
    assert a is not None and b is not None and a.step == b.step == twin_run.ref.snapshots[-1].step
    for x, y in zip(a.weights + a.updates, b.weights + b.updates):
        np.testing.assert_array_equal(x, y)
    events = replay.events_at(last)
    assert events and events == twin_run.live.events_at(last)
    assert replay.events_at(-1) == twin_run.live.events_at(-1) == []


def test_change_key_moves_with_new_rows_and_resets(twin_run: TwinRun) -> None:
    live = RunBuffers(twin_run.live.spec, capacity=100, margin=50)
    k0 = live.change_key()
    assert live.span() is None and live.change_key() == k0
    live.push(twin_run.ref)
    k1 = live.change_key()
    assert k1 != k0 and live.change_key() == k1 and live.span() == (N_STEPS - 100, N_STEPS - 1)
    live.reset(live.spec)
    assert live.change_key() not in (k0, k1) and live.span() is None


def test_evals_at_agree_live_and_replay(twin_run: TwinRun, replay: ReplaySource) -> None:
    live = twin_run.live
    every = live.evals_at(N_STEPS)
    # the engine's own evaluation (run.eval_every = 256) and one hand-made per batch
    assert [(e.step, e.variant) for e in every] == \
        [(e.step, e.variant) for e in twin_run.ref.evals]
    assert len(every) == 7 and [e.step for e in every if e.variant == ""].count(255) == 1
    for step in (0, 69, 70, 139, 250, N_STEPS - 1, N_STEPS + 5):
        a, b = live.evals_at(step), replay.evals_at(step)
        assert [(e.step, e.variant) for e in a] == [(e.step, e.variant) for e in b]
        assert all(e.step <= step for e in a)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x.losses, y.losses)
            np.testing.assert_array_equal(x.copy, y.copy)


def test_history_has_every_current_metric_live_and_replay(twin_run: TwinRun,
                                                          replay: ReplaySource) -> None:
    from engine.frames import GLOBAL_METRICS, LEVEL_METRICS
    for src in (twin_run.live, replay):
        v = src.history()
        assert v.level.shape[:2] == (len(src.spec.levels), len(LEVEL_METRICS))
        assert v.scalars.shape[0] == len(GLOBAL_METRICS)
        assert src.spec.level_metrics == LEVEL_METRICS
