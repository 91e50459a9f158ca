"""The engine process without Qt: ``EngineProcess`` + ``EngineLoop`` driven over the typed
protocol. Step counts are exact, batches carry the engine's real frames (compared with the
same run computed here), ``SessionInfo`` arrives as a message whenever the session changes,
recording writes what was sent, a fault is a typed reply, and stop leaves no process."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from engine.commands import Ablate, Reset, SetParam
from engine.frames import FrameBatch
from nlviz.config_loader import load_config
from nlviz.host.protocol import (
    Batch,
    BranchSource,
    Event,
    Fault,
    Pause,
    Paused,
    Play,
    Rebuild,
    Record,
    RecordingChanged,
    Rejected,
    Resumed,
    SessionInfo,
    StartFailed,
    StepN,
)
from tests.host.driver import frames_of, kinds
from tests.host.loops import FAULTY_LOOP, InjectFault, WhichModules


def _headless(n: int, overrides: tuple[str, ...] = ()) -> FrameBatch:
    """The same run computed in this process, one call."""
    from engine.session import Session
    return Session(load_config("tiny", list(overrides))).step(n)


def _assert_same_run(got: FrameBatch, want: FrameBatch) -> None:
    for name in ("step", "fired", "inputs", "regime", "token"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    np.testing.assert_allclose(got.level, want.level, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.scalars, want.scalars, rtol=1e-5, atol=1e-7)


def test_engine_process_runs_without_qt(tmp_path):
    """A fresh interpreter drives the engine with no Qt anywhere: not in the parent, and
    not in the child (asked through the test loop)."""
    script = textwrap.dedent("""
        import sys
        from nlviz.config_loader import load_config
        from nlviz.host.process import EngineProcess
        from nlviz.host.protocol import Event, Paused, Ready, StepN
        from tests.host.driver import Driver, frames_of
        from tests.host.loops import FAULTY_LOOP, WhichModules

        engine = EngineProcess(load_config("tiny"), loop=FAULTY_LOOP)
        engine.start()
        d = Driver(engine)
        d.until(Ready)
        d.send(StepN(5))
        paused = d.until(Paused)
        d.send(WhichModules())
        child = d.until(Event).line.split()[1:]
        print(paused.step_count, len(frames_of(d.log)))
        print("PySide6" in sys.modules, "PySide6" in child, "torch" in child)
        print(engine.stop(), engine.exitcode)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["5 5", "False False True", "True 0"]


def test_ready_comes_after_a_session_info(start_engine, tiny):
    from engine.session import Session
    d = start_engine()
    assert kinds(d.take()) == ["SessionInfo", "Ready"]
    info = d.info()
    want = Session(tiny)
    assert info.step_count == 0 and info.parent is None
    assert info.spec == want.spec and len(info.spec.levels) == 7    # 5 Titans + 2 CMS
    assert info.config == tiny and info.device_name == want.device_name == "CPU"
    assert info.regime_names == tuple(want.regime_names)


def test_step_n_moves_exactly_and_batches_hold_the_run(start_engine):
    d = start_engine()
    total = 0
    for n in (1, 1, 7, 100, 3):
        d.send(StepN(n))
        paused = d.until(Paused)
        total += n
        assert paused.step_count == total
    replies = d.log
    batches = [r for r in replies if isinstance(r, Batch)]
    assert sum(b.size for b in batches) == total == 112
    for b in batches:                        # each batch says where the engine is after it
        assert b.size == len(b.frames)
        if b.size:                           # 0 rows: the records thinning held, at a pause
            assert b.step_count == int(b.frames.step[-1]) + 1
        else:
            assert b.frames.probes or b.frames.snapshots or b.frames.states
    _assert_same_run(frames_of(replies), _headless(total))
    assert kinds(replies).count("Resumed") == kinds(replies).count("Paused") == 5


