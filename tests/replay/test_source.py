"""ReplaySource gives the live views exactly the recorded values, in the live shapes."""
from __future__ import annotations

import numpy as np
import pytest

from engine.frames import GLOBAL_METRICS, LEVEL_METRICS
from nlviz.recording.reader import Recording
from nlviz.replay.source import ReplaySource
from nlviz.series.ring import RunBuffers
from nlviz.series.views import HistoryView, InputSlot
from tests.support.synthetic import expected_level, synthetic_spec


@pytest.fixture(scope="module")
def tiny(tiny_run):
    path, ref = tiny_run
    rec = Recording.open(path)
    yield rec, ref
    rec.close()


def test_raw_history_is_exactly_the_recorded_frames(tiny):
    rec, ref = tiny
    src = ReplaySource(rec)
    view = src.history(120, 219)
    assert not view.is_summary and isinstance(view, HistoryView) and view.bucket_rows == 1
    np.testing.assert_array_equal(view.step, np.arange(120, 220, dtype=np.float64))
    np.testing.assert_array_equal(view.level, ref.level[120:220].transpose(1, 2, 0))
    m = LEVEL_METRICS.index("surprise")     # smoothing 0: plain metrics are the raw values
    np.testing.assert_array_equal(view.smooth[:, m], view.level[:, m])
    np.testing.assert_array_equal(view.fired, ref.fired[120:220].T)
    np.testing.assert_array_equal(view.scalars, ref.scalars[120:220].T)
    np.testing.assert_array_equal(view.regime, ref.regime[120:220])
    assert view.total == 400


def test_shapes_match_the_live_buffers(tiny):
    rec, ref = tiny
    live = RunBuffers(rec.spec, capacity=1000, margin=100)
    live.push(ref)
    a = live.history()
    b = ReplaySource(rec).history()
    for name in ("step", "level", "smooth", "fired", "scalars", "regime"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape and x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)


def test_smoothing_matches_live_ema_from_the_start(tiny):
    rec, ref = tiny
    live = RunBuffers(rec.spec, capacity=1000, margin=100)
    live.smoothing = 0.9
    live.push(ref)
    view = ReplaySource(rec, smoothing=0.9).history()
    m = LEVEL_METRICS.index("surprise")          # not an at-update metric
    np.testing.assert_allclose(view.smooth[:, m], live.history().smooth[:, m], rtol=1e-6)


def test_sparse_panels_at_the_cursor(tiny):
    rec, ref = tiny
    src = ReplaySource(rec, probes_kept=4, inputs_kept=16)
    probes = src.probes_at(100)
    want = [p for p in ref.probes if p.step <= 100][-4:]
    assert [p.step for p in probes] == [p.step for p in want]
    for got, exp in zip(probes, want):
        np.testing.assert_array_equal(got.ages, exp.ages)
        np.testing.assert_array_equal(got.errors, exp.errors)
    fa = src.forgetting_at(100)
    assert fa is not None
    ages, errors = fa
    np.testing.assert_array_equal(ages, want[-1].ages)
    np.testing.assert_array_equal(errors, want[-1].errors)
    assert src.probes_at(-1) == []
    snap = src.snapshot_at(100)
    assert snap is not None
    exp = min(ref.snapshots, key=lambda s: (abs(s.step - 100), s.step))
    assert snap.step == exp.step
    for a, b in zip(snap.weights, exp.weights):
        np.testing.assert_array_equal(a, b)
    assert src.snapshot_at(101) is snap                    # cached between nearby cursors
    inp = src.input_at(250)
    assert isinstance(inp, InputSlot) and inp.step == 250
    np.testing.assert_array_equal(inp.inputs, ref.inputs[235:251])
    np.testing.assert_array_equal(inp.token, ref.token[235:251])
    np.testing.assert_array_equal(inp.regime, ref.regime[235:251])


def test_events_for_timeline_marks(tiny):
    rec, _ = tiny
    src = ReplaySource(rec)
    steps, kinds, details = src.event_marks()
    assert steps[0] == 0 and kinds[0] == "start" and "regime" in details[0].lower()
    assert src.events_at(0)[0].startswith("0: start")
    assert src.events_until(0) == src.events_at(0)


def test_large_range_uses_the_pyramid_and_says_so(synth_run):
    spec = synthetic_spec(4)
    with Recording.open(synth_run) as rec:
        src = ReplaySource(rec, raw_limit=20_000, max_points=4000)
        view = src.history()
        assert view.is_summary
        s = src.last_summary
        assert s is not None
        assert s.bucket_rows == 16 and len(s.steps) == 50_000 // 16 and view.bucket_rows == 16
        want = expected_level(spec, np.arange(50_000))                # (n, L, M)
        full = (len(s.steps) - 1) * 16 if 50_000 % 16 else len(s.steps) * 16
        blocks = want[:full].reshape(-1, 16, *want.shape[1:])
        np.testing.assert_array_equal(s.level_min[..., :len(blocks)], blocks.min(1).transpose(1, 2, 0))
        np.testing.assert_array_equal(s.level_max[..., :len(blocks)], blocks.max(1).transpose(1, 2, 0))
        # the HistoryView interleaves min, max so a plain curve draws the envelope
        assert view.level.shape == (4, len(LEVEL_METRICS), 2 * len(s.steps))
        np.testing.assert_array_equal(view.level[..., 0::2], s.level_min)
        np.testing.assert_array_equal(view.level[..., 1::2], s.level_max)
        np.testing.assert_array_equal(view.step[0::2], s.steps)
        assert view.scalars.shape == (len(GLOBAL_METRICS), 2 * len(s.steps))
        # fired: L0 fires every step, L2 (period 16) once per 16-row bucket, in every bucket
        assert s.fired_any[0].all() and s.fired_any[2].all()
        # a small range is exact and not a summary
        v2 = src.history(1000, 5999)
        assert not v2.is_summary and len(v2.step) == 5000
        assert src.history(0, 49_999, max_rows=50_000).bucket_rows == 1   # a finer resolution
        np.testing.assert_array_equal(v2.level, want[1000:6000].transpose(1, 2, 0))


def test_frame_bundles_everything(synth_run):
    with Recording.open(synth_run) as rec:
        src = ReplaySource(rec)
        fr = src.frame(30_000, 27_500, 32_499)
        assert fr.cursor == 30_000 and not fr.is_summary and fr.summary is None
        assert fr.snapshot is not None and fr.input is not None
        assert fr.probes[-1].step == 29_951 and fr.snapshot.step == 30_015   # nearest
        assert fr.input.step == 30_000
        np.testing.assert_array_equal(fr.probes[-1].errors[:, 0], np.float32(29_951 * 1e-3))
        np.testing.assert_array_equal(fr.snapshot.weights[0], 30_015.0)
        fast = src.frame(30_000, 0, 49_999, sparse=False)
        assert fast.is_summary and fast.probes == [] and fast.snapshot is None
