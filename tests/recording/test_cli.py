"""``main.py record|info|export`` in a subprocess: output, CSV content, exit codes."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nlviz.recording.reader import Recording
from tests.recording.interrupt import ctrl_c_default, interrupt, wait_for_rows

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "data" / "recording_v1_0.h5"


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run.h5"
    res = _run("record", "--out", str(out), "--steps", "150", "--preset", "tiny", "--batch", "64",
               "--no-progress")
    assert res.returncode == 0, res.stderr
    return out


def test_record_writes_a_complete_file(cli_run):
    with Recording.open(cli_run) as rec:
        assert rec.complete and rec.n_rows == 150
        np.testing.assert_array_equal(rec.steps, np.arange(150))
        assert rec.levels == ("memory", "k", "v", "eta", "alpha", "cms1", "cms2")
        assert len(rec.state_steps()) == 4  # state_every = 32 in the tiny preset
        assert rec.device == "CPU"


def test_info_output(cli_run):
    res = _run("info", str(cli_run))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "schema:         nlviz.run 1.4" in out
    assert "non-finite" not in out      # the steering memories' NaN contribution is by design
    assert "model:          random\n" in out           # no --model: a random start
    assert "status:         complete" in out
    assert "steps:          150 (step 0 .. 149)" in out
    assert "cms2       cms     update period 4" in out
    assert "regime_shift" in out or "periodic signal" in out
    assert "device:         CPU" in out and "file size:" in out


def test_export_csv_content():
    out = GOLDEN.parent / "_tmp_export.csv"
    try:
        res = _run("export", str(GOLDEN), "--csv", str(out), "--levels", "L2", "L0",
                   "--from", "10", "--to", "12")
        assert res.returncode == 0, res.stderr
        rows = list(csv.DictReader(out.open()))
    finally:
        out.unlink(missing_ok=True)
    assert [(r["step"], r["level"]) for r in rows] == [
        ("10", "L2"), ("11", "L2"), ("12", "L2"), ("10", "L0"), ("11", "L0"), ("12", "L0")]
    with Recording.open(GOLDEN) as rec:
        r = rows[1]
        assert float(r["surprise"]) == float(rec.window("surprise", "L2", 11, 11).values[0])
        assert float(r["outer_loss"]) == float(rec.window("outer_loss", None, 11, 11).values[0])
        assert r["update_period"] == "16" and r["fired"] == "0"
        assert rows[3]["fired"] == "1"  # L0 fires every step
        assert float(r["wall_time"]) == pytest.approx(0.011)
    assert list(rows[0].keys())[:7] == ["step", "wall_time", "regime", "token", "level",
                                        "update_period", "fired"]


@pytest.mark.parametrize("args, needle", [
    (["info", "missing.h5"], "no such file"),
    (["info", "main.py"], "not an HDF5 file"),
    (["export", str(GOLDEN), "--csv", "/tmp/x.csv", "--levels", "nope"], "no such level"),
    (["export", str(GOLDEN), "--csv", "/tmp/x.csv", "--from", "9", "--to", "3"], "empty range"),
    (["record", "--out", "/tmp/x.h5", "--steps", "0", "--preset", "tiny"], "--steps 0"),
    (["record", "--out", "/tmp/x.h5", "--steps", "5", "--preset", "nope"], "preset 'nope'"),
    (["record", "--out", "/tmp/x.h5", "--steps", "5", "--batch", "1000000000"],
     "--batch 1000000000: at most 65536 steps per engine call"),
])
def test_bad_input_exits_2_with_one_line(args, needle):
    res = _run(*args)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nlviz: error:") and needle in lines[0]


@pytest.mark.parametrize("wait_s", [0.5, 3.0])
def test_ctrl_c_while_auto_compiles_in_the_background_exits_cleanly(tmp_path, wait_s):
    """``run.engine = auto`` starts a background compile after ``run.compile_after`` steps;
    a Ctrl-C during it still gives exit code 130 and a complete file (a normal interpreter
    shutdown with the compiler's threads running aborted with signal 6)."""
    out = tmp_path / "compiling.h5"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "record", "--out", str(out),
                             "--steps", "1000000", "--preset", "tiny", "--batch", "16",
                             "--set", "run.compile_after=32", "--no-progress"],
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=ctrl_c_default)
    wait_for_rows(out, 64)
    time.sleep(wait_s)                                  # inside the compile (tens of seconds)
    err = interrupt(proc)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "terminate called" not in err
    with Recording.open(out) as rec:
        assert rec.complete and rec.n_rows >= 64
        np.testing.assert_array_equal(rec.steps, np.arange(rec.n_rows))


def test_ctrl_c_keeps_steps_and_closes_cleanly(tmp_path):
    out = tmp_path / "int.h5"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "record", "--out", str(out),
                             "--steps", "1000000", "--preset", "tiny", "--batch", "16",
                             "--no-progress"], stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=ctrl_c_default)
    wait_for_rows(out, 64)
    err = interrupt(proc)
    assert proc.returncode == 130 and "Traceback" not in err
    assert "interrupted at step" in err
    with Recording.open(out) as rec:
        assert rec.complete and rec.n_rows >= 64
        np.testing.assert_array_equal(rec.steps, np.arange(rec.n_rows))
