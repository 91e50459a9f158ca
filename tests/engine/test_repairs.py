"""Float64 oracles for the engine's optional repairs, part 1 (each repair is off by default):
the token shift (``ModelConfig.context``), the residual CMS input (``residual``) and decay to
the initial state (``decay_to="init"``, Titans and CMS). References: tests/engine/repair_refs.py
and autograd here, token by token; none calls the engine's closed forms. Parts 2 and 3:
test_repairs_memories.py (memory_target, self_lr, grad_clip), test_repairs_slow_weights.py.
"""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from engine.config import CMSConfig
from tests.engine.hope_helpers import F64, rand_tokens, titans_cfg
from tests.engine.repair_refs import (
    D_IN,
    FIXED,
    D,
    bank_weights,
    feed,
    fro,
    ref_grads,
    ref_read,
    repair_model,
    shifted,
)


# ------------------------------------------------------------------------ 1 context (token shift)
def test_context_read_uses_the_present_and_the_past_token():
    """context=2: the read of token t is M_0(norm(W_q W_in [x_t, x_{t-1}])), x_{-1} = 0, within
    a chunk (chunk-start state) and across calls (the past token of the next call)."""
    model = repair_model(titans_cfg(hidden=5, chunk_size=3), context=2)
    assert model.w_in.shape == (D, 2 * D_IN)
    x_raw = rand_tokens(6, D_IN, seed=21)
    rows = shifted(x_raw, 2)
    assert torch.equal(rows[0, D_IN:], torch.zeros(D_IN, dtype=F64))
    for c in range(2):
        bank = bank_weights(model)
        ref = ref_read(model, model.w_in @ rows[3 * c:3 * c + 3].T, bank)
        _, _, read, _ = model.step(x_raw[3 * c:3 * c + 3])
        torch.testing.assert_close(read.o, ref["o"], rtol=0, atol=1e-14)
        torch.testing.assert_close(read.k, ref["k"], rtol=0, atol=1e-14)
    # the past really enters: the same token after another one reads differently
    fresh = repair_model(titans_cfg(hidden=5, chunk_size=3), context=2)
    with_past = ref_read(fresh, fresh.w_in @ rows[1:2].T, bank_weights(fresh))["o"]
    _, _, alone, _ = fresh.step(x_raw[1:2])
    assert (alone.o - with_past).abs().max() > 1e-6


@pytest.mark.parametrize("chunk", [1, 3])
@pytest.mark.parametrize("all_on", [False, True])
def test_context_cut_invariance(chunk, all_on):
    """context=2 (and residual, CMS; all_on: every other repair too): feeding the stream in
    pieces of different sizes gives the same outputs, metrics and final state as one token
    at a time."""
    tc, cms = titans_cfg(hidden=5, chunk_size=chunk), CMSConfig(periods=(2, 4), hidden=5)
    if all_on:
        tc = replace(tc, decay_to="init", memory_target="value", self_lr=0.5, grad_clip=1.0)
        cms = replace(cms, decay_to="init", retention=0.9)
    cfg = (tc, cms)
    x = rand_tokens(24, D_IN, seed=22)
    runs = []
    for sizes in ([1], [2, 5, 1], [7, 3]):
        m = repair_model(*cfg, context=2, residual=True)
        runs.append((*feed(m, x, sizes), m.state_dict()))
    for y, met, state in runs[1:]:
        torch.testing.assert_close(y, runs[0][0], rtol=0, atol=1e-12)
        torch.testing.assert_close(met, runs[0][1], rtol=0, atol=1e-12)
        for name, t in state.items():
            torch.testing.assert_close(t, runs[0][2][name], rtol=0, atol=1e-12, msg=name)
    torch.testing.assert_close(runs[0][2]["prev_x"], x[-1:], rtol=0, atol=0)


def test_context_state_round_trip_continues_bit_for_bit():
    cfg = (titans_cfg(hidden=5, chunk_size=2), CMSConfig(periods=(3,), hidden=5))
    x = rand_tokens(20, D_IN, seed=23)
    a = repair_model(*cfg, context=2)
    feed(a, x[:6], [2])
    saved = {n: t.clone() for n, t in a.state_dict().items()}
    assert torch.equal(saved["prev_x"], x[5:6])
    b = repair_model(*cfg, context=2)
    b.load_state_dict(saved, a.count)
    ya, ma = feed(a, x[6:], [2])
    yb, mb = feed(b, x[6:], [2])
    assert torch.equal(ya, yb) and torch.equal(ma, mb)
    # without prev_x the continuation differs (the state really carries the past token)
    c = repair_model(*cfg, context=2)
    c.load_state_dict({**saved, "prev_x": torch.zeros_like(saved["prev_x"])}, a.count)
    assert (feed(c, x[6:8], [2])[0] - yb[:, :2]).abs().max() > 1e-6


