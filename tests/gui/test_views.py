"""The issue-11 step plots hold the right item data: regime bands at the recorded switch
steps with their visit numbers, baselines equal to what the stream gives independently,
one labelled row per level, shared Titans gates drawn once, health flags that fire on a
collapsing run and stay silent on a healthy one, and the cadence raster's event rate."""
from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtWidgets import QHBoxLayout, QWidget

from engine.frames import METRIC_INDEX, FrameBatch, RunSpec
from engine.session import Session
from nlviz.config_loader import load_config
from nlviz.qt.panels.forgetting import ForgettingPanel
from nlviz.qt.panels.heatmap import HeatmapPanel
from nlviz.qt.panels.inputs import InputPanel
from nlviz.qt.panels.loss import LOSS_EMA
from nlviz.qt.panels.metrics import MetricsPanel
from nlviz.qt.presenter import Presenter
from nlviz.series.ring import RunBuffers
from nlviz.series.smoothing import ema_debiased
from tests.support.synthetic import synthetic_batch, synthetic_spec


class Deck(QWidget):
    """The panels a presenter draws into."""

    def __init__(self, spec: RunSpec) -> None:
        super().__init__()
        self.metrics, self.forgetting = MetricsPanel(), ForgettingPanel()
        self.heatmap, self.inputs = HeatmapPanel(), InputPanel()
        lay = QHBoxLayout(self)
        lay.addWidget(self.metrics, 3)
        for w in (self.forgetting, self.heatmap, self.inputs):
            lay.addWidget(w, 1)
        for w in (self.metrics, self.forgetting, self.heatmap):
            w.set_levels(spec)
        self.resize(1600, 1000)


def _shown(qtbot, spec: RunSpec, batches: list[FrameBatch]) -> tuple[Deck, Presenter]:
    deck = Deck(spec)
    qtbot.addWidget(deck)
    deck.show()
    qtbot.waitExposed(deck)
    buffers = RunBuffers(spec, capacity=100_000)
    for b in batches:
        buffers.push(b)
    p = Presenter(buffers, deck)
    p.window_steps = 100_000
    p.force()
    return deck, p


@pytest.fixture(scope="module")
def tiny_run() -> tuple[Session, FrameBatch]:
    """400 steps of the tiny preset (regime_shift switching every 50 steps), in process."""
    session = Session(load_config("tiny"))
    return session, session.step(400)


