"""Float64 oracles for the engine's optional repairs, part 2: the memory storing v itself
(``memory_target="value"``), the slower k/v/eta/alpha memories (``self_lr``) and the per-token
gradient clip (``grad_clip``), against autograd references (tests/engine/repair_refs.py).
Memory order in the bank: 0 memory, 1 k, 2 v, 3 eta, 4 alpha.
"""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from tests.engine.hope_helpers import F64, normalize, rand_tokens, titans_cfg
from tests.engine.repair_refs import (
    D_IN,
    FIXED,
    bank_weights,
    feed,
    fro,
    mem,
    ref_grads,
    ref_read,
    repair_model,
)


# ------------------------------------------------------------------ 5 memory_target="value"
@pytest.mark.parametrize("kind", ["mlp", "linear"])
def test_value_target_first_write(kind):
    """First token: memory 0's write is -eta grad of 1/2 |M_0(k) - v|^2 whatever stop_grad
    says; memories 1..4 write exactly what they write with memory_target="self"."""
    eta = 0.3
    x = rand_tokens(1, D_IN, seed=30)
    changes = {}
    for target in ("value", "self"):
        for sg in (True, False):
            tc = titans_cfg(kind=kind, hidden=5, lr=eta, retention=1.0, memory_target=target,
                            stop_grad_target=sg, **FIXED)
            model = repair_model(tc)
            w = bank_weights(model)
            ref = ref_read(model, model.w_in @ x.T, w)
            _, _, read, _ = model.step(x)
            if target == "value":
                k, v = ref["k"][:, 0], ref["v"][:, 0]
                torch.testing.assert_close(read.targets[0, :, 0], v, rtol=0, atol=1e-15)
                err = mem([p[0] for p in w], 0, k) - v
                assert float(read.surprise[0, 0]) == pytest.approx(0.5 * float(err @ err),
                                                                   rel=1e-13)
                g = ref_grads(w, k, v, sg, value_target=True)[0]
                for i, p in enumerate(model.titans.bank.params()):
                    torch.testing.assert_close(p[0], w[i][0] - eta * g[i], rtol=0, atol=1e-14)
            changes[target, sg] = [p - a for p, a in zip(model.titans.bank.params(), w)]
    for sg in (True, False):
        for a, b, c in zip(changes["value", sg], changes["value", True], changes["self", sg]):
            torch.testing.assert_close(a[0], b[0], rtol=0, atol=1e-15)
            torch.testing.assert_close(a[1:], c[1:], rtol=0, atol=1e-15)
        assert (changes["value", sg][-1][0] - changes["self", sg][-1][0]).abs().max() > 1e-6


@pytest.mark.parametrize("stop_grad", [True, False])
def test_value_target_later_write_vs_autograd(stop_grad):
    """Second token (weights moved), adaptive gates, rho < 1: every memory's write is
    rho W - eta grad, memory 0's grad with target v, the others' with M_b(v)."""
    tc = titans_cfg(hidden=5, gates="adaptive", lr=0.1, lr_max=0.5, retention=0.9,
                    momentum=0.0, proximal=False, memory_target="value",
                    stop_grad_target=stop_grad)
    model = repair_model(tc)
    x = rand_tokens(2, D_IN, seed=31)
    model.step(x[:1])
    w = bank_weights(model)
    ref = ref_read(model, model.w_in @ x[1:].T, w)
    grads = ref_grads(w, ref["k"][:, 0], ref["v"][:, 0], stop_grad, value_target=True)
    _, _, read, _ = model.step(x[1:])
    torch.testing.assert_close(read.eta, ref["eta"], rtol=0, atol=1e-15)
    torch.testing.assert_close(read.rho, ref["rho"], rtol=0, atol=1e-15)
    torch.testing.assert_close(read.grad_norm[:, 0], torch.tensor([fro(g) for g in grads],
                                                                  dtype=F64), rtol=1e-12, atol=0)
    eta, rho = ref["eta"][0], ref["rho"][0]
    for i, p in enumerate(model.titans.bank.params()):
        for b in range(5):
            torch.testing.assert_close(p[b], rho * w[i][b] - eta * grads[b][i], rtol=0,
                                       atol=1e-14, msg=f"memory {b} weight {i}")


# ------------------------------------------------------------------------------- 6 self_lr
@pytest.mark.parametrize("kind", ["mlp", "linear"])
def test_self_lr_scales_the_k_v_eta_alpha_writes(kind):
    s = 0.25
    x = rand_tokens(1, D_IN, seed=32)
    changes = {}
    for mult in (1.0, s):
        model = repair_model(titans_cfg(kind=kind, hidden=5, lr=0.3, retention=1.0, self_lr=mult,
                                  **FIXED))
        w = bank_weights(model)
        model.step(x)
        changes[mult] = [p - a for p, a in zip(model.titans.bank.params(), w)]
    for full, slow in zip(changes[1.0], changes[s]):
        assert full[1:].abs().max() > 1e-4
        torch.testing.assert_close(slow[0], full[0], rtol=0, atol=0)
        torch.testing.assert_close(slow[1:], s * full[1:], rtol=0, atol=1e-15)


