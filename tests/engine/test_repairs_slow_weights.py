"""Float64 oracles for the engine's optional repairs, part 3: the slow weights
(``HOPE.slow_weights``, ``start_from``, the ``weights`` argument, ``w_mem_in``, ``gate_shift``,
a batch of runs, ``detach_state``), with every repair on at once.
"""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from engine.config import CMSConfig
from engine.model import HOPE
from tests.engine.hope_helpers import F64, rand_tokens, titans_cfg
from tests.engine.repair_refs import (
    CPU,
    D_IN,
    D,
    bank_weights,
    feed,
    fro,
    ref_grads,
    ref_read,
    repair_cfg,
    shifted,
)

# ---------------------------------------------------------------------------- 8 slow weights
ALL_ON = (titans_cfg(hidden=5, chunk_size=2, decay_to="init", memory_target="value",
                     self_lr=0.5, grad_clip=2.0),
          CMSConfig(periods=(2, 4), hidden=5, decay_to="init", retention=0.9))


def _random_slow(seed: int) -> dict[str, torch.Tensor]:
    """Slow weights of a seed-``seed`` model, moved off the seed's draw (the zero rows of
    the eta/alpha memories kept), with random w_mem_in and gate_shift."""
    g = torch.Generator().manual_seed(seed)
    w = HOPE(repair_cfg(*ALL_ON, context=2, residual=True), seed, CPU).slow_weights()
    return {k: v + 0.2 * torch.randn(v.shape, generator=g, dtype=F64) * (v != 0 if "_0" in k
                                                                         else 1.0)
            for k, v in w.items()}


def test_weights_argument_equals_start_from():
    cfg = repair_cfg(*ALL_ON, context=2, residual=True)
    w = _random_slow(5)
    a = HOPE(cfg, 0, CPU, weights=w)
    b = HOPE(cfg, 0, CPU)
    b.start_from(w)
    x = rand_tokens(12, D_IN, seed=40)
    ya, ma = feed(a, x, [2])
    yb, mb = feed(b, x, [2])
    assert torch.equal(ya, yb) and torch.equal(ma, mb)
    c = HOPE(cfg, 0, CPU)                     # the seed's own start is another model
    assert (feed(c, x, [2])[0] - ya).abs().max() > 1e-3


def test_start_from_a_models_own_slow_weights_changes_nothing():
    """Identity w_mem_in and zero gate_shift (what slow_weights reports for a fresh model)
    reproduce the model drawn from the seed."""
    cfg = repair_cfg(titans_cfg(hidden=5, chunk_size=2, gates="adaptive", lr=0.1, lr_max=0.5,
                          retention=0.9), ALL_ON[1], context=2, residual=True)
    a = HOPE(cfg, 7, CPU)
    b = HOPE(cfg, 0, CPU, weights=HOPE(cfg, 7, CPU).slow_weights())
    x = rand_tokens(12, D_IN, seed=41)
    ya, ma = feed(a, x, [3])
    yb, mb = feed(b, x, [3])
    torch.testing.assert_close(yb, ya, rtol=0, atol=1e-13)
    torch.testing.assert_close(mb, ma, rtol=0, atol=1e-13)


def test_start_from_refuses_a_wrong_shape_or_a_missing_tensor():
    cfg = repair_cfg(*ALL_ON, context=2)
    model = HOPE(cfg, 0, CPU)
    w = model.slow_weights()
    with pytest.raises(ValueError, match=r"titans/w_mem_in has shape \(4, 6, 7\), expected "
                                         r"\(4, 6, 6\)"):
        model.start_from({**w, "titans/w_mem_in": torch.zeros(4, D, D + 1, dtype=F64)})
    with pytest.raises(ValueError, match=r"w_in has shape \(6, 4\), expected \(6, 8\)"):
        HOPE(cfg, 0, CPU, weights={**w, "w_in": torch.zeros(D, D_IN, dtype=F64)})
    with pytest.raises(KeyError, match="cms1/w2_0 is missing"):
        model.start_from({k: v for k, v in w.items() if k != "cms1/w2_0"})


