"""Oracles on the engine's Titans memories (``engine.titans.SelfModifyingTitans`` inside a
float64 ``HOPE`` with no CMS): T3 proximal factor, T4 wipe / no-op, T5 fixed points,
T6 chunk-parallel == token loop, T7 grad_surprise and the applied gradient against
autograd (T13's stop-grad modes), T13 identity reductions."""
from __future__ import annotations

import pytest
import torch

from tests.engine.hope_helpers import (
    F64,
    inner_grads_autograd,
    make_model,
    memory_out,
    normalize,
    params,
    rand_tokens,
    reference_chunk,
    titans_cfg,
)


# ------------------------------------------------------------------------------------ T3
@pytest.mark.parametrize("eta", [0.5, 1.0, 4.0])
def test_t3_engine_proximal_factor_linear_lmm(eta):
    """lmm, linear memory, proximal, fixed gates, momentum 0, chunk 1: one step on the unit
    key k moves W k to (1 - eta') W k + eta' v with eta' = eta / (1 + eta), and W' is the
    exact proximal solution (W + eta v k^T)(I + eta k k^T)^-1."""
    tc = titans_cfg(variant="lmm", kind="linear", proximal=True, gates="fixed", lr=eta,
                    retention=1.0, momentum=0.0, chunk_size=1)
    model = make_model(tc, d_in=5, d=6)
    w = model.titans.bank.w2[0].clone()
    x_raw = rand_tokens(1, 5, seed=3)
    _, _, read, _ = model.step(x_raw)
    k, v = read.k[:, 0], read.targets[0, :, 0]
    assert abs(float(k.norm()) - 1.0) < 1e-14
    x = model.w_in @ x_raw.T
    torch.testing.assert_close(k, normalize(model.titans.w_kv[0] @ x)[:, 0], rtol=0, atol=1e-14)
    torch.testing.assert_close(v, (model.titans.w_kv[1] @ x)[:, 0], rtol=0, atol=1e-14)
    w_new = model.titans.bank.w2[0]
    eta_p = eta / (1 + eta)
    torch.testing.assert_close(w_new @ k, (1 - eta_p) * (w @ k) + eta_p * v, rtol=0, atol=1e-13)
    d = w.shape[0]
    exact = (w + eta * torch.outer(v, k)) @ torch.linalg.inv(torch.eye(d, dtype=F64)
                                                             + eta * torch.outer(k, k))
    torch.testing.assert_close(w_new, exact, rtol=0, atol=1e-12)


def test_t3_engine_proximal_factor_mlp_lmm_per_layer():
    """MLP lmm with proximal on: each layer's step is eta/(1 + eta |layer input|^2) times its
    autograd gradient (input a = silu(W2 k) for W1, k for W2)."""
    eta = 0.7
    tc = titans_cfg(variant="lmm", kind="mlp", hidden=5, proximal=True, gates="fixed", lr=eta,
                    retention=1.0, momentum=0.0, chunk_size=1)
    model = make_model(tc)
    w1, w2 = params(model)
    x_raw = rand_tokens(1, 6, seed=4)
    ref = inner_grads_autograd(model, x_raw, stop_grad=True)
    model.step(x_raw)
    k = ref["k"][:, 0]
    a = torch.nn.functional.silu(w2[0] @ k)
    g1, g2 = ref["grads"][0][0, 0], ref["grads"][1][0, 0]
    w1_now = model.titans.bank.w1
    assert w1_now is not None
    torch.testing.assert_close(w1_now[0], w1[0] - eta / (1 + eta * a @ a) * g1,
                               rtol=0, atol=1e-13)
    torch.testing.assert_close(model.titans.bank.w2[0], w2[0] - eta / (1 + eta * k @ k) * g2,
                               rtol=0, atol=1e-13)


# ------------------------------------------------------------------------------------ T4
@pytest.mark.parametrize("kind", ["mlp", "linear"])
@pytest.mark.parametrize("chunk", [1, 4])
@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_t4_wipe_retention_zero_lr_zero(kind, chunk, momentum):
    tc = titans_cfg(kind=kind, hidden=5, gates="fixed", lr=0.0, retention=0.0,
                    momentum=momentum, chunk_size=chunk)
    model = make_model(tc)
    assert all(p.abs().max() > 0 for p in params(model))
    model.step(rand_tokens(chunk, 6, seed=5))
    for p in model.titans.bank.params():
        assert torch.count_nonzero(p) == 0


