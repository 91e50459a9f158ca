"""Continuum Memory System (NL eq. 70-71): a chain of residual MLP levels, level l
updated every C_l steps with the sum of its per-token gradients since its last update.

Shape legend: d width, h hidden width, m columns (tokens), Lc levels, M metrics.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from engine.config import CMSConfig
from engine.frames import LEVEL_METRICS, METRIC_INDEX
from engine.memory import MLPCache, mlp_forward, mlp_grad_factors, restored, state_prefix

N_METRICS = len(LEVEL_METRICS)
_M = METRIC_INDEX


# ------------------------------------------------------------------------------------ CMS
class CMSLevel:
    """One CMS level: ``f(u) = u + W1 silu(W2 u)``, updated every ``period`` steps with the
    sum of its per-token gradients since the last update (NL eq. 71)."""

    def __init__(self, d: int, h: int, period: int, lr: float, retention: float,
                 gen: torch.Generator, dtype: torch.dtype, device: torch.device) -> None:
        self.period = period
        self.lr: Tensor | float = lr                  # 0-dim tensors on the fast path
        self.retention: Tensor | float = retention
        w2 = torch.randn(h, d, generator=gen, dtype=torch.float64) / math.sqrt(d)
        w1 = torch.randn(d, h, generator=gen, dtype=torch.float64) * 0.1 / math.sqrt(h)
        self.w2 = w2.to(dtype).to(device)                            # (h, d)
        self.w1 = w1.to(dtype).to(device)                            # (d, h)
        self.g1 = torch.zeros_like(self.w1)                          # pending sum of grads
        self.g2 = torch.zeros_like(self.w2)
        self.sq = torch.zeros(2, dtype=dtype, device=device)         # pending sum |a|^2, |u|^2
        self.proximal = True
        self.decay_to_init = False
        self.init = (self.w1.clone(), self.w2.clone())
        self.init_norm = self._norm(self.init)
        self.w_norm = self.init_norm.clone()
        self.last_update = torch.zeros_like(self.w2)

    STATE = ("w1", "w2", "g1", "g2", "sq", "last_update", "w_norm")

    def start_from(self, w1: Tensor, w2: Tensor, lead: tuple[int, ...] = ()) -> None:
        """Fresh state from starting weights w1 (d, h), w2 (h, d), kept as given (autograd
        reaches them); ``lead`` adds leading axes of independent runs, and the weights may
        already carry them (lead + (d, h): one starting value per run)."""
        self.init = (w1, w2)
        s1, s2 = lead + w1.shape[-2:], lead + w2.shape[-2:]
        self.w1, self.w2 = w1.expand(s1), w2.expand(s2)
        self.g1, self.g2 = w1.new_zeros(s1), w2.new_zeros(s2)
        self.sq = w1.new_zeros(lead + (2,))
        self.init_norm = self._norm(self.init)
        self.w_norm = self._norm((self.w1, self.w2))
        self.last_update = w2.new_zeros(s2)

    def state_dict(self) -> dict[str, Tensor]:
        """Weights, the pending gradient sums (``g1``, ``g2``, ``sq``), ``last_update`` and
        ``w_norm`` (references, not copies; the initial weights come from the seed)."""
        return {name: getattr(self, name) for name in self.STATE}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restore a ``state_dict`` (copies)."""
        for name in self.STATE:
            setattr(self, name, restored(state, name, getattr(self, name)))

    def detach_state(self) -> None:
        """Cut the autograd graph behind the state (values unchanged)."""
        for name in self.STATE:
            setattr(self, name, getattr(self, name).detach())

    @staticmethod
    def _norm(ts: tuple[Tensor, Tensor]) -> Tensor:
        """Frobenius norm of the two layers together, per run: (...)."""
        if ts[0].dim() == 2:
            return (ts[0].square().sum() + ts[1].square().sum()).sqrt()
        return (ts[0].square().sum((-2, -1)) + ts[1].square().sum((-2, -1))).sqrt()

    def fire(self) -> tuple[Tensor, Tensor]:
        """Apply the pending update; returns (||dW||, ||dW|| / ||W_old||)."""
        lr1: Tensor | float
        lr2: Tensor | float
        if self.proximal:  # eta' = eta / (1 + eta sum_t |input_t|^2), per layer
            lr1, lr2 = (self.lr / (1 + self.lr * self.sq))[..., None, None].unbind(-3)
        else:
            lr1 = lr2 = self.lr
        if self.decay_to_init:  # retention pulls towards the starting weights
            w1 = self.init[0] + self.retention * (self.w1 - self.init[0]) - lr1 * self.g1
            w2 = self.init[1] + self.retention * (self.w2 - self.init[1]) - lr2 * self.g2
        else:
            w1 = self.retention * self.w1 - lr1 * self.g1
            w2 = self.retention * self.w2 - lr2 * self.g2
        d1, d2 = w1 - self.w1, w2 - self.w2
        upd = self._norm((d1, d2))
        rel = upd / self.w_norm.clamp_min(1e-12)
        self.w1, self.w2, self.last_update = w1, w2, d2
        self.g1, self.g2, self.sq = (torch.zeros_like(t) for t in (self.g1, self.g2, self.sq))
        self.w_norm = self._norm((w1, w2))
        return upd, rel

    def drift(self) -> Tensor:
        return self._norm((self.w1 - self.init[0], self.w2 - self.init[1])) / \
            self.init_norm.clamp_min(1e-12)


