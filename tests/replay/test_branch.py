"""Continue live from here: bit-for-bit continuation on CPU, parent info, refusals."""
from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from engine.frames import LEVEL_METRICS, FrameBatch
from nlviz.recording import layout as L
from nlviz.recording.filewriter import seal_header
from nlviz.recording.reader import Recording
from nlviz.replay.branch import BranchError, branch_session, branchable_steps

DRIFT = LEVEL_METRICS.index("drift_init")


def assert_same_frames(got: FrameBatch, want: FrameBatch) -> None:
    """Every value bit-for-bit: the branched run is the recorded run."""
    level_got, level_want = got.level, want.level
    np.testing.assert_array_equal(level_got, level_want, err_msg="level")
    for name in ("step", "fired", "scalars", "inputs", "regime", "token"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    assert [p.step for p in got.probes] == [p.step for p in want.probes]
    for a, b in zip(got.probes, want.probes):
        np.testing.assert_array_equal(a.ages, b.ages)
        np.testing.assert_array_equal(a.errors, b.errors)
    assert [s.step for s in got.snapshots] == [s.step for s in want.snapshots]
    for sa, sb in zip(got.snapshots, want.snapshots):
        for x, y in zip(sa.weights + sa.updates, sb.weights + sb.updates):
            np.testing.assert_array_equal(x, y)


def slice_frames(b: FrameBatch, lo: int, hi: int) -> FrameBatch:
    """Rows [lo, hi) of a batch starting at step 0, with the sparse records in range."""
    keep = lambda recs: [r for r in recs if lo <= r.step < hi]  # noqa: E731
    return FrameBatch(b.step[lo:hi], b.level[lo:hi], b.fired[lo:hi], b.scalars[lo:hi],
                      b.inputs[lo:hi], b.regime[lo:hi], b.token[lo:hi], b.wall_time[lo:hi],
                      keep(b.probes), keep(b.snapshots))


@pytest.mark.parametrize("k", [200, 191, 399])
def test_branch_reproduces_the_original_run_bit_for_bit(tiny_run, k):
    path, ref = tiny_run
    n = len(ref)
    with Recording.open(path) as rec:
        assert list(branchable_steps(rec)[:3]) == [15, 31, 47]
        br = branch_session(rec, k)
        assert br.state_step == (k + 1) // 16 * 16 - 1 and br.replayed == k - br.state_step
        assert br.session.step_count == k + 1
        assert br.parent == ("run.h5", k)
        # the recorded values the replay shows at k are the branched session's past
        np.testing.assert_array_equal(rec.window("surprise", rec.levels[0], k, k).values,
                                      ref.level[k:k + 1, 0, 0])
    if k + 1 < n:
        got = FrameBatch.concat([br.session.step(m) for m in (7, n - k - 1 - 7)])
        assert_same_frames(got, slice_frames(ref, k + 1, n))


def test_titans_drift_is_bit_for_bit_after_restore(tiny_run):
    path, ref = tiny_run
    with Recording.open(path) as rec:
        br = branch_session(rec, 191)
    assert_same_frames(br.session.step(100), slice_frames(ref, 192, 292))


def test_branch_recording_names_its_parent_and_matches_it(tiny_run, tmp_path):
    from nlviz.recording.writer import Recorder
    path, _ = tiny_run
    with Recording.open(path) as rec:
        br = branch_session(rec, 250)
    s = br.session
    out = tmp_path / "branch.h5"
    with Recorder(out, s.spec, s.config.to_dict(), device=s.device_name,
                  stream=s.stream_description, state_template=s.state_dict(),
                  parent=br.parent) as r2:
        r2.append(s.step(149))
    with Recording.open(out) as child, Recording.open(path) as parent:
        assert child.parent_run == "run.h5" and child.parent_step == 250
        assert parent.parent_run is None and parent.parent_step is None
        assert int(child.steps[0]) == 251 and int(child.steps[-1]) == 399
        for lv, spec in zip(child.levels, child.spec.levels):
            for m in child.spec.level_metrics:
                a, b = child.window(m, lv).values, parent.window(m, lv, 251, 399).values
                if m == "drift_init" and spec.kind == "titans":   # see assert_same_frames
                    np.testing.assert_allclose(a, b, rtol=1e-5)
                else:
                    np.testing.assert_array_equal(a, b, err_msg=f"{lv}/{m}")


def _record_with_commands(path, commands: dict, steps=300):
    from engine.session import Session
    from nlviz.config_loader import load_config
    from nlviz.recording.writer import Recorder
    s = Session(load_config("tiny", ["run.state_every=16"]))
    out = []
    with Recorder(path, s.spec, s.config.to_dict(), device=s.device_name,
                  stream=s.stream_description, state_template=s.state_dict()) as rec:
        cuts = sorted(commands) + [steps]
        for c in cuts:
            if c > s.step_count:
                b = s.step(c - s.step_count)
                rec.append(b)
                out.append(b)
            if c in commands:
                s.apply(commands[c])
    return FrameBatch.concat(out)


def test_live_parameter_changes_in_between_are_reapplied(tmp_path):
    from engine.session import SetParam
    path = tmp_path / "param.h5"
    ref = _record_with_commands(path, {200: SetParam("model.titans.lr", 0.08)})
    with Recording.open(path) as rec:
        br = branch_session(rec, 220)           # state at 207, lr change at 200 < 207: in config
        assert br.session.config.model.titans.lr == 0.08
        br2 = branch_session(rec, 205)          # state at 191, change at 200 re-applied
        assert br2.session.config.model.titans.lr == 0.08
    assert_same_frames(br2.session.step(94), slice_frames(ref, 206, 300))


def test_refusals_are_one_line_user_errors(tiny_run, tmp_path):
    from engine.config import StreamConfig
    from engine.session import SwitchStream
    path, _ = tiny_run
    with Recording.open(path) as rec:
        with pytest.raises(BranchError, match="no engine state at or before step 10; the first "
                                              "is at step 15"):
            branch_session(rec, 10)
        with pytest.raises(BranchError, match="after the last recorded step 399"):
            branch_session(rec, 1000)
    p2 = tmp_path / "switch.h5"
    _record_with_commands(p2, {200: SwitchStream(StreamConfig("text"))}, steps=260)
    with Recording.open(p2) as rec:
        with pytest.raises(BranchError) as info:
            branch_session(rec, 205)
        assert "stream event at step 200" in str(info.value) and "\n" not in str(info.value)
        assert branch_session(rec, 230).state_step == 223   # after the switch: fine


# ------------------------------------------------------------- schema versions of events
DATA = Path(__file__).resolve().parents[1] / "data"


def _relabel(src, dst, version: str):
    """A copy of ``src`` whose root attribute says ``schema_version = version``."""
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        f.attrs[L.A_SCHEMA_VERSION] = version
        seal_header(f)
    return dst


@pytest.mark.parametrize("version", ["1.1", "1.0"])
def test_old_files_branch_with_their_recorded_live_change(version, tmp_path):
    """The 1.1 golden run (and the same file labelled 1.0) recorded its lr change at step 40
    only as a sentence; branching at 45 from the state at 31 re-applies it and the
    continuation matches the recorded rows."""
    path = _relabel(DATA / "recording_v1_1.h5", tmp_path / "old.h5", version)
    with Recording.open(path) as rec:
        assert rec.schema_version == version and not rec.event_payloads
        br = branch_session(rec, 45)
        assert (br.state_step, br.replayed) == (31, 14)
        assert br.session.config.model.titans.lr == 0.08
        got = br.session.step(74)                               # steps 46 .. 119
        for li, lv in enumerate(rec.levels):
            for mi, m in enumerate(rec.spec.level_metrics):
                np.testing.assert_allclose(got.level[:, li, mi], rec.window(m, lv, 46).values,
                                           rtol=1e-5, atol=1e-7, err_msg=f"{lv}/{m}")
        before = branch_session(rec, 35)                        # before the change
        assert before.session.config.model.titans.lr != 0.08


def test_a_1_2_file_branches_from_the_payload_never_the_sentence(tmp_path):
    from engine.commands import SetParam
    path = tmp_path / "param.h5"
    ref = _record_with_commands(path, {200: SetParam("model.titans.lr", 0.08)})
    with h5py.File(path, "r+") as f:                            # the text says nothing useful
        kinds = [k.decode() for k in f[L.D_EVENT_KIND][:]]
        f[L.D_EVENT_DETAIL][kinds.index("param")] = b"changed, see the payload"
    with Recording.open(path) as rec:
        assert rec.event_payloads
        br = branch_session(rec, 205)
    assert br.state_step == 191 and br.session.config.model.titans.lr == 0.08
    assert_same_frames(br.session.step(94), slice_frames(ref, 206, 300))
    old = _relabel(path, tmp_path / "as_1_1.h5", "1.1")       # the same file read as 1.1:
    with Recording.open(old) as rec, pytest.raises(BranchError, match="param event at step 200"):
        branch_session(rec, 205)                                # only the text, unreadable


def test_a_1_2_rebuild_or_unreadable_payload_in_between_is_refused(tmp_path):
    from engine.commands import SetParam
    path = tmp_path / "rebuilt.h5"
    _record_with_commands(path, {200: SetParam("model.titans.lr", 0.08)}, steps=260)
    with h5py.File(path, "r+") as f:
        ends = f[L.D_EVENT_DATA_END][:]
        f[L.D_EVENT_DATA][ends[0]:ends[1]] = np.frombuffer(b" " * int(ends[1] - ends[0]),
                                                            np.uint8)
    with Recording.open(path) as rec:
        with pytest.raises(BranchError) as info:
            branch_session(rec, 205)
        assert "param (unreadable payload) event at step 200" in str(info.value)
        assert branch_session(rec, 230).state_step == 223
    p2 = tmp_path / "d.h5"
    _record_with_commands(p2, {200: SetParam("run.seed", 5)}, steps=260)
    with Recording.open(p2) as rec:
        ev = [e for e in rec.events if e.kind == "param"]
        assert ev[0].data is not None and ev[0].data["live"] is False
        with pytest.raises(BranchError, match="param event at step 200"):
            branch_session(rec, 205)