def test_t4_retention_zero_with_writes_is_not_zero():
    tc = titans_cfg(hidden=5, gates="fixed", lr=0.1, retention=0.0, momentum=0.0)
    model = make_model(tc)
    model.step(rand_tokens(1, 6, seed=6))
    w1 = model.titans.bank.w1
    assert w1 is not None and w1.abs().max() > 1e-6


@pytest.mark.parametrize("kind", ["mlp", "linear"])
@pytest.mark.parametrize("chunk", [1, 4])
@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_t4_no_op_lr_zero_retention_one_bitwise(kind, chunk, momentum):
    tc = titans_cfg(kind=kind, hidden=5, gates="fixed", lr=0.0, retention=1.0,
                    momentum=momentum, chunk_size=chunk)
    model = make_model(tc)
    before = params(model)
    x = rand_tokens(3 * chunk, 6, seed=7)
    for i in range(3):
        model.step(x[i * chunk:(i + 1) * chunk])
    for a, b in zip(before, model.titans.bank.params()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kind", ["mlp", "linear"])
@pytest.mark.parametrize("chunk", [1, 4])
def test_t4_constant_retention_scales_by_rho_power(kind, chunk):
    rho, L = 0.95, 20
    tc = titans_cfg(kind=kind, hidden=5, gates="fixed", lr=0.0, retention=rho, momentum=0.5,
                    chunk_size=chunk)
    model = make_model(tc)
    before = params(model)
    x = rand_tokens(L, 6, seed=8)
    for i in range(0, L, chunk):
        model.step(x[i:i + chunk])
    for a, b in zip(before, model.titans.bank.params()):
        torch.testing.assert_close(b, rho ** L * a, rtol=1e-13, atol=1e-16)
    assert abs(rho ** L - 0.35848592240854177) < 1e-15  # design doc: 0.35849 = 0.95^20


# ------------------------------------------------------------------------------------ T5
@pytest.mark.parametrize("rule,fraction", [("delta", 1.0), ("literal93", 0.5)])
def test_t5_engine_fixed_points_linear_lmm(rule, fraction):
    """Repeating one token (one pair k, v with |k| = 1) with retention 1: the delta rule
    converges to W k = v, the literal eq. 93 to W k = v / 2."""
    tc = titans_cfg(variant="lmm", kind="linear", gates="fixed", lr=0.3, retention=1.0,
                    momentum=0.0, proximal=False, update_rule=rule)
    model = make_model(tc)
    x = rand_tokens(1, 6, seed=9)
    for _ in range(150):
        _, _, read, _ = model.step(x)
    k, v = read.k[:, 0], read.targets[0, :, 0]
    torch.testing.assert_close(model.titans.bank.w2[0] @ k, fraction * v, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------ T6
def _check_chunks(model, x, chunk, beta, stop_grad, n_chunks=3, atol=1e-12):
    for c in range(n_chunks):
        xc = x[c * chunk:(c + 1) * chunk]
        ref = inner_grads_autograd(model, xc, stop_grad=stop_grad)
        ws_ref, mom_ref = reference_chunk(params(model), [s.clone() for s in model.titans.mom],
                                          ref["grads"], ref["eta"], ref["rho"], beta)
        _, _, read, _ = model.step(xc)
        torch.testing.assert_close(read.eta, ref["eta"], rtol=0, atol=1e-14)
        torch.testing.assert_close(read.rho, ref["rho"], rtol=0, atol=1e-14)
        for got, want in zip(model.titans.bank.params(), ws_ref):
            torch.testing.assert_close(got, want, rtol=0, atol=atol)
        if beta > 0:
            for got, want in zip(model.titans.mom, mom_ref):
                torch.testing.assert_close(got, want, rtol=0, atol=atol)


@pytest.mark.parametrize("kind", ["mlp", "linear"])
@pytest.mark.parametrize("chunk", [1, 4])
@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_t6_self_modifying_chunked_equals_token_loop(kind, chunk, momentum):
    """Adaptive gates, self-generated targets, full gradient through the target (the
    default): the closed-form chunk write equals the reference token loop with every
    gradient at the chunk-start state. Chunk 1 is the online rule."""
    tc = titans_cfg(kind=kind, hidden=5, chunk_size=chunk, momentum=momentum, proximal=False,
                    gates="adaptive", lr=0.1, lr_max=0.5, retention=0.9)
    model = make_model(tc)
    _check_chunks(model, rand_tokens(3 * chunk, 6, seed=10), chunk, momentum, stop_grad=False)


@pytest.mark.parametrize("chunk", [1, 4])
def test_t6_self_modifying_chunked_equals_token_loop_stop_grad(chunk):
    tc = titans_cfg(hidden=5, chunk_size=chunk, momentum=0.5, proximal=False,
                    gates="adaptive", lr=0.1, lr_max=0.5, retention=0.9, stop_grad_target=True)
    model = make_model(tc)
    _check_chunks(model, rand_tokens(3 * chunk, 6, seed=11), chunk, 0.5, stop_grad=True)


@pytest.mark.parametrize("kind", ["mlp", "linear"])
@pytest.mark.parametrize("chunk", [1, 8])
def test_t6_lmm_chunked_equals_token_loop(kind, chunk):
    tc = titans_cfg(variant="lmm", kind=kind, hidden=5, chunk_size=chunk, momentum=0.7,
                    proximal=False, gates="fixed", lr=0.2, retention=0.95)
    model = make_model(tc)
    _check_chunks(model, rand_tokens(2 * chunk, 6, seed=12), chunk, 0.7, stop_grad=True,
                  n_chunks=2)


def test_t6_chunk_one_is_online_rule_over_many_steps():
    """Chunk 1 over 30 tokens: W_t = rho_t W_{t-1} + S_t with grads at the current state."""
    tc = titans_cfg(hidden=5, chunk_size=1, momentum=0.5, proximal=False, lr=0.05,
                    lr_max=0.5, retention=0.99)
    model = make_model(tc)
    _check_chunks(model, rand_tokens(30, 6, seed=13), 1, 0.5, stop_grad=False, n_chunks=30)


def _lmm_after(chunk, lr, x):
    tc = titans_cfg(variant="lmm", kind="linear", chunk_size=chunk, momentum=0.0,
                    proximal=False, gates="fixed", lr=lr, retention=1.0)
    model = make_model(tc, seed=3)
    for i in range(0, x.shape[0], chunk):
        model.step(x[i:i + chunk])
    return model.titans.bank.w2[0].clone()


def test_t6_chunking_gap_is_second_order_in_lr():
    x = rand_tokens(4, 6, seed=14)
    gaps = []
    for lr in (0.1, 0.05, 0.025):
        gaps.append(float((_lmm_after(4, lr, x) - _lmm_after(1, lr, x)).norm()))
    assert gaps[0] > 1e-6 and gaps[1] > 0 and gaps[2] > 0
    r1, r2 = gaps[0] / gaps[1], gaps[1] / gaps[2]
    assert 3.0 < r1 < 5.0, gaps
    assert 3.0 < r2 < 5.0, gaps


# ------------------------------------------------------------------------------------ T7 / T13
@pytest.mark.parametrize("kind", ["mlp", "linear"])
@pytest.mark.parametrize("stop_grad", [True, False])
def test_t7_grad_surprise_and_update_vs_autograd(kind, stop_grad):
    """Self-modifying memories, one step: the O1 surprise and the closed-form O2
    grad_surprise equal autograd's, and the applied update is ``rho W - eta grad`` with
    autograd's gradient (with stop-grad only the prediction path ``J M(k)^T e``; without it
    also ``-J M(v)^T e``)."""
    tc = titans_cfg(kind=kind, hidden=5, chunk_size=1, momentum=0.0, proximal=False,
                    gates="adaptive", lr=0.1, lr_max=0.5, retention=0.9,
                    stop_grad_target=stop_grad)
    model = make_model(tc)
    x = rand_tokens(5, 6, seed=15)
    model.step(x[:1])  # move away from the initial state
    before = params(model)
    ref = inner_grads_autograd(model, x[1:2], stop_grad=stop_grad)
    met, _, read, _ = model.step(x[1:2])
    torch.testing.assert_close(read.grad_norm[:, 0], ref["gnorm"][:, 0], rtol=1e-12, atol=1e-14)
    # O1 surprise 1/2 |M(k) - M(v)|^2 per memory
    from engine.frames import METRIC_INDEX as MI
    assert torch.equal(met[0, :, MI["grad_surprise"]], read.grad_norm[:, 0])
    eta, rho = ref["eta"][0], ref["rho"][0]
    for w0, w, g in zip(before, model.titans.bank.params(), ref["grads"]):
        torch.testing.assert_close(w, rho * w0 - eta * g[:, 0], rtol=0, atol=1e-13)
    # the two modes really differ (the -J M(v)^T e term is not zero)
    other = inner_grads_autograd(model, x[2:3], stop_grad=not stop_grad)
    mine = inner_grads_autograd(model, x[2:3], stop_grad=stop_grad)
    assert (other["gnorm"] - mine["gnorm"]).abs().max() > 1e-6


@pytest.mark.parametrize("kind", ["mlp", "linear"])
def test_t7_surprise_o1_matches_self_generated_target_loss(kind):
    """O1 = 1/2 |M_b(k) - M_b(v)|^2 (masked to the memory's outputs) at the pre-step weights,
    and the reported target is M_b(v)."""
    tc = titans_cfg(kind=kind, hidden=5, momentum=0.0, proximal=False)
    model = make_model(tc)
    x_raw = rand_tokens(2, 6, seed=16)
    model.step(x_raw[:1])
    before = params(model)
    ref = inner_grads_autograd(model, x_raw[1:], stop_grad=False)
    _, _, read, _ = model.step(x_raw[1:])
    k, v = ref["k"][:, 0], ref["v"][:, 0]
    torch.testing.assert_close(read.k[:, 0], k, rtol=0, atol=1e-14)
    bank = model.titans.bank
    for b in range(5):
        ws = [w[b] for w in before]
        r = float(bank.residual[b, 0, 0])
        mask = bank.out_mask[b, :, 0]
        tgt = memory_out(ws, v, r) * mask
        err = memory_out(ws, k, r) * mask - tgt
        torch.testing.assert_close(read.targets[b, :, 0] * mask, tgt, rtol=0, atol=1e-14)
        torch.testing.assert_close(read.surprise[b, 0], 0.5 * err.square().sum(), rtol=1e-13,
                                   atol=1e-15)


@pytest.mark.parametrize("kind", ["mlp"])
def test_t13_identity_memories(kind):
    """Every self-modifying memory with W1 = 0 is the identity (eta/alpha heads: 0): then
    o = q, k = normalize(x), v = x, every target M_b(v) = v, eta = lr, rho = retention."""
    tc = titans_cfg(kind=kind, hidden=5, lr=0.1, lr_max=0.5, retention=0.9)
    model = make_model(tc)
    assert model.titans.bank.w1 is not None
    model.titans.bank.w1 = torch.zeros_like(model.titans.bank.w1)
    x_raw = rand_tokens(3, 6, seed=17)
    _, _, read, _ = model.step(x_raw[:1])
    x = model.w_in @ x_raw[:1].T
    torch.testing.assert_close(read.o, normalize(model.titans.w_q @ x), rtol=0, atol=1e-15)
    torch.testing.assert_close(read.k, normalize(x), rtol=0, atol=1e-15)
    for b in range(3):
        torch.testing.assert_close(read.targets[b], x, rtol=0, atol=1e-15)
    assert torch.count_nonzero(read.targets[3:]) == 0
    torch.testing.assert_close(read.eta, torch.full_like(read.eta, 0.1), rtol=1e-14, atol=0)
    torch.testing.assert_close(read.rho, torch.full_like(read.rho, 0.9), rtol=1e-14, atol=0)
    expect = 0.5 * (normalize(x) - x).square().sum(0)
    for b in range(3):
        torch.testing.assert_close(read.surprise[b], expect, rtol=1e-14, atol=0)
    assert torch.count_nonzero(read.surprise[3:]) == 0
