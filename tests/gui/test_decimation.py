"""Min/max decimation of the metric plots: same peaks as the raw data, exact live tail,
and a full 100k-step history drawn from a few thousand points."""
from __future__ import annotations

import numpy as np

from nlviz.qt.panels.metrics import minmax_buckets, visible_slice


def test_buckets_hold_the_min_and_max_of_their_steps():
    rng = np.random.default_rng(0)
    x = np.arange(1003, 1003 + 5000, dtype=np.float64)
    y = rng.standard_normal((3, 5000)).astype(np.float32)
    bx, mn, mx, tail = minmax_buckets(x, y, 0, 5000, 64)
    assert (bx % 64 == 0).all() and np.all(np.diff(bx) == 64)        # aligned to step numbers
    for b, x0 in enumerate(bx):
        i = int(x0 - x[0])
        np.testing.assert_array_equal(mn[:, b], y[:, i:i + 64].min(1))
        np.testing.assert_array_equal(mx[:, b], y[:, i:i + 64].max(1))
    assert x[tail] == bx[-1] + 64 and 5000 - tail < 64                 # raw partial tail


def test_masked_buckets_use_fired_steps_only():
    x = np.arange(0, 1000, dtype=np.float64)
    y = np.arange(1000, dtype=np.float32)[None, :]
    fired = ((np.arange(1000) + 1) % 100 == 0).astype(np.uint8)[None, :]
    bx, mn, mx, _ = minmax_buckets(x, y, 0, 1000, 50, fired)
    assert list(bx[:3]) == [0, 50, 100]
    assert np.isnan(mn[0, 0]) and mn[0, 1] == 99 and mx[0, 1] == 99  # empty bucket: NaN


def test_visible_slice_includes_one_point_either_side():
    x = np.arange(100, dtype=np.float64)
    assert visible_slice(x, 10.5, 20.5) == (10, 22)
    assert visible_slice(x, -5, 500) == (0, 100)


def test_full_history_is_decimated_to_the_pixel_width(qtbot):
    from engine.frames import FrameBatch, LevelSpec, RunSpec
    from nlviz.qt.panels.metrics import MetricsPanel
    from nlviz.series.ring import RunBuffers

    spec = RunSpec(levels=tuple(LevelSpec(f"L{i}", "cms", 4 ** i, (8, 8)) for i in range(4)),
                   d_in=4, probe_size=8)
    buffers = RunBuffers(spec, capacity=100_000)
    rng = np.random.default_rng(0)
    L, M, n = 4, len(spec.level_metrics), 10_000
    for s in range(0, 100_000, n):
        steps = np.arange(s, s + n)
        fired = ((steps[:, None] + 1) % np.array(spec.update_periods) == 0).astype(np.uint8)
        buffers.push(FrameBatch(step=steps, level=rng.standard_normal((n, L, M)).astype(np.float32),
                                fired=fired,
                                scalars=np.zeros((n, len(spec.global_metrics)), np.float32),
                                inputs=np.zeros((n, 4), np.float32), regime=np.zeros(n, np.int32),
                                token=np.full(n, -1, np.int32), wall_time=np.zeros(n)))
    panel = MetricsPanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 800)
    panel.show()
    qtbot.waitExposed(panel)
    panel.set_levels(spec)
    view = buffers.history()
    panel.set_x_window(float(view.step[-1]), 100_000.0)
    panel.set_data(view)
    assert panel.quantity == "surprise"
    curve = panel.rows.curves[2]
    assert len(curve.xData) < 4 * panel.raster.getViewBox().width() + 200
    ys = view.level[2, 0]
    assert curve.yData.max() == ys.max() and curve.yData.min() == ys.min()   # peaks kept
    assert curve.xData[-1] == view.step[-1] and curve.yData[-1] == ys[-1]   # live edge exact
