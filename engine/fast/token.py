"""One token through the HOPE block with every step-count decision as a tensor mask.

The eager ``HOPE.step`` branches in Python on the step count (which CMS level fires, when
the held Titans diagnostics refresh); a compiled graph would be specialised to one phase
and recompiled for every other. Here each level's update is always computed and kept
where its mask is set, so one graph serves every step. The math is the eager engine's:
the Titans read and write, the CMS span and the level update are the same methods.

Shapes: d width, d_in stream width, B Titans memories, Lc CMS levels, L = B + Lc, M metrics.
"""
from __future__ import annotations

import torch
from torch import Tensor

from engine.cms import CMSLevel
from engine.frames import METRIC_INDEX
from engine.model import HOPE

_UPD, _REL = METRIC_INDEX["update_norm"], METRIC_INDEX["update_rel"]


def token_step(model: HOPE, x_raw: Tensor, fire: Tensor, diag: Tensor
               ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
    """Advance one token x_raw (..., 1, d_in) (leading axes: independent runs, as
    ``HOPE.start_from(..., batch=R)``). ``fire`` (Lc,) bool: which CMS levels update at
    this step; ``diag`` () bool: whether the held Titans diagnostics refresh.

    Returns metrics (..., 1, L, M), scalars (..., 1, 2), key k (..., d, 1), the Titans
    targets (..., B, d, 1) and the CMS chain's input/outputs (..., Lc + 1, d, 1) (None
    without CMS levels), as
    ``HOPE.step`` and the probe reservoir see them. Needs per-token Titans writes
    (chunk_size 1) and a model past its first step (``prev_o`` set); ``model.count`` is
    the caller's to advance.
    """
    titans = model.titans
    x = model.w_in @ model._with_context(x_raw).mT                   # (d, 1)
    read = titans.read(x)
    u = x + read.o if model.cfg.residual else read.o                  # (d, 1) CMS input
    y, cms_metrics, scalars, io = _cms_token(model, u, x_raw.mT, fire)
    u_norm, rel = titans.write([read])                               # (B,) each
    held = titans.state_metrics()
    fresh = titans.refresh_diag()
    mom, drift = (torch.where(diag, f, h) for f, h in zip(fresh, held))
    titans._diag = (mom, drift)
    shape = read.surprise.shape                                       # (B, 1)
    cols = [read.surprise, read.grad_norm, u_norm[..., None], rel[..., None],
            read.rho.unsqueeze(-2).expand(shape), read.eta.unsqueeze(-2).expand(shape),
            mom[..., None], drift[..., None], titans.w_norm[..., None],
            model._titans_contribution(read.o, y, shape)]
    tm = torch.stack(cols, -1).transpose(-3, -2)                      # (1, B, M)
    metrics = torch.cat([tm, cms_metrics], dim=-2)                    # (1, L, M)
    return metrics, scalars, read.k, read.targets, io


def _cms_token(model: HOPE, o: Tensor, x_raw: Tensor, fire: Tensor
               ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """The CMS chain for one token o (d, 1), target x_raw (d_in, 1): ``HOPE._cms_span``,
    then every level's update kept where ``fire`` is set."""
    levels = model.cms.levels
    model.cms_io = []
    y, m, s = model._cms_span(o, x_raw, 0)                            # (d,1), (1,Lc,M), (1,2)
    io = torch.stack(model.cms_io[0], -3) if model.cms_io else None   # (..., Lc + 1, d, 1)
    model.cms_io = []
    if not levels:
        return y, m, s, io
    upds, rels = [], []
    for j, lv in enumerate(levels):
        before = [getattr(lv, name) for name in CMSLevel.STATE]
        upd, rel = lv.fire()
        f = fire[j]
        for name, old in zip(CMSLevel.STATE, before):
            setattr(lv, name, torch.where(f, getattr(lv, name), old))
        zero = torch.zeros_like(upd)
        upds.append(torch.where(f, upd, zero))
        rels.append(torch.where(f, rel, zero))
    model.cms.refresh_state()
    m = m + model.cms.state_cols.unsqueeze(-3)                        # (1, Lc, M)
    m[..., _UPD] = torch.stack(upds, -1).unsqueeze(-2)                # (..., 1, Lc)
    m[..., _REL] = torch.stack(rels, -1).unsqueeze(-2)
    return y, m, s, io
