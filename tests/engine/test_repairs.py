"""Float64 oracles for the engine's optional repairs (each off by default): the token shift
(``ModelConfig.context``), the residual CMS input (``residual``), decay to the initial state
(``decay_to="init"``, Titans and CMS), the memory storing v itself (``memory_target="value"``),
the slower k/v/eta/alpha memories (``self_lr``), the per-token gradient clip (``grad_clip``)
and the slow weights (``slow_weights``, ``start_from``, ``detach_state``).

Every reference is written here with plain torch ops and autograd, token by token; none
calls the engine's closed forms. Memory order in the bank: 0 memory, 1 k, 2 v, 3 eta, 4 alpha.
"""
from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from engine.config import CMSConfig, ModelConfig, TitansConfig
from engine.model import HOPE
from tests.engine.hope_helpers import F64, memory_out, model_cfg, normalize, rand_tokens, titans_cfg

CPU = torch.device("cpu")
D_IN, D = 4, 6


def _cfg(titans: TitansConfig, cms: CMSConfig | None = None, **kw) -> ModelConfig:
    return replace(model_cfg(titans, cms, d_in=D_IN, d=D), **kw)


def _model(titans: TitansConfig, cms: CMSConfig | None = None, seed: int = 0, **kw) -> HOPE:
    return HOPE(_cfg(titans, cms, **kw), seed, CPU)


def _weights(model: HOPE) -> list[torch.Tensor]:
    return [p.clone() for p in model.titans.bank.params()]


