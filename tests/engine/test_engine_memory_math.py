"""Oracles on the pure tensor math of ``engine.memory`` (design doc section 3: T1, T3, T5,
T7, T8, T9), in float64 against independent references: linear algebra identities,
Python token loops and torch.autograd."""
from __future__ import annotations

import math

import pytest
import torch

from engine.memory import (
    chunk_coefficients,
    delta_step_linear,
    grad_norm_mlp,
    gram_frobenius_sq,
    mlp_forward,
    mlp_grad_factors,
)

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _orthonormal(d: int, n: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=_gen(seed), dtype=F64))
    return q[:, :n]                                         # (d, n) orthonormal columns


# ------------------------------------------------------------------------------------ T1
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_t1_delta_rule_orthonormal_keys_exact_write(seed):
    d, n = 8, 5
    g = _gen(seed)
    w0 = torch.randn(d, d, generator=g, dtype=F64) * 3.0   # any W0
    basis = _orthonormal(d, d, seed + 100)
    keys, perp = basis[:, :n], basis[:, n:]
    vals = torch.randn(d, n, generator=g, dtype=F64)
    w = w0.clone()
    for i in range(n):
        w = delta_step_linear(w, keys[:, i], vals[:, i], eta=1.0, rho=1.0, rule="delta")
    torch.testing.assert_close(w @ keys, vals, rtol=0, atol=1e-13)
    # directions orthogonal to every written key are untouched
    torch.testing.assert_close(w @ perp, w0 @ perp, rtol=0, atol=1e-13)


def test_t1_delta_rule_is_gradient_step_on_half_loss():
    """``delta`` with rho=1 is ``W - eta grad`` of ``1/2 |W k - v|^2`` (autograd)."""
    g = _gen(3)
    w = torch.randn(4, 6, generator=g, dtype=F64, requires_grad=True)
    k = torch.randn(6, generator=g, dtype=F64)
    v = torch.randn(4, generator=g, dtype=F64)
    loss = 0.5 * (w @ k - v).square().sum()
    (grad,) = torch.autograd.grad(loss, w)
    torch.testing.assert_close(grad, torch.outer(w.detach() @ k - v, k), rtol=0, atol=1e-14)
    new = delta_step_linear(w.detach(), k, v, eta=0.3, rho=1.0)
    torch.testing.assert_close(new, w.detach() - 0.3 * grad, rtol=0, atol=1e-14)
    # with retention: rho W - eta grad (eq. 92 with its sign fixed + gate)
    new = delta_step_linear(w.detach(), k, v, eta=0.3, rho=0.7)
    expect = 0.7 * w.detach() - 0.3 * torch.outer(w.detach() @ k, k) + 0.3 * torch.outer(v, k)
    torch.testing.assert_close(new, expect, rtol=0, atol=1e-14)


# ------------------------------------------------------------------------------------ T3
@pytest.mark.parametrize("eta", [0.1, 1.0, 7.5])
def test_t3_dgd_closed_form_sherman_morrison(eta):
    g = _gen(4)
    d = 7
    w = torch.randn(5, d, generator=g, dtype=F64)
    u = torch.randn(5, generator=g, dtype=F64)
    x = torch.randn(d, generator=g, dtype=F64) * 1.7        # arbitrary norm
    lam = float(x @ x)
    exact = (w + eta * torch.outer(u, x)) @ torch.linalg.inv(torch.eye(d, dtype=F64)
                                                             + eta * torch.outer(x, x))
    eta_p = eta / (1 + eta * lam)
    closed = w @ (torch.eye(d, dtype=F64) - eta_p * torch.outer(x, x)) + eta_p * torch.outer(u, x)
    torch.testing.assert_close(closed, exact, rtol=0, atol=1e-12)
    # proximal definition: the closed form minimises 1/2|W x - u|^2 + 1/(2 eta) |W - W_t|^2
    wv = closed.clone().requires_grad_(True)
    obj = 0.5 * (wv @ x - u).square().sum() + (wv - w).square().sum() / (2 * eta)
    (gr,) = torch.autograd.grad(obj, wv)
    assert gr.abs().max() < 1e-12


