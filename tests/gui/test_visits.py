"""Visit numbers on the regime bands stay the run's own when the view starts mid-run
(a live ring buffer that dropped its oldest rows, a replay window)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from nlviz.analysis.switches import regime_spans
from nlviz.qt.panels.loss import LossRow
from nlviz.qt.panels.visits import VisitRegister
from nlviz.series.views import HistoryView


def _view(first: int, last: int, regime_of) -> HistoryView:
    step = np.arange(first, last + 1, dtype=np.float64)
    n = len(step)
    regime = np.array([regime_of(int(s)) for s in step], np.int32)
    z = np.zeros((1, 1, n), np.float32)
    return HistoryView(step, z, z, np.zeros((1, n), np.uint8), np.zeros((1, n), np.float32),
                       regime, total=n)


def ab(s: int) -> int:                      # A on [0, 100), B on [100, 200), A ...
    return (s // 100) % 2


def test_register_numbers_a_later_view_with_the_runs_visits() -> None:
    reg = VisitRegister()
    whole = _view(0, 399, ab)
    first = reg.number(regime_spans(whole.step, whole.regime))
    assert [(s.regime, s.visit) for s in first] == [(0, 1), (1, 1), (0, 2), (1, 2)]
    later = _view(250, 450, ab)             # the ring dropped steps 0..249; a switch at 400
    local = regime_spans(later.step, later.regime)
    assert [(s.regime, s.visit) for s in local] == [(0, 1), (1, 1), (0, 2)]   # view's own
    spans = reg.number(local)
    assert [(s.start, s.regime, s.visit) for s in spans] == [(250, 0, 2), (300, 1, 2),
                                                              (400, 0, 3)]


def test_loss_bands_keep_the_visits_after_the_start_is_dropped(qtbot) -> None:
    widgets = [pg.PlotWidget(), pg.PlotWidget()]
    for w in widgets:
        qtbot.addWidget(w)
    row = LossRow(widgets[0].getPlotItem())
    row.names = ("A", "B")
    row.draw_bands(_view(0, 399, ab))
    row.draw_bands(_view(250, 450, ab))
    assert [(s.start, s.stop, s.regime, s.visit) for s in row.bands.spans] == [
        (250, 299, 0, 2), (300, 399, 1, 2), (400, 450, 0, 3)]
    # a replay window mid-run, after the history up to the cursor numbered the run
    row2 = LossRow(widgets[1].getPlotItem())
    row2.names = ("A", "B")
    row2.set_history(_view(0, 999, ab))
    row2.draw_bands(_view(520, 780, ab))
    assert [(s.start, s.regime, s.visit) for s in row2.bands.spans] == [
        (500, 1, 3), (600, 0, 4), (700, 1, 4)]            # whole spans from the history


def test_raster_on_a_summary_view_shows_the_schedule_rate(qtbot) -> None:
    """A min/max summary only says a level fired somewhere in each bucket of rows: the
    raster then shows one event per period, not "every step"."""
    from engine.frames import LevelSpec, RunSpec
    from nlviz.qt.panels.raster import CadenceRaster

    w = pg.PlotWidget()
    qtbot.addWidget(w)
    w.resize(400, 200)
    raster = CadenceRaster(w.getPlotItem())
    spec = RunSpec(levels=(LevelSpec("memory", "titans", 1, (2, 2)),
                           LevelSpec("cms3", "cms", 64, (2, 2))), d_in=2, probe_size=1)
    raster.set_levels(spec)
    n = 400                                                 # 200 buckets of 500 rows
    step = np.repeat(np.arange(0, 100_000, 500, dtype=np.float64), 2)
    fired = np.ones((2, n), np.uint8)                       # both fired in every bucket
    z = np.zeros((2, 1, n), np.float32)
    view = HistoryView(step, z, z, fired, np.zeros((1, n), np.float32),
                       np.zeros(n, np.int32), total=100_000, bucket_rows=500)
    w.getPlotItem().setXRange(0, 100_000, padding=0)
    raster.draw(view)
    assert raster.rate is not None
    np.testing.assert_allclose(raster.rate[0][raster.rate[0] > 0], 1.0)
    np.testing.assert_allclose(raster.rate[1][raster.rate[1] > 0], 1 / 64)
