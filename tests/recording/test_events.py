"""Structured events (schema 1.2): what the session reports is what the file gives back,
payloads are never cut, and older files read with their display text only."""
from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from engine.frames import EventRecord
from nlviz.recording import layout as L
from nlviz.recording.filewriter import seal_header
from nlviz.recording.reader import Recording, RecordingError
from nlviz.recording.writer import Recorder
from tests.support.synthetic import synthetic_batch, synthetic_spec

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def commanded(tmp_path_factory):
    """(path, events the session reported) of a tiny run with every kind of command."""
    from engine.commands import Command, Mark, Reset, SetParam, SwitchStream
    from engine.config import StreamConfig
    from engine.session import Session
    from nlviz.config_loader import load_config

    s = Session(load_config("tiny"))
    path = tmp_path_factory.mktemp("events") / "run.h5"
    reported = []
    commands: list[Command] = [SetParam("model.titans.lr", 0.08), SetParam("model.cms.lr", (0.01, 0.02)),
                SwitchStream(StreamConfig("text")), Mark("pause", "user pause " + "x" * 400),
                SetParam("model.d", 12), Reset()]
    with Recorder(path, s.spec, s.config.to_dict(), device=s.device_name,
                  stream=s.stream_description, torch_version=s.torch_version) as rec:
        for cmd in commands:
            b = s.step(10)
            reported += b.events
            rec.append(b)
            s.apply(cmd)
        b = s.step(10)
        reported += b.events
        rec.append(b)
    return path, reported


def test_every_event_reads_back_with_its_payload(commanded):
    path, reported = commanded
    with Recording.open(path) as rec:
        assert rec.schema_version == "1.4" and rec.event_payloads
        got = rec.events
    assert [e.kind for e in got] == ["start", "param", "param", "stream", "pause", "param",
                                     "reset"]
    assert [e.data for e in got] == [e.data for e in reported]
    start, live, tup, stream, _pause, rebuilt, reset = got
    assert start.data is not None and start.data["kind"] == "start"
    assert live.data == {"kind": "set", "live": True,
                         "changes": [{"key": "model.titans.lr", "value": 0.08}]}
    assert live.detail == "model.titans.lr=0.08 (live)" and live.step == 10
    assert tup.data is not None and tup.data["changes"][0]["value"] == [0.01, 0.02]
    assert stream.data is not None and stream.data["kind"] == "stream"
    assert stream.data["stream"]["name"] == "text" and stream.detail == stream.data["description"]
    assert rebuilt.data == {"kind": "set", "live": False, "device": "CPU",
                            "changes": [{"key": "model.d", "value": 12}]}
    assert reset.data == {"kind": "reset"}


def test_a_long_payload_is_kept_whole_and_only_the_display_text_is_cut(commanded):
    path, reported = commanded
    pause = next(e for e in reported if e.kind == "pause")
    assert len(pause.detail.encode()) > L.EVENT_DETAIL_LEN
    with Recording.open(path) as rec:
        got = next(e for e in rec.events if e.kind == "pause")
    assert got.data == {"kind": "mark", "mark": "pause", "detail": pause.detail}
    assert got.detail == pause.detail[:L.EVENT_DETAIL_LEN]


def test_run_spec_records_the_regime_names(commanded):
    path, _ = commanded
    with Recording.open(path) as rec:
        assert rec.spec.regime_names == ("A", "B")
        assert rec.torch_version not in ("", "unknown")


def test_events_without_a_payload_store_null(tmp_path):
    spec = synthetic_spec(2)
    path = tmp_path / "s.h5"
    with Recorder(path, spec, {}, device="cpu", stream="s") as rec:
        b = synthetic_batch(spec, 0, 50)
        b.events = [EventRecord(3, "pause", "p"), EventRecord(4, "resume", "r", {"kind": "mark"})]
        rec.append(b)
    with Recording.open(path) as rec:
        assert [(e.step, e.kind, e.detail, e.data) for e in rec.events] == [
            (3, "pause", "p", None), (4, "resume", "r", {"kind": "mark"})]
    with h5py.File(path, "r") as f:
        assert bytes(f[L.D_EVENT_DATA][:]) == b'null{"kind":"mark"}'
        assert list(f[L.D_EVENT_DATA_END][:]) == [4, 19]


@pytest.mark.parametrize("name", ["recording_v1_0.h5", "recording_v1_1.h5"])
def test_older_files_have_text_only(name):
    with Recording.open(DATA / name) as rec:
        assert not rec.event_payloads
        assert rec.events and all(e.data is None for e in rec.events)
        assert rec.spec.regime_names == ()


def test_payload_offsets_that_break_the_rules_are_refused(commanded, tmp_path):
    path, _ = commanded
    for case, edit in {
        "back": lambda f: f[L.D_EVENT_DATA_END].__setitem__(2, 3),
        "past": lambda f: f[L.D_EVENT_DATA_END].__setitem__(6, 10**6),
        "extra": lambda f: (f[L.D_EVENT_DATA].resize((f[L.D_EVENT_DATA].shape[0] + 5,)),),
    }.items():
        copy = tmp_path / f"{case}.h5"
        shutil.copy(path, copy)
        with h5py.File(copy, "r+") as f:
            edit(f)
        with pytest.raises(RecordingError) as info:
            Recording.open(copy)
        msg = str(info.value)
        assert str(copy) in msg and "/events/data" in msg and "\n" not in msg, case


def test_an_unparsable_payload_reads_as_none_and_keeps_the_event(commanded, tmp_path):
    path, _ = commanded
    copy = tmp_path / "junk.h5"
    shutil.copy(path, copy)
    with h5py.File(copy, "r+") as f:
        ends = f[L.D_EVENT_DATA_END][:]
        f[L.D_EVENT_DATA][ends[0]:ends[1]] = np.frombuffer(b"x" * int(ends[1] - ends[0]),
                                                            np.uint8)
    with Recording.open(copy) as rec, Recording.open(path) as ref:
        got, want = rec.events, ref.events
    assert got[1].data is None and got[1].detail == want[1].detail
    assert [e.data for e in got[:1] + got[2:]] == [e.data for e in want[:1] + want[2:]]


def test_a_1_2_file_relabelled_1_1_no_longer_reads_its_payloads(commanded, tmp_path):
    path, _ = commanded
    copy = tmp_path / "old.h5"
    shutil.copy(path, copy)
    with h5py.File(copy, "r+") as f:
        f.attrs[L.A_SCHEMA_VERSION] = "1.1"
        seal_header(f)
    with Recording.open(copy) as rec:
        assert not rec.event_payloads and all(e.data is None for e in rec.events)
