"""``main.py record --seeds N``: N normal recordings (OUT.s0.h5 ...) whose data equal N
separate ``record --seed S`` runs, grouped by Compare's grouping as one config over seeds;
bad input is one line with exit 2; Ctrl-C keeps every file's steps."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nlviz.analysis.grouping import band, group_by_config
from nlviz.commands.record_seeds import seed_paths
from nlviz.recording.reader import Recording
from nlviz.replay.compare import Comparison
from nlviz.replay.compare_data import CompareData
from tests.recording.interrupt import ctrl_c_default, interrupt, wait_for_rows

ROOT = Path(__file__).resolve().parents[2]
STEPS = 150
ARGS = ("--steps", str(STEPS), "--preset", "tiny", "--batch", "64", "--no-progress",
        "--seed", "3")


def _run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(the three files of ``--seeds 3``, three single records of seeds 3, 4, 5)."""
    d = tmp_path_factory.mktemp("seeds")
    res = _run("record", "--out", str(d / "run.h5"), "--seeds", "3", *ARGS)
    assert res.returncode == 0, res.stderr
    assert "x 3 seeds" in res.stderr
    batched = [d / f"run.s{i}.h5" for i in range(3)]
    singles = []
    for i in range(3):
        out = d / f"single{i}.h5"
        args = list(ARGS)
        args[-1] = str(3 + i)
        res = _run("record", "--out", str(out), *args)
        assert res.returncode == 0, res.stderr
        singles.append(out)
    return batched, singles


def test_each_seed_file_equals_its_single_record(runs):
    batched, singles = runs
    assert sorted(p.name for p in batched[0].parent.glob("run*")) == \
        ["run.s0.h5", "run.s1.h5", "run.s2.h5"]
    for i, (b, s) in enumerate(zip(batched, singles)):
        with Recording.open(b) as a, Recording.open(s) as r:
            assert a.complete and a.n_rows == STEPS
            assert a.config == r.config and a.config["run"]["seed"] == 3 + i
            assert a.levels == r.levels
            np.testing.assert_array_equal(a.steps, r.steps)
            np.testing.assert_array_equal(a.inputs(), r.inputs())
            np.testing.assert_array_equal(a.regime(), r.regime())
            for level in a.levels:
                np.testing.assert_array_equal(a.column("fired", level), r.column("fired", level))
                for metric in ("surprise", "grad_surprise", "update_norm", "drift_init"):
                    np.testing.assert_allclose(a.column(metric, level), r.column(metric, level),
                                               rtol=1e-5, atol=1e-6, equal_nan=True)
            for metric in ("outer_loss", "copy_loss", "zero_loss"):
                np.testing.assert_allclose(a.column(metric), r.column(metric), rtol=1e-5,
                                           atol=1e-6)
            np.testing.assert_array_equal(a.state_steps(), r.state_steps())
            assert [p.step for p in a.probes()] == [p.step for p in r.probes()]
            for p, q in zip(a.probes(), r.probes()):
                np.testing.assert_array_equal(p.ages, q.ages)
                np.testing.assert_allclose(p.errors, q.errors, rtol=1e-3, atol=1e-5,
                                           equal_nan=True)
            assert [e.step for e in a.evals()] == [e.step for e in r.evals()]
            assert [(e.kind, e.step) for e in a.events] == [(e.kind, e.step) for e in r.events]
    # the seeds really differ (else equality above would prove little)
    with Recording.open(batched[0]) as a, Recording.open(batched[1]) as b:
        assert not np.array_equal(a.inputs(), b.inputs())


def test_info_opens_a_seed_file(runs):
    res = _run("info", str(runs[0][1]))
    assert res.returncode == 0, res.stderr
    assert "status:         complete" in res.stdout
    assert f"steps:          {STEPS} (step 0 .. {STEPS - 1})" in res.stdout


