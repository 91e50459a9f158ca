"""Recordings keep why their device was chosen, and ``nlviz info`` prints it; old files,
which have no reason, still open and print the device as before."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from engine.device import DeviceChoice
from engine.session import Session
from nlviz.commands.info import describe
from nlviz.config_loader import load_config
from nlviz.host.loop import session_info
from nlviz.host.recording_link import open_recorder
from nlviz.recording.reader import Recording

OLD = Path(__file__).resolve().parents[1] / "data" / "recording_v1_0.h5"
REASON = "auto: CPU, 1,210 steps/s against CUDA 480 steps/s measured at start"


def _session_with_reason(reason: str) -> Session:
    s = Session(load_config("tiny", device="auto"))
    s._set_device(dataclasses.replace(s.device_choice, reason=reason))
    return s


def _device_line(lines: list[str]) -> str:
    (line,) = [x for x in lines if x.startswith("device:")]
    return line


def test_recording_stores_the_reason_and_info_prints_it(tmp_path):
    s = _session_with_reason(REASON)
    path = tmp_path / "run.h5"
    rec = open_recorder(str(path), s)
    rec.append(s.step(20))
    rec.close()
    with Recording.open(str(path)) as r:
        assert r.device_reason == REASON and r.device_requested == "auto"
        assert _device_line(describe(r)) == f"device:         CPU ({REASON})"


def test_an_explicit_request_prints_what_was_asked(tmp_path):
    s = Session(load_config("tiny", device="cpu"))
    path = tmp_path / "run.h5"
    rec = open_recorder(str(path), s)
    rec.append(s.step(5))
    rec.close()
    with Recording.open(str(path)) as r:
        assert r.device_reason == "requested"
        assert _device_line(describe(r)) == "device:         CPU (asked: cpu)"


def test_old_recording_without_a_reason_still_opens():
    with Recording.open(str(OLD)) as r:
        r.scan()
        assert r.device_reason == ""
        line = _device_line(describe(r))
    assert line.startswith(f"device:         {r.device}")
    assert "auto:" not in line


def test_session_info_carries_the_reason_to_the_gui():
    s = _session_with_reason(REASON)
    info = session_info(s)
    assert (info.device_name, info.device_note, info.device_reason) == ("CPU", None, REASON)


def test_device_choice_is_frozen():
    c = DeviceChoice(Session(load_config("tiny")).device, "CPU", None, "requested")
    try:
        c.reason = "x"  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        return
    raise AssertionError("DeviceChoice must be frozen")


def test_info_says_which_engine_ran_and_where_auto_switched(tmp_path):
    from engine import events as E
    s = Session(load_config("tiny", ['run.engine="auto"']))
    path = tmp_path / "run.h5"
    rec = open_recorder(str(path), s)
    rec.append(s.step(20))
    s._events.append(E.mark(s.step_count, "engine", "compiled engine, blocks of 64 steps "
                            "(auto: built in the background)"))   # what the switch logs
    rec.append(s.step(5))
    rec.close()
    with Recording.open(str(path)) as r:
        (line,) = [x for x in describe(r) if x.startswith("engine:")]
    assert line == ("engine:         run.engine = auto; compiled engine, blocks of 64 steps "
                    "(auto: built in the background) at step 20")
    old = Recording.open(str(OLD))
    try:
        assert [x for x in describe(old) if x.startswith("engine:")] == \
            ["engine:         run.engine = eager"]             # files before issue 12
    finally:
        old.close()
