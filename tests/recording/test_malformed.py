"""One reader test per malformed-file class, the golden file, NaN/inf, writer errors."""
from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from nlviz.errors import UserError
from nlviz.recording.reader import Recording, RecordingError
from nlviz.recording.synthetic import expected_level, synthetic_batch, synthetic_spec
from nlviz.recording.writer import Recorder, RecorderError

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "recording_v1_0.h5"


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
        assert rec.snapshot_at(130).step == 127
        st = rec.state_at_or_before(599)
        assert st.step == 511 and int(st.tensors["step_count"]) == 512
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
    t0 = time.perf_counter()
    msg = _error(copy)
    assert time.perf_counter() - t0 < 5
    kept = len(data[:keep])
    assert f"truncated file ({kept:,} of {len(data):,} bytes)" in msg


def test_unknown_major_version(copy):
    with h5py.File(copy, "r+") as f:
        f.attrs["schema_version"] = "2.0"
    assert "schema version 2.0 is not supported" in _error(copy)


def test_older_and_newer_minor_accepted(copy):
    with h5py.File(copy, "r+") as f:
        f.attrs["schema_version"] = "1.7"
    with Recording.open(copy) as rec:
        assert rec.schema_version == "1.7" and rec.n_rows == 600


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
    rec._appender.append = slow
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
