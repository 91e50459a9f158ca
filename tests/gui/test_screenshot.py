"""``python main.py --screenshot`` runs N steps, saves a non-blank PNG and exits 0."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[2]


def test_screenshot_run_writes_non_blank_png(tmp_path):
    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "main.py", "--preset", "tiny", "--steps", "50",
                           "--screenshot", str(out), "--window-size", "1200x800"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    img = QImage(str(out))
    assert (img.width(), img.height()) == (1200, 800)
    colours = {img.pixel(x, y) for y in range(0, 800, 9) for x in range(0, 1200, 9)}
    assert len(colours) > 50


def test_bad_window_size_is_one_line(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "main.py", "--window-size", "big"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "--window-size" in proc.stderr


def test_screenshot_as_svg_by_suffix(tmp_path):
    out = tmp_path / "shot.svg"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "main.py", "--preset", "tiny", "--steps", "20",
                           "--screenshot", str(out), "--window-size", "1000x700"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text(encoding="utf-8")
    assert "<svg" in text and 'viewBox="0 0 ' in text
    assert text.count("<polyline") > 50      # the curves are vectors, not a bitmap


def test_bad_app_arguments_are_one_line(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    for args, needle in ((["--steps", "-5"], "--steps"),
                         (["--window-size", "100000x100000"], "at most 16384"),
                         (["--screenshot", str(tmp_path / "x.bmp"), "--steps", "1"], ".png or .svg")):
        proc = subprocess.run([sys.executable, "main.py", "--preset", "tiny", *args], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("nlviz")]
        assert len(lines) == 1 and needle in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr


def _run(tmp_path, *args, timeout=180):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    return subprocess.run([sys.executable, "main.py", "--preset", "tiny", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("nlviz")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_window_size_800x600_gives_that_picture_after_the_engine_is_up(tmp_path):
    out = tmp_path / "small.png"
    proc = _run(tmp_path, "--screenshot", str(out), "--window-size", "800x600")
    assert proc.returncode == 0, proc.stderr
    img = QImage(str(out))
    assert (img.width(), img.height()) == (800, 600)
    svg = tmp_path / "up.svg"                  # no --steps: shot once the engine is up
    proc = _run(tmp_path, "--screenshot", str(svg), "--window-size", "1000x700")
    assert proc.returncode == 0, proc.stderr
    text = svg.read_text(encoding="utf-8")
    assert "device: CPU" in text and "running:" in text
    assert "starting engine" not in text and "device: -" not in text


def test_window_size_below_the_minimum_is_refused_with_the_minimum(tmp_path):
    proc = _run(tmp_path, "--screenshot", str(tmp_path / "x.png"), "--window-size", "500x400")
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert line.startswith("nlviz: error: --window-size 500x400: the window needs at least ")
    w, h = (int(v) for v in line.rsplit(" ", 1)[1].split("x"))
    assert 500 < w <= 800 and 400 < h <= 600        # 800x600 itself must be possible
    assert not (tmp_path / "x.png").exists()


def test_screenshot_fails_when_the_recording_cannot_be_created(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = tmp_path / "x.png"
    proc = _run(tmp_path, "--record", str(blocker / "run.h5"), "--screenshot", str(out))
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert line == f"nlviz: error: {blocker / 'run.h5'}: cannot create recording: Not a directory"
    assert not out.exists()


def test_screenshot_fails_when_the_engine_never_starts(tmp_path):
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not an npy file")
    out = tmp_path / "x.png"
    proc = _run(tmp_path, "--stream", str(bad), "--screenshot", str(out))
    assert proc.returncode != 0
    line = _one_error_line(proc.stderr)
    assert "bad.npy" in line
    assert not out.exists()


def test_replay_window_size_below_its_minimum_is_refused(tmp_path):
    from tests.gui.test_replay import write_run
    run = tmp_path / "run.h5"
    write_run(run, rows=300)
    out = tmp_path / "r.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    proc = subprocess.run([sys.executable, "main.py", "--replay", str(run), "--screenshot",
                           str(out), "--window-size", "300x200"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert "--window-size 300x200: the window needs at least" in line
    assert not out.exists()