def test_gate_shift_and_w_mem_in_enter_the_read_and_the_write():
    """Random slow weights, adaptive gates, every repair on, second token: o, k, v, eta, rho
    from the reference read (k..alpha read w_mem_in x, gate biases shifted), and each
    memory writes W0 + rho (W - W0) - eta s_b min(1, c/|g_b|) g_b."""
    tc = replace(ALL_ON[0], chunk_size=1, gates="adaptive", lr=0.1, lr_max=0.5, retention=0.9,
                 momentum=0.0, proximal=False, grad_clip=0.3)
    cfg = repair_cfg(tc, context=2, residual=True)
    w = _random_slow(6)
    model = HOPE(cfg, 0, CPU, weights=w)
    x_raw = rand_tokens(2, D_IN, seed=42)
    model.step(x_raw[:1])
    bank = bank_weights(model)
    x = model.w_in @ shifted(x_raw, 2)[1:].T
    ref = ref_read(model, x, bank)
    _, _, read, _ = model.step(x_raw[1:])
    for name in ("o", "k", "eta", "rho"):
        torch.testing.assert_close(getattr(read, name), ref[name], rtol=0, atol=1e-14, msg=name)
    torch.testing.assert_close(read.targets[0], ref["v"], rtol=0, atol=1e-14)
    assert w["titans/gate_shift"].abs().min() > 1e-3    # the shift is in the reference
    grads = ref_grads(bank, ref["k"][:, 0], ref["v"][:, 0], False, value_target=True)
    eta, rho = ref["eta"][0], ref["rho"][0]
    w0 = [w["titans/w1_0"], w["titans/w2_0"]]
    clipped = 0
    for b in range(5):
        scale = min(1.0, 0.3 / fro(grads[b])) * (1.0 if b == 0 else 0.5)
        clipped += scale < (1.0 if b == 0 else 0.5)
        for i, p in enumerate(model.titans.bank.params()):
            want = w0[i][b] + rho * (bank[i][b] - w0[i][b]) - eta * scale * grads[b][i]
            torch.testing.assert_close(p[b], want, rtol=0, atol=1e-14, msg=f"memory {b}")
    assert clipped > 0


def test_batch_state_shapes_and_rows_equal_runs_alone():
    cfg = repair_cfg(*ALL_ON, context=2, residual=True)
    w = _random_slow(8)
    single = HOPE(cfg, 0, CPU, weights=w)
    x = torch.stack([rand_tokens(6, D_IN, seed=50 + i) for i in range(3)])   # (3, n, d_in)
    feed(single, x[0], [2])
    batched = HOPE(cfg, 0, CPU)
    batched.start_from(w, batch=3)
    ys = []
    for start in range(0, 6, 2):
        ys.append(batched.step(x[:, start:start + 2])[3])
    for name, value in batched.state_dict().items():
        assert value.shape == (3,) + single.state_dict()[name].shape, name
    for i in range(3):
        alone = HOPE(cfg, 0, CPU, weights=w)
        y, _ = feed(alone, x[i], [2])
        torch.testing.assert_close(torch.cat(ys, -1)[i], y, rtol=0, atol=1e-13)
        for name, value in alone.state_dict().items():
            torch.testing.assert_close(batched.state_dict()[name][i], value, rtol=0, atol=1e-13,
                                       msg=name)


def test_detach_state_cuts_the_graph_and_keeps_the_values():
    cfg = repair_cfg(*ALL_ON, context=2, residual=True)
    w = {k: v.clone().requires_grad_(True) for k, v in _random_slow(9).items()}
    a, b = HOPE(cfg, 0, CPU, weights=w), HOPE(cfg, 0, CPU, weights=w)
    x = rand_tokens(8, D_IN, seed=60)
    feed(a, x[:4], [2]); feed(b, x[:4], [2])
    before = {k: v.detach().clone() for k, v in a.state_dict().items()}
    state = a.state_dict()
    assert all(state[k].requires_grad for k in ("titans/w2", "titans/mom1", "cms0/w1", "prev_o"))
    a.detach_state()
    for name, v in a.state_dict().items():
        assert v.grad_fn is None and not v.requires_grad, name
        assert torch.equal(v, before[name]) or torch.isnan(v).all(), name
    ya, _ = feed(a, x[4:], [2])
    yb, _ = feed(b, x[4:], [2])
    assert torch.equal(ya.detach(), yb.detach())
    ga = torch.autograd.grad(ya.square().sum(), w["titans/w2_0"])[0]   # the start still learns
    gb = torch.autograd.grad(yb.square().sum(), w["titans/w2_0"])[0]
    assert ga.abs().max() > 0 and not torch.allclose(ga, gb)


def test_literal93_batch_rows_equal_runs_alone():
    cfg = repair_cfg(titans_cfg(hidden=5, chunk_size=2, update_rule="literal93"))
    w = HOPE(cfg, 0, CPU).slow_weights()
    x = torch.stack([rand_tokens(4, D_IN, seed=70 + i) for i in range(2)])   # (2, n, d_in)
    batched = HOPE(cfg, 0, CPU)
    batched.start_from(w, batch=2)
    y = torch.cat([batched.step(x[:, t:t + 2])[3] for t in (0, 2)], -1)
    for i in range(2):
        alone = HOPE(cfg, 0, CPU, weights=w)
        torch.testing.assert_close(y[i], feed(alone, x[i], [2])[0], rtol=0, atol=1e-13)
