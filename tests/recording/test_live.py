"""Crash safety (kill -9 mid-run) and reading a file while another process writes it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

from nlviz.recording.reader import Recording
from tests.support.synthetic import expected_level, synthetic_spec

HELPER = Path(__file__).with_name("writer_proc.py")
ROOT = Path(__file__).resolve().parents[2]


def _start(out: Path, n_batches: int, rows: int, sleep: float) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(HELPER), str(out), str(n_batches), str(rows),
                             str(sleep)], stdout=subprocess.PIPE, env=env, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _wait_rows(out: Path, at_least: int, timeout: float = 30.0) -> int:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        with Recording.open(out) as rec:
            if rec.n_rows >= at_least:
                return rec.n_rows
        time.sleep(0.05)
    raise AssertionError(f"writer never committed {at_least} rows")


def _check_rows(rec: Recording) -> None:
    spec = synthetic_spec()
    n = rec.n_rows
    np.testing.assert_array_equal(rec.steps, np.arange(n))
    want = expected_level(spec, np.arange(n))
    for li, lv in enumerate(spec.level_names):
        for mi, m in enumerate(spec.level_metrics):
            np.testing.assert_array_equal(rec.window(m, lv).values, want[:, li, mi])


def test_kill_9_keeps_committed_rows_and_reads_as_recovered(tmp_path):
    out = tmp_path / "killed.h5"
    proc = _start(out, n_batches=10_000, rows=50, sleep=0.01)
    try:
        _wait_rows(out, 500)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with Recording.open(out) as rec:
        assert rec.recovered and not rec.complete
        assert rec.n_rows >= 500
        with h5py.File(out, "r", libver="latest", swmr=True) as f:
            assert f["steps"].shape[0] >= rec.n_rows
        _check_rows(rec)
        assert rec.events[0].kind == "start"


def test_reader_follows_a_file_being_written(tmp_path):
    out = tmp_path / "live.h5"
    proc = _start(out, n_batches=60, rows=50, sleep=0.05)
    try:
        first = _wait_rows(out, 100)
        with Recording.open(out) as rec:
            assert rec.recovered  # not closed yet
            n0 = rec.n_rows
            _check_rows(rec)
            t0 = time.monotonic()
            while rec.refresh() <= n0 and time.monotonic() - t0 < 20:
                time.sleep(0.1)
            assert rec.n_rows > n0 >= first
            _check_rows(rec)
            assert rec.window("surprise", "L1", n0, n0 + 9).steps.tolist() == \
                list(range(n0, min(n0 + 10, rec.n_rows)))
    finally:
        assert proc.wait(timeout=60) == 0
    with Recording.open(out) as rec:
        assert rec.complete and rec.n_rows == 3000
        _check_rows(rec)