def _spans(step: np.ndarray, regime: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(start, stop, regime, visit) by a plain loop (independent of nlviz.analysis)."""
    out: list[list[int]] = []
    visits: dict[int, int] = {}
    for s, r in zip(step.tolist(), regime.tolist(), strict=True):
        if out and out[-1][2] == r:
            out[-1][1] = s
            continue
        visits[r] = visits.get(r, 0) + 1
        out.append([s, s, r, visits[r]])
    return [tuple(x) for x in out]  # type: ignore[misc]


def test_bands_sit_at_the_recorded_switches_with_visit_numbers(qtbot, tiny_run):
    session, batch = tiny_run
    deck, _ = _shown(qtbot, session.spec, [batch])
    want = _spans(batch.step, batch.regime)
    assert len(want) >= 8 and {w[3] for w in want} >= {1, 2, 3}       # regimes come back
    got = [(s.start, s.stop, s.regime, s.visit) for s in deck.metrics.loss.bands.spans]
    assert got == want
    switches = [w[0] for w in want[1:]]
    np.testing.assert_array_equal(switches, np.flatnonzero(np.diff(batch.regime)) + 1)
    names = session.spec.regime_names
    shown = deck.metrics.loss.labels.shown
    assert shown and shown[0] == f"{names[want[0][2]][:14]} #1"
    assert f"{names[want[2][2]][:14]} #2" in shown                    # a second visit


def test_baselines_equal_the_streams_own_losses(qtbot, tiny_run):
    session, batch = tiny_run
    deck, _ = _shown(qtbot, session.spec, [batch])
    x = batch.inputs.astype(np.float64)                               # (n, d_in)
    copy = 0.5 * np.square(np.diff(x, axis=0)).sum(1)                 # 1/2 ||x_{t-1} - x_t||^2
    copy = np.concatenate([[0.0], copy])                              # first token: no prediction
    zero = 0.5 * np.square(x).sum(1)
    clean = Session(load_config("tiny")).stream.sample(0, len(x)).clean
    assert clean is not None
    oracle = 0.5 * np.square(x - clean).sum(1)
    zero[0] = oracle[0] = 0.0                 # outer_loss's mask: a fresh model's first token
    base = deck.metrics.loss.baselines
    assert set(base) == {"copy_loss", "zero_loss", "oracle_loss"}
    for name, raw in (("copy_loss", copy), ("zero_loss", zero), ("oracle_loss", oracle)):
        want, _, _ = ema_debiased(raw[:, None], LOSS_EMA, np.zeros(1), np.zeros(1))
        np.testing.assert_array_equal(base[name].xData, batch.step.astype(np.float64))
        np.testing.assert_allclose(base[name].yData, np.maximum(want[:, 0], 1e-12),
                                   rtol=2e-4, atol=1e-6)
    loss = batch.scalars[:, session.spec.global_metrics.index("outer_loss")]
    np.testing.assert_allclose(deck.metrics.loss.raw.yData, np.maximum(loss, 1e-12), rtol=1e-6)


def test_one_labelled_row_per_level_and_shared_gates_drawn_once(qtbot, tiny_run):
    session, batch = tiny_run
    spec = session.spec
    deck, _ = _shown(qtbot, spec, [batch])
    m = deck.metrics
    titans = [lv.name for lv in spec.levels if lv.kind == "titans"]
    assert titans == ["memory", "k", "v", "eta", "alpha"]
    want = [f"{n} · every token" for n in titans] + [
        "cms1 · every 2 · η = 0.02, ρ = 1 (constant)", "cms2 · every 4 · η = 0.02, ρ = 1 (constant)"]
    lr = batch.level[:, :, METRIC_INDEX["lr"]]
    assert np.ptp(lr[:, 5]) == 0 and lr[0, 5] == np.float32(0.02)  # the constant CMS gate
    assert m.rows.texts == want
    assert [lb.toPlainText() for lb in m.rows.labels] == want
    assert len(m.graphics.ci.items) == 2 + len(spec.levels)          # loss, rows, raster
    m.set_quantity("gates")
    assert [p for p in m.graphics.ci.items] == [m.loss_plot, *m.gates.plots.values(), m.raster]
    for g in ("lr", "retention"):
        items = m.gates.plots[g].listDataItems()
        assert len(items) == 1                                        # 5 memories, 1 curve
        col = batch.level[:, 0, METRIC_INDEX[g]]
        for i in range(1, 5):                                         # they really are equal
            np.testing.assert_array_equal(batch.level[:, i, METRIC_INDEX[g]], col)
        np.testing.assert_array_equal(items[0].yData, col)
        assert "shared by memory, k, v, eta, alpha" in m.gates.texts[g]
        assert "cms1, cms2 =" in m.gates.texts[g] and "not plotted" in m.gates.texts[g]


def test_update_per_step_spreads_each_event_over_its_period(qtbot, tiny_run):
    session, batch = tiny_run
    deck, _ = _shown(qtbot, session.spec, [batch])
    deck.metrics.set_quantity("update_step")
    li = session.spec.level_names.index("cms2")                       # period 4
    un = batch.level[:, li, METRIC_INDEX["update_norm"]].astype(np.float64)
    fired = np.flatnonzero(batch.fired[:, li])
    want = np.full(len(un), np.nan)
    for e in fired:                                                   # steps e-3 .. e
        want[max(0, e - 3):e + 1] = un[e] / 4
    np.testing.assert_allclose(deck.metrics.rows.curves[li].yData, want, rtol=1e-6)
    assert "per step" in deck.metrics.rows.plots[0].titleLabel.text


def _health_batch(spec: RunSpec, collapse_at: int | None, n: int = 2000) -> FrameBatch:
    """A synthetic run: loss below copying, moving Titans gates, weight norms at 2; with
    ``collapse_at`` level L2's weights decay to 0 from that step."""
    b = synthetic_batch(spec, 0, n, sparse_every=0, state_every=0)
    rng = np.random.default_rng(0)
    b.level[:, :, METRIC_INDEX["weight_norm"]] = 2.0
    b.level[:, 0, METRIC_INDEX["lr"]] = 0.01 + 0.005 * rng.random(n)
    b.level[:, 0, METRIC_INDEX["retention"]] = 0.9 + 0.05 * rng.random(n)
    b.level[:, :, METRIC_INDEX["contribution"]] = 0.1
    g = {m: i for i, m in enumerate(spec.global_metrics)}
    b.scalars[:, g["outer_loss"]] = 0.1
    b.scalars[:, g["copy_loss"]] = 0.5
    b.scalars[:, g["zero_loss"]] = 1.0
    b.scalars[:, g["oracle_loss"]] = np.nan
    if collapse_at is not None:
        t = np.arange(n - collapse_at)
        b.level[collapse_at:, 2, METRIC_INDEX["weight_norm"]] = 2.0 * 0.99 ** t
    return b


def test_health_flags_fire_on_a_collapse_and_stay_silent_when_healthy(qtbot):
    spec = synthetic_spec(3)
    healthy, _ = _shown(qtbot, spec, [_health_batch(spec, None)])
    assert healthy.metrics.health.flags == []
    assert not healthy.metrics.health.banner.isVisible() and healthy.metrics.health.marks == []
    b = _health_batch(spec, 1000)
    w = b.level[:, 2, METRIC_INDEX["weight_norm"]]
    since = int(np.flatnonzero(w >= 0.05 * 2.0)[-1]) + 1              # first step below 5 %
    sick, _ = _shown(qtbot, spec, [b])
    h = sick.metrics.health
    assert [(f.kind, f.level, f.since_step) for f in h.flags] == [("collapse", "L2", since)]
    assert h.banner.isVisible() and f"L2: weights collapsed since step {since:,}" in h.banner.text()
    (plot, line), = h.marks
    assert plot is sick.metrics.rows.plots[2] and line.value() == since
    assert f"since {since:,}" in line.label.toPlainText()


def test_cadence_raster_rate_is_events_per_step_in_each_bucket(qtbot):
    spec = synthetic_spec(3)                                          # periods 1, 4, 16
    n = 20_000
    deck, _ = _shown(qtbot, spec, [synthetic_batch(spec, 0, n, sparse_every=0, state_every=0)])
    c = deck.metrics.cadence
    k = c.bucket
    assert k > 1                                                      # more steps than pixels
    steps = np.arange(n)
    fired = ((steps[:, None] + 1) % np.array([1, 4, 16]) == 0)
    x0, x1 = deck.metrics.raster.viewRange()[0]
    vis = steps[(steps >= x0) & (steps <= x1)]
    first = vis[0] - vis[0] % k
    for b in (0, 1, c.rate.shape[1] // 2, c.rate.shape[1] - 1):
        sel = vis[(vis >= first + b * k) & (vis < first + (b + 1) * k)]
        want = fired[sel].sum(0) / len(sel)
        np.testing.assert_allclose(c.rate[:, b], want, rtol=1e-6)
    assert abs(c.rate[2, 1:-1].mean() - 1 / 16) < 0.01 and c.rate[0].min() == 1.0
    ticks = deck.metrics.raster.getAxis("left")._tickLevels[0]
    assert [t for _, t in ticks] == ["L0 · 1", "L1 · 4", "L2 · 16"]


def test_loss_smoothing_cache_equals_smoothing_from_the_first_row(monkeypatch):
    """Live frames extend the cached EMA by their new rows; the result is the EMA of the
    whole series, also after the cache dropped old rows; other data starts it again."""
    from nlviz.qt.panels import ema_cache
    monkeypatch.setattr(ema_cache, "MAX_ROWS", 5000)
    rng = np.random.default_rng(0)
    n = 30_000
    raw = rng.random((3, n)).astype(np.float32)
    steps = np.arange(n, dtype=np.float64)
    full, _, _ = ema_debiased(raw.T, 0.98, np.zeros(3), np.zeros(3))
    cache = ema_cache.EmaCache(0.98)
    for hi in range(100, n, 97):                      # a 3,000-step window scrolling on
        lo = max(0, hi - 3000)
        np.testing.assert_allclose(cache.rows(steps[lo:hi], raw[:, lo:hi]), full.T[:, lo:hi],
                                   rtol=1e-5, atol=1e-6)
    assert cache.n <= 2 * 5000
    other = raw[:, :50] + 1                           # a new run at the same steps
    want, _, _ = ema_debiased(other.T, 0.98, np.zeros(3), np.zeros(3))
    np.testing.assert_allclose(cache.rows(steps[:50], other), want.T, rtol=1e-5)


class _RetentionSpy(QWidget):
    """Stands in for ``RetentionPanels``: records what the presenter hands it."""

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumSize(60, 60)                 # shown: the presenter draws visible panels
        self.calls: list[tuple[object, list, list]] = []

    def show_frame(self, view, probes, evals) -> None:
        self.calls.append((view, list(probes), list(evals)))


def test_presenter_feeds_the_retention_dock_in_its_slow_rotation(qtbot, tiny_run, monkeypatch):
    session, batch = tiny_run
    deck = Deck(session.spec)
    deck.retention = _RetentionSpy()
    deck.layout().addWidget(deck.retention)
    qtbot.addWidget(deck)
    deck.show()
    qtbot.waitExposed(deck)
    buffers = RunBuffers(session.spec, capacity=10_000)
    buffers.push(batch)
    p = Presenter(buffers, deck)
    p.force()                                       # every slow panel once
    (view, probes, evals), = deck.retention.calls
    np.testing.assert_array_equal(view.step, batch.step)            # the history to the cursor
    assert [q.step for q in probes] == [q.step for q in buffers.probes_at(int(batch.step[-1]))]
    want = buffers.evals_at(int(batch.step[-1]))
    assert want and all(e.step <= batch.step[-1] for e in want)     # run.eval_every = 256
    assert [e.step for e in evals] == [e.step for e in want]
    for _ in range(12):                             # live: in turn with the other slow panels
        p._slow_t = 0.0
        p._retention_t = -1e9                       # its own period (2 s) has passed
        p._seen = None
        p.redraw()
        qtbot.wait(1)                               # the queued slow turn runs
    assert 2 <= len(deck.retention.calls) <= 4
    import nlviz.qt.presenter as presenter_module
    monkeypatch.setattr(presenter_module, "RETENTION_LIVE_PERIOD", 1e9)
    n = len(deck.retention.calls)
    p._retention_t = time.perf_counter()            # just drawn
    for _ in range(12):                             # within its period: its turns are skipped
        p._slow_t = 0.0
        p._seen = None
        p.redraw()
        qtbot.wait(1)
    assert len(deck.retention.calls) == n
    p.force()                                       # but a forced frame draws it
    assert len(deck.retention.calls) == n + 1


def test_health_marks_follow_the_run_config_and_keep_the_start_norms(qtbot):
    """Fixed Titans gates are constant on purpose: no flag. A live view that lost the run's
    first rows still judges a collapse against the norms of the first full view."""
    import pyqtgraph as pg

    from nlviz.analysis.health import health_config_for
    from nlviz.qt.panels.health import HealthMarks
    from tests.analysis.synth import col, healthy
    from tests.analysis.synth import spec as titans_spec

    sp = titans_spec()
    marks = HealthMarks()
    loss = pg.PlotItem()
    marks.set_plots(loss, {})
    flat = healthy(sp)
    for name in ("memory", "k", "v", "eta", "alpha"):
        col(sp, flat, name, "lr")[:] = 0.05
    assert [f.kind for f in marks.show_flags(flat, sp)] == ["constant_gate"]
    marks.set_config(health_config_for({"model": {"titans": {"gates": "fixed"}}}))
    assert marks.show_flags(flat, sp) == [] and not marks.banner.isVisible()

    start = healthy(sp)                          # every step held: its first row is the start
    start.total = len(start.step)
    marks.show_flags(start, sp)
    cms2 = sp.level_names.index("cms2")
    assert marks.start_norms is not None
    assert marks.start_norms[cms2] == col(sp, start, "cms2", "weight_norm")[0]
    later = healthy(sp, first_step=90_000)       # the ring dropped the start
    later.total = 200_000
    w0 = marks.start_norms[cms2]
    col(sp, later, "cms2", "weight_norm")[:] = 0.01 * w0
    assert [(f.kind, f.level, f.since_step) for f in marks.show_flags(later, sp)] == [
        ("collapse", "cms2", 90_000)]
