"""Where ``export`` writes: a link or a device is written in place (never replaced by a
file), an unwritable CSV names the CSV (not the recording), a refused export leaves the old
CSV untouched. And ``info`` lists streams, not the Record button's start marks."""
from __future__ import annotations

import argparse
import os

import pytest

from engine.frames import EventRecord
from nlviz.commands.export import run_export
from nlviz.commands.info import describe
from nlviz.errors import UserError
from nlviz.recording.csv import export_csv
from nlviz.recording.reader import Recording


def _args(path, out) -> argparse.Namespace:
    return argparse.Namespace(path=str(path), csv=str(out), levels=["memory"], start=0, stop=4)


def test_export_writes_through_a_link_and_keeps_it(recorded, tmp_path):
    path, _, _ = recorded
    target = tmp_path / "target.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    assert run_export(_args(path, link)) == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    lines = target.read_text().splitlines()
    assert lines[0].startswith("step,wall_time") and len(lines) == 1 + 5
    assert [ln.split(",")[0] for ln in lines[1:]] == ["0", "1", "2", "3", "4"]


def test_export_to_a_device_writes_in_place(recorded):
    path, _, _ = recorded
    assert not os.path.islink("/dev/null") and os.path.exists("/dev/null")
    assert run_export(_args(path, "/dev/null")) == 0
    assert os.stat("/dev/null").st_rdev != 0          # still the device, not a file


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_output_disk_names_the_csv(recorded):
    path, _, _ = recorded
    with pytest.raises(UserError) as err:
        run_export(_args(path, "/dev/full"))
    assert str(err.value) == "/dev/full: cannot write: No space left on device"


def test_a_directory_as_csv_is_refused_naming_it(recorded, tmp_path):
    path, _, _ = recorded
    with pytest.raises(UserError) as err:
        run_export(_args(path, tmp_path))
    assert str(err.value) == f"{tmp_path}: is a directory, not a CSV file"


def test_a_refused_export_leaves_the_old_csv_and_no_temporary_file(recorded, tmp_path):
    path, _, _ = recorded
    out = tmp_path / "kept.csv"
    out.write_text("old\n")
    with Recording.open(str(path)) as rec, pytest.raises(UserError):
        export_csv(rec, str(out), ["no-such-level"])
    with Recording.open(str(path)) as rec:
        export_csv(rec, str(out), ["memory"], 0, 1)
    assert out.read_text().count("\n") == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.csv"]


def test_info_lists_streams_not_recording_start_marks(recorded, monkeypatch):
    path, _, _ = recorded
    marks = [EventRecord(0, "start", "recording started at step 0 (paused)"),
             EventRecord(50, "stream", "noise (std=1.0)")]
    with Recording.open(str(path)) as rec:
        monkeypatch.setattr(type(rec), "events", property(lambda self: marks))
        lines = describe(rec)
        first = rec.stream
    at = next(i for i, ln in enumerate(lines) if ln.startswith("stream(s):"))
    assert lines[at] == f"stream(s):      {first}"
    assert lines[at + 1] == "                noise (std=1.0)"
    assert not any("recording started" in ln for ln in lines)
