"""The training recording (``nlviz train``): round trip, NaN rows, resume, kinds, info."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from nlviz.cli import main
from nlviz.errors import UserError
from nlviz.recording import layout as L
from nlviz.recording import training_layout as T
from nlviz.recording.outlock import OutputBusy, OutputExists
from nlviz.recording.reader import Recording, RecordingError
from nlviz.recording.training_reader import TrainingRecording, file_kind
from nlviz.recording.training_writer import TrainingRecorder, TrainingRow
from nlviz.recording.writer import Recorder
from tests.support.synthetic import synthetic_batch, synthetic_spec
from tests.support.training_file import (
    GATE_STATS,
    GROUPS,
    HELDOUT_EVERY,
    TASKS,
    expected_row,
    write_training_file,
)


def _expected_columns(steps: np.ndarray) -> dict[str, np.ndarray]:
    rows = [expected_row(int(s)) for s in steps]
    cols: dict[str, list] = {"step": [r.step for r in rows],
                             "wall_time": [r.wall_time for r in rows],
                             "lr": [r.lr for r in rows], "tokens": [r.tokens for r in rows],
                             "loss/total": [r.total for r in rows]}
    for i, t in enumerate(TASKS):
        cols[f"loss/{t}"] = [r.loss[i] for r in rows]
        cols[f"heldout/{t}"] = [r.heldout[i] for r in rows]
    for i, g in enumerate(GROUPS):
        cols[f"grad_norm/{g}"] = [r.grad_norm[i] for r in rows]
    for i, s in enumerate(GATE_STATS):
        cols[f"gates/{s}"] = [r.gates[i] for r in rows]
    return {k: np.asarray(v, T.dtype_of(k)) for k, v in cols.items()}


def _assert_file_holds(rec: TrainingRecording, steps: np.ndarray) -> None:
    want = _expected_columns(steps)
    assert sorted(rec.columns) == sorted(want)
    for name, values in want.items():
        got = rec.column(name)
        assert got.dtype == values.dtype, name
        np.testing.assert_array_equal(got, values, err_msg=name)


def test_round_trip_keeps_every_value_exactly(tmp_path):
    path = tmp_path / "train.h5"
    write_training_file(path, steps=200)
    with TrainingRecording.open(path) as rec:
        assert rec.n_rows == 200 and rec.complete
        assert rec.tasks == TASKS and rec.groups == GROUPS and rec.gate_stats == GATE_STATS
        assert rec.config["batch"] == 8 and rec.model_config == {"preset": "default",
                                                                 "d_model": 16}
        assert rec.device == "cpu" and rec.torch_version == "2.x-test"
        assert rec.schema_version == "1.0" and rec.created_utc and rec.nlviz_version
        _assert_file_holds(rec, np.arange(200))
        row = rec.row(37)
        want = expected_row(37)
        assert (row.step, row.tokens, row.wall_time, row.lr) == (37, want.tokens,
                                                                 want.wall_time, want.lr)
        assert row.grad_norm == tuple(float(np.float32(v)) for v in want.grad_norm)
    with h5py.File(path, "r") as f:
        a = f.attrs
        assert (a["schema"], a["schema_version"], a["kind"]) == ("nlviz.training", "1.0",
                                                                 "training")
        assert "header_crc32" in a and "created_utc" in a
        for name in ("step", "loss/total", "loss/regime_shift", "gates/eta_std"):
            assert f[name].fletcher32 and f[name].chunks is not None
            assert f[name].maxshape == (None,)


def test_nan_heldout_and_missing_task_rows_stay_nan(tmp_path):
    path = tmp_path / "train.h5"
    write_training_file(path, steps=60)
    with TrainingRecording.open(path) as rec:
        held = rec.column("heldout/regime_shift")
        evaluated = np.arange(60) % HELDOUT_EVERY == 0
        assert np.isfinite(held[evaluated]).all() and np.isnan(held[~evaluated]).all()
        loss = rec.column("loss/regime_shift")       # task 1 skips every 4th step
        assert np.isnan(loss[::4]).all() and np.isfinite(np.delete(loss, np.s_[::4])).all()
        assert np.isfinite(rec.column("loss/assoc_recall")).all()
        assert rec.last_finite("heldout/text") == (50, float(np.float32(
            expected_row(50).heldout[3])))


def test_resume_continues_after_the_last_step(tmp_path):
    path = tmp_path / "train.h5"
    write_training_file(path, steps=120)
    with TrainingRecording.open(path) as rec:
        created = rec.created_utc
        assert rec.resumes == 0
    rec2 = write_training_file(path, steps=200, start=120, append=True)
    assert rec2.rows == 200 and rec2.first_step == 0 and rec2.last_step == 199
    with TrainingRecording.open(path) as rec:
        assert rec.n_rows == 200 and rec.created_utc == created and rec.resumes == 1
        _assert_file_holds(rec, np.arange(200))


def test_resume_from_an_older_step_drops_the_rows_done_again(tmp_path):
    path = tmp_path / "train.h5"
    write_training_file(path, steps=150)            # checkpoint at 100, recording at 150
    write_training_file(path, steps=200, start=100, append=True)
    with TrainingRecording.open(path) as rec:
        assert rec.n_rows == 200
        _assert_file_holds(rec, np.arange(200))


def test_resume_step_truncates_at_open(tmp_path):
    path = tmp_path / "train.h5"
    write_training_file(path, steps=150)
    rec = TrainingRecorder(path, tasks=TASKS, groups=GROUPS, gate_stats=GATE_STATS,
                           config={}, model_config={}, device="cpu", torch_version="t",
                           append=True, resume_step=90)
    assert rec.last_step == 89
    with TrainingRecording.open(path) as r:        # readable while the recorder holds it
        assert r.n_rows == 90 and int(r.steps[-1]) == 89
    with pytest.raises(ValueError, match="must increase"):
        rec.append(expected_row(89))
    rec.append(expected_row(90))
    rec.close()
    with TrainingRecording.open(path) as r:
        _assert_file_holds(r, np.arange(91))


def test_resume_of_a_missing_file_starts_one(tmp_path):
    path = tmp_path / "new.h5"
    write_training_file(path, steps=30, start=10, append=True)
    with TrainingRecording.open(path) as rec:
        _assert_file_holds(rec, np.arange(10, 30))


@pytest.mark.parametrize("field", ["tasks", "groups", "gate_stats"])
def test_a_mismatched_resume_is_refused_and_leaves_the_file(tmp_path, field):
    path = tmp_path / "train.h5"
    write_training_file(path, steps=50)
    names: dict[str, tuple[str, ...]] = {"tasks": TASKS, "groups": GROUPS,
                                         "gate_stats": GATE_STATS}
    names[field] = names[field][:-1]
    with pytest.raises(UserError) as err:
        TrainingRecorder(path, tasks=names["tasks"], groups=names["groups"],
                         gate_stats=names["gate_stats"], config={}, model_config={},
                         device="cpu", torch_version="t", append=True)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and f"its {field} are" in msg
    with TrainingRecording.open(path) as rec:
        assert rec.n_rows == 50 and rec.complete


def test_existing_file_needs_overwrite_and_one_writer_at_a_time(tmp_path):
    path = tmp_path / "train.h5"
    write_training_file(path, steps=5)
    with pytest.raises(OutputExists):
        write_training_file(path, steps=5)
    rec = write_training_file(path, steps=5, overwrite=True, close=False)
    try:
        with pytest.raises(OutputBusy):
            write_training_file(path, steps=5, overwrite=True)
        with pytest.raises(OutputBusy):
            write_training_file(path, steps=8, start=5, append=True)
    finally:
        rec.close()


def test_reader_follows_a_training_still_being_written(tmp_path):
    path = tmp_path / "train.h5"
    rec = TrainingRecorder(path, tasks=TASKS, groups=GROUPS, gate_stats=GATE_STATS,
                           config={}, model_config={}, device="cpu", torch_version="t",
                           flush_rows=10, flush_interval=1e9)
    try:
        rec.append(expected_row(0))                  # the first row is flushed at once
        with TrainingRecording.open(path) as r:
            assert r.n_rows == 1 and not r.complete
            for s in range(1, 25):
                rec.append(expected_row(s))
            assert r.refresh() == 21                 # flushed at 11 and 21 rows
            rec.flush()
            assert r.refresh() == 25
            _assert_file_holds(r, np.arange(25))
    finally:
        rec.close()
    with TrainingRecording.open(path) as r:
        assert r.complete and r.n_rows == 25


def test_bad_rows_and_names_are_refused(tmp_path):
    with pytest.raises(UserError, match="tasks entry 'total' is reserved"):
        TrainingRecorder(tmp_path / "a.h5", tasks=("total",), groups=(), gate_stats=(),
                         config={}, model_config={}, device="cpu")
    with pytest.raises(UserError, match="contains '/'"):
        TrainingRecorder(tmp_path / "a.h5", tasks=("a/b",), groups=(), gate_stats=(),
                         config={}, model_config={}, device="cpu")
    assert not (tmp_path / "a.h5").exists()
    with TrainingRecorder(tmp_path / "b.h5", tasks=("x",), groups=("g",), gate_stats=(),
                          config={}, model_config={}, device="cpu") as rec:
        with pytest.raises(ValueError, match=r"TrainingRow.loss has 2 values"):
            rec.append(TrainingRow(0, 0.0, 1e-3, 0, 1.0, (1.0, 2.0), (1.0,), (1.0,), ()))
        rec.append(TrainingRow(3, 0.0, 1e-3, 0, 1.0, (1.0,), (1.0,), (1.0,), ()))
        with pytest.raises(ValueError, match="got 3 after 3"):
            rec.append(TrainingRow(3, 0.0, 1e-3, 0, 1.0, (1.0,), (1.0,), (1.0,), ()))


def _run_file(path) -> None:
    spec = synthetic_spec()
    with Recorder(path, spec, {"synthetic": True}, device="cpu", stream="synthetic") as rec:
        rec.append(synthetic_batch(spec, 0, 50))


def test_a_run_file_has_kind_run(tmp_path):
    path = tmp_path / "run.h5"
    _run_file(path)
    with h5py.File(path, "r") as f:
        assert f.attrs["kind"] == "run"
    with Recording.open(path) as rec:
        assert rec.kind == "run"
    assert file_kind(path) == "run"


def test_an_old_run_file_without_kind_still_opens_as_a_run():
    path = "tests/data/recording_v1_1.h5"
    with h5py.File(path, "r") as f:
        assert "kind" not in f.attrs
    with Recording.open(path) as rec:
        assert rec.kind == "run" and rec.n_rows > 0
    assert file_kind(path) == "run"


def test_each_reader_refuses_the_other_kind_in_one_line(tmp_path):
    run, train = tmp_path / "run.h5", tmp_path / "train.h5"
    _run_file(run)
    write_training_file(train, steps=5)
    assert file_kind(train) == "training"
    with pytest.raises(RecordingError) as err:
        TrainingRecording.open(run)
    msg = str(err.value)
    assert msg.startswith(f"{run}: a run recording, not a training recording") and "\n" not in msg
    with pytest.raises(RecordingError) as err:
        Recording.open(train)
    msg = str(err.value)
    assert msg == (f"{train}: not a run recording (root attribute 'kind' is 'training'); "
                   "nlviz info and --replay show it")


def test_a_damaged_header_is_refused_in_one_line(tmp_path):
    path = tmp_path / "train.h5"
    write_training_file(path, steps=5)
    with h5py.File(path, "r+") as f:
        f.attrs["tasks"] = '["assoc_recall", "regime_shift", "multi_timescale", "texx"]'
    with pytest.raises(RecordingError, match=r"root attribute header_crc32 is \d+, the root "):
        TrainingRecording.open(path)
    with h5py.File(path, "r+") as f:
        del f.attrs["header_crc32"]
    with pytest.raises(RecordingError, match="missing dataset /loss/texx"):
        TrainingRecording.open(path)


def test_info_prints_the_training_summary(tmp_path, capsys):
    path = tmp_path / "train.h5"
    write_training_file(path, steps=95)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"file:           {path}"
    assert "kind:           training (schema nlviz.training 1.0)" in out
    assert "steps:          95 (outer step 0 .. 94)" in out
    assert "tasks:          assoc_recall, regime_shift, multi_timescale, text" in out
    assert "wall time:      23.6 s" in out               # 0.25 * 94 + 0.1
    last = expected_row(94)
    held = expected_row(90)
    line = next(x for x in out if x.startswith("  regime_shift "))
    assert line.split() == ["regime_shift", f"{np.float32(last.loss[1]):.4g}", "(step", "94)",
                            f"{np.float32(held.heldout[1]):.4g}", "(step", "90)"]
    # task 2 (multi_timescale) skips every 5th step: step 94 is not one, 90 is
    total = next(x for x in out if x.startswith("  total "))
    assert total.split()[1] == f"{np.float32(last.total):.4g}"


def test_info_of_a_run_file_is_unchanged_and_errors_are_one_line(tmp_path, capsys):
    run = tmp_path / "run.h5"
    _run_file(run)
    assert main(["info", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"schema:         nlviz.run {L.SCHEMA_VERSION}" in out and "kind:" not in out
    bad = tmp_path / "x.h5"
    with h5py.File(bad, "w") as f:
        f.attrs["kind"] = "training"
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"nlviz: error: {bad}: root attributes 'schema' = '' and 'kind' = "
                   "'training' disagree")


def test_resume_after_the_writer_was_killed(tmp_path):
    """A training killed mid-run (its file never closed) is resumed from its checkpoint."""
    import subprocess
    import sys
    path = tmp_path / "train.h5"
    code = ("import os, sys\n"
            "from tests.support.training_file import write_training_file\n"
            "rec = write_training_file(sys.argv[1], steps=40, close=False)\n"
            "os._exit(0)\n")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=120)
    with TrainingRecording.open(path) as rec:
        assert rec.n_rows == 40 and not rec.complete
    write_training_file(path, steps=60, start=30, append=True)
    with TrainingRecording.open(path) as rec:
        assert rec.complete and rec.resumes == 1
        _assert_file_holds(rec, np.arange(60))


def test_a_deleted_file_stops_the_recording_with_one_line(tmp_path):
    from nlviz.recording.training_writer import TrainingRecorderError
    path = tmp_path / "train.h5"
    rec = write_training_file(path, steps=10, close=False)
    path.unlink()
    rec.append(expected_row(10))
    with pytest.raises(TrainingRecorderError) as err:
        rec.flush()
    assert str(err.value) == (f"{path}: the file was deleted or replaced while recording "
                              "(after step 10)")
    with pytest.raises(TrainingRecorderError, match="deleted or replaced"):
        rec.append(expected_row(11))
    for _ in range(2):                             # every close says it, like a run's
        with pytest.raises(TrainingRecorderError, match="deleted or replaced"):
            rec.close()