class ContinuumMemory:
    """Chain of CMS levels (NL eq. 70). Updates follow the configured objective:
    ``next_step`` predicts x_{t+1} from the block output at t (the loss of token t is
    taken when x_{t+1} arrives, re-evaluated at the current parameters so that every
    gradient of a chunk is at that chunk's boundary state), ``reconstruction`` maps
    the block output at t back to x_t."""

    def __init__(self, cfg: CMSConfig, d: int, gen: torch.Generator,
                 dtype: torch.dtype, device: torch.device) -> None:
        self.cfg = cfg
        self.levels = [CMSLevel(d, cfg.hidden, p, lr, cfg.retention, gen, dtype, device)
                       for p, lr in zip(cfg.periods, cfg.lrs())]
        for lv in self.levels:
            lv.proximal = cfg.proximal
            lv.decay_to_init = cfg.decay_to == "init"
        self.refresh_state()

    def refresh_state(self) -> None:
        """Per-level constant metric columns (retention, lr, drift) until the next event."""
        if not self.levels:
            self.state_cols = torch.zeros(0, N_METRICS)              # (0, M), never added
            return
        w = self.levels[0].w1
        cols = torch.zeros(w.shape[:-2] + (len(self.levels), N_METRICS), dtype=w.dtype,
                           device=w.device)
        for j, lv in enumerate(self.levels):
            cols[..., j, _M["retention"]] = lv.retention
            cols[..., j, _M["lr"]] = lv.lr
            drift = lv.drift()
            cols[..., j, _M["drift_init"]] = drift.detach() if drift.requires_grad else drift
            cols[..., j, _M["weight_norm"]] = lv.w_norm.detach()
        self.state_cols = cols                                       # (..., Lc, M)

    def state_dict(self) -> dict[str, Tensor]:
        """Every level's ``state_dict`` as ``cms<i>/<name>`` (i from 0)."""
        return {f"cms{i}/{k}": v for i, lv in enumerate(self.levels)
                for k, v in lv.state_dict().items()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restore a ``state_dict`` (copies) and refresh the constant metric columns."""
        for i, lv in enumerate(self.levels):
            prefix = f"cms{i}/"
            with state_prefix(prefix):
                lv.load_state_dict({k[len(prefix):]: v for k, v in state.items()
                                    if k.startswith(prefix)})
        self.refresh_state()

    def set_hyper(self, cfg: CMSConfig) -> None:
        """Apply live-editable hyperparameters (per-level lr, retention)."""
        self.cfg = cfg
        for lv, lr in zip(self.levels, cfg.lrs()):
            if isinstance(lv.lr, Tensor) and isinstance(lv.retention, Tensor):
                lv.lr.fill_(lr)                                      # the compiled graph's input
                lv.retention.fill_(cfg.retention)
            else:
                lv.lr, lv.retention = lr, cfg.retention
            lv.decay_to_init = cfg.decay_to == "init"
        self.refresh_state()

    def use_live_tensors(self) -> None:
        """Hold each level's lr and retention as 0-dim tensors that ``set_hyper`` edits in
        place (the compiled path: a live edit changes a value, never the graph)."""
        for lv in self.levels:
            w = lv.w1
            lv.lr = torch.as_tensor(lv.lr, dtype=w.dtype, device=w.device).clone()
            lv.retention = torch.as_tensor(lv.retention, dtype=w.dtype, device=w.device).clone()

    def forward(self, u: Tensor) -> tuple[Tensor, list[MLPCache]]:
        """u (d, m) -> y (d, m) through every level, with caches for the backward."""
        caches = []
        for lv in self.levels:
            u, cache = mlp_forward(lv.w1, lv.w2, u, 1.0)
            caches.append(cache)
        return u, caches

    def accumulate(self, caches: list[MLPCache], dy: Tensor) -> tuple[Tensor, Tensor]:
        """Backprop dL/dy (d, m) through the chain, add each level's gradient to its pending
        sum; returns surprise and grad_surprise per level and column, each (Lc, m).

        Per level only the column norms are taken in the loop; the O1/O2 arithmetic and the
        proximal sums run once for all levels (fewer kernels on the per-token path).
        """
        norms = []
        for lv, cache in zip(reversed(self.levels), reversed(caches)):
            dz = mlp_grad_factors(lv.w1, cache, dy)                 # (..., h, m)
            lv.g1 = _addmm(lv.g1, dy, cache.a.mT)                    # (..., d, h) += dy a^T
            lv.g2 = _addmm(lv.g2, dz, cache.x.mT)                    # (..., h, d) += dz x^T
            norms.append(torch.stack([torch.linalg.vector_norm(t, dim=-2)
                                      for t in (dy, cache.a, dz, cache.x)]))  # (4, ..., m)
            dy = _addmm(dy, lv.w2.mT, dz)                            # through the residual
        if not norms:
            empty = dy.new_zeros((0,) + dy.shape[:-2] + dy.shape[-1:])
            return empty, empty
        e, a, z, x = torch.stack(norms[::-1]).unbind(1)              # (Lc, ..., m) each
        if self.levels[0].proximal:
            sq = torch.stack([a, x], -2).square().sum(-1)            # (Lc, ..., 2)
            for lv, row in zip(self.levels, sq):
                lv.sq = lv.sq + row
        return 0.5 * e.square(), torch.hypot(e * a, z * x)


def _addmm(acc: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """``acc + a @ b``, out of place (one fused kernel for plain matrices)."""
    return torch.addmm(acc, a, b) if acc.dim() == 2 and a.dim() == 2 and b.dim() == 2 \
        else acc + a @ b