def _feed(model: HOPE, x: torch.Tensor, sizes: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Step through x (n, d_in) in pieces of the given sizes (each also cut at the Titans
    chunk ends); returns the block outputs (d, n) and the metrics (n, L, M)."""
    ys, mets, done, i = [], [], 0, 0
    while done < len(x):
        m = min(sizes[i % len(sizes)], len(x) - done)
        i += 1
        while m > 0:
            r = min(m, model.chunk_room())
            met, _, _, y = model.step(x[done:done + r])
            ys.append(y); mets.append(met)
            done += r; m -= r
    return torch.cat(ys, -1), torch.cat(mets, 0)


def _shifted(x_raw: torch.Tensor, context: int) -> torch.Tensor:
    """Row t = [x_t, x_{t-1}, ...] (zeros before the first token), by a plain loop."""
    zero = torch.zeros(x_raw.shape[1], dtype=F64)
    rows = []
    for t in range(len(x_raw)):
        rows.append(torch.cat([x_raw[t - j] if t - j >= 0 else zero for j in range(context)]))
    return torch.stack(rows)


# ------------------------------------------------------------------- reference read and write
def _mem(ws: list[torch.Tensor], b: int, x: torch.Tensor) -> torch.Tensor:
    """Memory b of the bank with weights ws (its own, unbatched): residual for memory, k
    and v; eta and alpha have one output row and no residual."""
    y = memory_out(ws, x, 1.0 if b < 3 else 0.0)
    if b >= 3:
        y = torch.cat([y[:1], torch.zeros_like(y[1:])])
    return y


def _ref_read(model: HOPE, x: torch.Tensor, bank: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Self-modifying read of tokens x (d, n) at bank weights ``bank`` (list of (5, ...))."""
    tit, cfg = model.titans, model.titans.cfg
    q = normalize(tit.w_q @ x)
    w_in = tit.w_mem_in
    outs = [_mem([w[b] for w in bank], b,
                 q if b == 0 else (x if w_in is None else w_in[b - 1] @ x)) for b in range(5)]
    n = x.shape[1]
    if cfg.gates == "fixed":
        eta, rho = torch.full((n,), cfg.lr, dtype=F64), torch.full((n,), cfg.retention, dtype=F64)
    else:
        shift = torch.zeros(2, dtype=F64) if tit.gate_shift is None else tit.gate_shift
        p = cfg.lr / cfg.lr_max
        eta = cfg.lr_max * torch.sigmoid(outs[3][0] + math.log(p / (1 - p)) + shift[0])
        rho = torch.sigmoid(outs[4][0] + math.log(cfg.retention / (1 - cfg.retention)) + shift[1])
    return dict(o=outs[0], k=normalize(outs[1]), v=outs[2], eta=eta, rho=rho)


def _ref_grads(bank: list[torch.Tensor], k: torch.Tensor, v: torch.Tensor, stop_grad: bool,
               value_target: bool = False) -> list[list[torch.Tensor]]:
    """grads[b][i]: autograd gradient of ``1/2 |M_b(k) - target_b|^2`` for one token (k, v
    (d,)) w.r.t. weight i of memory b; the target is M_b(v), or v itself for memory 0
    when ``value_target``."""
    out = []
    for b in range(bank[0].shape[0]):
        wb = [w[b].detach().clone().requires_grad_(True) for w in bank]
        pred = _mem(wb, b, k)
        if b == 0 and value_target:
            target = v.detach()
        else:
            target = _mem(wb, b, v)
            target = target.detach() if stop_grad else target
        out.append(list(torch.autograd.grad(0.5 * (pred - target).square().sum(), wb)))
    return out


def _fro(ts: list[torch.Tensor]) -> float:
    return math.sqrt(sum(float(t.square().sum()) for t in ts))


FIXED = dict(gates="fixed", momentum=0.0, proximal=False, chunk_size=1)


# ------------------------------------------------------------------------ 1 context (token shift)
def test_context_read_uses_the_present_and_the_past_token():
    """context=2: the read of token t is M_0(norm(W_q W_in [x_t, x_{t-1}])), x_{-1} = 0, within
    a chunk (chunk-start state) and across calls (the past token of the next call)."""
    model = _model(titans_cfg(hidden=5, chunk_size=3), context=2)
    assert model.w_in.shape == (D, 2 * D_IN)
    x_raw = rand_tokens(6, D_IN, seed=21)
    rows = _shifted(x_raw, 2)
    assert torch.equal(rows[0, D_IN:], torch.zeros(D_IN, dtype=F64))
    for c in range(2):
        bank = _weights(model)
        ref = _ref_read(model, model.w_in @ rows[3 * c:3 * c + 3].T, bank)
        _, _, read, _ = model.step(x_raw[3 * c:3 * c + 3])
        torch.testing.assert_close(read.o, ref["o"], rtol=0, atol=1e-14)
        torch.testing.assert_close(read.k, ref["k"], rtol=0, atol=1e-14)
    # the past really enters: the same token after another one reads differently
    fresh = _model(titans_cfg(hidden=5, chunk_size=3), context=2)
    with_past = _ref_read(fresh, fresh.w_in @ rows[1:2].T, _weights(fresh))["o"]
    _, _, alone, _ = fresh.step(x_raw[1:2])
    assert (alone.o - with_past).abs().max() > 1e-6


@pytest.mark.parametrize("chunk", [1, 3])
def test_context_cut_invariance(chunk):
    """context=2 (and residual, CMS): feeding the stream in pieces of different sizes gives
    the same outputs, metrics and final state as one token at a time."""
    cms = CMSConfig(periods=(2, 4), hidden=5)
    cfg = (titans_cfg(hidden=5, chunk_size=chunk), cms)
    x = rand_tokens(24, D_IN, seed=22)
    runs = []
    for sizes in ([1], [2, 5, 1], [7, 3]):
        m = _model(*cfg, context=2, residual=True)
        runs.append((*_feed(m, x, sizes), m.state_dict()))
    for y, met, state in runs[1:]:
        torch.testing.assert_close(y, runs[0][0], rtol=0, atol=1e-12)
        torch.testing.assert_close(met, runs[0][1], rtol=0, atol=1e-12)
        for name, t in state.items():
            torch.testing.assert_close(t, runs[0][2][name], rtol=0, atol=1e-12, msg=name)
    torch.testing.assert_close(runs[0][2]["prev_x"], x[-1:], rtol=0, atol=0)


def test_context_state_round_trip_continues_bit_for_bit():
    cfg = (titans_cfg(hidden=5, chunk_size=2), CMSConfig(periods=(3,), hidden=5))
    x = rand_tokens(20, D_IN, seed=23)
    a = _model(*cfg, context=2)
    _feed(a, x[:6], [2])
    saved = {n: t.clone() for n, t in a.state_dict().items()}
    assert torch.equal(saved["prev_x"], x[5:6])
    b = _model(*cfg, context=2)
    b.load_state_dict(saved, a.count)
    ya, ma = _feed(a, x[6:], [2])
    yb, mb = _feed(b, x[6:], [2])
    assert torch.equal(ya, yb) and torch.equal(ma, mb)
    # without prev_x the continuation differs (the state really carries the past token)
    c = _model(*cfg, context=2)
    c.load_state_dict({**saved, "prev_x": torch.zeros_like(saved["prev_x"])}, a.count)
    assert (_feed(c, x[6:8], [2])[0] - yb[:, :2]).abs().max() > 1e-6


# ------------------------------------------------------------------------------- 2 residual
def test_residual_without_cms_outputs_x_plus_o():
    model = _model(titans_cfg(hidden=5, chunk_size=2), residual=True)
    x_raw = rand_tokens(4, D_IN, seed=24)
    for c in range(2):
        _, _, read, y = model.step(x_raw[2 * c:2 * c + 2])
        x = model.w_in @ x_raw[2 * c:2 * c + 2].T
        torch.testing.assert_close(y, x + read.o, rtol=0, atol=1e-15)
        assert (y - read.o).abs().max() > 1e-3


@pytest.mark.parametrize("objective", ["next_step", "reconstruction"])
def test_residual_cms_reads_x_plus_o(objective):
    cms = CMSConfig(periods=(2, 4), hidden=5, objective=objective)
    model = _model(titans_cfg(hidden=5), cms, residual=True)
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
    model = _model(tc)
    w0 = _weights(model)
    x_raw = rand_tokens(2, D_IN, seed=26)
    model.step(x_raw[:1])
    w = _weights(model)
    assert _fro([a - b for a, b in zip(w, w0)]) > 1e-3
    ref = _ref_read(model, model.w_in @ x_raw[1:].T, w)
    grads = _ref_grads(w, ref["k"][:, 0], ref["v"][:, 0], stop_grad)
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
    model = _model(titans_cfg(hidden=5, lr=lr, retention=rho, decay_to="init", **FIXED))
    w0 = _weights(model)
    g = torch.Generator().manual_seed(3)
    model.titans.bank.set_params([w + 0.3 * torch.randn(w.shape, generator=g, dtype=F64)
                                  * (w != 0) for w in w0])   # keep eta/alpha's zero rows
    gap0 = _fro([a - b for a, b in zip(model.titans.bank.params(), w0)])
    x = rand_tokens(n, D_IN, seed=27)
    for t in range(n):
        model.step(x[t:t + 1])
        gap = _fro([a - b for a, b in zip(model.titans.bank.params(), w0)])
        assert gap / gap0 == pytest.approx(rho ** (t + 1), rel=1e-5 if lr else 1e-12)
    assert _fro(model.titans.bank.params()) == pytest.approx(_fro(w0), rel=1e-2)


@pytest.mark.parametrize("kind", ["mlp", "linear"])
def test_titans_decay_to_init_chunk_equals_token_loop(kind):
    """Chunk 3, adaptive gates, momentum: the closed-form chunk write equals the token loop
    S_t = beta S - eta_t g_t, W_t = W0 + rho_t (W_{t-1} - W0) + S_t, grads at the chunk start."""
    beta = 0.5
    tc = titans_cfg(kind=kind, hidden=5, chunk_size=3, momentum=beta, proximal=False,
                    lr=0.1, lr_max=0.5, retention=0.8, decay_to="init")
    model = _model(tc)
    w0 = _weights(model)
    x_raw = rand_tokens(6, D_IN, seed=28)
    for c in range(2):
        start, mom = _weights(model), [s.clone() for s in model.titans.mom]
        ref = _ref_read(model, model.w_in @ x_raw[3 * c:3 * c + 3].T, start)
        w = list(start)
        for t in range(3):   # every gradient at the chunk-start state
            grads = _ref_grads(start, ref["k"][:, t], ref["v"][:, t], False)
            for i in range(len(w)):
                g = torch.stack([grads[b][i] for b in range(5)])
                mom[i] = beta * mom[i] - ref["eta"][t] * g
                w[i] = w0[i] + ref["rho"][t] * (w[i] - w0[i]) + mom[i]
        model.step(x_raw[3 * c:3 * c + 3])
        for got, want in zip(model.titans.bank.params(), w):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-13)


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
    model = _model(titans_cfg(hidden=5), cms)
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
    assert _fro([ws[0][0] - start[0][0], ws[0][1] - start[0][1]]) > 1e-3


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
            model = _model(tc)
            w = _weights(model)
            ref = _ref_read(model, model.w_in @ x.T, w)
            _, _, read, _ = model.step(x)
            if target == "value":
                k, v = ref["k"][:, 0], ref["v"][:, 0]
                torch.testing.assert_close(read.targets[0, :, 0], v, rtol=0, atol=1e-15)
                err = _mem([p[0] for p in w], 0, k) - v
                assert float(read.surprise[0, 0]) == pytest.approx(0.5 * float(err @ err),
                                                                   rel=1e-13)
                g = _ref_grads(w, k, v, sg, value_target=True)[0]
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
    model = _model(tc)
    x = rand_tokens(2, D_IN, seed=31)
    model.step(x[:1])
    w = _weights(model)
    ref = _ref_read(model, model.w_in @ x[1:].T, w)
    grads = _ref_grads(w, ref["k"][:, 0], ref["v"][:, 0], stop_grad, value_target=True)
    _, _, read, _ = model.step(x[1:])
    torch.testing.assert_close(read.eta, ref["eta"], rtol=0, atol=1e-15)
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
        model = _model(titans_cfg(kind=kind, hidden=5, lr=0.3, retention=1.0, self_lr=mult,
                                  **FIXED))
        w = _weights(model)
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
    model = _model(tc)
    x = rand_tokens(1, D_IN, seed=33)
    w = _weights(model)
    ref = _ref_read(model, model.w_in @ x.T, w)
    k = ref["k"][:, 0]
    grads = _ref_grads(w, k, ref["v"][:, 0], True)
    model.step(x)
    w1, w2 = model.titans.bank.params()
    for b in range(5):
        e = eta * (1.0 if b == 0 else s)
        a = torch.nn.functional.silu(w[1][b] @ k)
        torch.testing.assert_close(w1[b], w[0][b] - e / (1 + e * a @ a) * grads[b][0],
                                   rtol=0, atol=1e-14)
        torch.testing.assert_close(w2[b], w[1][b] - e / (1 + e * k @ k) * grads[b][1],
                                   rtol=0, atol=1e-14)