def test_self_lr_proximal_uses_the_scaled_eta():
    """MLP, proximal, stop-grad: memory b's layer step is e_b / (1 + e_b |input|^2) times its
    autograd gradient, e_0 = eta, e_b = self_lr eta for b >= 1."""
    eta, s = 0.8, 0.25
    tc = titans_cfg(hidden=5, gates="fixed", momentum=0.0, proximal=True, lr=eta,
                    retention=1.0, self_lr=s, stop_grad_target=True)
    model = repair_model(tc)
    x = rand_tokens(1, D_IN, seed=33)
    w = bank_weights(model)
    ref = ref_read(model, model.w_in @ x.T, w)
    k = ref["k"][:, 0]
    grads = ref_grads(w, k, ref["v"][:, 0], True)
    model.step(x)
    w1, w2 = model.titans.bank.params()
    for b in range(5):
        e = eta * (1.0 if b == 0 else s)
        a = torch.nn.functional.silu(w[1][b] @ k)
        torch.testing.assert_close(w1[b], w[0][b] - e / (1 + e * a @ a) * grads[b][0],
                                   rtol=0, atol=1e-14)
        torch.testing.assert_close(w2[b], w[1][b] - e / (1 + e * k @ k) * grads[b][1],
                                   rtol=0, atol=1e-14)


# ----------------------------------------------------------------------------- 7 grad_clip
def test_grad_clip_caps_each_memory_write():
    """Fixed gates, rho 1, momentum 0, proximal off: memory b writes -eta min(1, c/|g_b|) g_b,
    so a memory whose gradient norm exceeds the clip c changes by exactly eta c."""
    eta = 0.1
    base = titans_cfg(hidden=5, lr=eta, retention=1.0, **FIXED)
    x = rand_tokens(1, D_IN, seed=34)
    probe = repair_model(base)
    w = bank_weights(probe)
    ref = ref_read(probe, probe.w_in @ x.T, w)
    grads = ref_grads(w, ref["k"][:, 0], ref["v"][:, 0], False)
    norms = [fro(g) for g in grads]
    clip = sorted(norms)[2]
    clip = 0.5 * (clip + sorted(norms)[1])          # two memories below, three above
    model = repair_model(replace(base, grad_clip=clip))
    _, _, read, _ = model.step(x)
    torch.testing.assert_close(read.grad_norm[:, 0], torch.tensor(norms, dtype=F64),
                               rtol=1e-12, atol=0)
    for b in range(5):
        scale = min(1.0, clip / norms[b])
        change = [p[b] - a[b] for p, a in zip(model.titans.bank.params(), w)]
        for i, c in enumerate(change):
            torch.testing.assert_close(c, -eta * scale * grads[b][i], rtol=0, atol=1e-15)
        assert fro(change) == pytest.approx(eta * min(norms[b], clip), rel=1e-12)


def test_grad_clip_chunk_clips_each_token():
    """Chunk 3: the write is -eta sum_t min(1, c/|g_t|) g_t, grads at the chunk start."""
    eta, clip = 0.1, 0.5
    model = repair_model(titans_cfg(hidden=5, lr=eta, retention=1.0, grad_clip=clip,
                              **{**FIXED, "chunk_size": 3}))
    x = rand_tokens(3, D_IN, seed=35)
    w = bank_weights(model)
    ref = ref_read(model, model.w_in @ x.T, w)
    want = [a.clone() for a in w]
    clipped = 0
    for t in range(3):
        grads = ref_grads(w, ref["k"][:, t], ref["v"][:, t], False)
        for b in range(5):
            scale = min(1.0, clip / fro(grads[b]))
            clipped += scale < 1
            for i in range(len(w)):
                want[i][b] -= eta * scale * grads[b][i]
    assert 0 < clipped < 15
    model.step(x)
    for got, exp in zip(model.titans.bank.params(), want):
        torch.testing.assert_close(got, exp, rtol=0, atol=1e-14)


def test_grad_clip_above_every_gradient_changes_nothing():
    base = titans_cfg(hidden=5, chunk_size=2)
    x = rand_tokens(8, D_IN, seed=36)
    plain = repair_model(base)
    y0, m0 = feed(plain, x, [1])
    assert float(m0[:, :5, 1].max()) < 50.0      # grad_surprise of every memory and token
    clipped = repair_model(replace(base, grad_clip=50.0))
    y1, m1 = feed(clipped, x, [1])
    assert torch.equal(y0, y1) and torch.equal(m0, m1)
    for a, b in zip(plain.titans.bank.params(), clipped.titans.bank.params()):
        assert torch.equal(a, b)


def test_grad_clip_lmm_caps_the_write():
    """lmm, linear, fixed gates: the one memory's write has norm eta * clip when its
    gradient norm |(W k - v) k^T| = |W k - v| exceeds the clip."""
    eta, clip = 0.1, 0.05
    model = repair_model(titans_cfg(variant="lmm", kind="linear", lr=eta, retention=1.0,
                              grad_clip=clip, **FIXED))
    x = rand_tokens(1, D_IN, seed=37)
    w = model.titans.bank.w2[0].clone()
    xx = model.w_in @ x.T
    k, v = normalize(model.titans.w_kv[0] @ xx)[:, 0], (model.titans.w_kv[1] @ xx)[:, 0]
    g = torch.outer(w @ k - v, k)
    assert float(g.norm()) > 2 * clip
    model.step(x)
    torch.testing.assert_close(model.titans.bank.w2[0] - w, -eta * clip / g.norm() * g,
                               rtol=0, atol=1e-15)
