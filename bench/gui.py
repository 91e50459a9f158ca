"""GUI benchmark (issue 4): redraw fps with a full history, event-loop stalls while the
engine runs at full speed (in its child process), engine throughput with the GUI versus
headless (measured in the same run), memory growth.

Run under a display (``xvfb-run -a python bench/gui.py``) or with
``QT_QPA_PLATFORM=offscreen``. Prints a markdown table for docs/benchmarks.md.

    python bench/gui.py [--seconds 10] [--steps-memory 1000000]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("XDG_CONFIG_HOME", "/tmp/nlviz-bench-settings")

from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from engine.frames import FrameBatch, LevelSpec, RunSpec
from nlviz.config_loader import load_config
from nlviz.qt.live.controller import Controller
from nlviz.qt.live.front import LiveFront, live_window
from nlviz.qt.main_window import MainWindow
from nlviz.qt.status import rss_mb
from nlviz.qt.theme import DARK, apply_theme

HISTORY = 100_000
ENGINE_SETS: list[str] = []  # --engine: run.engine of the live and headless sessions
HUNDRED_K_INDEX = 3          # the "100k steps" entry of the live window box


SWITCH_EVERY = 500           # synthetic regime switches: 200 regime bands in 100k steps


def synthetic_spec(levels: int = 4) -> RunSpec:
    lv = tuple(LevelSpec(f"L{i}", "cms", 4 ** i, (32, 32)) for i in range(levels))
    return RunSpec(levels=lv, d_in=16, probe_size=64, regime_names=("A", "B", "C"))


def synthetic_batch(spec: RunSpec, start: int, n: int, rng: np.random.Generator) -> FrameBatch:
    L, M, G = len(spec.levels), len(spec.level_metrics), len(spec.global_metrics)
    steps = np.arange(start, start + n, dtype=np.int64)
    level = np.abs(rng.standard_normal((n, L, M))).astype(np.float32)
    periods = np.array(spec.update_periods)
    fired = ((steps[:, None] + 1) % periods[None, :] == 0).astype(np.uint8)
    scalars = np.abs(rng.standard_normal((n, G))).astype(np.float32)     # loss, baselines
    return FrameBatch(step=steps, level=level, fired=fired, scalars=scalars,
                      inputs=rng.standard_normal((n, spec.d_in)).astype(np.float32),
                      regime=(steps // SWITCH_EVERY % 3).astype(np.int32),
                      token=np.full(n, -1, np.int32), wall_time=np.zeros(n))


def _window(app: QApplication, session_spec: RunSpec | None = None) -> tuple[MainWindow[LiveFront],
                                                                             Controller]:
    """Window + controller on the default preset; the engine process starts only with
    ``controller.start()`` (the synthetic benchmarks never start it)."""
    window = live_window()
    controller = Controller(window, load_config("default", ENGINE_SETS), capacity=HISTORY)
    if session_spec is not None:
        controller.buffers.reset(session_spec)
        window.metrics.set_levels(session_spec)
    window.resize(1600, 1000)
    window.show()
    app.processEvents()
    return window, controller


def bench_redraw(app: QApplication, frames: int = 150) -> dict[str, float]:
    """4 level rows + the loss panel (raw, smoothed, 3 baselines, 200 regime bands) x 100k
    steps shown (window 'all'); each frame appends 64 steps, points the curves at the new
    data and paints the window synchronously."""
    spec = synthetic_spec(4)
    window, controller = _window(app, spec)
    rng = np.random.default_rng(0)
    for s in range(0, HISTORY, 8192):
        controller.buffers.push(synthetic_batch(spec, s, min(8192, HISTORY - s), rng))
    controller.redrawer.window_steps = HISTORY
    window.front.controls.window_box.setCurrentIndex(3)
    step = HISTORY
    times = []
    for i in range(frames + 10):
        controller.buffers.push(synthetic_batch(spec, step, 64, rng))
        step += 64
        t0 = time.perf_counter()
        controller.redrawer.redraw()
        window.metrics.graphics.repaint()
        app.processEvents()
        if i >= 10:
            times.append(time.perf_counter() - t0)
    m = window.metrics
    curves = [*m.rows.curves, m.loss.raw, m.loss.smooth, *m.loss.baselines.values()]
    points = sum(len(c.xData) for c in curves if c.xData is not None)
    window.allow_close = True
    window.close()
    t = np.array(times)
    return {"redraw_fps": 1 / t.mean(), "redraw_ms_p50": 1e3 * np.median(t),
            "redraw_ms_p99": 1e3 * np.percentile(t, 99), "points": points}


def _rss_mb(pid: int | None) -> float:
    """Resident memory of a process (the engine child) in MB, 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, TypeError, ValueError):
        return 0.0


