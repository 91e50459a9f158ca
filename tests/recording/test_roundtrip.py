"""Record real engine frames and read every dataset back unchanged."""
from __future__ import annotations

import json

import h5py
import numpy as np

from nlviz.recording import layout as L
from nlviz.recording.reader import Recording


def test_every_per_step_dataset_round_trips(recorded):
    path, spec, b = recorded
    with Recording.open(path) as rec:
        assert rec.complete and not rec.recovered
        assert rec.n_rows == 300
        np.testing.assert_array_equal(rec.steps, b.step)
        assert rec.spec == spec
        assert rec.config["model"]["cms"]["periods"] == [2, 4]
        for li, lv in enumerate(spec.levels):
            for mi, m in enumerate(spec.level_metrics):
                np.testing.assert_array_equal(rec.window(m, lv.name).values, b.level[:, li, mi])
            np.testing.assert_array_equal(rec.window("fired", lv.name).values, b.fired[:, li])
        for gi, m in enumerate(spec.global_metrics):
            np.testing.assert_array_equal(rec.window(m).values, b.scalars[:, gi])
        np.testing.assert_array_equal(rec.window("wall_time").values, b.wall_time)
        np.testing.assert_array_equal(rec.window("regime").values, b.regime)
        np.testing.assert_array_equal(rec.window("token").values, b.token)
        np.testing.assert_array_equal(rec.inputs(), b.inputs)
        assert rec.n_rows == 300 and rec.complete
    with h5py.File(path, "r") as f:
        for lv in spec.levels:
            assert f[L.level_path(lv.name)].attrs[L.A_UPDATE_PERIOD] == lv.update_period
        assert f[L.D_ROWS_COMMITTED][0] == 300 and f[L.D_CLEAN_CLOSE][0] == 1


def test_sparse_records_round_trip(recorded):
    path, _spec, b = recorded
    with Recording.open(path) as rec:
        assert [(e.step, e.kind, e.detail) for e in rec.events] == \
            [(e.step, e.kind, e.detail) for e in b.events]
        assert [e.kind for e in rec.events] == ["start", "pause"]
        probes = rec.probes()
        assert [p.step for p in probes] == [p.step for p in b.probes]
        for got, want in zip(probes, b.probes):
            np.testing.assert_array_equal(got.ages, want.ages)
            np.testing.assert_array_equal(got.errors, want.errors)  # NaN slots compare equal
        assert len(b.snapshots) > 3
        for want_snap in b.snapshots:
            snap = rec.snapshot_at(want_snap.step)
            assert snap is not None and snap.step == want_snap.step
            for gw, ww, gu, wu in zip(snap.weights, want_snap.weights, snap.updates,
                                      want_snap.updates):
                np.testing.assert_array_equal(gw, ww)
                np.testing.assert_array_equal(gu, wu)
        near = rec.snapshot_at(b.snapshots[1].step + 1)
        assert near is not None and near.step == b.snapshots[1].step
        assert len(b.states) >= 2
        for want_state in b.states:
            state = rec.state_at_or_before(want_state.step + 1)
            assert state is not None and state.step == want_state.step
            assert set(state.tensors) == set(want_state.tensors)
            for k, v in want_state.tensors.items():
                if v.dtype.kind == "U":
                    assert json.loads(str(state.tensors[k])) == json.loads(str(v))
                else:
                    np.testing.assert_array_equal(state.tensors[k], v)
        assert rec.state_at_or_before(b.states[0].step - 1) is None


def test_window_reads_inclusive_step_range(recorded):
    path, _spec, b = recorded
    with Recording.open(path) as rec:
        w = rec.window("surprise", "cms2", 120, 129)
        np.testing.assert_array_equal(w.steps, np.arange(120, 130))
        np.testing.assert_array_equal(w.values, b.level[120:130, 6, 0])
        assert not w.nonfinite.any()


def test_overview_matches_raw_min_max(recorded):
    path, _spec, b = recorded
    with Recording.open(path) as rec:
        ov = rec.overview("update_norm", "memory", max_points=20)
        assert ov.bucket_rows == 16
        raw = b.level[:, 0, 2]
        full = (300 // 16) * 16
        np.testing.assert_array_equal(ov.mins[:18], raw[:full].reshape(-1, 16).min(1))
        np.testing.assert_array_equal(ov.maxs[:18], raw[:full].reshape(-1, 16).max(1))
        assert ov.mins[-1] == raw[full:].min() and ov.maxs[-1] == raw[full:].max()
        np.testing.assert_array_equal(ov.steps[:3], [0, 16, 32])
        small = rec.overview("outer_loss", None, max_points=1000)
        np.testing.assert_array_equal(small.mins, b.scalars[:, 0])


def test_h5py_alone_reads_a_metric(recorded):
    path, _spec, b = recorded
    with h5py.File(path, "r") as f:
        n = int(f["status/rows_committed"][0])
        np.testing.assert_array_equal(f["levels/cms1/surprise"][:n], b.level[:, 5, 0])
        assert f.attrs["schema"] == "nlviz.run" and f.attrs["schema_version"] == "1.4"
        for key in ("config_json", "created_utc", "nlviz_version", "torch_version", "device"):
            assert key in f.attrs
