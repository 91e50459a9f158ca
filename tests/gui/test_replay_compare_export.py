"""Compare overlay (curve data per run, level selector, config-diff table), exports
(CSV of the visible range, PNG/SVG of a plot and of the window), and the
``--replay --screenshot`` command line."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

from nlviz.qt.file_menu import FileMenu
from tests.gui.test_replay import write_run
from tests.support.synthetic import expected_level, synthetic_spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def two_runs(tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    write_run(a, rows=1000, n_levels=3,
              config={"model": {"d": 8, "cms": {"periods": [2, 4]}}, "run": {"seed": 0}})
    write_run(b, rows=30_000, n_levels=4, state_every=0,
              config={"model": {"d": 16, "cms": {"periods": [2, 4]}}, "run": {"seed": 0},
                      "stream": {"name": "text"}})
    return str(a), str(b)


def non_blank(path, min_colours=20):
    img = QImage(str(path))
    assert not img.isNull()
    colours = {img.pixel(x, y) for y in range(0, img.height(), 7) for x in range(0, img.width(), 7)}
    return len(colours) >= min_colours


def test_overlay_of_two_runs_and_config_diff_table(qtbot, replay, two_runs):
    _, rc = replay
    a, b = two_runs
    rc.open(a)
    rc.dialogs.ask_path = lambda *args: [b]
    cw = rc.compare_dialog()                            # current run + the chosen one
    qtbot.addWidget(cw)
    assert cw.cmp.labels == ["a", "b"] and cw.cmp.levels == ("L0", "L1", "L2", "L3")
    ctl = cw.controls
    ctl.select(ctl.metric_box, "surprise")
    cw.level_box.setCurrentText("L1")
    ca, cb = cw.curves["metric"]
    np.testing.assert_array_equal(ca.xData, np.arange(1000))
    np.testing.assert_array_equal(ca.yData, expected_level(synthetic_spec(3),
                                                           np.arange(1000))[:, 1, 0])
    assert cb.xData[-1] <= 29_999 and len(cb.xData) < 30_000      # long run: min/max envelope
    assert "showing a summary" in cw.summary_label.text()
    assert ca.opts["pen"].color().name() != cb.opts["pen"].color().name()   # a colour per run
    assert len(cw.curves["loss"][0].xData) == 1000                # the loss on top, every run
    cw.level_box.setCurrentText("L3")                              # a has no L3
    assert len(cw.curves["metric"][0].xData or []) == 0
    assert len(cw.curves["metric"][1].xData) > 0
    period = synthetic_spec(4).levels[3].update_period
    every = "every token" if period == 1 else f"every {period}"
    assert cw.draw["metric"].legend_texts() == ["a (no L3)", f"b · L3 · {every}"]
    rows = dict(cw.table_rows())
    assert rows["model.d"] == ["8", "16"]
    assert rows["stream.name"] == ["—", "'text'"]
    assert rows["group"] == ["g1 (n=1)", "g2 (n=1)"]               # configs differ: two groups
    assert "run.seed" not in rows and "model.cms.periods" not in rows
    # zoom into a short range: both runs read exact rows
    cw.plots["metric"].setXRange(100, 600, padding=0)
    cw._fetch_view()
    cw.level_box.setCurrentText("L0")
    np.testing.assert_array_equal(cw.curves["metric"][1].xData, np.arange(100, 601))
    np.testing.assert_array_equal(cw.curves["metric"][1].yData, expected_level(
        synthetic_spec(4), np.arange(100, 601))[:, 0, 0])
    assert cw.summary_label.text() == ""
    cw.close()
    assert not rc.comparing.windows[0].isVisible()


def test_compare_refuses_more_than_8_and_bad_files_in_one_line(replay, two_runs, tmp_path):
    window, rc = replay
    a, _ = two_runs
    assert rc.compare([a] * 9) is None
    assert "at most 8" in window.status.message.text()
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"x")
    assert rc.compare([a, str(junk)]) is None
    assert "not an HDF5 file" in window.status.message.text() and "\n" not in window.status.message.text()


def test_csv_of_the_visible_range(replay, two_runs, tmp_path):
    window, rc = replay
    exporter = FileMenu.of(window).exporter
    a, _ = two_runs
    rc.open(a)
    rc.transport.seek(500)
    window.front.width_box.setCurrentIndex(1)                 # 1k steps up to the cursor: 0..500
    out = tmp_path / "visible.csv"
    assert exporter.export_csv(str(out)) == 501 * 3
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert {int(r["step"]) for r in rows} == set(range(0, 501))
    want = expected_level(synthetic_spec(3), np.arange(501))
    got = {(int(r["step"]), r["level"]): float(r["surprise"]) for r in rows}
    assert got[(321, "L2")] == pytest.approx(float(want[321, 2, 0]), rel=1e-6)
    assert "wrote 1,503 rows" in window.status.message.text()
    rc.transport.seek(900)
    window.front.width_box.setCurrentIndex(0)                 # whole run, cursor at 900
    rc.dialogs.ask_path = lambda kind, title, default, filters: str(tmp_path / "asked.csv")
    assert exporter.export_csv() == 901 * 3


def test_png_and_svg_of_a_plot_and_of_the_window(replay, two_runs, tmp_path):
    window, rc = replay
    exporter = FileMenu.of(window).exporter
    rc.open(two_runs[0])
    for key in ("loss", "steps", "raster", "forgetting", "heatmap"):
        png = exporter.export_plot(key, "png", str(tmp_path / f"{key}.png"))
        assert png and non_blank(png, 3)
        svg = exporter.export_plot(key, "svg", str(tmp_path / f"{key}.svg"))
        assert "<svg" in Path(svg).read_text()
    png = exporter.export_window("png", str(tmp_path / "w.png"))
    img = QImage(png)
    assert (img.width(), img.height()) == (window.width(), window.height()) and non_blank(png)
    svg = exporter.export_window("svg", str(tmp_path / "w.svg"))
    text = Path(svg).read_text()
    assert "<svg" in text and len(text) > 10_000
    assert exporter.export_window("png", str(tmp_path / "w.jpg")) is None
    assert "export as .png or .svg" in window.status.message.text()


def test_compare_window_export(qtbot, replay, two_runs, tmp_path):
    _, rc = replay
    cw = rc.compare(list(two_runs))
    qtbot.addWidget(cw)
    assert non_blank(cw.export_window("png", str(tmp_path / "c.png")))
    assert "<svg" in Path(cw.export_plot("metric", "svg", str(tmp_path / "c.svg"))).read_text()
    assert non_blank(cw.export_plot("loss", "png", str(tmp_path / "l.png")), 3)
    cw.close()


def _env(tmp_path):
    return dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))


def test_replay_screenshot_command_writes_a_non_blank_png(two_runs, tmp_path):
    out = tmp_path / "replay.png"
    proc = subprocess.run([sys.executable, "main.py", "--replay", two_runs[1], "--screenshot",
                           str(out), "--window-size", "1200x800"], cwd=ROOT, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    img = QImage(str(out))
    assert (img.width(), img.height()) == (1200, 800)
    assert non_blank(out, 50)


def test_replay_of_a_bad_file_is_one_line_and_exit_2(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"junk")
    proc = subprocess.run([sys.executable, "main.py", "--replay", str(junk), "--screenshot",
                           str(tmp_path / "x.png")], cwd=ROOT, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("nlviz")]
    assert len(lines) == 1 and "not an HDF5 file" in lines[0] and "Traceback" not in proc.stderr
