"""Shared helpers for the engine oracles: small float64 configs, independent reference
implementations (autograd, token loops) that do not reuse the engine's closed forms.

Imported as a plain module: pytest puts this folder on ``sys.path`` (rootdir-less
``prepend`` import mode, no ``__init__.py`` here so the folder never shadows ``engine``).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from engine.config import CMSConfig, Config, ModelConfig, RunConfig, StreamConfig, TitansConfig
from engine.model import HOPE

F64 = torch.float64


def titans_cfg(**kw) -> TitansConfig:
    return replace(TitansConfig(), **kw)


def model_cfg(titans: TitansConfig | None = None, cms: CMSConfig | None = None, *,
              d_in: int = 6, d: int = 6) -> ModelConfig:
    return ModelConfig(d_in=d_in, d=d, dtype="float64",
                       titans=titans or TitansConfig(hidden=5),
                       cms=cms if cms is not None else CMSConfig(periods=()))


def make_model(titans: TitansConfig | None = None, cms: CMSConfig | None = None, *,
               d_in: int = 6, d: int = 6, seed: int = 0) -> HOPE:
    return HOPE(model_cfg(titans, cms, d_in=d_in, d=d), seed, torch.device("cpu"))


def session_config(titans: TitansConfig | None = None, cms: CMSConfig | None = None, *,
                   stream: StreamConfig | None = None, d_in: int = 6, d: int = 8,
                   seed: int = 0, **run_kw) -> Config:
    run = replace(RunConfig(seed=seed, device="cpu", probe_every=8, probe_size=8,
                            snapshot_every=8, snapshot_max=8, state_every=0), **run_kw)
    return Config(model=model_cfg(titans or TitansConfig(hidden=5),
                                  cms if cms is not None else CMSConfig(periods=(2, 4), hidden=5),
                                  d_in=d_in, d=d),
                  stream=stream or StreamConfig(name="regime_shift",
                                                params=(("switch_every", 20),)),
                  run=run)


def rand_tokens(n: int, d_in: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d_in, generator=g, dtype=F64)


def params(model: HOPE) -> list[torch.Tensor]:
    return [p.clone() for p in model.titans.bank.params()]


def normalize(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-2, keepdim=True).clamp_min(1e-8)


# --------------------------------------------------------------------------- autograd oracles
def memory_out(ws: list[torch.Tensor], x: torch.Tensor, residual: float) -> torch.Tensor:
    """One memory (not batched): mlp ``r x + W1 silu(W2 x)`` if two weights, else ``W x``."""
    if len(ws) == 1:
        return ws[0] @ x
    w1, w2 = ws
    return residual * x + w1 @ torch.nn.functional.silu(w2 @ x)


def inner_grads_autograd(model: HOPE, x_raw: torch.Tensor, stop_grad: bool):
    """Independent self-modifying Titans read at the current state, by autograd.

    x_raw (n, d_in). Returns dict with k, v, eta, rho (from the memories' own forward),
    and per memory b and token t the gradient of ``1/2 |M_b(k_t) - M_b(v_t)|^2`` (masked
    to the memory's output rows) w.r.t. that memory's weights, as a list over weights of
    (B, n, *shape) tensors, with its Frobenius norm (B, n).
    """
    tit = model.titans
    bank = tit.bank
    cfg = tit.cfg
    B = len(tit.names)
    x = model.w_in @ x_raw.T                                       # (d, n)
    n = x.shape[1]
    ws = [p.detach() for p in bank.params()]
    res = bank.residual[:, 0, 0]
    mask = bank.out_mask[:, :, 0]                                  # (B, d)
    q = normalize(tit.w_q @ x)
    if B == 1:
        kv = tit.w_kv @ x
        k, v = normalize(kv[0]), kv[1]
        eta = torch.full((n,), cfg.lr, dtype=F64)
        rho = torch.full((n,), cfg.retention, dtype=F64)
    else:
        outs = []
        for b in range(B):
            inp = q if b == 0 else x
            outs.append(memory_out([w[b] for w in ws], inp, float(res[b])))
        k, v = normalize(outs[1]), outs[2]
        if cfg.gates == "fixed":
            eta = torch.full((n,), cfg.lr, dtype=F64)
            rho = torch.full((n,), cfg.retention, dtype=F64)
        else:
            eta = cfg.lr_max * torch.sigmoid(outs[3][0] + tit.b_eta)
            rho = torch.sigmoid(outs[4][0] + tit.b_rho)
    grads = [torch.zeros(B, n, *w.shape[1:], dtype=F64) for w in ws]
    for b in range(B):
        for t in range(n):
            wb = [w[b].clone().requires_grad_(True) for w in ws]
            pred = memory_out(wb, k[:, t], float(res[b]))
            if B == 1:
                target = v[:, t]
            else:
                target = memory_out(wb, v[:, t], float(res[b]))
                if stop_grad:
                    target = target.detach()
            loss = 0.5 * ((pred - target) * mask[b]).square().sum()
            gs = torch.autograd.grad(loss, wb)
            for i, g in enumerate(gs):
                grads[i][b, t] = g
    gnorm = torch.stack([g.square().sum(dim=tuple(range(2, g.dim()))) for g in grads]).sum(0).sqrt()
    return dict(x=x, q=q, k=k, v=v, eta=eta, rho=rho, grads=grads, gnorm=gnorm)


def reference_chunk(ws, mom, grads, eta, rho, beta):
    """Token loop of Titans eq. 13-14 / NL eq. 90 with every gradient at the chunk start:
    ``S_t = beta S_{t-1} - eta_t g_t``, ``W_t = rho_t W_{t-1} + S_t`` (``S_t = -eta_t g_t``
    when beta = 0). ws, mom: lists of (B, ...) tensors; grads: list of (B, n, ...)."""
    ws = [w.clone() for w in ws]
    mom = [s.clone() for s in mom]
    n = eta.shape[0]
    for t in range(n):
        for i in range(len(ws)):
            s = beta * mom[i] - eta[t] * grads[i][:, t]
            ws[i] = rho[t] * ws[i] + s
            mom[i] = s
    return ws, mom


def frames_equal(a, b, exact: bool = True) -> None:
    """Assert two FrameBatches carry the same values (wall time excepted)."""
    for name in ("step", "fired", "inputs", "regime", "token"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("level", "scalars"):
        x, y = getattr(a, name), getattr(b, name)
        if exact:
            np.testing.assert_array_equal(x, y, err_msg=name)
        else:  # float32 frames of float64 states equal to ~1e-15: at most 1 float32 ulp apart
            np.testing.assert_allclose(x, y, rtol=3e-7, atol=1e-30, err_msg=name)


