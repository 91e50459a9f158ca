"""Independent float64 references for the repair oracles (tests/engine/test_repairs*.py):
the self-modifying Titans read and each memory's inner gradient, written with plain torch ops
and autograd token by token (none calls the engine's closed forms), plus small model builders.

Memory order in the bank: 0 memory, 1 k, 2 v, 3 eta, 4 alpha.
"""
from __future__ import annotations

import math
from dataclasses import replace

import torch

from engine.config import CMSConfig, ModelConfig, TitansConfig
from engine.model import HOPE
from tests.engine.hope_helpers import F64, memory_out, model_cfg, normalize

CPU = torch.device("cpu")
D_IN, D = 4, 6


def repair_cfg(titans: TitansConfig, cms: CMSConfig | None = None, **kw) -> ModelConfig:
    return replace(model_cfg(titans, cms, d_in=D_IN, d=D), **kw)


def repair_model(titans: TitansConfig, cms: CMSConfig | None = None, seed: int = 0, **kw) -> HOPE:
    return HOPE(repair_cfg(titans, cms, **kw), seed, CPU)


def bank_weights(model: HOPE) -> list[torch.Tensor]:
    return [p.clone() for p in model.titans.bank.params()]


def feed(model: HOPE, x: torch.Tensor, sizes: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
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


def shifted(x_raw: torch.Tensor, context: int) -> torch.Tensor:
    """Row t = [x_t, x_{t-1}, ...] (zeros before the first token), by a plain loop."""
    zero = torch.zeros(x_raw.shape[1], dtype=F64)
    rows = []
    for t in range(len(x_raw)):
        rows.append(torch.cat([x_raw[t - j] if t - j >= 0 else zero for j in range(context)]))
    return torch.stack(rows)


# ------------------------------------------------------------------- reference read and write
def mem(ws: list[torch.Tensor], b: int, x: torch.Tensor) -> torch.Tensor:
    """Memory b of the bank with weights ws (its own, unbatched): residual for memory, k
    and v; eta and alpha have one output row and no residual."""
    y = memory_out(ws, x, 1.0 if b < 3 else 0.0)
    if b >= 3:
        y = torch.cat([y[:1], torch.zeros_like(y[1:])])
    return y


def ref_read(model: HOPE, x: torch.Tensor, bank: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Self-modifying read of tokens x (d, n) at bank weights ``bank`` (list of (5, ...))."""
    tit, cfg = model.titans, model.titans.cfg
    q = normalize(tit.w_q @ x)
    w_in = tit.w_mem_in
    outs = [mem([w[b] for w in bank], b,
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


def ref_grads(bank: list[torch.Tensor], k: torch.Tensor, v: torch.Tensor, stop_grad: bool,
               value_target: bool = False) -> list[list[torch.Tensor]]:
    """grads[b][i]: autograd gradient of ``1/2 |M_b(k) - target_b|^2`` for one token (k, v
    (d,)) w.r.t. weight i of memory b; the target is M_b(v), or v itself for memory 0
    when ``value_target``."""
    out = []
    for b in range(bank[0].shape[0]):
        wb = [w[b].detach().clone().requires_grad_(True) for w in bank]
        pred = mem(wb, b, k)
        if b == 0 and value_target:
            target = v.detach()
        else:
            target = mem(wb, b, v)
            target = target.detach() if stop_grad else target
        out.append(list(torch.autograd.grad(0.5 * (pred - target).square().sum(), wb)))
    return out


def fro(ts: list[torch.Tensor]) -> float:
    return math.sqrt(sum(float(t.square().sum()) for t in ts))


FIXED = dict(gates="fixed", momentum=0.0, proximal=False, chunk_size=1)
