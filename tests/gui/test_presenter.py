"""The one Presenter: draws a changed frame from either FrameSource into real panel items,
and skips a frame when neither the source nor the request changed."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QHBoxLayout, QWidget

from engine.frames import METRIC_INDEX, RunSpec
from nlviz.analysis.forgetting_split import split_forgetting
from nlviz.qt.panels.forgetting import ForgettingPanel, bin_centres
from nlviz.qt.panels.heatmap import HeatmapPanel
from nlviz.qt.panels.inputs import InputPanel
from nlviz.qt.panels.metrics import MetricsPanel
from nlviz.qt.presenter import FrameRequest, Presenter, PresenterStatus
from nlviz.recording.reader import Recording
from nlviz.replay.source import ReplaySource
from nlviz.series.ring import RunBuffers
from tests.series.conftest import N_STEPS, TwinRun, twin_run  # noqa: F401 - the fixture

SURPRISE = METRIC_INDEX["surprise"]


class Deck(QWidget):
    """The four panels a presenter draws into (a PanelDeck)."""

    def __init__(self, spec: RunSpec) -> None:
        super().__init__()
        self.metrics, self.forgetting = MetricsPanel(), ForgettingPanel()
        self.heatmap, self.inputs = HeatmapPanel(), InputPanel()
        lay = QHBoxLayout(self)
        for w in (self.metrics, self.forgetting, self.heatmap, self.inputs):
            lay.addWidget(w)
            w.set_levels(spec) if hasattr(w, "set_levels") else None
        self.resize(1600, 500)


@pytest.fixture
def deck(qtbot, twin_run: TwinRun) -> Deck:  # noqa: F811
    d = Deck(twin_run.live.spec)
    qtbot.addWidget(d)
    d.show()
    return d


def _xy(deck: Deck, level: int = 0) -> tuple[np.ndarray, np.ndarray]:
    c = deck.metrics.rows.curves[level]          # the level's row; "surprise" is the default
    return c.xData, c.yData


def test_live_draws_changes_and_skips_unchanged_frames(deck: Deck, twin_run: TwinRun  # noqa: F811
                                                       ) -> None:
    ref = twin_run.ref
    live = RunBuffers(ref_spec := twin_run.live.spec, capacity=1000, margin=100)
    status: list[PresenterStatus] = []
    p = Presenter(live, deck, on_status=status.append)
    live.push(ref)
    p.redraw()
    assert len(p.frame_times) == 1 and p.frame is not None and p.frame.cursor == N_STEPS - 1
    x, y = _xy(deck)
    np.testing.assert_array_equal(x, np.arange(N_STEPS))
    np.testing.assert_array_equal(y, ref.level[:, 0, SURPRISE])
    assert status and status[-1].step == N_STEPS and status[-1].fps == 1
    for _ in range(3):                                      # nothing new: nothing drawn
        p.redraw()
    assert len(p.frame_times) == 1 and _xy(deck)[0] is x
    live.set_smoothing(0.5)                                 # a new key: drawn again
    deck.metrics.set_smoothing_on(True)
    p.redraw()
    assert len(p.frame_times) == 2
    np.testing.assert_allclose(_xy(deck)[1], live.history().smooth[0, SURPRISE])
    live.reset(ref_spec)                                    # a new run on the same buffers
    p.redraw()
    x = _xy(deck)[0]
    assert len(p.frame_times) == 3 and (x is None or len(x) == 0)   # the old run is gone
    # the slow panels (force: all of them) show the newest records
    live.push(ref)
    p.force()
    probes = live.probes_at(N_STEPS - 1)
    name = live.spec.level_names[0]       # the history's regimes split same / other
    h = live.history()
    shown = 0
    for b in split_forgetting(probes, live.spec, h.step, h.regime):
        if b.level != name or not np.isfinite(b.mean).any():
            continue
        curve = deck.forgetting.curves[(name, b.relation)]
        np.testing.assert_allclose(curve.xData, bin_centres(b.edges))
        np.testing.assert_array_equal(curve.yData, b.mean)
        shown += 1
    assert shown >= 1
    assert f"up to step {probes[-1].step}" in deck.forgetting.caption.text()
    assert f"step <b>{N_STEPS - 1}</b>" in deck.inputs.regime_label.text()


def test_replay_requests_draw_once_per_change(deck: Deck, twin_run: TwinRun  # noqa: F811
                                              ) -> None:
    ref = twin_run.ref
    with Recording.open(twin_run.path) as rec:
        src = ReplaySource(rec)
        p = Presenter(src, deck)
        fr = p.present(FrameRequest(cursor=200, lo=100, hi=200, x_range=(100, 200), sparse=True))
        assert fr is not None and fr.sparse and fr.cursor == 200 and not fr.is_summary
        np.testing.assert_array_equal(_xy(deck)[0], np.arange(100, 201))
        np.testing.assert_array_equal(_xy(deck)[1], ref.level[100:201, 0, SURPRISE])
        assert [q.step for q in fr.probes] == [q.step for q in ref.probes if q.step <= 200][-16:]
        assert f"up to step {fr.probes[-1].step}" in deck.forgetting.caption.text()
        assert fr.input is not None and "step <b>200</b>" in deck.inputs.regime_label.text()
        n = len(p.frame_times)
        assert p.present(FrameRequest(cursor=200, lo=100, hi=200, x_range=(100, 200),
                                      sparse=True)) is None
        assert p.present(FrameRequest(cursor=200, lo=100, hi=200, x_range=(100, 200),
                                      sparse=False)) is None
        assert len(p.frame_times) == n
        fr = p.present(FrameRequest(cursor=250, lo=150, hi=250, sparse=False))   # moved
        assert fr is not None and not fr.sparse and fr.probes == [] and len(p.frame_times) == n + 1
        np.testing.assert_array_equal(_xy(deck)[0], np.arange(150, 251))
        assert "step <b>200</b>" in deck.inputs.regime_label.text()   # slow panels untouched
        fr = p.present(FrameRequest(cursor=250, lo=150, hi=250, sparse=True))    # now them
        assert fr is not None and fr.sparse and "step <b>250</b>" in deck.inputs.regime_label.text()
        cut = p.present(FrameRequest(cursor=300, cut=True))           # whole run, cut
        assert cut is not None and cut.view.step[-1] == 300 and cut.view.step[0] == 0
        assert p.present(FrameRequest(cursor=300, cut=True), force=True) is not None
        assert len(p.frame_times) == n + 4
        p.drop_source()                     # as the replay controller does before closing
    from PySide6.QtCore import QCoreApplication
    QCoreApplication.processEvents()        # a queued slow turn is skipped, not read closed
    assert p.source is None and p.present(FrameRequest(cursor=300)) is None


def test_a_stopped_presenter_skips_the_slow_turn_a_frame_queued(deck: Deck) -> None:
    """Closing the live window stops the presenter, then deletes the panels: a slow-panel
    turn queued by the last frame must not run against them (it raised 'already deleted'
    under load)."""
    from PySide6.QtCore import QCoreApplication

    from tests.support.synthetic import synthetic_batch, synthetic_spec
    spec = synthetic_spec(2)
    live = RunBuffers(spec, capacity=500, margin=100)
    live.push(synthetic_batch(spec, 0, 200))
    p = Presenter(live, deck)
    ran: list[int] = []
    p._slow_panels = lambda cursor, turn, every: ran.append(turn)  # type: ignore[method-assign]
    p._slow_t = -1e9
    p.present(FrameRequest(cursor=None))          # live: queues one slow turn
    p.stop()                                      # the window closes before it runs
    QCoreApplication.processEvents()
    assert ran == []
    p.start()
    p._slow_t = -1e9
    p.present(FrameRequest(cursor=None), force=True)
    QCoreApplication.processEvents()
    assert len(ran) == 1                          # running again: turns run
    p.stop()


def test_live_wide_view_draws_the_ring_pyramid_with_the_exact_envelope(qtbot) -> None:
    """100k steps pushed in two bursts of 50k (the compiled engine's two seconds), the
    view following the last 100k: the presenter fetches a min/max summary of at most
    ``LIVE_ROWS_PER_PIXEL`` rows per pixel, and the surprise row drawn has exactly the
    data's extremes in each bucket and overall (no peak lost)."""
    from bench.gui import synthetic_batch, synthetic_spec
    from nlviz.qt.presenter import LIVE_ROWS_PER_PIXEL
    spec = synthetic_spec(4)
    d = Deck(spec)
    qtbot.addWidget(d)
    d.show()
    live = RunBuffers(spec, capacity=100_000, margin=32_768)
    rng = np.random.default_rng(3)
    batches = [synthetic_batch(spec, s, 50_000, rng) for s in (0, 50_000)]
    batches[1].level[70_123 - 50_000, 0, SURPRISE] = 1e3            # one spike
    for b in batches:
        live.push(b)
    p = Presenter(live, d)
    p.window_steps = 100_000
    p.redraw()
    assert p.frame is not None
    view = p.frame.view
    pixels = max(100, int(d.metrics.raster.getViewBox().width()))
    assert view.is_summary and len(view.step) <= 2 * pixels < LIVE_ROWS_PER_PIXEL * pixels
    raw = np.concatenate([b.level[:, 0, SURPRISE] for b in batches])   # (100k,)
    b = view.bucket_rows
    starts = view.step[0::2].astype(int)                            # bucket first steps
    ends = np.r_[starts[1:], 100_000]
    np.testing.assert_array_equal(view.level[0, SURPRISE, 0::2],
                                  [raw[a:z].min() for a, z in zip(starts, ends, strict=True)])
    np.testing.assert_array_equal(view.level[0, SURPRISE, 1::2],
                                  [raw[a:z].max() for a, z in zip(starts, ends, strict=True)])
    assert b >= 2 and set(np.diff(starts[1:-1])) == {b}
    _, y = _xy(d)
    assert len(y) <= 2 * pixels + 2                                 # O(pixels) points
    assert y.max() == 1e3 and y.min() == raw.min()
    new = synthetic_batch(spec, 100_000, 64, rng)
    new.level[-1, 0, SURPRISE] = 2e3                                # the newest row peaks
    live.push(new)
    p.redraw()
    view = p.frame.view
    last = int(view.step[-1])                                       # the partial last bucket
    assert 100_000 - view.bucket_rows < last <= 100_000
    assert view.level[0, SURPRISE, -1] == 2e3 and _xy(d)[1].max() == 2e3
    assert view.level[0, SURPRISE, -2] == np.r_[raw, new.level[:, 0, SURPRISE]][last:].min()