# ------------------------------------------------------------------------------- 2 residual
def test_residual_without_cms_outputs_x_plus_o():
    model = repair_model(titans_cfg(hidden=5, chunk_size=2), residual=True)
    x_raw = rand_tokens(4, D_IN, seed=24)
    for c in range(2):
        _, _, read, y = model.step(x_raw[2 * c:2 * c + 2])
        x = model.w_in @ x_raw[2 * c:2 * c + 2].T
        torch.testing.assert_close(y, x + read.o, rtol=0, atol=1e-15)
        assert (y - read.o).abs().max() > 1e-3


@pytest.mark.parametrize("objective", ["next_step", "reconstruction"])
def test_residual_cms_reads_x_plus_o(objective):
    cms = CMSConfig(periods=(2, 4), hidden=5, objective=objective)
    model = repair_model(titans_cfg(hidden=5), cms, residual=True)
    x_raw = rand_tokens(3, D_IN, seed=25)
    for t in range(3):
        lv = [(lv.w1.clone(), lv.w2.clone()) for lv in model.cms.levels]
        _, _, read, y = model.step(x_raw[t:t + 1])
        u = model.w_in @ x_raw[t:t + 1].T + read.o
        torch.testing.assert_close(model.cms_io[0][0], u, rtol=0, atol=1e-15)
        for w1, w2 in lv:   # reference chain u -> u + W1 silu(W2 u)
            u = u + w1 @ torch.nn.functional.silu(w2 @ u)
        torch.testing.assert_close(y, u, rtol=0, atol=1e-14)


# ------------------------------------------------------------------ 3 Titans decay_to init
@pytest.mark.parametrize("stop_grad", [True, False])
def test_titans_decay_to_init_one_write(stop_grad):
    """Linear kind, fixed gates, momentum 0, proximal off: the second write is
    W0 + rho (W - W0) - eta grad, grad from autograd (W != W0 after the first)."""
    eta, rho = 0.2, 0.7
    tc = titans_cfg(kind="linear", lr=eta, retention=rho, decay_to="init",
                    stop_grad_target=stop_grad, **FIXED)
    model = repair_model(tc)
    w0 = bank_weights(model)
    x_raw = rand_tokens(2, D_IN, seed=26)
    model.step(x_raw[:1])
    w = bank_weights(model)
    assert fro([a - b for a, b in zip(w, w0)]) > 1e-3
    ref = ref_read(model, model.w_in @ x_raw[1:].T, w)
    grads = ref_grads(w, ref["k"][:, 0], ref["v"][:, 0], stop_grad)
    model.step(x_raw[1:])
    got = model.titans.bank.w2
    for b in range(5):
        want = w0[0][b] + rho * (w[0][b] - w0[0][b]) - eta * grads[b][0]
        torch.testing.assert_close(got[b], want, rtol=0, atol=1e-14, msg=f"memory {b}")
    zero_rule = rho * w[0][0] - eta * grads[0][0]   # the paper's form really differs
    assert (got[0] - zero_rule).abs().max() > 1e-3


@pytest.mark.parametrize("lr", [0.0, 1e-9])
def test_titans_decay_to_init_relaxes_to_w0_geometrically(lr):
    """eta ~ 0, rho < 1: ||W - W0|| shrinks by rho per step (oracle rho^n), W -> W0, not 0."""
    rho, n = 0.8, 25
    model = repair_model(titans_cfg(hidden=5, lr=lr, retention=rho, decay_to="init", **FIXED))
    w0 = bank_weights(model)
    g = torch.Generator().manual_seed(3)
    model.titans.bank.set_params([w + 0.3 * torch.randn(w.shape, generator=g, dtype=F64)
                                  * (w != 0) for w in w0])   # keep eta/alpha's zero rows
    gap0 = fro([a - b for a, b in zip(model.titans.bank.params(), w0)])
    x = rand_tokens(n, D_IN, seed=27)
    for t in range(n):
        model.step(x[t:t + 1])
        gap = fro([a - b for a, b in zip(model.titans.bank.params(), w0)])
        assert gap / gap0 == pytest.approx(rho ** (t + 1), rel=1e-5 if lr else 1e-12)
    assert fro(model.titans.bank.params()) == pytest.approx(fro(w0), rel=1e-2)