def test_play_then_pause_lands_on_a_batch_boundary(start_engine):
    d = start_engine()
    d.send(Play())
    d.until(Resumed)
    d.until(Batch)
    d.send(Pause())
    paused = d.until(Paused)
    frames = frames_of(d.log)
    assert paused.step_count == len(frames) >= 32      # MIN_BATCH at "max" speed
    assert paused.step_count % d.info().config.run.block == 0    # whole blocks
    np.testing.assert_array_equal(frames.step, np.arange(paused.step_count))
    d.send(StepN(3))                                    # and it goes on from there exactly
    assert d.until(Paused).step_count == paused.step_count + 3


def test_reset_and_live_param_send_a_new_session_info(start_engine):
    d = start_engine()
    d.send(StepN(10))
    d.until(Paused)
    d.take()
    d.send(Reset())
    event = d.until(Event)
    assert kinds(d.take()) == ["SessionInfo", "SpecChanged", "SessionInfo", "Event"]
    assert event.line == "10: reset engine reset to its initial state"
    assert d.info().step_count == 10                    # the global step count continues
    d.send(SetParam("model.titans.lr", 0.02))
    event = d.until(Event)
    assert kinds(d.take()) == ["SessionInfo", "Event"]
    assert d.info().config.model.titans.lr == 0.02
    assert "model.titans.lr" in event.line
    d.send(StepN(5))
    assert d.until(Paused).step_count == 15
    np.testing.assert_array_equal(frames_of(d.take()).step, np.arange(10, 15))


def test_rebuild_changes_the_spec_and_keeps_the_count(start_engine):
    d = start_engine()
    d.send(StepN(4))
    d.until(Paused)
    d.take()
    d.send(Rebuild(load_config("tiny", ["model.cms.periods=[2,4,8]"])))
    event = d.until(Event)
    assert kinds(d.take()) == ["SessionInfo", "SpecChanged", "SessionInfo", "Event"]
    assert event.line == "4: rebuilt on CPU"
    info = d.info()
    assert len(info.spec.levels) == 8 and info.spec_version == 1 and info.step_count == 4
    d.send(StepN(2))
    frames = frames_of([d.until(Batch)])
    assert frames.level.shape[1:] == (8, len(info.spec.level_metrics))   # (n, levels, metrics)
    d.until(Paused)


def test_ablate_publishes_its_records_at_once_while_paused(start_engine):
    d = start_engine()
    d.send(StepN(40))                                   # tiny: states every 32 steps
    d.until(Paused)
    d.take()
    d.send(Ablate("cms1"))
    event = d.until(Event)
    replies = d.take()
    assert [type(r).__name__ for r in replies] == ["Batch", "Event"]
    assert event.line.startswith("40: ablation knock-out of cms1: held-out loss per regime ")
    batch = replies[0].frames
    assert len(batch) == 0 and [e.kind for e in batch.events] == ["pause", "ablation"]
    assert [(r.step, r.variant) for r in batch.evals] == [(39, ""), (39, "knockout:cms1")]
    from engine.evaluation import evaluate
    from engine.session import Session
    ref = Session(load_config("tiny"))
    ref.step(40)
    want = evaluate(ref.model, ref.heldout(), 39, knockout="cms1")
    np.testing.assert_allclose(batch.evals[1].losses, want.losses, rtol=1e-6)
    d.send(Ablate("cms1", restore_step=7))              # no state there: an error event
    assert d.until(Event).line == "40: error ablate cms1: no kept state at step 7 (kept: 31)"
    d.send(StepN(2))
    assert d.until(Paused).step_count == 42             # the run goes on


def test_bad_requests_are_rejected_and_the_run_goes_on(start_engine):
    d = start_engine()
    d.send(SetParam("model.titans.lr", -1.0))
    assert "model.titans.lr" in d.until(Rejected).message
    d.send(WhichModules())                              # the default loop does not know it
    assert d.until(Rejected).message == "the engine does not accept WhichModules"
    d.send(StepN(2))
    assert d.until(Paused).step_count == 2


