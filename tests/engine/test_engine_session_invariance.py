"""Run-loop oracles through ``engine.session.Session`` (float64 models): T11 streaming
invariance, T12 causality, seed determinism, commands (Reset, SetParam, SwitchStream),
state round trip and EngineFault."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config import CMSConfig, ConfigError, StreamConfig
from engine.frames import METRIC_INDEX as MI
from engine.frames import FrameBatch
from engine.session import EngineFault, Reset, Session, SetParam, SwitchStream
from engine.streams import make_stream
from tests.engine.hope_helpers import frames_equal, session_config, titans_cfg

CUTS = [1, 2, 5, 3, 7, 1, 13, 4, 28]   # sums to 64, cuts land mid-chunk for C = 4 and 16


def _cfg(chunk, **kw):
    return session_config(titans_cfg(hidden=5, chunk_size=chunk),
                          CMSConfig(periods=(2, 4, 8), hidden=5), **kw)


def _weights(session):
    m = session.model
    out = {f"titans/{i}": p for i, p in enumerate(m.titans.bank.params())}
    out.update({f"titans/mom{i}": s for i, s in enumerate(m.titans.mom)})
    for j, lv in enumerate(m.cms.levels):
        out.update({f"cms{j}/w1": lv.w1, f"cms{j}/w2": lv.w2})
    return out


def _whole_and_cut(chunk, cuts=CUTS, **kw):
    a, b = Session(_cfg(chunk, **kw)), Session(_cfg(chunk, **kw))
    whole = a.step(sum(cuts))
    pieces = FrameBatch.concat([b.step(c) for c in cuts])
    return a, b, whole, pieces


# ----------------------------------------------------------------------------------- T11
@pytest.mark.parametrize("chunk", [1, 4, 16])
def test_t11_streaming_invariance_frames(chunk):
    """One call of 64 steps vs the same steps cut at arbitrary points (mid-chunk too):
    identical per-step frames (float32 frames of float64 states: at most 1 ulp apart)."""
    _, _, whole, pieces = _whole_and_cut(chunk)
    frames_equal(whole, pieces, exact=False)


@pytest.mark.parametrize("chunk", [1, 4, 16])
def test_t11_streaming_invariance_final_weights(chunk):
    a, b, _, _ = _whole_and_cut(chunk)
    wa, wb = _weights(a), _weights(b)
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-12, atol=1e-14, msg=k)


@pytest.mark.parametrize("chunk", [1, 4, 16])
def test_t11_streaming_invariance_probes_and_snapshots(chunk):
    """Sparse records (recall / drift probes, weight snapshots) do not depend on the cuts."""
    _, _, whole, pieces = _whole_and_cut(chunk)
    assert [p.step for p in whole.probes] == [p.step for p in pieces.probes]
    for p, q in zip(whole.probes, pieces.probes):
        np.testing.assert_array_equal(p.ages, q.ages)
        np.testing.assert_allclose(p.errors, q.errors, rtol=1e-5, atol=1e-7,
                                   err_msg=f"probe step {p.step}")
    assert [s.step for s in whole.snapshots] == [s.step for s in pieces.snapshots]
    for s, t in zip(whole.snapshots, pieces.snapshots):
        for u, v in zip(s.weights + s.updates, t.weights + t.updates):
            np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------------- T12
def _file_cfg(path, chunk):
    return _cfg(chunk, stream=StreamConfig(name="file", params=(("path", str(path)),)))


@pytest.mark.parametrize("chunk", [1, 4, 16])
@pytest.mark.parametrize("t", [5, 15, 31])
def test_t12_causality(tmp_path, chunk, t):
    """Perturbing the stream after step t leaves every frame <= t unchanged."""
    rng = np.random.default_rng(0)
    data = rng.standard_normal((48, 6)).astype(np.float32)
    p1, p2 = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(p1, data)
    pert = data.copy()
    pert[t + 1:] = rng.standard_normal(pert[t + 1:].shape).astype(np.float32)  # same scale
    np.save(p2, pert)
    a = Session(_file_cfg(p1, chunk)).step(48)
    b = Session(_file_cfg(p2, chunk)).step(48)
    np.testing.assert_array_equal(a.inputs[:t + 1], b.inputs[:t + 1])
    assert not np.array_equal(a.inputs[t + 1:], b.inputs[t + 1:])
    for name in ("level", "scalars", "fired"):
        x, y = getattr(a, name)[:t + 1], getattr(b, name)[:t + 1]
        np.testing.assert_array_equal(x, y, err_msg=f"{name} at steps <= {t}")
    # and the perturbation is visible afterwards
    assert not np.array_equal(a.scalars[t + 1:], b.scalars[t + 1:])


def test_t12_file_stream_feeds_file_rows(tmp_path):
    data = np.arange(10 * 6, dtype=np.float32).reshape(10, 6) / 10
    p = tmp_path / "rows.npy"
    np.save(p, data)
    batch = Session(_file_cfg(p, 1)).step(25)
    np.testing.assert_array_equal(batch.inputs, data[np.arange(25) % 10])


# ----------------------------------------------------------------------- seed determinism
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_seed_determinism_bitwise(dtype):
    from dataclasses import replace

    cfg = _cfg(4)
    cfg = replace(cfg, model=replace(cfg.model, dtype=dtype))
    a, b = Session(cfg).step(80), Session(cfg).step(80)
    frames_equal(a, b, exact=True)
    for p, q in zip(a.probes, b.probes):
        np.testing.assert_array_equal(p.errors, q.errors)
    for s, t in zip(a.snapshots, b.snapshots):
        for u, v in zip(s.weights, t.weights):
            np.testing.assert_array_equal(u, v)
    other = Session(replace(cfg, run=replace(cfg.run, seed=1))).step(80)
    assert not np.array_equal(a.inputs, other.inputs)
    assert not np.array_equal(a.level, other.level)


def test_seed_determinism_tiny_preset():
    from nlviz.config_loader import load_config

    a = Session(load_config("tiny")).step(100)
    b = Session(load_config("tiny")).step(100)
    frames_equal(a, b, exact=True)
    c = Session(load_config("tiny", seed=5)).step(100)
    assert not np.array_equal(a.level, c.level)


# ----------------------------------------------------------------------------- commands
def test_reset_gives_fresh_session_values_steps_continue():
    cfg = _cfg(4)
    s = Session(cfg)
    first = s.step(30)
    s.apply(Reset())
    again = s.step(30)
    fresh = Session(cfg).step(30)
    np.testing.assert_array_equal(again.step, np.arange(30, 60))   # steps continue
    for name in ("level", "scalars", "inputs", "regime", "fired", "token"):
        np.testing.assert_array_equal(getattr(again, name), getattr(fresh, name), err_msg=name)
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name), err_msg=name)
    assert any(e.kind == "reset" for e in again.events)


def test_set_param_live_keeps_weights_and_applies():
    """Live: lr 0 with retention 1 (fixed gates) for Titans and CMS freezes every weight
    from the next step on, the weights are not rebuilt, and the lr column shows 0."""
    cfg = session_config(titans_cfg(hidden=5, gates="fixed", lr=0.1, retention=1.0,
                                    momentum=0.0),
                         CMSConfig(periods=(2, 4), hidden=5, retention=1.0))
    s = Session(cfg)
    s.step(6)
    model = s.model
    before = {k: v.clone() for k, v in _weights(s).items()}
    ev1 = s.apply(SetParam("model.titans.lr", 0.0))
    ev2 = s.apply(SetParam("model.cms.lr", 0.0))
    assert "live" in ev1.detail and "live" in ev2.detail
    assert s.model is model and s.spec_version == 0
    batch = s.step(8)
    after = _weights(s)
    for k in before:
        assert torch.equal(before[k], after[k]), k
    assert (batch.metric("lr") == 0).all()
    np.testing.assert_array_equal(batch.step, np.arange(6, 14))


def test_set_param_live_momentum_and_retention_change_dynamics():
    cfg = session_config(titans_cfg(hidden=5, gates="fixed", lr=0.0, retention=1.0),
                         CMSConfig(periods=(), hidden=5))
    s = Session(cfg)
    s.step(3)
    w = [p.clone() for p in s.model.titans.bank.params()]
    s.apply(SetParam("model.titans.retention", 0.5))
    batch = s.step(2)
    for a, b in zip(w, s.model.titans.bank.params()):
        torch.testing.assert_close(b, 0.25 * a, rtol=1e-14, atol=0)
    assert (batch.metric("retention")[:, :5] == 0.5).all()


def test_set_param_rebuild_equals_fresh_session_with_new_config():
    cfg = _cfg(1)
    s = Session(cfg)
    s.step(10)
    ev = s.apply(SetParam("model.titans.hidden", 7))
    assert "rebuilt" in ev.detail and s.spec_version == 1
    w1 = s.model.titans.bank.w1
    assert w1 is not None and w1.shape[-1] == 7
    batch = s.step(20)
    fresh = Session(cfg.replace("model.titans.hidden", 7)).step(20)
    np.testing.assert_array_equal(batch.step, np.arange(10, 30))
    for name in ("level", "scalars", "inputs", "fired"):
        np.testing.assert_array_equal(getattr(batch, name), getattr(fresh, name), err_msg=name)


def test_set_param_invalid_raises_naming_key():
    s = Session(_cfg(1))
    with pytest.raises(ConfigError, match=r"model\.titans\.lr"):
        s.apply(SetParam("model.titans.lr", -1.0))
    with pytest.raises(ConfigError, match=r"model\.titans\.nope"):
        s.apply(SetParam("model.titans.nope", 1))
    with pytest.raises(ConfigError, match=r"model\.cms\.retention"):
        s.apply(SetParam("model.cms.retention", 1.5))


def test_switch_stream_mid_run():
    cfg = _cfg(4)
    s = Session(cfg)
    s.step(21)                                   # mid-chunk for C = 4
    w = {k: v.clone() for k, v in _weights(s).items()}
    ev = s.apply(SwitchStream(StreamConfig(name="noise")))
    assert ev.kind == "stream"
    for k, v in _weights(s).items():              # model state kept
        assert torch.equal(w[k], v), k
    batch = s.step(30)
    expect = make_stream(StreamConfig(name="noise"), cfg.model.d_in, cfg.run.seed).sample(21, 30)
    np.testing.assert_array_equal(batch.inputs, expect.x)
    np.testing.assert_array_equal(batch.step, np.arange(21, 51))
    assert any(e.kind == "stream" for e in batch.events)
    # the model kept learning from where it was: not equal to a fresh model on noise
    from dataclasses import replace

    fresh = Session(replace(cfg, stream=StreamConfig(name="noise"))).step(51)
    assert not np.array_equal(batch.level, fresh.level[21:])
    with pytest.raises(ConfigError, match=r"stream\.name"):
        s.apply(SwitchStream(StreamConfig(name="bogus")))


# ------------------------------------------------------------------------ state round trip
@pytest.mark.parametrize("k_steps", [48, 40])
@pytest.mark.parametrize("proximal", [True, False])
def test_state_round_trip_continues_bit_identically(k_steps, proximal):
    """State at step K of run A loaded into a fresh session B: 52 more steps are equal.
    K = 48 is an event of every level; K = 40 leaves CMS gradients pending."""
    cfg = session_config(titans_cfg(hidden=5, chunk_size=4),
                         CMSConfig(periods=(3, 16), hidden=5, proximal=proximal))
    a = Session(cfg)
    a.step(k_steps)
    state = a.state_dict()
    b = Session(cfg)
    b.load_state(state)
    fa, fb = a.step(52), b.step(52)  # ends on a chunk boundary
    np.testing.assert_array_equal(fa.step, fb.step)
    for name in ("level", "scalars", "inputs", "fired", "regime"):
        np.testing.assert_array_equal(getattr(fa, name), getattr(fb, name), err_msg=name)
    for p, q in zip(fa.probes, fb.probes):
        np.testing.assert_array_equal(p.errors, q.errors)
    sa, sb = a.state_dict(), b.state_dict()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


def test_state_dict_refused_mid_chunk():
    s = Session(_cfg(4))
    s.step(5)
    with pytest.raises(RuntimeError):
        s.state_dict()


# ------------------------------------------------------------------------------ EngineFault
def test_engine_fault_on_nan_names_step_and_level():
    cfg = session_config(titans_cfg(hidden=5, gates="fixed", lr=50.0, retention=1.0,
                                    proximal=False, momentum=0.0),
                         CMSConfig(periods=(2,), hidden=5))
    s = Session(cfg)
    s.step(2)
    with pytest.raises(EngineFault) as info:
        for _ in range(20):
            s.step(100)
    exc = info.value
    assert exc.level in s.spec.level_names
    assert f"step {exc.step}" in str(exc) and f"level {exc.level}" in str(exc)
    batch = exc.batch
    assert batch.step[0] <= exc.step <= batch.step[-1]
    i = int(np.searchsorted(batch.step, exc.step))
    steer = np.zeros(batch.level.shape[1:], bool)        # NaN by design: the contribution
    steer[1:5, MI["contribution"]] = True                # of the k, v, eta, alpha memories
    assert np.isnan(batch.level[:i, steer]).all()
    assert np.isfinite(batch.level[:i, ~steer]).all() and np.isfinite(batch.scalars[:i]).all()
    col = s.spec.level_names.index(exc.level)
    assert not np.isfinite(batch.level[i, col, ~steer[col]]).all()
    # the frames before the fault are the frames a healthy run produced
    ref = Session(cfg)
    ref.step(2)
    good = FrameBatch.concat([ref.step(1) for _ in range(int(exc.step) - 2)])
    np.testing.assert_array_equal(batch.level[:i], good.level[-i:] if i else good.level[:0])