@pytest.mark.parametrize("kind", ["mlp", "linear"])
def test_titans_decay_to_init_chunk_equals_token_loop(kind):
    """Chunk 3, adaptive gates, momentum: the closed-form chunk write equals the token loop
    S_t = beta S - eta_t g_t, W_t = W0 + rho_t (W_{t-1} - W0) + S_t, grads at the chunk start."""
    beta = 0.5
    tc = titans_cfg(kind=kind, hidden=5, chunk_size=3, momentum=beta, proximal=False,
                    lr=0.1, lr_max=0.5, retention=0.8, decay_to="init")
    model = repair_model(tc)
    w0 = bank_weights(model)
    x_raw = rand_tokens(6, D_IN, seed=28)
    for c in range(2):
        start, mom = bank_weights(model), [s.clone() for s in model.titans.mom]
        ref = ref_read(model, model.w_in @ x_raw[3 * c:3 * c + 3].T, start)
        w = list(start)
        for t in range(3):   # every gradient at the chunk-start state
            grads = ref_grads(start, ref["k"][:, t], ref["v"][:, t], False)
            for i in range(len(w)):
                g = torch.stack([grads[b][i] for b in range(5)])
                mom[i] = beta * mom[i] - ref["eta"][t] * g
                w[i] = w0[i] + ref["rho"][t] * (w[i] - w0[i]) + mom[i]
        model.step(x_raw[3 * c:3 * c + 3])
        for got, want in zip(model.titans.bank.params(), w):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-13)


def test_decay_to_init_literal93_relaxes_to_w0():
    rho, n = 0.8, 5
    model = repair_model(titans_cfg(hidden=5, lr=0.0, retention=rho, decay_to="init",
                              update_rule="literal93", **FIXED))
    w0 = bank_weights(model)
    moved = [2.0 * w for w in w0]
    model.titans.bank.set_params([w.clone() for w in moved])
    feed(model, rand_tokens(n, D_IN, seed=38), [1])
    for got, a, b in zip(model.titans.bank.params(), w0, moved):
        torch.testing.assert_close(got, a + rho ** n * (b - a), rtol=0, atol=1e-14)


# ---------------------------------------------------------------------- 4 CMS decay_to init
@pytest.mark.parametrize("objective", ["next_step", "reconstruction"])
@pytest.mark.parametrize("decay_to", ["init", "zero"])
def test_cms_fire_pulls_towards_the_start(objective, decay_to):
    """Two levels (periods 2, 3), proximal off: at a fire w <- w0 + retention (w - w0) - lr g
    ("init"; w0 = 0 for "zero"), g the sum of autograd gradients of the pending tokens'
    losses, each at the weights of its time (reference: a token loop over the chain)."""
    lr, ret = 0.3, 0.6
    cms = CMSConfig(periods=(2, 3), hidden=5, lr=lr, retention=ret, proximal=False,
                    objective=objective, decay_to=decay_to)
    model = repair_model(titans_cfg(hidden=5), cms)
    levels = model.cms.levels
    start = [[lv.w1.clone(), lv.w2.clone()] for lv in levels]
    ws = [[w.clone() for w in pair] for pair in start]
    pend = [[torch.zeros_like(w) for w in pair] for pair in start]
    x_raw = rand_tokens(12, D_IN, seed=29)
    prev_u = None
    for t in range(12):
        _, _, read, _ = model.step(x_raw[t:t + 1])
        u = read.o[:, 0]
        inp = u if objective == "reconstruction" else prev_u
        prev_u = u
        if inp is not None:   # next_step: no loss before the first token's successor
            flat = [w.clone().requires_grad_(True) for pair in ws for w in pair]
            h = inp
            for j in range(len(levels)):
                h = h + flat[2 * j] @ torch.nn.functional.silu(flat[2 * j + 1] @ h)
            loss = 0.5 * (model.w_out @ h - x_raw[t]).square().sum()
            for j, g in enumerate(torch.autograd.grad(loss, flat)):
                pend[j // 2][j % 2] += g
        for j, lv in enumerate(levels):
            if (t + 1) % lv.period == 0:
                for i in range(2):
                    w0 = start[j][i] if decay_to == "init" else torch.zeros_like(start[j][i])
                    ws[j][i] = w0 + ret * (ws[j][i] - w0) - lr * pend[j][i]
                    pend[j][i] = torch.zeros_like(pend[j][i])
            torch.testing.assert_close(lv.w1, ws[j][0], rtol=0, atol=1e-13, msg=f"t{t} l{j}")
            torch.testing.assert_close(lv.w2, ws[j][1], rtol=0, atol=1e-13, msg=f"t{t} l{j}")
    assert fro([ws[0][0] - start[0][0], ws[0][1] - start[0][1]]) > 1e-3
