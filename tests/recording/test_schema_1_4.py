"""Schema 1.4: the new per-step columns, /evals, and older files read with NaN for them."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from engine.frames import GLOBAL_METRICS, LEVEL_METRICS, EvalRecord, FrameBatch
from nlviz.recording import layout as L
from nlviz.recording.reader import Recording
from nlviz.replay.source import ReplaySource

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def noisy_run(tmp_path_factory):
    """A real tiny-preset run on a noisy regime-shift stream, recorded with two
    hand-made evaluations: (path, session config, FrameBatch, evals)."""
    from engine.session import Session
    from nlviz.config_loader import load_config
    from nlviz.recording.writer import Recorder

    cfg = load_config("tiny", ['stream.name="regime_shift"', "stream.noise=0.2",
                               "stream.switch_every=40"])
    session = Session(cfg)
    path = tmp_path_factory.mktemp("v14") / "run.h5"
    evals = [EvalRecord(63, np.array([0.5, np.nan], np.float32), np.array([1.0, 2.0], np.float32)),
             EvalRecord(63, np.array([0.25, 0.75], np.float32), np.array([1.0, 2.0], np.float32),
                        "knockout:cms2"),
             EvalRecord(127, np.array([0.125, 0.5, 9.0], np.float32),  # wider: cut to R = 2
                        np.array([3.0, 4.0, 5.0], np.float32), "restore:memory@64")]
    batches = []
    with Recorder(path, session.spec, session.config.to_dict(), device=session.device_name,
                  stream=session.stream_description, state_template=session.state_dict(),
                  queue_size=2) as rec:
        for i, n in enumerate((64, 64, 22)):
            b = session.step(n)
            b.evals.extend(evals[:2] if i == 0 else evals[2:] if i == 1 else [])
            rec.append(b)
            batches.append(b)
    return path, cfg, FrameBatch.concat(batches), evals


def test_the_baselines_in_the_file_equal_values_computed_from_the_stream(noisy_run):
    from engine.config import StreamConfig
    from engine.streams import make_stream

    path, cfg, _b, _e = noisy_run
    n = 150
    x = make_stream(cfg.stream, cfg.model.d_in, cfg.run.seed).sample(0, n).x.astype(np.float64)
    quiet = StreamConfig(cfg.stream.name, tuple((k, 0.0 if k == "noise" else v)
                                                for k, v in cfg.stream.params))
    clean = make_stream(quiet, cfg.model.d_in, cfg.run.seed).sample(0, n).x.astype(np.float64)
    copy = np.r_[0.0, 0.5 * np.square(x[1:] - x[:-1]).sum(1)]
    zero = np.r_[0.0, 0.5 * np.square(x[1:]).sum(1)]
    oracle = np.r_[0.0, 0.5 * np.square(x[1:] - clean[1:]).sum(1)]
    with Recording.open(path) as rec:
        assert rec.schema_version == "1.4" and rec.n_rows == n
        assert rec.spec.global_metrics == GLOBAL_METRICS
        np.testing.assert_allclose(rec.column("copy_loss"), copy, rtol=1e-5)
        np.testing.assert_allclose(rec.column("zero_loss"), zero, rtol=1e-5)
        np.testing.assert_allclose(rec.column("oracle_loss"), oracle, rtol=1e-4, atol=1e-9)
        assert np.median(oracle[1:] / copy[1:]) < 1      # the oracle is the better predictor


def test_the_new_level_columns_round_trip(noisy_run):
    path, _cfg, b, _e = noisy_run
    with Recording.open(path) as rec:
        assert rec.spec.level_metrics == LEVEL_METRICS
        for li, lv in enumerate(rec.spec.level_names):
            for m in ("weight_norm", "contribution"):
                np.testing.assert_array_equal(rec.column(m, lv), b.level[:, li, LEVEL_METRICS.index(m)])
        assert np.isnan(rec.column("contribution", "k")).all()
        assert (rec.column("weight_norm", "cms1") > 0).all()


def test_evals_round_trip_in_step_order(noisy_run):
    path, _cfg, _b, evals = noisy_run
    with Recording.open(path) as rec:
        got = rec.evals()
        assert [(e.step, e.variant) for e in got] == [(63, ""), (63, "knockout:cms2"),
                                                      (127, "restore:memory@64")]
        assert all(e.losses.dtype == np.float32 and e.losses.shape == (2,) for e in got)
        np.testing.assert_array_equal(got[0].losses, [0.5, np.nan])
        np.testing.assert_array_equal(got[1].losses, evals[1].losses)
        np.testing.assert_array_equal(got[2].losses, [0.125, 0.5])      # the file's R = 2
        np.testing.assert_array_equal(got[2].copy, [3.0, 4.0])
        assert [e.step for e in rec.evals(1, 2)] == [63]
        src = ReplaySource(rec)
        assert [e.variant for e in src.evals_at(100)] == ["", "knockout:cms2"]
        assert src.evals_at(62) == [] and len(src.evals_at(10**9)) == 3
    with h5py.File(path, "r") as f:
        assert f[L.D_EVAL_LOSSES].shape == (3, 2) and f[L.D_EVAL_VARIANT].dtype == "S64"


@pytest.mark.parametrize("name", ["recording_v1_0.h5", "recording_v1_1.h5"])
def test_an_old_file_reads_with_nan_in_the_new_columns(name):
    with Recording.open(DATA / name) as rec:
        old_level, old_global = rec.spec.level_metrics, rec.spec.global_metrics
        assert "weight_norm" not in old_level and "copy_loss" not in old_global
        n = rec.n_rows
        assert rec.evals() == [] and len(rec.eval_steps()) == 0
        first = rec.spec.level_names[0]
        assert np.isnan(rec.column("weight_norm", first)).all()
        assert len(rec.column("oracle_loss")) == n and np.isnan(rec.column("oracle_loss")).all()
        with pytest.raises(Exception, match="unknown metric 'bogus'"):
            rec.column("bogus", first)
        src = ReplaySource(rec, raw_limit=10 * n)
        v = src.history()
        L_, M, G = len(rec.spec.levels), len(LEVEL_METRICS), len(GLOBAL_METRICS)
        assert v.level.shape == (L_, M, n) and v.scalars.shape == (G, n)
        for mi, m in enumerate(LEVEL_METRICS):
            if m in old_level:   # the old columns, where they were, unchanged
                np.testing.assert_array_equal(v.level[:, mi], [rec.column(m, lv)
                                                                for lv in rec.spec.level_names])
            else:
                assert np.isnan(v.level[:, mi]).all()
        np.testing.assert_array_equal(v.scalars[0], rec.column("outer_loss"))
        assert np.isnan(v.scalars[2:]).all()
        s = ReplaySource(rec, raw_limit=n // 4, max_points=16).history()   # summary view
        assert s.is_summary and s.level.shape[:2] == (L_, M) and s.scalars.shape[0] == G
        assert np.isnan(s.level[:, LEVEL_METRICS.index("contribution")]).all()
        assert np.isfinite(s.level[:, 0]).any()
        assert src.evals_at(10**9) == []