def test_record_writes_what_was_sent(start_engine, tmp_path):
    from nlviz.recording.reader import Recording
    path = tmp_path / "run.h5"
    d = start_engine()
    d.send(StepN(3))                                    # not recorded
    d.until(Paused)
    d.send(Record(str(path)))
    assert d.until(RecordingChanged) == RecordingChanged(True, str(path))
    d.take()
    d.send(StepN(30))
    paused = d.until(Paused)
    assert paused.step_count == 33 and paused.recorder is not None
    sent = frames_of(d.take())
    d.send(Record(None))
    assert d.until(RecordingChanged) == \
        RecordingChanged(False, f"recording closed: {path} (30 rows)")
    with Recording.open(path) as rec:
        assert rec.n_rows == 30
        np.testing.assert_array_equal(rec.steps, np.arange(3, 33))
        np.testing.assert_array_equal(rec.steps, sent.step)
        for li, level in enumerate(rec.spec.level_names):   # the values that were sent
            for mi, metric in enumerate(rec.spec.level_metrics):
                got = rec.window(metric, level)
                np.testing.assert_array_equal(got.steps, sent.step)
                np.testing.assert_array_equal(got.values, sent.level[:, li, mi])
        # the pause before the start was still queued in the session: it comes along
        assert [(e.step, e.kind) for e in rec.events] == \
            [(3, "pause"), (3, "start"), (3, "resume"), (33, "pause"), (33, "stop")]
        assert rec.state_steps().tolist() == [31]        # state_every = 32 (tiny): model step 32
    d.send(Record(str(path)))                          # an existing file is refused
    refused = d.until(RecordingChanged)
    assert not refused.on and refused.text.startswith(f"cannot record: {path}: already exists")


def test_a_fault_is_a_typed_reply_after_its_partial_batch(start_engine, tmp_path):
    from nlviz.recording.reader import Recording
    path = tmp_path / "f.h5"
    d = start_engine(loop=FAULTY_LOOP)
    d.send(Record(str(path)))
    d.until(RecordingChanged)
    d.send(StepN(10))
    d.until(Paused)
    d.take()
    d.send(InjectFault(3, "boom in the memory update"))
    d.send(StepN(20))
    fault = d.until(Fault)
    replies = d.take()
    assert kinds(replies) == ["Resumed", "Paused", "RecordingChanged", "Fault"]
    assert fault == Fault("RuntimeError: boom in the memory update (step 12)", 12, "")
    np.testing.assert_array_equal(frames_of(replies).step, [10, 11])
    paused = next(r for r in replies if isinstance(r, Paused))
    assert paused.step_count == 12
    assert replies[-2] == RecordingChanged(False, "recording closed after the engine fault")
    with Recording.open(path) as rec:                   # closed with the fault's steps
        np.testing.assert_array_equal(rec.steps, np.arange(12))
    d.send(StepN(5))                                    # the engine is still usable
    assert d.until(Paused).step_count == 17


def test_stop_is_clean_and_leaves_no_process(start_engine):
    import multiprocessing
    d = start_engine()
    d.send(Play())
    d.until(Batch)
    seen: list[object] = []
    assert d.engine.stop(seen.append)                   # while running
    assert d.engine.exitcode == 0 and not d.engine.alive and d.engine.closed
    assert any(isinstance(r, Paused) for r in seen)     # it paused at a step boundary
    assert multiprocessing.active_children() == []
    assert not d.engine.send(StepN(1))                  # a closed handle refuses quietly


def test_a_source_that_cannot_be_built_fails_typed(start_engine, tmp_path):
    missing = tmp_path / "missing.h5"
    d = start_engine(BranchSource(str(missing), 3), ready=False)
    failed = d.until(StartFailed)
    assert str(missing) in failed.message and "\n" not in failed.message
    assert kinds(d.log) == ["StartFailed"]
    d.engine.process.join(60)                           # the child exits on its own
    assert d.engine.exitcode == 0
    d.engine.close()


def test_a_killed_child_reads_as_end_of_file(start_engine):
    d = start_engine()
    d.engine.kill()
    d.engine.process.join(60)
    with pytest.raises(EOFError):
        d.until(SessionInfo)
    d.engine.close()
    assert d.engine.exitcode is not None and d.engine.exitcode < 0
