"""Compare overlay, config diff, visible-range CSV, malformed files as one-line messages."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from engine.frames import GLOBAL_METRICS, LEVEL_METRICS
from nlviz.errors import UserError
from nlviz.recording.csv import export_csv
from nlviz.recording.reader import Recording
from nlviz.recording.writer import Recorder
from nlviz.replay import recording_note, try_open
from nlviz.replay.compare import Comparison, config_diff, flatten
from tests.support.synthetic import expected_level, synthetic_batch, synthetic_spec

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "recording_v1_0.h5"


def make(path, n_levels, rows, config, close=True):
    spec = synthetic_spec(n_levels)
    rec = Recorder(path, spec, config, device="cpu", stream="s")
    rec.append(synthetic_batch(spec, 0, rows, sparse_every=64, state_every=0))
    if close:
        rec.close()
    return rec


@pytest.fixture()
def two_runs(tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    make(a, 3, 1000, {"model": {"d": 8, "cms": {"periods": [2, 4]}}, "run": {"seed": 0}})
    make(b, 4, 30_000, {"model": {"d": 16, "cms": {"periods": [2, 4]}}, "run": {"seed": 0},
                        "stream": {"name": "text"}})
    return a, b


def test_overlay_of_two_runs_of_different_lengths_and_levels(two_runs):
    with Comparison.open(two_runs) as cmp:
        assert cmp.labels == ["a", "b"] and cmp.levels == ("L0", "L1", "L2", "L3")
        assert cmp.step_range() == (0, 29_999)
        a, b = cmp.series("surprise", "L1", 100, 899)
        assert a is not None and b is not None
        np.testing.assert_array_equal(a.steps, np.arange(100, 900))
        np.testing.assert_array_equal(a.values, expected_level(synthetic_spec(3), a.steps)[:, 1, 0])
        np.testing.assert_array_equal(b.values, expected_level(synthetic_spec(4), b.steps)[:, 1, 0])
        assert not a.is_summary and not b.is_summary
        table = cmp.level_table("surprise")
        assert table["L3"][0] is None and table["L3"][1] is not None   # a has no L3
        full_a, full_b = table["L0"]
        assert full_a is not None and full_b is not None
        assert len(full_a.steps) == 1000 and not full_a.is_summary     # short run: raw
        assert full_b.is_summary and full_b.steps[-1] < 30_000        # long run: pyramid
        assert np.all(full_b.maxs >= full_b.values)
        g = cmp.series("outer_loss")
        assert [len(s.steps) for s in g if s is not None] == [1000, len(full_b.steps)]


def test_config_diff_flattens_and_lists_only_differences(two_runs):
    with Comparison.open(two_runs) as cmp:
        assert cmp.config_diff() == [("model.d", [8, 16]), ("stream.name", [None, "text"])]
    assert flatten({"a": {"b": {"c": 1}}, "d": [1, 2]}) == {"a.b.c": 1, "d": [1, 2]}
    assert config_diff([{"x": [1, 2]}, {"x": (1, 2)}, {"x": [1, 2]}]) == []
    assert config_diff([{"x": 1}, {"x": 1}, {"x": 2}]) == [("x", [1, 1, 2])]


def test_at_most_eight_runs(two_runs):
    with pytest.raises(UserError, match="at most 8"):
        Comparison.open([two_runs[0]] * 9)
    with Comparison.open([two_runs[0]] * 2) as cmp:
        assert cmp.labels == ["a (1)", "a (2)"]


def test_export_visible_range_csv(two_runs, tmp_path):
    out = tmp_path / "vis.csv"
    with Recording.open(two_runs[0]) as rec:
        n = export_csv(rec, str(out), ["L2"], 10, 19, metrics=["surprise", "outer_loss"])
    assert n == 10
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["step", "wall_time", "regime", "token", "level", "update_period", "fired",
                       "surprise", "outer_loss"]
    want = expected_level(synthetic_spec(3), np.arange(10, 20))[:, 2, 0]
    assert [int(r[0]) for r in rows[1:]] == list(range(10, 20))
    assert [np.float32(float(r[7])) for r in rows[1:]] == list(want)
    assert {r[4] for r in rows[1:]} == {"L2"} and rows[1][5] == "16"
    b = synthetic_batch(synthetic_spec(3), 10, 10)
    assert [np.float32(float(r[8])) for r in rows[1:]] == list(b.scalars[:, 0])
    with Recording.open(two_runs[0]) as rec:
        with pytest.raises(UserError, match="metrics nope"):
            export_csv(rec, str(out), None, 0, 5, metrics=["nope"])
        assert export_csv(rec, str(out), None, 0, 4) == 5 * 3          # all levels and metrics
        header = next(csv.reader(out.open()))                          # every column, in order
        assert header[7:] == [*LEVEL_METRICS, *GLOBAL_METRICS] and len(header) == 7 + 10 + 5


def _golden_copy(tmp_path, name="run.h5"):
    dst = tmp_path / name
    shutil.copy(GOLDEN, dst)
    return dst


def _bad_files(tmp_path):
    """One file per malformed class of the recording issue."""
    out = {"missing": tmp_path / "nope.h5"}
    p = tmp_path / "x.h5"
    p.write_text("hello")
    out["not HDF5"] = p
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as f:
        f["data"] = np.arange(3)
    out["not nlviz"] = p
    edits = {
        "major version": lambda f: f.attrs.__setitem__("schema_version", "2.0"),
        "missing dataset": lambda f: f.__delitem__("levels/L1/update_norm"),
        "ragged": lambda f: f["levels/L0/surprise"].resize((500,)),
        "wrong dtype": lambda f: (f.__delitem__("levels/L0/fired"),
                                  f.create_dataset("levels/L0/fired", data=np.zeros(600, np.float32))),
        "bad spec json": lambda f: f.attrs.__setitem__("spec_json", "{not json"),
    }
    for i, (name, edit) in enumerate(edits.items()):
        p = _golden_copy(tmp_path, f"bad{i}.h5")
        with h5py.File(p, "r+") as f:
            edit(f)
        out[name] = p
    return out


def test_every_malformed_file_class_is_a_one_line_message(tmp_path):
    expect = {"missing": "no such file", "not HDF5": "not an HDF5 file",
              "not nlviz": "not an nlviz recording", "major version": "2.0 is not supported",
              "missing dataset": "missing dataset /levels/L1/update_norm",
              "ragged": "ragged lengths", "wrong dtype": "has dtype float32",
              "bad spec json": "unreadable run description"}
    for name, path in _bad_files(tmp_path).items():
        msg = try_open(path)
        assert isinstance(msg, str), name
        assert "\n" not in msg and "Traceback" not in msg and msg, name
        assert expect[name] in msg, (name, msg)
        assert path.name in msg, (name, msg)
    rec = try_open(GOLDEN)                       # and a good file still opens afterwards
    assert isinstance(rec, Recording) and rec.n_rows == 600 and recording_note(rec) is None
    rec.close()


def test_recovered_file_opens_with_a_note_and_grows(tmp_path):
    p = tmp_path / "live.h5"
    w = make(p, 3, 1000, {}, close=False)
    w.flush()
    rec = try_open(p)
    assert isinstance(rec, Recording) and rec.recovered
    note = recording_note(rec) or ""
    assert "not closed cleanly" in note and "1,000 steps" in note and "\n" not in note
    from nlviz.replay.player import Player
    from nlviz.replay.source import ReplaySource
    player, src = Player.from_recording(rec), ReplaySource(rec)
    assert player.tail and player.n == 1000
    w.append(synthetic_batch(synthetic_spec(3), 1000, 500, sparse_every=64, state_every=0))
    w.flush()
    player.end()
    player.play()
    player.advance(player.tail_poll_s)           # tail poll: refresh + follow the end
    assert player.n == 1500 and player.cursor == 1499
    src.refresh()
    assert src.probes_at(1499)[-1].step == 1471
    w.close()
    rec.close()