def test_t3_unit_key_recall_midpoint():
    g = _gen(5)
    w = torch.randn(4, 4, generator=g, dtype=F64)
    k = torch.nn.functional.normalize(torch.randn(4, generator=g, dtype=F64), dim=0)
    u = torch.randn(4, generator=g, dtype=F64)
    for eta in (1.0, 1e9):
        eta_p = eta / (1 + eta)
        w2 = w @ (torch.eye(4, dtype=F64) - eta_p * torch.outer(k, k)) + eta_p * torch.outer(u, k)
        torch.testing.assert_close(w2 @ k, (1 - eta_p) * (w @ k) + eta_p * u, rtol=0, atol=1e-12)
    # eta = 1: the midpoint; eta -> inf: exact recall
    w_mid = w @ (torch.eye(4, dtype=F64) - 0.5 * torch.outer(k, k)) + 0.5 * torch.outer(u, k)
    torch.testing.assert_close(w_mid @ k, 0.5 * (w @ k + u), rtol=0, atol=1e-14)


# ------------------------------------------------------------------------------------ T5
def _unit_pair(seed):
    g = _gen(seed)
    w = torch.randn(5, 5, generator=g, dtype=F64)
    k = torch.nn.functional.normalize(torch.randn(5, generator=g, dtype=F64), dim=0)
    v = torch.randn(5, generator=g, dtype=F64)
    return w, k, v


def test_t5_fixed_point_delta_rule():
    w, k, v = _unit_pair(6)
    for _ in range(200):
        w = delta_step_linear(w, k, v, eta=0.5, rho=1.0, rule="delta")
    torch.testing.assert_close(w @ k, v, rtol=0, atol=1e-12)


def test_t5_fixed_point_literal93_is_half_target():
    w, k, v = _unit_pair(7)
    for _ in range(200):
        w = delta_step_linear(w, k, v, eta=0.3, rho=1.0, rule="literal93")
    torch.testing.assert_close(w @ k, v / 2, rtol=0, atol=1e-12)
    # one step of eq. 93 along k: W'k = (1 - 2 eta) W k + eta v (the double counting)
    w0, k, v = _unit_pair(8)
    w1 = delta_step_linear(w0, k, v, eta=0.3, rho=1.0, rule="literal93")
    torch.testing.assert_close(w1 @ k, 0.4 * (w0 @ k) + 0.3 * v, rtol=0, atol=1e-14)


# ------------------------------------------------------------------------------------ T7
def _mlp_setup(seed, d=6, h=4, n=5, residual=1.0):
    g = _gen(seed)
    w1 = torch.randn(d, h, generator=g, dtype=F64)
    w2 = torch.randn(h, d, generator=g, dtype=F64)
    x = torch.randn(d, n, generator=g, dtype=F64)
    target = torch.randn(d, n, generator=g, dtype=F64)
    return w1, w2, x, target


@pytest.mark.parametrize("residual", [1.0, 0.0])
def test_t7_mlp_forward_matches_torch(residual):
    w1, w2, x, _ = _mlp_setup(10)
    y, cache = mlp_forward(w1, w2, x, residual)
    torch.testing.assert_close(y, residual * x + w1 @ torch.nn.functional.silu(w2 @ x),
                               rtol=0, atol=1e-14)
    # silu' from autograd
    z = (w2 @ x).requires_grad_(True)
    (dz,) = torch.autograd.grad(torch.nn.functional.silu(z).sum(), z)
    torch.testing.assert_close(cache.da, dz, rtol=0, atol=1e-14)


@pytest.mark.parametrize("residual", [1.0, 0.0])
def test_t7_mlp_closed_form_gradients_vs_autograd(residual):
    w1, w2, x, target = _mlp_setup(11)
    n = x.shape[1]
    y, cache = mlp_forward(w1, w2, x, residual)
    err = y - target
    delta = mlp_grad_factors(w1, cache, err)
    norms = grad_norm_mlp(err, cache.a, delta, cache.x)
    for t in range(n):
        a = w1.clone().requires_grad_(True)
        b = w2.clone().requires_grad_(True)
        yt = residual * x[:, t] + a @ torch.nn.functional.silu(b @ x[:, t])
        loss = 0.5 * (yt - target[:, t]).square().sum()
        g1, g2 = torch.autograd.grad(loss, (a, b))
        torch.testing.assert_close(torch.outer(err[:, t], cache.a[:, t]), g1, rtol=0, atol=1e-13)
        torch.testing.assert_close(torch.outer(delta[:, t], cache.x[:, t]), g2, rtol=0,
                                   atol=1e-13)
        # O2 identity: ||grad||_F in closed form == autograd norm
        ref = math.sqrt(float(g1.square().sum() + g2.square().sum()))
        assert abs(float(norms[t]) - ref) <= 1e-12 * max(1.0, ref)
    # summed gradient over tokens is the product of the factor matrices
    a = w1.clone().requires_grad_(True)
    b = w2.clone().requires_grad_(True)
    yy = residual * x + a @ torch.nn.functional.silu(b @ x)
    g1, g2 = torch.autograd.grad(0.5 * (yy - target).square().sum(), (a, b))
    torch.testing.assert_close(err @ cache.a.T, g1, rtol=0, atol=1e-12)
    torch.testing.assert_close(delta @ cache.x.T, g2, rtol=0, atol=1e-12)


