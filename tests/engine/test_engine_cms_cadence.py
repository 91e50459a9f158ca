"""T10: Continuum Memory System cadence and updates through ``engine.session.Session``.

Levels with periods 4 and 16 over 64 steps fire 16 and 4 times, their weights are
bitwise constant between events, and each event applies
``retention W - lr sum_t grad_t`` where grad_t is torch.autograd's gradient of the
next-step loss ``1/2 |W_out y(o_{t-1}) - x_t|^2`` of every token in the chunk.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from engine.config import CMSConfig
from engine.frames import FrameBatch
from engine.session import Session
from tests.engine.hope_helpers import F64, session_config, titans_cfg

PERIODS = (4, 16)
LR, RET = 0.05, 0.9


def _config(objective="next_step", proximal=False):
    cms = CMSConfig(periods=PERIODS, hidden=5, lr=LR, retention=RET, proximal=proximal,
                    objective=objective)
    return session_config(titans_cfg(hidden=5), cms, d_in=6, d=8)


def _cms_params(session):
    return [(lv.w1.clone(), lv.w2.clone()) for lv in session.model.cms.levels]


def _run_recording(session, steps):
    """Step one at a time; record per step: params before, o_t (Titans read-out), frames."""
    outs = []
    orig = session.model.step

    def capture(x_raw):
        res = orig(x_raw)
        outs.append(res[2].o.clone())
        return res

    session.model.step = capture
    before, batches = [], []
    for _ in range(steps):
        before.append(_cms_params(session))
        batches.append(session.step(1))
    session.model.step = orig
    return before, torch.cat(outs, -1), FrameBatch.concat(batches)


def _chain_grads(model, p, o_prev, x_t):
    """Autograd: per-level (g1, g2), d loss / d level output, and the loss of one token."""
    leaves = [(w1.clone().requires_grad_(True), w2.clone().requires_grad_(True)) for w1, w2 in p]
    u = o_prev
    outs = []
    for w1, w2 in leaves:
        u = u + w1 @ torch.nn.functional.silu(w2 @ u)
        u.retain_grad()
        outs.append(u)
    loss = 0.5 * (model.w_out @ u - x_t).square().sum()
    loss.backward()
    return [(a.grad, b.grad) for a, b in leaves], [o.grad for o in outs], float(loss.detach())


def test_t10_cadence_fired_counts_and_positions():
    s = Session(_config())
    batch = s.step(64)
    names = s.spec.level_names
    cms_cols = [names.index("cms1"), names.index("cms2")]
    fired = batch.fired[:, cms_cols]
    assert fired[:, 0].sum() == 16 and fired[:, 1].sum() == 4
    steps = np.arange(1, 65)
    for j, c in enumerate(PERIODS):
        np.testing.assert_array_equal(fired[:, j], (steps % c == 0).astype(np.uint8))
        upd = batch.metric("update_norm")[:, cms_cols[j]]
        assert (upd[fired[:, j] == 0] == 0).all()       # O4 zero between updates
        assert (upd[fired[:, j] == 1] > 0).all()
    # Titans memories (chunk 1) fire every step
    assert (batch.fired[:, :5] == 1).all()


@pytest.mark.parametrize("objective", ["next_step", "reconstruction"])
def test_t10_weights_bitwise_constant_between_events(objective):
    s = Session(_config(objective))
    before, _, _ = _run_recording(s, 64)
    after = before[1:] + [_cms_params(s)]
    events = {j: 0 for j in range(2)}
    for t in range(64):  # step t moves the count from t to t + 1
        for j, c in enumerate(PERIODS):
            same = all(torch.equal(a, b) for a, b in zip(before[t][j], after[t][j]))
            if (t + 1) % c == 0:
                assert not same, (t, j)
                events[j] += 1
            else:
                assert same, (t, j)
    assert events == {0: 16, 1: 4}


def test_t10_event_update_equals_summed_autograd_gradients():
    s = Session(_config("next_step", proximal=False))
    before, o, batch = _run_recording(s, 64)
    model = s.model
    x = torch.from_numpy(batch.inputs).to(F64).T                   # (d_in, 64) what the model saw
    grads: list[Any] = []                                            # None: no loss at t = 0
    dys: list[Any] = []
    losses: list[float] = []
    for t in range(64):
        if t == 0:  # no previous output yet: no loss for the first token
            grads.append(None)
            dys.append(None)
            losses.append(0.0)
            continue
        g, dy, loss = _chain_grads(model, before[t], o[:, t - 1:t], x[:, t:t + 1])
        grads.append(g)
        dys.append(dy)
        losses.append(loss)
    after = before[1:] + [_cms_params(s)]
    names = s.spec.level_names
    for j, c in enumerate(PERIODS):
        col = names.index(f"cms{j + 1}")
        for end in range(c, 65, c):
            toks = [t for t in range(end - c, end) if grads[t] is not None]
            g1 = sum(grads[t][j][0] for t in toks)
            g2 = sum(grads[t][j][1] for t in toks)
            w1, w2 = before[end - 1][j]                              # boundary params
            torch.testing.assert_close(after[end - 1][j][0], RET * w1 - LR * g1, rtol=0,
                                       atol=1e-13)
            torch.testing.assert_close(after[end - 1][j][1], RET * w2 - LR * g2, rtol=0,
                                       atol=1e-13)
            # O4 update norm of the event (float32 frame)
            dw = ((after[end - 1][j][0] - w1).square().sum()
                  + (after[end - 1][j][1] - w2).square().sum()).sqrt()
            np.testing.assert_allclose(batch.metric("update_norm")[end - 1, col], float(dw),
                                       rtol=1e-6)
        # per-token O1 / O2 of the level (float32 frames) against autograd
        for t in range(1, 64):
            gn = float((grads[t][j][0].square().sum() + grads[t][j][1].square().sum()).sqrt())
            np.testing.assert_allclose(batch.metric("grad_surprise")[t, col], gn, rtol=1e-5,
                                       atol=1e-12)
            np.testing.assert_allclose(batch.metric("surprise")[t, col],
                                       0.5 * float(dys[t][j].square().sum()), rtol=1e-5,
                                       atol=1e-12)
    # outer loss = next-step loss of each token
    np.testing.assert_allclose(batch.scalars[:, 0], np.array(losses), rtol=1e-5, atol=1e-12)


def test_t10_proximal_event_scales_each_layer():
    """cms.proximal: the summed step of each layer is lr / (1 + lr sum_t |input_t|^2)."""
    s = Session(_config("next_step", proximal=True))
    before, o, batch = _run_recording(s, 4)
    model = s.model
    x = torch.from_numpy(batch.inputs).to(F64).T
    g1 = g2 = 0
    sq1 = sq2 = 0.0
    for t in range(1, 4):
        g, _, _ = _chain_grads(model, before[t], o[:, t - 1:t], x[:, t:t + 1])
        g1, g2 = g1 + g[0][0], g2 + g[0][1]
        lv_w2 = before[t][0][1]
        u = o[:, t - 1]
        sq1 += float(torch.nn.functional.silu(lv_w2 @ u).square().sum())
        sq2 += float(u.square().sum())
    w1, w2 = before[3][0]
    lv = model.cms.levels[0]
    torch.testing.assert_close(lv.w1, RET * w1 - LR / (1 + LR * sq1) * g1, rtol=0, atol=1e-13)
    torch.testing.assert_close(lv.w2, RET * w2 - LR / (1 + LR * sq2) * g2, rtol=0, atol=1e-13)


def test_t10_reconstruction_objective_gradient():
    """reconstruction: loss of token t is 1/2 |W_out y(o_t) - x_t|^2 at the current params."""
    s = Session(_config("reconstruction"))
    before, o, batch = _run_recording(s, 4)
    x = torch.from_numpy(batch.inputs).to(F64).T
    g1 = g2 = 0
    for t in range(4):
        g, _, loss = _chain_grads(s.model, before[t], o[:, t:t + 1], x[:, t:t + 1])
        g1, g2 = g1 + g[0][0], g2 + g[0][1]
        np.testing.assert_allclose(batch.scalars[t, 0], loss, rtol=1e-5)
    w1, w2 = before[3][0]
    torch.testing.assert_close(s.model.cms.levels[0].w1, RET * w1 - LR * g1, rtol=0, atol=1e-13)
    torch.testing.assert_close(s.model.cms.levels[0].w2, RET * w2 - LR * g2, rtol=0, atol=1e-13)