def test_seed_files_group_as_one_config_with_a_band(runs):
    batched, _ = runs
    configs, steps, losses = [], [], []
    for p in batched:
        with Recording.open(p) as rec:
            configs.append(rec.config)
            steps.append(rec.steps)
            losses.append(rec.column("outer_loss"))
    groups = group_by_config(configs)
    assert len(groups) == 1
    assert groups[0].members == (0, 1, 2) and groups[0].seeds == (3, 4, 5)
    b = band(steps, losses)
    np.testing.assert_array_equal(b.grid, np.arange(STEPS))
    assert (b.count == 3).all()
    stack = np.vstack(losses).astype(np.float64)
    np.testing.assert_allclose(b.mean, stack.mean(0))
    np.testing.assert_allclose(b.std, stack.std(0, ddof=1))
    assert (b.std[1:] > 0).any()
    # the compare window's own (Qt-free) data: one group, its band over the three files
    with Comparison.open(batched) as cmp:
        data = CompareData(cmp)
        assert [g.members for g in data.groups] == [(0, 1, 2)]
        wb = data.band(data.groups[0], "outer_loss")
        assert wb is not None and (wb.count == 3).all()
        np.testing.assert_allclose(wb.mean, stack.mean(0), rtol=1e-6)


def test_seed_paths():
    assert seed_paths("a/run.h5", 2) == ["a/run.s0.h5", "a/run.s1.h5"]
    assert seed_paths("a/run", 1) == ["a/run.s0.h5"]


@pytest.mark.parametrize("seeds, needle", [
    ("0", "--seeds 0: must be at least 1"),
    ("-2", "--seeds -2: must be at least 1"),
    ("100000", "--seeds 100000: at most 4096 seeds"),
    ("4000", "seeds: 4000 runs need about"),
])
def test_bad_seeds_exit_2_with_one_line(tmp_path, seeds, needle):
    extra = ["--set", "model.d=1024", "--set", "model.cms.hidden=1024"] if seeds == "4000" else []
    res = _run("record", "--out", str(tmp_path / "x.h5"), "--steps", "5", "--preset", "tiny",
               "--seeds", seeds, *extra)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nlviz: error:") and needle in lines[0]
    assert not list(tmp_path.iterdir())


def test_an_existing_seed_file_is_refused_and_kept(tmp_path):
    existing = tmp_path / "x.s1.h5"
    existing.write_bytes(b"keep me")
    res = _run("record", "--out", str(tmp_path / "x.h5"), "--steps", "5", "--preset", "tiny",
               "--seeds", "2")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "x.s1.h5" in lines[0] and "--overwrite" in lines[0]
    assert existing.read_bytes() == b"keep me"
    assert not (tmp_path / "x.s0.h5").exists()


def test_ctrl_c_keeps_every_seed_file(tmp_path):
    out = tmp_path / "int.h5"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "record", "--out", str(out),
                             "--steps", "1000000", "--preset", "tiny", "--batch", "16",
                             "--seeds", "2", "--no-progress"], stderr=subprocess.PIPE,
                            text=True, env=env, preexec_fn=ctrl_c_default)
    first = tmp_path / "int.s0.h5"
    wait_for_rows(first, 64)
    err = interrupt(proc)
    assert proc.returncode == 130 and "Traceback" not in err
    assert "interrupted at step" in err
    rows = []
    for i in range(2):
        with Recording.open(tmp_path / f"int.s{i}.h5") as rec:
            assert rec.complete and rec.n_rows >= 64
            np.testing.assert_array_equal(rec.steps, np.arange(rec.n_rows))
            assert rec.events[-1].detail == "interrupted"
            rows.append(rec.n_rows)
    assert rows[0] == rows[1]


def test_a_nan_in_one_seed_keeps_every_file(tmp_path, monkeypatch, capsys):
    """Run 1 turns NaN in the second engine call: every file keeps its rows up to there
    (the healthy runs their whole batch), is complete, and the exit code is 1."""
    from engine.seeds import SeedBatch
    from nlviz.cli import main

    real_step = SeedBatch.step
    calls = []

    def step(self, n):
        if len(calls) == 1:                       # break run 1 before the second call
            bank = self.model.titans.bank
            w2 = bank.w2.clone()
            w2[1] = float("nan")
            bank.set_params([bank.w1, w2] if bank.w1 is not None else [w2])
        calls.append(n)
        return real_step(self, n)

    monkeypatch.setattr(SeedBatch, "step", step)
    code = main(["record", "--out", str(tmp_path / "f.h5"), "--steps", "200", "--preset",
                 "tiny", "--batch", "64", "--seeds", "3", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "engine fault" in err and "seed 1" in err
    rows = []
    for i in range(3):
        with Recording.open(tmp_path / f"f.s{i}.h5") as rec:
            assert rec.complete
            np.testing.assert_array_equal(rec.steps, np.arange(rec.n_rows))
            assert rec.events[-1].detail == "engine fault"
            rows.append(rec.n_rows)
    assert rows == [128, 65, 128]
