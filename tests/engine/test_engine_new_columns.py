"""The columns added for the research views, against independent recomputation:
weight_norm (per-level ||W||_F), contribution (what each level adds to the residual
stream over ||y||) and the baselines copy / zero / oracle computed from the stream."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.commands import SwitchStream
from engine.config import CMSConfig, StreamConfig
from engine.frames import GLOBAL_INDEX as GI
from engine.frames import GLOBAL_METRICS, LEVEL_METRICS
from engine.frames import METRIC_INDEX as MI
from engine.session import Session
from engine.streams import make_stream
from tests.engine.hope_helpers import make_model, rand_tokens, session_config, titans_cfg


def test_columns_are_appended_in_the_contract_order():
    assert LEVEL_METRICS[-2:] == ("weight_norm", "contribution")
    assert LEVEL_METRICS[:8] == ("surprise", "grad_surprise", "update_norm", "update_rel",
                                 "retention", "lr", "momentum_norm", "drift_init")
    assert GLOBAL_METRICS == ("outer_loss", "output_norm", "copy_loss", "zero_loss",
                              "oracle_loss")


@pytest.mark.parametrize("chunk", [1, 4])
def test_weight_norm_is_the_norm_of_the_weights(chunk):
    model = make_model(titans_cfg(hidden=5, chunk_size=chunk),
                       CMSConfig(periods=(2, 3), hidden=5))
    x = rand_tokens(4 * chunk, 6, seed=3)
    for c in range(4):
        before = [p.clone() for p in model.titans.bank.params()]
        met, _, _, _ = model.step(x[c * chunk:(c + 1) * chunk])
        after = model.titans.bank.params()
        want = sum(p.square().sum((1, 2)) for p in after).sqrt()            # (B,)
        torch.testing.assert_close(met[-1, :5, MI["weight_norm"]], want, rtol=1e-12, atol=0)
        if chunk > 1:  # rows before the chunk's write show the weights before it
            old = sum(p.square().sum((1, 2)) for p in before).sqrt()
            torch.testing.assert_close(met[:-1, :5, MI["weight_norm"]],
                                       old.expand(chunk - 1, 5), rtol=1e-12, atol=0)
        for j, lv in enumerate(model.cms.levels):
            w = (lv.w1.square().sum() + lv.w2.square().sum()).sqrt()
            torch.testing.assert_close(met[-1, 5 + j, MI["weight_norm"]], w, rtol=1e-12, atol=0)


def _silu(z: np.ndarray) -> np.ndarray:
    return z / (1 + np.exp(-z))


@pytest.mark.parametrize("residual", [False, True])
def test_contribution_is_what_each_level_adds_over_the_output(residual):
    model = make_model(titans_cfg(hidden=5, chunk_size=1), CMSConfig(periods=(2, 3), hidden=5))
    model.cfg = replace(model.cfg, residual=residual)
    x = rand_tokens(5, 6, seed=4)
    for t in range(5):
        ws = [(lv.w1.numpy().copy(), lv.w2.numpy().copy()) for lv in model.cms.levels]
        xt = model.w_in.numpy() @ x[t].numpy()                              # (d,)
        met, _, read, y = model.step(x[t:t + 1])
        o = read.o[:, 0].numpy()
        u = xt + o if residual else o
        added = []
        for w1, w2 in ws:                                                    # by hand
            f = w1 @ _silu(w2 @ u)
            added.append(np.linalg.norm(f))
            u = u + f
        np.testing.assert_allclose(u, y[:, 0].numpy(), rtol=1e-12)
        ny = np.linalg.norm(u)
        got = met[0, :, MI["contribution"]].numpy()
        np.testing.assert_allclose(got[0], np.linalg.norm(o) / ny, rtol=1e-12)
        assert (got[1:5] == 0).all()          # k, v, eta, alpha steer (the session: NaN)
        np.testing.assert_allclose(got[5:], np.array(added) / ny, rtol=1e-10)


def test_session_reports_nan_contribution_for_the_steering_memories():
    b = Session(session_config()).step(6)
    c = b.metric("contribution")                                      # (n, L)
    assert np.isnan(c[:, 1:5]).all()
    assert np.isfinite(c[:, [0, 5, 6]]).all() and (c[:, [0, 5, 6]] > 0).all()
    assert np.isfinite(np.delete(b.level, MI["contribution"], axis=2)).all()


def _noiseless(cfg: StreamConfig, d_in: int, seed: int, t0: int, n: int) -> np.ndarray:
    """The same stream with noise 0: its vectors are the noise-free signal."""
    params = tuple((k, v) for k, v in cfg.params if k != "noise") + (("noise", 0.0),)
    return make_stream(StreamConfig(cfg.name, params), d_in, seed).sample(t0, n).x


@pytest.mark.parametrize("stream", ["regime_shift", "multi_timescale"])
def test_baselines_equal_values_computed_from_the_stream(stream):
    cfg = session_config(stream=StreamConfig(stream, (("noise", 0.1),)))
    s = Session(cfg)
    batches = [s.step(n) for n in (1, 7, 16, 9)]                  # across batch boundaries
    sc = np.concatenate([b.scalars for b in batches])             # (33, G)
    x = make_stream(cfg.stream, cfg.model.d_in, cfg.run.seed).sample(0, 33).x.astype(np.float64)
    clean = _noiseless(cfg.stream, cfg.model.d_in, cfg.run.seed, 0, 33).astype(np.float64)
    copy = np.r_[0.0, 0.5 * np.square(x[1:] - x[:-1]).sum(1)]    # first token: no prediction
    zero = np.r_[0.0, 0.5 * np.square(x[1:]).sum(1)]
    oracle = np.r_[0.0, 0.5 * np.square(x[1:] - clean[1:]).sum(1)]
    np.testing.assert_allclose(sc[:, GI["copy_loss"]], copy, rtol=1e-5)
    np.testing.assert_allclose(sc[:, GI["zero_loss"]], zero, rtol=1e-5)
    np.testing.assert_allclose(sc[:, GI["oracle_loss"]], oracle, rtol=1e-4, atol=1e-9)
    assert sc[0, GI["outer_loss"]] == 0.0                         # the same mask
    assert (oracle[1:] > 0).all() and (oracle[1:] < copy[1:]).mean() > 0.5


def test_reconstruction_copy_is_zero_and_text_has_no_oracle():
    cfg = session_config(cms=CMSConfig(periods=(2,), hidden=5, objective="reconstruction"),
                         stream=StreamConfig("text"))
    b = Session(cfg).step(12)
    x = b.inputs.astype(np.float64)
    assert (b.scalars[:, GI["copy_loss"]] == 0).all()
    np.testing.assert_allclose(b.scalars[:, GI["zero_loss"]], 0.5 * np.square(x).sum(1),
                               rtol=1e-5)
    assert np.isnan(b.scalars[:, GI["oracle_loss"]]).all()       # and no EngineFault


def test_copy_baseline_follows_the_fed_inputs_across_a_stream_switch():
    s = Session(session_config())
    a = s.step(5)
    s.apply(SwitchStream(StreamConfig("noise")))
    b = s.step(3)
    x = np.concatenate([a.inputs, b.inputs]).astype(np.float64)
    np.testing.assert_allclose(b.scalars[:, GI["copy_loss"]],
                               0.5 * np.square(x[5:] - x[4:-1]).sum(1), rtol=1e-5)
    assert np.isnan(b.scalars[:, GI["oracle_loss"]]).all()
