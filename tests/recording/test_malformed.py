"""One reader test per malformed-file class, the golden file, NaN/inf, writer errors."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from nlviz.commands.info import describe
from nlviz.errors import UserError
from nlviz.recording.damage import Damage
from nlviz.recording.filewriter import seal_header
from nlviz.recording.h5open import METADATA_READ_ATTEMPTS, bounded_retries_available
from nlviz.recording.reader import Recording, RecordingError
from nlviz.recording.writer import Recorder, RecorderError
from tests.recording.checksum_copy import checksum_copy, chunk_span, flip
from tests.support.synthetic import expected_level, synthetic_batch, synthetic_spec

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "recording_v1_0.h5"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def copy(tmp_path):
    dst = tmp_path / "run.h5"
    shutil.copy(GOLDEN, dst)
    return dst


def _error(path) -> str:
    with pytest.raises(RecordingError) as info:
        Recording.open(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg
    assert isinstance(info.value, UserError)
    return msg


def test_golden_v1_0_opens_with_known_values():
    with Recording.open(GOLDEN) as rec:
        assert rec.schema_version == "1.0" and rec.complete and rec.n_rows == 600
        assert rec.levels == ("L0", "L1", "L2")
        assert rec.spec.update_periods == (1, 4, 16)
        assert rec.config == {"golden": True, "version": "1.0"}
        want = expected_level(synthetic_spec(3), np.arange(600))
        np.testing.assert_array_equal(rec.window("retention", "L2").values, want[:, 2, 4])
        assert [(e.step, e.kind) for e in rec.events] == [(0, "start"), (300, "pause")]
        snap = rec.snapshot_at(130)
        assert snap is not None and snap.step == 127
        st = rec.state_at_or_before(599)
        assert st is not None and st.step == 511 and int(st.tensors["step_count"]) == 512
        assert str(st.tensors["config_json"]) == '{"synthetic": true}'


def test_missing_file(tmp_path):
    assert "no such file" in _error(tmp_path / "nope.h5")


def test_not_hdf5(tmp_path):
    p = tmp_path / "x.h5"
    p.write_text("hello")
    assert "not an HDF5 file" in _error(p)


def test_not_an_nlviz_recording(tmp_path):
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as f:
        f["data"] = np.arange(3)
    assert "not an nlviz recording" in _error(p)


@pytest.mark.parametrize("keep", [2048, 30_000, 400_000, -377])
def test_truncated_file_is_refused_at_once(copy, keep):
    """A cut-off copy must fail in one line, not hang in SWMR metadata retries."""
    data = copy.read_bytes()
    copy.write_bytes(data[:keep])
    msg = _error(copy)
    kept = len(data[:keep])
    assert f"truncated file ({kept:,} of {len(data):,} bytes)" in msg


def test_unknown_major_version(copy):
    with h5py.File(copy, "r+") as f:
        f.attrs["schema_version"] = "2.0"
    assert "schema version 2.0 is not supported" in _error(copy)


def _new_file(path, steps=600) -> Path:
    """A synthetic recording written by this nlviz (the current schema)."""
    spec = synthetic_spec(n_levels=3)
    with Recorder(path, spec, {}, device="cpu", stream="s") as rec:
        rec.append(synthetic_batch(spec, 0, steps))
    return path


def test_older_and_newer_minor_accepted(copy, tmp_path):
    with Recording.open(copy) as rec:                       # the golden file: 1.0
        assert rec.schema_version == "1.0" and rec.n_rows == 600 and not rec.event_payloads
    new = _new_file(tmp_path / "new.h5")
    with h5py.File(new, "r+") as f:
        f.attrs["schema_version"] = "1.7"
        seal_header(f)
    with Recording.open(new) as rec:
        assert rec.schema_version == "1.7" and rec.n_rows == 600 and rec.event_payloads


def test_event_payloads_are_required_from_1_2_on(copy):
    with h5py.File(copy, "r+") as f:                        # a 1.0 file relabelled 1.2
        f.attrs["schema_version"] = "1.2"
    assert "missing dataset /events/data_end" in _error(copy)


def test_missing_dataset(copy):
    with h5py.File(copy, "r+") as f:
        del f["levels/L1/update_norm"]
    assert "missing dataset /levels/L1/update_norm" in _error(copy)


def test_ragged_lengths(copy):
    with h5py.File(copy, "r+") as f:
        f["levels/L0/surprise"].resize((500,))
    assert "ragged lengths: /levels/L0/surprise has 500 rows" in _error(copy)


def test_wrong_dtype(copy):
    with h5py.File(copy, "r+") as f:
        data = f["levels/L0/fired"][:]
        del f["levels/L0/fired"]
        f["levels/L0/fired"] = data.astype(np.float32)
    assert "/levels/L0/fired has dtype float32" in _error(copy)


def test_nan_and_inf_load_and_are_flagged(tmp_path):
    spec = synthetic_spec()
    p = tmp_path / "nan.h5"
    b = synthetic_batch(spec, 0, 100)
    b.level[10, 1, 0] = np.nan
    b.level[20, 1, 0] = np.inf
    b.scalars[5, 0] = -np.inf
    with Recorder(p, spec, {}, device="cpu", stream="s") as rec:
        rec.append(b)
    with Recording.open(p) as r:
        w = r.window("surprise", "L1")
        assert np.isnan(w.values[10]) and w.values[20] == np.inf
        assert w.nonfinite.sum() == 2 and w.nonfinite[10] and w.nonfinite[20]
        assert r.nonfinite == {"L1/surprise": 2, "global/outer_loss": 1}
        ov = r.overview("surprise", "L1", max_points=10)
        assert ov.bucket_rows == 16 and len(ov.steps) == 7
        assert ov.maxs[1] == np.inf  # bucket 16..31 holds the inf; NaN is skipped
        assert np.isfinite(ov.mins[0])


def test_writer_error_surfaces_and_keeps_flushed_rows(tmp_path):
    spec = synthetic_spec()
    p = tmp_path / "err.h5"
    rec = Recorder(p, spec, {}, device="cpu", stream="s")
    rec.append(synthetic_batch(spec, 0, 100))
    rec.flush()
    rec.append(synthetic_batch(spec, 50, 10))   # steps go backwards: writer fails
    with pytest.raises(RecorderError, match="strictly increasing"):
        for _ in range(100):
            time.sleep(0.02)
            rec.append(synthetic_batch(spec, 1000, 1))
    with pytest.raises(RecorderError):
        rec.close()
    with Recording.open(p) as r:
        assert r.n_rows == 100 and r.recovered


def test_back_pressure_blocks_and_is_measured(tmp_path):
    spec = synthetic_spec()
    rec = Recorder(tmp_path / "bp.h5", spec, {}, device="cpu", stream="s", queue_size=1)
    gate = threading.Event()
    original = rec._appender.append

    def slow(batch):
        gate.wait(5)
        original(batch)
    rec._appender.append = slow  # type: ignore[method-assign]
    from nlviz.recording.writer import _WRITE_DELAY
    threading.Timer(_WRITE_DELAY + 0.6, gate.set).start()
    rec.append(synthetic_batch(spec, 0, 10))
    time.sleep(_WRITE_DELAY + 0.2)  # the writer has coalesced it and is now stuck writing it
    for i in range(1, 6):  # one fits in the queue, the next must wait for the writer
        rec.append(synthetic_batch(spec, 10 * i, 10))
    s = rec.stats()
    assert s.blocked_seconds_total >= 0.2 and 0.0 <= s.queue_fill <= 1.0
    rec.close()
    s = rec.stats()
    assert s.rows_committed == 60 and s.bytes_on_disk > 0
    with Recording.open(tmp_path / "bp.h5") as r:
        assert r.complete and r.n_rows == 60


# ---- every documented invariant is checked on open (one line: file, field, value) ------------
def _edit(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)


def _spec(f, change):
    spec = json.loads(f.attrs["spec_json"])
    change(spec)
    f.attrs["spec_json"] = json.dumps(spec)


def _replace(f, path, data):
    attrs = dict(f[path].attrs)
    del f[path]
    f.create_dataset(path, data=data, maxshape=(None, *data.shape[1:]), chunks=True)
    for k, v in attrs.items():
        f[path].attrs[k] = v


def _set(path_in_file, value):
    def fn(f):
        f[path_in_file][...] = value
    return fn


MALFORMED = {
    "events missing": (lambda f: f.__delitem__("events"), "missing dataset /events/step"),
    "inputs 1-D": (lambda f: _replace(f, "inputs", f["inputs"][:, 0]),
                   "/inputs has shape (600,), expected (n, 4)"),
    "inputs narrower than d_in": (lambda f: _replace(f, "inputs", f["inputs"][:, :3]),
                                  "/inputs has shape (600, 3), expected (n, 4)"),
    "empty level_metrics": (lambda f: _spec(f, lambda s: s.__setitem__("level_metrics", [])),
                            "spec_json: level_metrics is []"),
    "empty levels": (lambda f: _spec(f, lambda s: s.__setitem__("levels", [])),
                     "spec_json: levels is []"),
    "snapshot weights shorter than steps": (
        lambda f: f["snapshots/weights/L1"].resize((8, 4, 4)),
        "ragged lengths: /snapshots/weights/L1 has 8 rows, /snapshots/step has 9"),
    "per-step series of shape (N, 3)": (
        lambda f: _replace(f, "levels/L0/surprise", np.zeros((600, 3), np.float32)),
        "/levels/L0/surprise has shape (600, 3), expected (n,)"),
    "rows_committed -5": (_set("status/rows_committed", -5),
                          "/status/rows_committed is -5 (must be 0 or more)"),
    "clean_close 7": (_set("status/clean_close", 7), "/status/clean_close is 7 (must be 0 or 1)"),
    "steps decreasing": (lambda f: f["steps"].__setitem__(10, 3),
                         "/steps is not strictly increasing: row 10 holds 3 after 9"),
    "steps constant": (_set("steps", 7),
                       "/steps is not strictly increasing: row 1 holds 7 after 7"),
    "update_period 0": (lambda f: _spec(f, lambda s: s["levels"][1].update(update_period=0)),
                        "levels[L1].update_period is 0 (must be 1 or more)"),
    "update_period -4": (lambda f: _spec(f, lambda s: s["levels"][2].update(update_period=-4)),
                         "levels[L2].update_period is -4 (must be 1 or more)"),
    "group update_period -4": (lambda f: f["levels/L1"].attrs.__setitem__("update_period", -4),
                               "/levels/L1 attribute update_period is -4"),
    "all-NaN wall_time": (_set("wall_time", np.nan),
                          "/wall_time is nan at every row (wall times are finite seconds)"),
    "probe_size -1": (lambda f: _spec(f, lambda s: s.__setitem__("probe_size", -1)),
                      "spec_json: probe_size is -1 (must be 0 or more)"),
    "pyramid bucket count": (lambda f: f["lod/b16"].resize((36, 26, 2)),
                             "/lod/b16 has 36 buckets, expected 37 (600 rows // 16)"),
    "pyramid series": (lambda f: f["lod"].attrs.__setitem__("series", '["x"]'),
                       "/lod attribute series is '[\"x\"]'"),
    "snapshot shape": (lambda f: _replace(f, "snapshots/updates/L0",
                                          np.zeros((9, 4, 5), np.float32)),
                       "/snapshots/updates/L0 has shape (9, 4, 5), expected (n, 4, 4)"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_invariant_violation_is_refused_in_one_line(copy, case):
    edit, expected = MALFORMED[case]
    _edit(copy, edit)
    msg = _error(copy)
    assert expected in msg, msg


def test_ragged_message_names_two_different_datasets(copy):
    """Once read "/steps has 3000 rows, /steps has 3000"."""
    _edit(copy, lambda f: f["levels/L0/surprise"].resize((700,)))
    msg = _error(copy)
    assert ("ragged lengths: /steps has 600 rows, /levels/L0/surprise has 700 (a cleanly "
            "closed file has equal lengths)") in msg


def test_huge_declared_rows_are_refused_before_reading(copy):
    """2**33 rows declared in a 0.8 MB file: refused from the stored bytes, nothing allocated."""
    def grow(f):
        for name in ["steps", "wall_time", "regime", "token"] + \
                [f"levels/L{i}/{m}" for i in range(3) for m in f["levels/L0"] if m != "fired"] + \
                [f"levels/L{i}/fired" for i in range(3)] + \
                ["global/outer_loss", "global/output_norm"]:
            f[name].resize((2 ** 33, *f[name].shape[1:]))
        f["inputs"].resize((2 ** 33, 4))
        f["status/rows_committed"][0] = 2 ** 33
    _edit(copy, grow)
    msg = _error(copy)
    assert "/status/rows_committed is 8,589,934,592 but /steps holds at most" in msg
    assert f"in the file's {copy.stat().st_size:,} bytes" in msg
    from nlviz.cli import main
    for cmd in (["info", str(copy)], ["export", str(copy), "--csv", str(copy) + ".csv"]):
        assert main(cmd) == 2


def test_huge_sparse_record_refused_when_complete_and_clamped_when_recovered(copy):
    def grow(f):
        for p in ("events/step", "events/kind", "events/detail"):
            f[p].resize((2 ** 31,))
    _edit(copy, grow)
    assert "/events/step length is 2,147,483,648 but /events/step holds at most" in _error(copy)
    _edit(copy, _set("status/clean_close", 0))        # recovered: only stored rows are used
    with Recording.open(copy) as rec:
        ev = rec.events
        assert [(e.step, e.kind) for e in ev[:2]] == [(0, "start"), (300, "pause")]
        assert len(ev) <= 512      # the stored chunk, plus one a live writer may be filling


def test_header_checksum_detects_a_changed_root_attribute(tmp_path):
    p = checksum_copy(GOLDEN, tmp_path / "cs.h5")
    with Recording.open(p) as rec:
        assert rec.device == "cpu"
    _edit(p, lambda f: f.attrs.__setitem__("device", "gpu"))
    assert "root attribute header_crc32 is" in _error(p)


# ---- bounded open of a file with damaged metadata ------------------------------------------
def test_metadata_read_attempts_are_bounded():
    assert bounded_retries_available() and METADATA_READ_ATTEMPTS <= 20


def test_flipped_bit_in_an_object_header_is_refused_not_retried(copy):
    """One flipped bit in the root group's header used to make every command retry SWMR
    metadata reads for minutes. Run as a child with a generous bound: a hang fails it."""
    data = bytearray(copy.read_bytes())
    root_header = int.from_bytes(data[36:44], "little")   # superblock v2/v3 field
    data[root_header + 30] ^= 0x10
    copy.write_bytes(bytes(data))
    for cmd in (["info", str(copy)], ["export", str(copy), "--csv", str(copy) + ".csv"]):
        proc = subprocess.run([sys.executable, str(ROOT / "main.py"), *cmd], cwd=ROOT,
                              capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"nlviz: error: {copy}: "), proc.stderr
        assert "checksum" in lines[0]


# ---- checksums: a damaged chunk is a reported step range, the rest stays exact ---------------
@pytest.fixture()
def checksummed(tmp_path):
    return checksum_copy(GOLDEN, tmp_path / "cs.h5", chunk_rows=128)


def test_checksummed_copy_reads_like_the_original(checksummed):
    with Recording.open(checksummed) as rec, Recording.open(GOLDEN) as ref:
        assert rec.scan() == [] and ref.scan() == []    # the old file (no checksums) too
        np.testing.assert_array_equal(rec.window("surprise", "L1").values,
                                      ref.window("surprise", "L1").values)
    with h5py.File(checksummed, "r") as f, h5py.File(GOLDEN, "r") as g:
        assert f["levels/L1/surprise"].fletcher32
        assert not g["levels/L1/surprise"].fletcher32


def test_damaged_chunk_reads_as_nan_for_its_step_range_only(checksummed, tmp_path):
    off, size, first = chunk_span(checksummed, "levels/L1/surprise", 300)
    assert first == 256
    flip(checksummed, off + size // 2, 3)
    want = expected_level(synthetic_spec(3), np.arange(600))[:, 1, 0]
    with Recording.open(checksummed) as rec:
        assert rec.damaged == []                         # found when read, not on open
        got = rec.window("surprise", "L1").values
        assert np.isnan(got[256:384]).all()
        np.testing.assert_array_equal(got[:256], want[:256])
        np.testing.assert_array_equal(got[384:], want[384:])
        assert rec.damaged == [Damage("levels/L1/surprise", 256, 384, 256, 383)]
        np.testing.assert_array_equal(rec.window("surprise", "L2").values,
                                      expected_level(synthetic_spec(3), np.arange(600))[:, 2, 0])
        assert "                /levels/L1/surprise steps 256..383" in describe(rec)
    from nlviz.cli import main
    out = tmp_path / "out.csv"
    rc = main(["export", str(checksummed), "--csv", str(out)])
    assert rc == 2 and not out.exists() and not Path(str(out) + ".partial").exists()
    assert main(["export", str(checksummed), "--csv", str(out), "--to", "255"]) == 0
    assert len(out.read_text().splitlines()) == 1 + 256 * 3


def test_export_refusal_names_the_damaged_steps(checksummed, tmp_path, capsys):
    off, _size, _ = chunk_span(checksummed, "wall_time", 130)
    flip(checksummed, off + 40, 0)
    from nlviz.cli import main
    assert main(["export", str(checksummed), "--csv", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "damaged data (checksum error) in /wall_time steps 128..255" in err[0]


def test_info_lists_damaged_regions(checksummed, capsys):
    off, _size, _ = chunk_span(checksummed, "global/outer_loss", 599)
    flip(checksummed, off + 8, 1)
    from nlviz.cli import main
    assert main(["info", str(checksummed)]) == 0
    out = capsys.readouterr().out
    assert "damaged:        1 region(s) failed their checksum" in out
    assert "/global/outer_loss steps 512..599" in out
    assert "steps:          600 (step 0 .. 599)" in out


def test_damaged_snapshot_is_nan_and_reported_others_exact(checksummed):
    with Recording.open(GOLDEN) as ref:
        steps = ref.snapshot_steps()
        good = ref.snapshot_at(int(steps[3]))
    off, size, _ = chunk_span(checksummed, "snapshots/weights/L1", 2)
    flip(checksummed, off + size // 2, 5)
    with Recording.open(checksummed) as rec:
        s = rec.snapshot_at(int(steps[2]))
        assert s is not None and good is not None and s.step == int(steps[2]) and np.isnan(s.weights[1]).all()
        assert rec.damaged == [Damage("snapshots/weights/L1", 2, 3, int(steps[2]), int(steps[2]))]
        other = rec.snapshot_at(int(steps[3]))
        assert other is not None
        for a, b in zip(other.weights + other.updates, good.weights + good.updates):
            np.testing.assert_array_equal(a, b)


def test_damaged_pyramid_chunk_is_recomputed_from_raw_rows(checksummed):
    with Recording.open(GOLDEN) as ref:
        want = ref.overview("surprise", "L1", max_points=40)
    off, _size, _ = chunk_span(checksummed, "lod/b16", 0)
    flip(checksummed, off + 100, 2)
    with Recording.open(checksummed) as rec:
        got = rec.overview("surprise", "L1", max_points=40)
        assert got.bucket_rows == 16 and [d.path for d in rec.damaged] == ["lod/b16"]
    np.testing.assert_array_equal(got.steps, want.steps)
    np.testing.assert_array_equal(got.mins, want.mins)
    np.testing.assert_array_equal(got.maxs, want.maxs)


def test_damaged_step_index_is_refused_when_its_steps_are_unknown(checksummed):
    off, _size, _ = chunk_span(checksummed, "steps", 10)    # first chunk: where did it start?
    flip(checksummed, off + 16, 0)
    assert ("/steps rows 0..127 are damaged (checksum error) and their steps cannot be told "
            "from the rows around them") in _error(checksummed)


def test_damaged_step_index_between_consecutive_steps_is_restored(checksummed):
    off, _size, _ = chunk_span(checksummed, "steps", 300)    # rows 256..383, no gap around
    flip(checksummed, off + 16, 0)
    with Recording.open(checksummed) as rec:
        np.testing.assert_array_equal(rec.steps, np.arange(600))
        assert rec.damaged == [Damage("steps", 256, 384, 256, 383)]
        np.testing.assert_array_equal(rec.window("surprise", "L0", 250, 260).values,
                                      expected_level(synthetic_spec(3), np.arange(250, 261))[:, 0, 0])


# ---- info duration ---------------------------------------------------------------------------
def test_info_duration_is_last_minus_first_wall_time(tmp_path):
    spec = synthetic_spec()
    p = tmp_path / "late.h5"
    with Recorder(p, spec, {}, device="cpu", stream="s") as rec:
        b = synthetic_batch(spec, 7333, 1201)         # wall_time = step * t_per_step
        rec.append(b)
    with Recording.open(p) as r:
        wall = r.window("wall_time").values
        lines = describe(r)
    span = float(wall[-1] - wall[0])
    assert span < float(wall[-1]) / 2
    assert (f"duration:       {span:.1f} s (wall time from the first to the last recorded "
            "step)") in lines


# ---- a growing file: step index ahead of the weights ----------------------------------------
def test_snapshot_step_index_ahead_of_weights_is_clamped(copy):
    """A live writer appends /snapshots/step before the weights: the reader uses only rows
    every handle holds (was IndexError in ReplayController.poll_tail -> snapshot_at)."""
    def ahead(f):
        f["status/clean_close"][0] = 0
        n = f["snapshots/step"].shape[0]
        f["snapshots/step"].resize((n + 1,))
        f["snapshots/step"][n] = 700
    _edit(copy, ahead)
    from nlviz.replay.source import ReplaySource
    with Recording.open(copy) as rec:
        assert len(rec.snapshot_steps()) == 9
        last = int(rec.snapshot_steps()[-1])
        snap = rec.snapshot_at(700)
        assert snap is not None and snap.step == last
        src = ReplaySource(rec)
        replayed = src.snapshot_at(700)
        assert replayed is not None and replayed.step == last
        assert rec.refresh() == 600


def test_live_refresh_never_mixes_lengths(tmp_path):
    """Tail a file a writer is appending to: every refresh sees equal lengths of what it
    reads, snapshots always resolve (no IndexError), and the end matches the writer."""
    out = tmp_path / "live.h5"
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("writer_proc.py")),
                             str(out), "30", "50", "0.02"], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=ROOT)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        from nlviz.replay.source import ReplaySource
        with Recording.open(out) as rec:
            src = ReplaySource(rec)
            for _ in range(200):
                n = src.refresh()
                assert len(rec.steps) == n
                for s in src._snap_steps[-3:]:
                    snap = src.snapshot_at(int(s))
                    assert snap is not None and snap.weights[0].shape == (4, 4)
                if proc.poll() is not None:
                    break
                time.sleep(0.01)
            proc.wait(timeout=60)
            assert rec.refresh() == 1500
            np.testing.assert_array_equal(rec.steps, np.arange(1500))
    finally:
        if proc.poll() is None:
            proc.kill()


def test_stored_nonfinite_counts_are_checked_against_the_data(copy, capsys):
    """/status/nonfinite is contiguous (no checksum): info counts from the data instead."""
    _edit(copy, lambda f: f["status/nonfinite"].__setitem__(5, 2))
    with Recording.open(copy) as rec:
        assert rec.nonfinite == {"L0/lr": 2}                 # as stored, before the scan
        rec.scan()
        assert rec.nonfinite == {}
        assert [d.path for d in rec.damaged] == ["status/nonfinite"]
    from nlviz.cli import main
    assert main(["info", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "non-finite:" not in out and "/status/nonfinite rows 0..25" in out


def test_huge_record_shape_is_refused(copy):
    """A state tensor declaring 2**40-byte rows: refused before one row is read."""
    def huge(f):
        name = json.loads(f["states"].attrs["tensor_names"])[0]
        del f[f"states/tensors/{name}"]
        f.create_dataset(f"states/tensors/{name}", shape=(2, 2 ** 20, 2 ** 18),
                         maxshape=(None, 2 ** 20, 2 ** 18), dtype=np.float32, chunks=(1, 64, 64))
        f["status/clean_close"][0] = 0
    _edit(copy, huge)
    assert "declares rows of 1,099,511,627,776 bytes" in _error(copy)
