"""``main.py train`` and ``--model`` in subprocesses: checkpoints, the training recording,
resume, Ctrl-C, and which model a run recording says it ran."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.checkpoint import load_checkpoint, save_checkpoint
from nlviz.recording.reader import Recording
from nlviz.recording.training_reader import TrainingRecording
from tests.recording.interrupt import ctrl_c_default, interrupt

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--set", "model.d_in=4", "--set", "model.d=8", "--set", "model.titans.hidden=4",
        "--set", "model.cms.hidden=4", "--set", "model.cms.periods=[2, 4]",
        "--set", "train.batch=2", "--set", "train.segment=4", "--set", "train.segments=2",
        "--set", "train.chunk=2", "--set", "train.eval_every=2", "--set", "train.eval_episodes=1"]


def _run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    res = _run("train", "--out", str(d / "m.npz"), "--record", str(d / "t.h5"), "--steps", "4",
               "--no-progress", *TINY)
    assert res.returncode == 0, res.stderr
    return d


def test_train_writes_a_checkpoint_with_its_metadata(trained):
    ckpt = load_checkpoint(trained / "m.npz")
    meta = ckpt.meta
    assert meta["outer_steps"] == 4 and meta["seed"] == 0 and meta["train_chunk"] == 2
    assert meta["config"]["d"] == 8 and meta["config"]["titans"]["chunk_size"] == 1
    assert set(meta["final_losses"]) == {"regime_shift", "multi_timescale",
                                         "associative_recall", "text"}
    assert meta["tasks"]["regime_shift"] == 0.35 and meta["tokens"] == 4 * 2 * 4
    assert any(k.startswith("optim/exp_avg/") for k in ckpt.weights)
    assert ckpt.weights["w_in"].shape == (8, 8)            # d x (d_in * context 2)


def test_train_records_every_outer_step(trained):
    rec = TrainingRecording.open(trained / "t.h5")
    try:
        np.testing.assert_array_equal(rec.column("step"), [1, 2, 3, 4])
        held = rec.column("heldout/regime_shift")
        assert np.isnan(held[[0, 2]]).all() and np.isfinite(held[[1, 3]]).all()
        final = load_checkpoint(trained / "m.npz").meta["final_losses"]
        for task, loss in final.items():
            if loss is not None:
                assert rec.column(f"loss/{task}")[-1] == pytest.approx(loss, rel=1e-6)
        assert (rec.column("grad_norm/projections") > 0).all()
    finally:
        rec.close()


def test_training_is_repeatable(trained, tmp_path):
    res = _run("train", "--out", str(tmp_path / "again.npz"), "--steps", "4", "--no-progress",
               *TINY)
    assert res.returncode == 0, res.stderr
    a, b = load_checkpoint(trained / "m.npz"), load_checkpoint(tmp_path / "again.npz")
    for name, value in a.weights.items():
        assert np.array_equal(value.numpy(), b.weights[name].numpy()), name


def test_resume_continues_the_checkpoint_and_its_recording(trained, tmp_path):
    out, rec = tmp_path / "r.npz", tmp_path / "r.h5"
    first = _run("train", "--out", str(out), "--record", str(rec), "--steps", "2",
                 "--no-progress", *TINY)
    assert first.returncode == 0, first.stderr
    res = _run("train", "--out", str(out), "--record", str(rec), "--resume", str(out),
               "--steps", "4", "--no-progress")
    assert res.returncode == 0, res.stderr
    resumed, straight = load_checkpoint(out), load_checkpoint(trained / "m.npz")
    assert resumed.meta["outer_steps"] == 4
    for name, value in straight.weights.items():
        np.testing.assert_allclose(resumed.weights[name].numpy(), value.numpy(), rtol=1e-5,
                                   atol=1e-7, err_msg=name)
    r = TrainingRecording.open(rec)
    try:
        np.testing.assert_array_equal(r.column("step"), [1, 2, 3, 4])
    finally:
        r.close()


def test_ctrl_c_saves_a_checkpoint_that_resumes(tmp_path):
    out = tmp_path / "c.npz"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "train", "--out", str(out),
                             "--record", str(tmp_path / "c.h5"), "--steps", "100000",
                             "--no-progress", *TINY], stderr=subprocess.PIPE, text=True,
                            env=env, preexec_fn=ctrl_c_default)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120 and not (tmp_path / "c.h5").exists():
        time.sleep(0.3)
    time.sleep(2.0)
    err = interrupt(proc)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "continue with --resume" in err
    ckpt = load_checkpoint(out)
    assert ckpt.meta["outer_steps"] >= 1


def test_a_run_records_which_model_it_ran(trained, tmp_path):
    run = tmp_path / "run.h5"
    res = _run("record", "--out", str(run), "--steps", "40", "--preset", "tiny", "--model",
               str(trained / "m.npz"), "--set", "model.d_in=4", "--no-progress")
    assert res.returncode == 0, res.stderr
    ckpt = load_checkpoint(trained / "m.npz")
    with Recording.open(run) as rec:
        assert rec.model["name"] == "m.npz" and rec.model["sha256"] == ckpt.sha256
        assert rec.model["meta"]["outer_steps"] == 4
        cfg = rec.config
        assert cfg["model"]["weights"].endswith("m.npz") and cfg["model"]["context"] == 2
    info = _run("info", str(run))
    assert f"m.npz sha256 {ckpt.sha256[:12]} (4 outer steps)" in info.stdout


def test_random_model_is_todays_engine(tmp_path):
    run = tmp_path / "random.h5"
    res = _run("record", "--out", str(run), "--steps", "20", "--preset", "tiny", "--model",
               "random", "--no-progress")
    assert res.returncode == 0, res.stderr
    with Recording.open(run) as rec:
        assert rec.model["name"] == "random"


@pytest.mark.parametrize("make, needle", [
    (lambda p: p.write_bytes(b"not a zip"), "not an nlviz checkpoint"),
    (lambda p: None, "no such file"),
])
def test_a_bad_model_file_is_one_line(tmp_path, make, needle):
    bad = tmp_path / "bad.npz"
    make(bad)
    res = _run("record", "--out", str(tmp_path / "x.h5"), "--steps", "5", "--preset", "tiny",
               "--model", str(bad), "--no-progress")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and needle in lines[0], res.stderr
    assert "--model" in lines[0] and not (tmp_path / "x.h5").exists()


def test_a_checkpoint_of_another_shape_is_refused_in_one_line(trained, tmp_path):
    ckpt = load_checkpoint(trained / "m.npz")
    weights = dict(ckpt.weights)
    weights["w_in"] = weights["w_in"][:, :4].contiguous()
    save_checkpoint(tmp_path / "wrong.npz", weights, ckpt.meta)
    res = _run("record", "--out", str(tmp_path / "x.h5"), "--steps", "5", "--preset", "tiny",
               "--model", str(tmp_path / "wrong.npz"), "--no-progress")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert "w_in" in lines[0] and "model.weights" in lines[0]


def test_torchrun_two_processes_train_like_one(tmp_path):
    """The command line path: ``torchrun --nproc-per-node 2 -m nlviz train`` (gloo) gives
    the weights one process gives with the same global batch (float64: Adam divides by
    the gradient's own size, so float32 rounding in a near-zero gradient shows up as an
    lr-sized difference)."""
    args = ["train", "--steps", "3", "--no-progress", "--set", 'model.dtype="float64"',
            *TINY, "--set", "train.batch=4"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node",
                          "2", "-m", "nlviz", *args, "--out", str(tmp_path / "ddp.npz")],
                         capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert ddp.returncode == 0, ddp.stderr
    one = _run(*args, "--out", str(tmp_path / "one.npz"))
    assert one.returncode == 0, one.stderr
    a, b = load_checkpoint(tmp_path / "ddp.npz"), load_checkpoint(tmp_path / "one.npz")
    assert a.meta["world_size"] == 2 and b.meta["world_size"] == 1
    for name, value in b.weights.items():
        if not name.startswith("optim/step"):
            np.testing.assert_allclose(a.weights[name].numpy(), value.numpy(), rtol=1e-8,
                                       atol=1e-10, err_msg=name)


def test_the_shipped_model_yields_to_overrides_that_change_its_shapes():
    from nlviz.config_loader import load_config
    trained = load_config("consolidation")
    assert trained.model.weights.endswith("consolidation.npz") and trained.model.context == 2
    live_edit = load_config("consolidation", ["model.titans.lr=0.2"])
    assert live_edit.model.weights == trained.model.weights and live_edit.model.titans.lr == 0.2
    ablation = load_config("consolidation", ["model.cms.periods=[]"])
    assert ablation.model.weights == "" and ablation.model.context == 1   # the preset's own
    assert load_config("tiny").model.weights == ""                      # nothing shipped
    assert load_config("default", model="random").model.weights == ""


def test_a_checkpoint_changed_since_the_run_started_is_refused(trained, tmp_path):
    """A recording's config names the checkpoint and its sha256, so continuing a run
    (or rebuilding it) from a file that has changed since is refused in one line."""
    import shutil

    from engine.config import ConfigError
    from engine.session import Session
    from nlviz.config_loader import load_config
    model = tmp_path / "m.npz"
    shutil.copy(trained / "m.npz", model)
    cfg = load_config("tiny", ["model.d_in=4"], model=str(model))
    assert cfg.model.weights_sha256 == load_checkpoint(model).sha256
    Session(cfg).step(2)                                  # the same file: fine
    ckpt = load_checkpoint(model)
    weights = dict(ckpt.weights)
    weights["w_out"] = weights["w_out"] * 2
    save_checkpoint(model, weights, ckpt.meta)            # the file changes under the run
    with pytest.raises(ConfigError, match="the file changed") as err:
        Session(cfg)
    assert "\n" not in str(err.value) and "model.weights" in str(err.value)


@pytest.mark.parametrize("override, needle", [
    ("train.steps=0", "train.steps: 0 must be an integer >= 1"),
    ("train.segment=30", "train.segment: 30 must be a multiple of train.chunk (4)"),
    ("train.tasks.poetry=1", "train.tasks.poetry: unknown task"),
    ("train.lr=-1", "train.lr: -1.0 must be in [0.0, 100.0]"),
    ("train.epochs=3", "train.epochs: unknown key"),
    ("model.titans.decay_to=\"one\"", "model.titans.decay_to: 'one' is not one of zero, init"),
])
def test_a_bad_training_config_is_one_line(tmp_path, override, needle):
    res = _run("train", "--out", str(tmp_path / "m.npz"), "--set", override, "--no-progress")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and needle in lines[0], res.stderr
    assert not (tmp_path / "m.npz").exists()
