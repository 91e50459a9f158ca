"""The training viewer (``--replay TRAIN.h5``): curves hold the file's data, a running
training shows up as it grows, run files still open the run replay."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

from nlviz.qt.training.app import open_training
from nlviz.recording.training_reader import TrainingRecording
from tests.support.training_file import GATE_STATS, GROUPS, TASKS, expected_row, write_training_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def training(qtbot):
    """Opens a path in a training window; closed afterwards."""
    made = []

    def make(path):
        window, controller = open_training(str(path))
        qtbot.addWidget(window)
        made.append((window, controller))
        return window, controller

    yield make
    for window, controller in made:
        controller.shutdown()
        window.close()


def _finite(x, y):
    ok = np.isfinite(y)
    return x[ok], y[ok]


def _assert_curves_hold(window, path) -> None:
    view = window.view
    with TrainingRecording.open(path) as rec:
        steps = rec.column("step").astype(np.float64)
        assert list(view.loss_curves) == list(TASKS) == list(view.heldout_curves)
        for t, curve in view.loss_curves.items():
            assert curve.name() == t
            x, y = _finite(steps, rec.column(f"loss/{t}"))
            np.testing.assert_array_equal(curve.xData, x)
            np.testing.assert_array_equal(curve.yData, y)
            x, y = _finite(steps, rec.column(f"heldout/{t}"))
            held = view.heldout_curves[t]
            assert held.name() is None             # not in the legend twice
            np.testing.assert_array_equal(held.xData, x)
            np.testing.assert_array_equal(held.yData, y)
        np.testing.assert_array_equal(view.total_curve.yData, rec.column("loss/total"))
        assert list(view.grad_curves) == list(GROUPS)
        for g, curve in view.grad_curves.items():
            assert curve.name() == g
            np.testing.assert_array_equal(curve.yData, rec.column(f"grad_norm/{g}"))
        assert list(view.gate_curves) == list(GATE_STATS)
        for s, curve in view.gate_curves.items():
            np.testing.assert_array_equal(curve.yData, rec.column(f"gates/{s}"))
        np.testing.assert_array_equal(view.lr_curve.xData, steps)
        np.testing.assert_array_equal(view.lr_curve.yData, rec.column("lr"))


def test_curves_hold_the_files_data(tmp_path, training):
    path = tmp_path / "train.h5"
    write_training_file(path, steps=120)
    window, controller = training(path)
    assert controller.n_rows == 120 and controller.complete
    _assert_curves_hold(window, path)
    labels = [label.text for _, label in window.view.legends["loss"].items]
    assert labels == [*TASKS, "total"]
    assert window.view.plots["loss"].getAxis("left").logMode
    assert window.view.plots["grad_norm"].getAxis("left").logMode
    assert window.view.header.text().startswith("train.h5: 120 outer steps (0..119)")
    assert "complete" in window.view.header.text()
    held = window.view.heldout_curves["text"]
    assert held.xData.tolist() == list(range(0, 120, 10))    # evaluated every 10 steps


def test_a_running_training_shows_its_new_rows(tmp_path, training, monkeypatch):
    path = tmp_path / "train.h5"
    rec = write_training_file(path, steps=100, close=False)   # still being written
    try:
        window, controller = training(path)
        assert controller.timer.isActive() and controller.n_rows == 100
        assert "following" in window.view.header.text()
        reads = []
        original = TrainingRecording.column

        def spy(self, name, lo=0, hi=None):
            reads.append((name, lo, hi))
            return original(self, name, lo, hi)

        monkeypatch.setattr(TrainingRecording, "column", spy)
        for s in range(100, 140):
            rec.append(expected_row(s))
        rec.flush()
        assert controller.poll() == 140
        assert reads and {lo for _, lo, _ in reads} == {100}     # only the new rows
        monkeypatch.undo()
        _assert_curves_hold(window, path)
        assert window.view.loss_curves["assoc_recall"].xData[-1] == 139
    finally:
        rec.close()
    controller.poll()
    assert controller.complete and "complete" in window.view.header.text()


def test_a_resumed_training_is_read_again(tmp_path, training):
    path = tmp_path / "train.h5"
    write_training_file(path, steps=80)
    window, controller = training(path)
    assert controller.n_rows == 80
    write_training_file(path, steps=90, start=50, append=True)   # rows 50.. done again
    assert controller.poll() == 90
    assert controller.resumes == 1
    _assert_curves_hold(window, path)


def test_an_unreadable_poll_is_one_line_and_retried(tmp_path, training):
    path = tmp_path / "train.h5"
    write_training_file(path, steps=30)
    window, controller = training(path)
    data = path.read_bytes()
    path.write_bytes(b"garbage")
    assert controller.poll() == 30                      # the curves stay
    text = window.status.message.text()
    assert text == f"cannot read train.h5 now (retrying): {path}: not an HDF5 file"
    path.write_bytes(data)
    assert controller.poll() == 30
    assert window.status.message.text() == "following train.h5: 30 outer steps"


def test_a_run_file_is_refused_by_the_training_window(tmp_path, training):
    from tests.gui.test_replay import write_run
    run = tmp_path / "run.h5"
    write_run(run, rows=100)
    window, controller = training(run)
    assert controller.path == "" and not controller.timer.isActive()
    assert window.status.message.text().startswith(f"{run}: a run recording, not a training")


@pytest.mark.parametrize("kind", ["run", "training"])
def test_replay_dispatches_on_the_files_kind(tmp_path, monkeypatch, kind):
    import nlviz.qt.app as qt_app
    from nlviz.cli import build_app_parser
    from tests.gui.test_replay import write_run
    path = tmp_path / f"{kind}.h5"
    if kind == "run":
        write_run(path, rows=50)
    else:
        write_training_file(path, steps=5)
    called: list[str] = []

    def front(name: str):
        def opened(*args: object) -> int:
            called.append(name)
            return 0
        return opened

    monkeypatch.setattr(qt_app, "apply_theme", lambda *a: None)   # no global side effects
    monkeypatch.setattr(qt_app, "_replay", front("run"))
    monkeypatch.setattr(qt_app, "run_training", front("training"))
    assert qt_app.run_app(build_app_parser().parse_args(["--replay", str(path)])) == 0
    assert called == [kind]


def test_screenshot_of_a_training_recording(tmp_path):
    path = tmp_path / "train.h5"
    write_training_file(path, steps=200)
    out = tmp_path / "t.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "main.py", "--replay", str(path), "--screenshot",
                           str(out), "--window-size", "1200x800"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    img = QImage(str(out))
    assert (img.width(), img.height()) == (1200, 800)
    colours = {img.pixel(x, y) for y in range(0, 800, 7) for x in range(0, 1200, 7)}
    assert len(colours) > 30