def bench_live(app: QApplication, seconds: float, fill: int = 0, synthetic_rate: float = 0,
               record: str | None = None) -> dict[str, float]:
    """Default preset at max speed in the worker; the GUI redraws at 30 Hz; a 5 ms probe
    timer measures how late the GUI event loop runs (stalls). With ``fill``, the view shows
    the last 100k steps and the run first plays until ``fill`` steps of history exist, so
    everything is measured with that much history on screen. ``synthetic_rate``: the
    engine process makes synthetic rows at that many steps/s (``bench/fast_feed.py``)
    instead of stepping the model. ``record``: record the run to this file."""
    window, controller = _window(app)
    if synthetic_rate:
        from bench.fast_feed import RATE_ENV
        os.environ[RATE_ENV] = str(synthetic_rate)
        controller.worker.loop = "bench.fast_feed:SyntheticLoop"
    if fill:
        window.front.controls.window_box.setCurrentIndex(HUNDRED_K_INDEX)
    t_start = time.perf_counter()
    ready = QEventLoop()
    controller.worker.started.connect(ready.quit)
    controller.start()
    ready.exec()                                        # the engine process built its session
    startup_s = time.perf_counter() - t_start
    if record:
        controller.record(record, overwrite=True)
    late: list[float] = []
    clock = QElapsedTimer()
    probe = QTimer()
    probe.setInterval(5)
    last = [0]

    def tick() -> None:
        now = clock.elapsed()
        late.append(max(0, now - last[0] - 5))
        last[0] = now

    probe.timeout.connect(tick)
    controller.play()
    _run_loop(1.0)                                      # warm up
    while controller.buffers.total < fill:
        _run_loop(1.0)
    n0, t0 = controller.buffers.total, time.perf_counter()
    rec0, made0 = _recorded(controller), _produced(controller)
    rss0 = rss_mb() + _rss_mb(controller.worker.pid)
    clock.start()
    probe.start()
    controller.redrawer.frame_times.clear()     # it keeps the last 1,000 frames only
    _run_loop(seconds)
    probe.stop()
    elapsed = time.perf_counter() - t0
    rate = (controller.buffers.total - n0) / elapsed
    rec_rate = (_recorded(controller) - rec0) / elapsed
    made_rate = (_produced(controller) - made0) / elapsed
    redraws = list(controller.redrawer.frame_times)
    rss1 = rss_mb() + _rss_mb(controller.worker.pid)
    shown = min(controller.buffers.total, HISTORY) if fill else 0
    controller.pause()                                  # the recorder drains its queue
    t_pause = time.perf_counter()
    while controller.worker.playing and time.perf_counter() - t_pause < 300:
        _run_loop(0.2)
    drain_s = time.perf_counter() - t_pause
    produced = _produced(controller)
    controller.stop_and_wait()
    window.allow_close = True
    window.close()
    rows_in_file = -1
    if record:
        from nlviz.recording.reader import Recording
        with Recording.open(record) as rec:
            rows_in_file = rec.n_rows
    stalls = np.array(late[1:]) if len(late) > 1 else np.zeros(1)
    return {"gui_steps_per_s": rate, "stall_ms_p50": float(np.median(stalls)),
            "stall_ms_p99": float(np.percentile(stalls, 99)), "stall_ms_max": float(stalls.max()),
            "live_redraw_ms_p50": 1e3 * float(np.median(redraws)) if redraws else 0.0,
            "live_rss_growth_mb": rss1 - rss0, "live_seconds": seconds,
            "engine_startup_s": startup_s, "live_fps": len(redraws) / elapsed,
            "history_steps": shown, "steps_total": controller.buffers.total,
            "rss_total_mb": rss1, "recorded_per_s": rec_rate, "produced_per_s": made_rate,
            "rows_in_file": rows_in_file, "produced": produced, "drain_s": drain_s,
            "redraw_ms_p99": 1e3 * float(np.percentile(redraws, 99)) if redraws else 0.0}