def test_t7_mlp_closed_form_batched_bank():
    """Leading batch axis (the memory bank) gives the same per-memory results."""
    g = _gen(12)
    B, d, h, n = 3, 5, 4, 6
    w1 = torch.randn(B, d, h, generator=g, dtype=F64)
    w2 = torch.randn(B, h, d, generator=g, dtype=F64)
    x = torch.randn(B, d, n, generator=g, dtype=F64)
    tgt = torch.randn(B, d, n, generator=g, dtype=F64)
    res = torch.tensor([1.0, 1.0, 0.0], dtype=F64)[:, None, None]
    y, cache = mlp_forward(w1, w2, x, res)
    delta = mlp_grad_factors(w1, cache, y - tgt)
    norms = grad_norm_mlp(y - tgt, cache.a, delta, cache.x)
    for b in range(B):
        yb, cb = mlp_forward(w1[b], w2[b], x[b], float(res[b]))
        torch.testing.assert_close(y[b], yb, rtol=0, atol=1e-14)
        db = mlp_grad_factors(w1[b], cb, yb - tgt[b])
        torch.testing.assert_close(delta[b], db, rtol=0, atol=1e-14)
        torch.testing.assert_close(norms[b], grad_norm_mlp(yb - tgt[b], cb.a, db, cb.x),
                                   rtol=0, atol=1e-13)


def test_t7_linear_memory_gradient_and_norm():
    g = _gen(13)
    w = torch.randn(4, 6, generator=g, dtype=F64)
    k = torch.randn(6, generator=g, dtype=F64)
    v = torch.randn(4, generator=g, dtype=F64)
    wv = w.clone().requires_grad_(True)
    (gr,) = torch.autograd.grad(0.5 * (wv @ k - v).square().sum(), wv)
    e = w @ k - v
    torch.testing.assert_close(gr, torch.outer(e, k), rtol=0, atol=1e-14)
    assert abs(float(gr.norm()) - float(e.norm() * k.norm())) < 1e-13


def test_t7_grad_norm_mlp_finite_differences():
    """Closed-form gradient against central finite differences (independent of autograd)."""
    w1, w2, x, target = _mlp_setup(14, d=3, h=2, n=1)

    def loss(a, b):
        y, _ = mlp_forward(a, b, x, 1.0)
        return 0.5 * float((y - target).square().sum())

    y, cache = mlp_forward(w1, w2, x, 1.0)
    err = y - target
    delta = mlp_grad_factors(w1, cache, err)
    g1, g2 = err @ cache.a.T, delta @ cache.x.T
    eps = 1e-6
    for w, gw, which in ((w1, g1, 0), (w2, g2, 1)):
        for idx in [(i, j) for i in range(w.shape[0]) for j in range(w.shape[1])]:
            wp, wm = w.clone(), w.clone()
            wp[idx] += eps
            wm[idx] -= eps
            args_p = (wp, w2) if which == 0 else (w1, wp)
            args_m = (wm, w2) if which == 0 else (w1, wm)
            fd = (loss(*args_p) - loss(*args_m)) / (2 * eps)
            assert abs(fd - float(gw[idx])) < 1e-8


# ------------------------------------------------------------------------------------ T8
def test_t8_gram_frobenius_norm():
    g = _gen(15)
    a = torch.randn(7, 5, generator=g, dtype=F64)
    b = torch.randn(9, 5, generator=g, dtype=F64)
    ref = (a @ b.T).square().sum()
    got = gram_frobenius_sq(a, b)
    assert abs(float(got - ref)) <= 4 * torch.finfo(F64).eps * float(ref)
    # batched
    A = torch.randn(3, 7, 5, generator=g, dtype=F64)
    Bm = torch.randn(3, 9, 5, generator=g, dtype=F64)
    torch.testing.assert_close(gram_frobenius_sq(A, Bm), (A @ Bm.transpose(-1, -2)).square()
                               .sum((-1, -2)), rtol=1e-14, atol=0)


