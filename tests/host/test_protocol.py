"""The engine protocol's messages: every one a frozen dataclass that survives the pipe
(pickle) unchanged, and importing the protocol loads neither Qt nor torch."""
from __future__ import annotations

import dataclasses
import inspect
import pickle
import subprocess
import sys

import numpy as np
import pytest

from engine.commands import Mark, Reset, SetParam, SwitchStream
from engine.config import Config, StreamConfig
from engine.frames import FrameBatch, RunSpec
from nlviz.config_loader import load_config
from nlviz.host import protocol as P
from nlviz.recording.stats import RecorderStats

SPEC = RunSpec(levels=(), d_in=2, probe_size=1)


def _info(config: Config) -> P.SessionInfo:
    return P.SessionInfo(config, SPEC, 3, "cpu", None, "noise", ("a", "b"), 42, ("run.h5", 7))


def _examples(config: Config) -> list[object]:
    """One instance of every message class the protocol defines."""
    frames = FrameBatch.empty(SPEC)
    stats = RecorderStats("run.h5", 10, 4096, 0.25, 0.0, 0.1)
    return [
        P.Play(), P.Pause(), P.StepN(7), P.SetSpeed(120.0), P.Record("run.h5", overwrite=True),
        P.Record(None), P.Rebuild(config), P.Stop(), P.Ack(),
        _info(config), P.Ready(), P.StartFailed("bad"), P.Batch(frames, 5, 900.0, 0, stats),
        P.Resumed(), P.Paused(5, None), P.SpecChanged(), P.Event("5: reset engine"),
        P.Rejected("no"), P.RecordingChanged(True, "run.h5"), P.Fault("boom", 12, "L1"),
        P.Finished(), P.BranchSource("run.h5", 99),
    ]


def test_every_message_class_has_an_example():
    defined = {name for name, obj in vars(P).items()
               if inspect.isclass(obj) and dataclasses.is_dataclass(obj)
               and obj.__module__ == P.__name__}
    covered = {type(m).__name__ for m in _examples(load_config("tiny"))}
    assert defined == covered
    assert len(defined) == 21


def test_messages_are_frozen():
    for msg in _examples(load_config("tiny")):
        fields = dataclasses.fields(msg)  # type: ignore[arg-type]
        assert msg.__dataclass_params__.frozen, type(msg).__name__  # type: ignore[attr-defined]
        if fields:
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(msg, fields[0].name, None)


def test_messages_survive_the_pipe():
    for msg in _examples(load_config("tiny")):
        got = pickle.loads(pickle.dumps(msg))
        assert type(got) is type(msg)
        if isinstance(got, P.Batch) and isinstance(msg, P.Batch):   # arrays: field by field
            assert (got.step_count, got.steps_per_s, got.size, got.recorder) == \
                (5, 900.0, 0, msg.recorder)
            np.testing.assert_array_equal(got.frames.level, msg.frames.level)
        else:
            assert got == msg


def test_session_info_is_replaced_not_edited():
    info = _info(load_config("tiny"))
    later = dataclasses.replace(info, step_count=43)
    assert (info.step_count, later.step_count) == (42, 43)
    assert later.config is info.config and later.parent == ("run.h5", 7)


def test_engine_commands_are_requests_as_they_are():
    stream = StreamConfig(name="noise")
    for cmd in (Reset(), SwitchStream(stream), SetParam("model.titans.lr", 0.02), Mark("x")):
        assert pickle.loads(pickle.dumps(cmd)) == cmd
    assert set(P.Request.__args__) >= {Reset, SwitchStream, SetParam, Mark, P.Ack}


def test_describe_source():
    assert P.describe_source(load_config("tiny")) == "new session"
    assert P.describe_source(P.BranchSource("/tmp/runs/a.h5", 12)) == "branch of a.h5 at step 12"


def test_importing_the_parent_side_loads_no_qt_and_no_torch():
    code = ("import sys, nlviz.host.protocol, nlviz.host.process\n"
            "print(sorted(m for m in ('PySide6', 'torch', 'h5py') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