def _recorded(controller: Controller) -> int:
    """Rows the recorder has committed (0 when not recording)."""
    st = controller.buffers.stats.recording
    return st.rows_committed if st is not None else 0


def _produced(controller: Controller) -> int:
    """Steps the engine process has made (its step count)."""
    info = controller.worker.session
    return info.step_count if info is not None else 0


def synthetic_table(app: QApplication, seconds: float, rate: float) -> None:
    """The live GUI fed by the synthetic fast engine at ``rate`` steps/s, recording."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        live = bench_live(app, seconds, fill=HISTORY, synthetic_rate=rate,
                          record=os.path.join(tmp, "run.h5"))
    print(f"platform: {platform.platform()}, Python {platform.python_version()}, "
          f"Qt platform {app.platformName()}, {os.cpu_count()} CPUs; synthetic engine "
          f"at {rate:,.0f} steps/s, recording")
    print("| fps | redraw p50 / p99 | stall p50 / p99 / max | rows/s to the ring "
          "| recorder rows/s written / produced | rows in file / produced | pause drain |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {live['live_fps']:.0f} | {live['live_redraw_ms_p50']:.1f} / "
          f"{live['redraw_ms_p99']:.1f} ms | {live['stall_ms_p50']:.1f} / "
          f"{live['stall_ms_p99']:.1f} / {live['stall_ms_max']:.0f} ms | "
          f"{live['gui_steps_per_s']:,.0f} | {live['recorded_per_s']:,.0f} / "
          f"{live['produced_per_s']:,.0f} | {live['rows_in_file']:,} / "
          f"{live['produced']:,} | {live['drain_s']:.1f} s |")


def _run_loop(seconds: float) -> None:
    """Run the Qt event loop (blocking in C++, like app.exec) for ``seconds``."""
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def bench_headless(seconds: float, batch: int) -> float:
    """Session.step(batch) in this process, no GUI work at all."""
    from engine.session import Session
    session = Session(load_config("default", ENGINE_SETS))
    session.step(max(batch, 512))                      # warm-up (and compile, if compiled)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        session.step(batch)
        n += batch
    return n / (time.perf_counter() - t0)


def bench_memory(app: QApplication, steps: int) -> dict[str, float]:
    """Push ``steps`` synthetic steps (4 levels, snapshots, probes) through the buffers and
    the views; RSS after the ring is full versus at the end."""
    spec = synthetic_spec(4)
    window, controller = _window(app, spec)
    rng = np.random.default_rng(1)
    batch = 2048
    rss_full = None
    for s in range(0, steps, batch):
        controller.buffers.push(synthetic_batch(spec, s, batch, rng))
        if s % (batch * 8) == 0:
            controller.redrawer.redraw()
            app.processEvents()
        if rss_full is None and s >= HISTORY + 32_768:
            rss_full = rss_mb()
    controller.redrawer.redraw()
    app.processEvents()
    rss_end = rss_mb()
    window.allow_close = True
    window.close()
    return {"memory_steps": steps, "rss_when_full_mb": rss_full or 0.0, "rss_end_mb": rss_end,
            "rss_growth_mb": rss_end - (rss_full or rss_end)}


def bench_live_memory(app: QApplication, steps: int) -> dict[str, float]:
    """The live app at max speed until ``steps`` steps: RSS of both processes once the ring
    buffers are full and at the end (history beyond the rings is not kept in RAM)."""
    window, controller = _window(app)
    ready = QEventLoop()
    controller.worker.started.connect(ready.quit)
    controller.start()
    ready.exec()
    controller.play()
    rss_full = 0.0
    while controller.buffers.total < steps:
        _run_loop(2.0)
        if not rss_full and controller.buffers.total > HISTORY + 40_000:
            rss_full = rss_mb() + _rss_mb(controller.worker.pid)
    rss_end = rss_mb() + _rss_mb(controller.worker.pid)
    total = controller.buffers.total
    controller.stop_and_wait()
    window.allow_close = True
    window.close()
    return {"steps": total, "rss_full_mb": rss_full, "rss_end_mb": rss_end}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--steps-memory", type=int, default=1_000_000)
    ap.add_argument("--live-memory-steps", type=int, default=0,
                    help="also run the live app to this many steps and report memory growth "
                         "of both processes (1,000,000 takes about 10 minutes)")
    ap.add_argument("--synthetic-rate", type=float, default=0.0,
                    help="only the live measurement, fed by a synthetic engine at this many "
                         "steps/s (bench/fast_feed.py) and recording: the GUI side alone")
    ap.add_argument("--engine", choices=["auto", "eager", "compiled"], default=None,
                    help="run.engine of the engine process and the headless comparison "
                         "(compiled: the first blocks compile while the history fills)")
    args = ap.parse_args()
    if args.engine:
        ENGINE_SETS.append(f'run.engine="{args.engine}"')
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    apply_theme(app, DARK)
    if args.synthetic_rate:
        synthetic_table(app, args.seconds, args.synthetic_rate)
        return 0
    redraw = bench_redraw(app)
    live = bench_live(app, args.seconds, fill=HISTORY)
    headless = bench_headless(args.seconds, max(32, int(live["gui_steps_per_s"] / 30)))
    mem = bench_memory(app, args.steps_memory)
    ratio = live["gui_steps_per_s"] / headless
    full = (f"live, {live['history_steps']:,} steps shown (after {live['steps_total']:,} steps): ")
    rows = [
        (full + "frames drawn per second (redraw timer 33 Hz)", f"{live['live_fps']:.0f} fps "
         f"(redraw p50 {live['live_redraw_ms_p50']:.1f} ms)", ">= 30 fps"),
        ("redraw fps, loss panel (5 curves, 200 bands) + 4 level rows + raster x 100k steps",
         f"{redraw['redraw_fps']:.0f} fps (p50 {redraw['redraw_ms_p50']:.1f} ms, "
         f"p99 {redraw['redraw_ms_p99']:.1f} ms)", ">= 30 fps"),
        ("GUI event-loop stall while the engine runs at max",
         f"p99 {live['stall_ms_p99']:.1f} ms (p50 {live['stall_ms_p50']:.1f}, max "
         f"{live['stall_ms_max']:.0f})", "p99 <= 50 ms"),
        ("engine throughput, GUI attached vs headless (default preset)",
         f"{live['gui_steps_per_s']:,.0f} vs {headless:,.0f} steps/s = {ratio:.0%}", ">= 80%"),
        (f"memory growth over {mem['memory_steps']:,} steps (after the ring is full)",
         f"{mem['rss_growth_mb']:+.1f} MB (RSS {mem['rss_end_mb']:.0f} MB)", "<= 100 MB"),
        (f"memory growth during the {args.seconds:.0f} s live run",
         f"{live['live_rss_growth_mb']:+.1f} MB", "-"),
        ("engine process start (spawn, torch import, session) until 'started'",
         f"{live['engine_startup_s']:.2f} s (window shown before)", "-"),
    ]
    if args.live_memory_steps:
        lm = bench_live_memory(app, args.live_memory_steps)
        rows.append((f"live run to {lm['steps']:,} steps: RSS of GUI + engine process",
                     f"{lm['rss_full_mb']:.0f} MB when the ring was full -> {lm['rss_end_mb']:.0f}"
                     f" MB at the end ({lm['rss_end_mb'] - lm['rss_full_mb']:+.1f} MB)",
                     "<= 100 MB growth"))
    print(f"platform: {platform.platform()}, Python {platform.python_version()}, "
          f"Qt platform {app.platformName()}, {os.cpu_count()} CPUs")
    print("| measure | result | target |\n|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