# ------------------------------------------------------------------------------------ T9
def _loop(w0, s0, g, eta, rho, beta):
    w, s = w0.clone(), s0.clone()
    for t in range(len(eta)):
        s = beta * s - eta[t] * g[t]
        w = rho[t] * w + s
    return w, s


def _closed(w0, s0, g, c):
    w = c.w0 * w0 + c.s0 * s0 - torch.einsum("t,tij->ij", c.gw, g)
    s = c.beta_n * s0 - torch.einsum("t,tij->ij", c.sw, g)
    return w, s


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9])
def test_t9_chunk_coefficients_match_token_loop(seed, beta):
    g = _gen(seed)
    n = 1 + seed * 5
    eta = torch.rand(n, generator=g, dtype=F64)
    rho = torch.rand(n, generator=g, dtype=F64) * 0.5 + 0.5
    w0 = torch.randn(3, 4, generator=g, dtype=F64)
    s0 = torch.randn(3, 4, generator=g, dtype=F64)
    grads = torch.randn(n, 3, 4, generator=g, dtype=F64)
    c = chunk_coefficients(eta, rho, beta)
    w_ref, s_ref = _loop(w0, s0, grads, eta, rho, beta)
    w, s = _closed(w0, s0, grads, c)
    torch.testing.assert_close(w, w_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(s, s_ref, rtol=1e-12, atol=1e-12)


def test_t9_beta_zero_is_plain_gradient_descent():
    g = _gen(20)
    n = 6
    eta = torch.rand(n, generator=g, dtype=F64)
    rho = torch.rand(n, generator=g, dtype=F64)
    w0 = torch.randn(3, 3, generator=g, dtype=F64)
    grads = torch.randn(n, 3, 3, generator=g, dtype=F64)
    c = chunk_coefficients(eta, rho, 0.0)
    assert float(c.s0) == 0.0 and float(c.beta_n) == 0.0
    w = w0.clone()
    for t in range(n):
        w = rho[t] * w - eta[t] * grads[t]       # W_t = rho_t W_{t-1} - eta_t g_t
    got = c.w0 * w0 - torch.einsum("t,tij->ij", c.gw, grads)
    torch.testing.assert_close(got, w, rtol=1e-12, atol=1e-13)
    # S_n = -eta_n g_n: only the last gradient survives in the momentum
    expect_sw = torch.zeros(n, dtype=F64)
    expect_sw[-1] = eta[-1]
    torch.testing.assert_close(c.sw, expect_sw, rtol=0, atol=0)


def test_t9_beta_one_rho_zero_sums_gradients():
    """eta == 1 momentum decay, retention 0: S_T = S_0 - sum eta g (design doc T9)."""
    g = _gen(21)
    n = 5
    eta = torch.rand(n, generator=g, dtype=F64)
    c = chunk_coefficients(eta, torch.zeros(n, dtype=F64), 1.0)
    grads = torch.randn(n, 2, 2, generator=g, dtype=F64)
    s0 = torch.randn(2, 2, generator=g, dtype=F64)
    torch.testing.assert_close(c.beta_n * s0 - torch.einsum("t,tij->ij", c.sw, grads),
                               s0 - (eta[:, None, None] * grads).sum(0), rtol=0, atol=1e-14)


@pytest.mark.parametrize("beta", [0.0, 0.6])
def test_t9_rho_zero_anywhere_no_nan_and_wipes(beta):
    g = _gen(22)
    n = 7
    eta = torch.rand(n, generator=g, dtype=F64)
    for zero_at in (0, 3, n - 1):
        rho = torch.rand(n, generator=g, dtype=F64) * 0.5 + 0.5
        rho[zero_at] = 0.0
        c = chunk_coefficients(eta, rho, beta)
        for f in c:
            assert torch.isfinite(f).all(), (zero_at, c)
        w0 = torch.randn(2, 3, generator=g, dtype=F64)
        s0 = torch.randn(2, 3, generator=g, dtype=F64)
        grads = torch.randn(n, 2, 3, generator=g, dtype=F64)
        w_ref, s_ref = _loop(w0, s0, grads, eta, rho, beta)
        w, s = _closed(w0, s0, grads, c)
        torch.testing.assert_close(w, w_ref, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(s, s_ref, rtol=1e-12, atol=1e-12)
        assert float(c.w0) == 0.0
        # gradients written before the wipe carry no weight in W_n ... except via momentum
        if beta == 0.0:
            assert (c.gw[:zero_at] == 0).all()
