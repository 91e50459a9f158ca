"""Compare window and replay timeline on real recordings (``main.py record``, tiny preset,
CMS periods 4/16 and 16/64, two seeds each): item data against numbers read straight
from the files."""
from __future__ import annotations

import numpy as np
import pytest
import shiboken6

from nlviz.qt.theme import regime_color
from nlviz.recording.reader import Recording
from tests.gui.test_replay_compare_export import non_blank
from tests.replay.compare_runs import record_four

W = 20                                    # aligned window: ± 20 steps (regimes last 50)


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    return record_four(tmp_path_factory.mktemp("four"))


def columns(path, *names, level=None):
    with Recording.open(path) as rec:
        return [np.asarray(rec.column(n, level), np.float64) for n in names]


def period_of(path, level):
    with Recording.open(path) as rec:
        return next(lv.update_period for lv in rec.spec.levels if lv.name == level)


@pytest.fixture
def cw(qtbot, replay, four):
    _, rc = replay
    w = rc.compare(four)
    qtbot.addWidget(w)
    yield w
    if shiboken6.isValid(w):
        w.close()


def test_groups_of_seeds_band_is_numpy_mean_and_std(cw, four):
    ctl = cw.controls
    assert [g.members for g in cw.data.groups] == [(0, 1), (2, 3)]
    assert dict(cw.table_rows())["group"] == ["g1 (n=2)"] * 2 + ["g2 (n=2)"] * 2
    ctl.select(ctl.show_box, "group")
    ctl.select(ctl.metric_box, "weight_norm")
    cw.level_box.setCurrentText("cms1")
    for key, name, level in (("loss", "outer_loss", None), ("metric", "weight_norm", "cms1")):
        d = cw.draw[key]
        assert [t.split(" · ")[:2] for t in d.legend_texts()] == [
            ["model.cms.periods=[4, 16]", "n=2"], ["model.cms.periods=[16, 64]", "n=2"]]
        for g, members in enumerate(((0, 1), (2, 3))):
            stack = np.stack([columns(four[m], name, level=level)[0] for m in members])
            assert np.isfinite(stack).all() and stack.std(0).max() > 0
            np.testing.assert_array_equal(d.means[g].xData, np.arange(stack.shape[1]))
            np.testing.assert_allclose(d.means[g].yData, stack.mean(0), rtol=1e-12)
            _, lo, hi = d.band_edges(g)
            std = stack.std(0, ddof=1)                   # sample std over seeds, as the report
            np.testing.assert_allclose(lo, stack.mean(0) - std, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(hi, stack.mean(0) + std, rtol=1e-12, atol=1e-12)
        assert all(len(c.xData or []) == 0 for c in d.curves)      # no per-run curves
    # the shared regime timeline shaded behind both plots: starts at the recorded switches
    steps_regime = columns(four[0], "regime")[0]
    starts = np.r_[0, np.flatnonzero(np.diff(steps_regime) != 0) + 1]
    for key in ("loss", "metric"):
        e = cw.draw[key].regimes.edges()
        assert [x0 for x0, _, _ in e] == list(starts)
        assert [r for _, _, r in e] == list(steps_regime[starts].astype(int))
    # the copy-input baseline, dashed, as the group mean of the recorded copy_loss
    copy = np.mean([columns(four[m], "copy_loss")[0] for m in (2, 3)], 0)
    np.testing.assert_allclose(cw.draw["loss"].baselines[1].yData, copy, rtol=1e-12)


def test_periods_4_and_16_on_update_per_step(cw, four):
    ctl = cw.controls
    ctl.select(ctl.metric_box, "update_per_step")
    cw.level_box.setCurrentText("cms1")
    assert [period_of(p, "cms1") for p in four] == [4, 4, 16, 16]
    means = []
    for r, path in enumerate(four):
        p = period_of(path, "cms1")
        u, fired = columns(path, "update_norm", "fired", level="cms1")
        y = cw.curves["metric"][r].yData
        ev = np.flatnonzero(fired > 0)
        assert len(ev) > 1100 // p and np.all(np.diff(ev) == p)
        for i in ev:                                       # every event spread over its period
            np.testing.assert_allclose(y[max(0, i - p + 1):i + 1], u[i] / p, rtol=1e-12)
        assert np.isnan(y[ev[-1] + 1:]).all()              # after the last event: not covered
        means.append(np.nanmean(y))
        assert f"cms1 · every {p}" in cw.draw["metric"].legend_texts()[r]
    # per event, slow levels look bigger; per step they move less than the fast ones
    ctl.select(ctl.metric_box, "update_per_event")
    per_event = []
    for r, path in enumerate(four):
        u, fired = columns(path, "update_norm", "fired", level="cms1")
        np.testing.assert_array_equal(cw.curves["metric"][r].xData, np.flatnonzero(fired > 0))
        np.testing.assert_allclose(cw.curves["metric"][r].yData, u[fired > 0], rtol=1e-12)
        per_event.append(u[fired > 0].mean())
    assert min(means[:2]) > max(means[2:])
    assert "update per event" in cw.plots["metric"].titleLabel.text


def direct_aligned(loss, regime, visit):
    """Mean loss over windows [s - W, s + W) around the switches of one visit class."""
    seen, rows = {int(regime[0]): 1}, []
    for s in np.flatnonzero(np.diff(regime) != 0) + 1:
        r = int(regime[s])
        seen[r] = seen.get(r, 0) + 1
        kind = "first" if seen[r] == 1 else "second" if seen[r] == 2 else "later"
        if kind == visit:
            idx = np.arange(s - W, s + W)
            ok = (idx >= 0) & (idx < len(loss))
            rows.append(np.where(ok, loss[np.clip(idx, 0, len(loss) - 1)], np.nan))
    return np.nanmean(np.stack(rows), 0), len(rows)


@pytest.mark.parametrize("visit", ["first", "second", "later"])
def test_switch_aligned_overlay_is_a_direct_average(cw, four, visit):
    ctl = cw.controls
    ctl.window_spin.setValue(W)
    ctl.select(ctl.visit_box, visit)
    ctl.select(ctl.axis_box, "switch")
    direct = []
    for r, path in enumerate(four):
        loss, regime = columns(path, "outer_loss", "regime")
        want, n = direct_aligned(loss, regime, visit)
        direct.append(want)
        c = cw.curves["loss"][r]
        np.testing.assert_array_equal(c.xData, np.arange(-W, W))
        np.testing.assert_allclose(c.yData, want, rtol=1e-12)
        assert cw.draw["loss"].legend_texts()[r].endswith(f"{n} switch" + ("" if n == 1 else "es"))
    assert cw.plots["loss"].viewRange()[0][0] < -W + 1
    ctl.select(ctl.show_box, "group")
    for g, members in enumerate(((0, 1), (2, 3))):
        stack = np.stack([direct[m] for m in members])
        np.testing.assert_allclose(cw.draw["loss"].means[g].yData, stack.mean(0), rtol=1e-12)
        _, lo, hi = cw.draw["loss"].band_edges(g)
        np.testing.assert_allclose(hi - lo, 2 * stack.std(0, ddof=1), rtol=1e-9, atol=1e-12)


def test_timeline_bands_are_the_recorded_regime_switches(qtbot, replay, four):
    _, rc = replay
    rc.open(four[2])
    t = rc.window.timeline
    with Recording.open(four[2]) as rec:
        steps, regime = rec.steps.copy(), rec.regime()
        events = rec.events
    switch_steps = steps[np.flatnonzero(np.diff(regime) != 0) + 1]
    assert len(switch_steps) > 15
    np.testing.assert_array_equal(t.regimes.edges(), switch_steps)
    np.testing.assert_array_equal(t.regimes.opts["x0"], np.r_[steps[0], switch_steps])
    np.testing.assert_array_equal(t.regimes.opts["x1"], np.r_[switch_steps, steps[-1] + 1])
    colours = [b.color().name() for b in t.regimes._brushes]
    assert colours == [regime_color(int(regime[i])).name()
                       for i in np.r_[0, np.flatnonzero(np.diff(regime) != 0) + 1]]
    s3 = int(switch_steps[2])
    assert t.regimes.tip_at(s3 + 1).startswith(f"{t.regimes.regime_name(int(regime[s3]))} · "
                                               "visit 2 · steps")
    assert f"switch at step {s3:,}" in t.regimes.tip_at(s3 + 1)
    assert events and [t._mark_tip(0, 0, i) for i in range(len(events))] == [
        f"step {e.step:,}: {e.kind} {e.detail}" for e in events]
    # stream switches, resets and parameter changes: own symbol and colour, tooltip text
    t.set_events(np.array([100, 200, 300]), ["stream", "reset", "param"],
                 ["-> text", "memory", "titans.lr=0.1"])
    assert list(t.marks.data["symbol"]) == ["t", "x", "d"]
    assert list(t.marks.data["x"]) == [100, 200, 300]
    assert len({b.color().name() for b in t.marks.data["brush"]}) == 3
    assert t._mark_tip(0, 0, 2) == "step 300: param titans.lr=0.1"


def test_screenshot_of_the_compare_window(cw, tmp_path):
    ctl = cw.controls
    ctl.select(ctl.show_box, "group")
    ctl.select(ctl.smooth_box, 10)
    cw.resize(1400, 900)
    cw.show()
    out = tmp_path / "compare.png"
    assert cw.grab().save(str(out))
    assert non_blank(out, 50)


def test_old_recordings_without_the_new_columns_say_so(qtbot, replay, four, tmp_path):
    import shutil
    from pathlib import Path
    old = tmp_path / "old.h5"
    shutil.copy(Path(__file__).resolve().parents[1] / "data" / "recording_v1_0.h5", old)
    _, rc = replay
    w = rc.compare([str(old), four[0]])
    qtbot.addWidget(w)
    ctl = w.controls
    ctl.select(ctl.metric_box, "weight_norm")             # a 1.0 file has no weight_norm
    w.level_box.setCurrentText("L0")
    assert w.draw["loss"].regimes.edges() == []           # regimes differ: nothing shaded
    assert w.draw["metric"].legend_texts() == ["old · L0 · every token (n/a)",
                                               "p4-s1 (no L0)"]
    assert all(len(c.xData or []) == 0 for c in w.curves["metric"])
    assert len(w.draw["loss"].baselines[0].xData or []) == 0       # no copy_loss recorded
    copy = columns(four[0], "copy_loss")[0]
    np.testing.assert_allclose(w.draw["loss"].baselines[1].yData, copy, rtol=1e-12)
    ctl.select(ctl.metric_box, "update_per_step")          # derived from 1.0 columns
    u, fired = columns(str(old), "update_norm", "fired", level="L0")
    y = w.curves["metric"][0].yData
    assert len(y) == len(u) and (fired > 0).sum() > 100
    np.testing.assert_allclose(y[fired > 0], u[fired > 0], rtol=1e-12)   # period 1: the event
    w.close()
