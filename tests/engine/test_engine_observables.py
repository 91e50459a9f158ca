"""Per-level observables against direct recomputation from the weights (float64):
O4 update norm / relative, O3 momentum norm, O5 gates, O9 drift, O7 probe recall,
weight snapshots; T2 capacity (statistical); the ``run`` generator."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config import CMSConfig
from engine.frames import METRIC_INDEX as MI
from engine.memory import block_average, delta_step_linear
from engine.session import Reset, Session, run
from tests.engine.hope_helpers import (
    F64,
    make_model,
    params,
    rand_tokens,
    session_config,
    titans_cfg,
)


def _norm(ts):
    return sum(t.square().sum((1, 2)) for t in ts).sqrt()


@pytest.mark.parametrize("chunk", [1, 4])
@pytest.mark.parametrize("kind", ["mlp", "linear"])
def test_titans_step_metrics_match_weights(chunk, kind):
    model = make_model(titans_cfg(kind=kind, hidden=5, chunk_size=chunk, momentum=0.5))
    init = params(model)
    x = rand_tokens(3 * chunk, 6, seed=30)
    for c in range(3):
        old = params(model)
        met, _, read, _ = model.step(x[c * chunk:(c + 1) * chunk])
        new = params(model)
        upd = _norm([a - b for a, b in zip(new, old)])
        torch.testing.assert_close(met[-1, :5, MI["update_norm"]], upd, rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(met[-1, :5, MI["update_rel"]], upd / _norm(old), rtol=1e-12,
                                   atol=1e-15)
        assert (met[:-1, :5, MI["update_norm"]] == 0).all()
        torch.testing.assert_close(met[-1, :5, MI["momentum_norm"]], _norm(model.titans.mom),
                                   rtol=1e-12, atol=1e-15)
        drift = _norm([a - b for a, b in zip(new, init)]) / _norm(init)
        # (float64: the engine's expanded-square formula loses ~1e-10 here; see the float32
        # test below for where that matters)
        torch.testing.assert_close(met[-1, :5, MI["drift_init"]], drift, rtol=1e-8, atol=1e-15)
        torch.testing.assert_close(met[:, :5, MI["lr"]], read.eta[:, None].expand(-1, 5))
        torch.testing.assert_close(met[:, :5, MI["retention"]], read.rho[:, None].expand(-1, 5))
        assert ((read.eta > 0) & (read.eta < 0.5)).all()
        assert ((read.rho > 0) & (read.rho < 1)).all()


def test_titans_drift_accurate_in_float32():
    """O9 drift ||W - W0|| / ||W0|| of the default float32 model after one small step must be
    accurate to 0.1 % (the direct difference of two float32 tensors is exact to ~1 ulp;
    ``||W||^2 - 2<W, W0> + ||W0||^2`` cancels catastrophically when the drift is small)."""
    from engine.config import ModelConfig, TitansConfig
    from engine.model import HOPE

    m = HOPE(ModelConfig(d_in=16, d=32, titans=TitansConfig(), cms=CMSConfig(periods=())), 0,
             torch.device("cpu"))
    init = [p.double().clone() for p in m.titans.bank.params()]
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        met, _, _, _ = m.step(torch.randn(1, 16, generator=g) * 0.25)
        true = _norm([p.double() - i for p, i in zip(m.titans.bank.params(), init)]) / _norm(init)
        np.testing.assert_allclose(met[-1, :5, MI["drift_init"]].double().numpy(), true.numpy(),
                                   rtol=1e-3)


def test_probe_recall_errors_recomputed():
    cfg = session_config(titans_cfg(hidden=5), CMSConfig(periods=(2, 4), hidden=5),
                         probe_every=10, probe_size=6)
    s = Session(cfg)
    batch = s.step(30)            # probes at steps 9, 19, 29; the last one is the current state
    assert [p.step for p in batch.probes] == [9, 19, 29]
    rec = batch.probes[-1]
    pr = s.probes
    bank = s.model.titans.bank
    B = bank.w2.shape[0]
    pred, _ = bank.forward(pr.keys.expand(B, -1, -1))
    m = bank.out_mask
    err = ((pred - pr.targets) * m).square().sum(1) / (pr.targets * m).square().sum(1)
    np.testing.assert_allclose(rec.errors[:B], err.numpy(), rtol=1e-5)
    np.testing.assert_array_equal(rec.ages, 29 - pr.written)
    assert (rec.ages >= 0).all() and (rec.ages <= 29).all()
    assert rec.errors.shape == (len(s.spec.levels), 6)


def test_snapshots_are_block_averaged_weights():
    cfg = session_config(titans_cfg(hidden=5), CMSConfig(periods=(2, 4), hidden=5),
                         snapshot_every=16, snapshot_max=3)
    s = Session(cfg)
    batch = s.step(16)
    (snap,) = batch.snapshots
    assert snap.step == 15
    mats = list(s.model.titans.bank.w2) + [lv.w2 for lv in s.model.cms.levels]
    for w, got, shape in zip(mats, snap.weights, [lv.snapshot_shape for lv in s.spec.levels]):
        assert got.shape == shape
        np.testing.assert_allclose(got, block_average(w, 3).numpy(), rtol=1e-6, atol=1e-7)
    # a snapshot is a copy: later steps do not change it
    keep = [w.copy() for w in snap.weights]
    s.step(8)
    for a, b in zip(keep, snap.weights):
        np.testing.assert_array_equal(a, b)


def test_run_generator_yields_and_accepts_commands():
    cfg = session_config(titans_cfg(hidden=5), CMSConfig(periods=(2,), hidden=5))
    gen = run(cfg, batch=5, steps=20)
    first = next(gen)
    assert len(first) == 5
    second = gen.send(Reset())
    np.testing.assert_array_equal(second.step, np.arange(5, 10))
    np.testing.assert_array_equal(second.level, first.level)     # reset: same values again
    rest = list(gen)
    assert sum(len(b) for b in rest) == 10


def test_t2_capacity_delta_vs_hebbian():
    """More pairs than dimensions cannot be stored exactly; on correlated unit keys the
    delta rule recalls the last pair exactly and beats Hebbian on average (statistical)."""
    d = 6
    wins, trials = 0, 60
    for seed in range(trials):
        g = torch.Generator().manual_seed(seed)
        keys = torch.randn(d + 4, d, generator=g, dtype=F64)
        keys = keys / keys.norm(dim=1, keepdim=True)
        vals = torch.randn(d + 4, d, generator=g, dtype=F64)
        w = torch.zeros(d, d, dtype=F64)
        for k, v in zip(keys, vals):
            w = delta_step_linear(w, k, v, eta=1.0, rho=1.0)
        assert ((keys @ w.T - vals).square().sum(1) > 0).any()      # n > d: residual > 0
        # correlated keys, n < d
        base = torch.randn(d, generator=g, dtype=F64)
        ck = base + 0.5 * torch.randn(4, d, generator=g, dtype=F64)
        ck = ck / ck.norm(dim=1, keepdim=True)
        cv = torch.randn(4, d, generator=g, dtype=F64)
        wd = torch.zeros(d, d, dtype=F64)
        wh = torch.zeros(d, d, dtype=F64)
        for k, v in zip(ck, cv):
            wd = delta_step_linear(wd, k, v, eta=1.0, rho=1.0)
            wh = wh + torch.outer(v, k)
        torch.testing.assert_close(wd @ ck[-1], cv[-1], rtol=0, atol=1e-12)
        ed = (ck @ wd.T - cv).square().sum(1).mean()
        eh = (ck @ wh.T - cv).square().sum(1).mean()
        wins += int(ed < eh)
    assert wins >= 0.9 * trials
    # orthonormal keys: Hebbian from zero is exact too
    q, _ = torch.linalg.qr(torch.randn(d, d, dtype=F64, generator=torch.Generator().manual_seed(1)))
    v = torch.randn(d, d, dtype=F64, generator=torch.Generator().manual_seed(2))
    wh = torch.stack([torch.outer(v[:, i], q[:, i]) for i in range(d)]).sum(0)
    torch.testing.assert_close(wh @ q, v, rtol=0, atol=1e-12)
