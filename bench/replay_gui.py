"""Replay GUI benchmark (issue 5) on a 1M-step synthetic recording, with the real window
and panels drawing (run under a display: ``xvfb-run -a python bench/replay_gui.py``).

- open + first paint: ``open_replay(path)`` (recording, source, player, every panel fed
  the whole-run frame from the pyramid), ``show()`` and a synchronous ``repaint()`` of the
  window; target <= 1 s.
- scrub: cursor moves to random steps, each followed by a synchronous repaint of the
  window (the data of the visible range read and drawn, slow panels at their 5 Hz);
  redraws per second for the "whole run" view (pyramid) and a 5k-step view (raw rows);
  target >= 30 fps. Also a simulated drag: 60 Hz cursor requests through the 30 Hz
  throttle for 2 s, counting the redraws delivered.
- replay at "max": the play timer in MAX mode at 1x for ``--seconds`` s; timeline steps
  per second (target >= 100,000) and frames per second.

Prints a markdown section for ``docs/benchmarks.md``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("XDG_CONFIG_HOME", tempfile.mkdtemp(prefix="nlviz-bench-"))

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from bench.recording import make_big
from nlviz.qt.replay.app import open_replay
from nlviz.qt.theme import DARK, apply_theme


def spin(app: QApplication, seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def open_first_paint(app: QApplication, path: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    window, rc = open_replay(path)
    window.resize(1600, 1000)
    window.show()
    app.processEvents()
    window.repaint()
    dt = time.perf_counter() - t0
    text = window.deck.summary_label.text()
    rc.shutdown()
    window.close()
    app.processEvents()
    return dt, text


def scrub(app: QApplication, path: str, width_index: int, trials: int) -> float:
    window, rc = open_replay(path)
    window.resize(1600, 1000)
    window.show()
    app.processEvents()
    window.front.width_box.setCurrentIndex(width_index)
    rng = np.random.default_rng(0)
    assert rc.player is not None
    last = int(rc.player.steps[-1])
    times = []
    for _ in range(trials):
        s = int(rng.integers(0, last))
        t0 = time.perf_counter()
        rc.transport.seek(s, sparse=rc.presenter.slow_due())
        window.repaint()
        times.append(time.perf_counter() - t0)
    rc.shutdown()
    window.close()
    app.processEvents()
    return 1.0 / statistics.median(times)


def drag(app: QApplication, path: str, seconds: float = 2.0) -> float:
    window, rc = open_replay(path)
    window.resize(1600, 1000)
    window.show()
    app.processEvents()
    assert rc.player is not None
    last = int(rc.player.steps[-1])
    n0 = len(rc.presenter.frame_times)
    pos = {"s": 0}
    total = {"n": 0}

    def move() -> None:
        pos["s"] = (pos["s"] + last // 200) % last
        rc.transport.request_seek(pos["s"])
        total["n"] += 1

    timer = QTimer()
    timer.setInterval(16)
    timer.timeout.connect(move)
    t0 = time.perf_counter()
    timer.start()
    spin(app, seconds)
    timer.stop()
    elapsed = time.perf_counter() - t0
    redraws = len(rc.presenter.frame_times) - n0
    rc.shutdown()
    window.close()
    app.processEvents()
    return redraws / elapsed


def replay_max(app: QApplication, path: str, seconds: float) -> tuple[float, float]:
    window, rc = open_replay(path)
    window.resize(1600, 1000)
    window.show()
    app.processEvents()
    window.front.width_box.setCurrentIndex(2)                  # 5k steps up to the cursor
    window.front.timeline.mode_box.setCurrentIndex(2)          # max
    rc.transport.home()
    player = rc.player
    assert player is not None
    n0 = len(rc.presenter.frame_times)
    r0 = player.row
    t0 = time.perf_counter()
    rc.transport.play()
    deadline = t0 + seconds
    while time.perf_counter() < deadline and player.playing:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
    elapsed = time.perf_counter() - t0
    rows = player.row - r0
    frames = len(rc.presenter.frame_times) - n0
    rc.shutdown()
    window.close()
    app.processEvents()
    return rows / elapsed, frames / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=0.8)
    a = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    apply_theme(app, DARK)
    med = statistics.median
    with tempfile.TemporaryDirectory() as d:
        path = f"{d}/big.h5"
        make_big(path, a.rows)
        open_first_paint(app, path)                      # warm imports and caches
        firsts = [open_first_paint(app, path) for _ in range(a.repeats)]
        whole = [scrub(app, path, 0, a.trials) for _ in range(a.repeats)]
        win5k = [scrub(app, path, 2, a.trials) for _ in range(a.repeats)]
        drags = [drag(app, path) for _ in range(max(1, a.repeats // 2))]
        maxes = [replay_max(app, path, a.seconds) for _ in range(a.repeats)]
    platform = os.environ.get("QT_QPA_PLATFORM") or app.platformName()
    print("## Replay GUI (issue 5)\n")
    print(f"Machine: 2-core CPU container (no GPU), Qt platform `{platform}` (xvfb), window "
          f"1600x1000. Command: `xvfb-run -a python bench/replay_gui.py --rows {a.rows} "
          f"--repeats {a.repeats}`. Synthetic {a.rows:,}-step recording (4 levels, "
          "bench/recording.py `make_big`). Medians over the repeats; times include drawing "
          "(synchronous `repaint()` of the whole window).\n")
    print("| measurement | median | target |\n|---|---|---|")
    print(f"| open + first paint (whole run from the pyramid; `{firsts[0][1]}`) | "
          f"{1000 * med([f[0] for f in firsts]):.0f} ms | <= 1,000 ms |")
    print(f"| scrub, whole-run view (summary up to the cursor) | {med(whole):.0f} redraws/s | "
          ">= 30 fps |")
    print(f"| scrub, 5,000-step view (exact rows) | {med(win5k):.0f} redraws/s | >= 30 fps |")
    print(f"| simulated drag: 60 Hz cursor requests through the 30 Hz throttle | "
          f"{med(drags):.0f} redraws/s | |")
    print(f"| replay at max (1x, 5,000-step view) | {med([m[0] for m in maxes]):,.0f} timeline "
          f"steps/s at {med([m[1] for m in maxes]):.0f} fps | >= 100,000 steps/s |")


if __name__ == "__main__":
    main()
