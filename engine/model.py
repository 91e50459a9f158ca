"""The HOPE block (Nested Learning, NL-long section 8.3): a self-modifying Titans memory
followed by a Continuum Memory System, processing a stream chunk by chunk.

Read top to bottom: the memory bank (five self-modifying memories batched together),
the self-modifying Titans that trains them, the CMS chain, and the assembled model.
Every ``step`` returns the per-level observables of each token as one tensor, so the
caller copies one array to the host per batch.

The paper leaves eleven choices open; docs/model.md says why we settle each as we do:
    1 CMS objective: ``ContinuumMemory`` / ``HOPE._cms_span`` (next_step | reconstruction)
    2 eq. 92 sign, eq. 93 literal: ``_deltas_delta`` (default) / ``_deltas_literal93``
    3 one retention factor rho in [0, 1]: ``W <- rho W + S`` everywhere
    4 loss 1/2 ||M(k) - v||^2 summed over features: ``read`` (O1) and the gradients
    5 momentum in self-modifying Titans: on, ``TitansConfig.momentum``
    6 eta, rho from sigmoid heads + the DGD proximal step: ``gates``, ``read``
    7 gradients at the chunk-start state: ``read`` / ``write`` + ``chunk_coefficients``
    8 the k k^T term: part of the gradient (delta); literal93 puts it on W2 only
    9 reads of a chunk use the chunk-start state; cuts are buffered in ``HOPE.pending``
    10 gradient through the self-generated target: on (``stop_grad_target=False``)
    11 q static: ``w_q`` is fixed (eq. 83)

Shape legend
    d_in stream width, d model width, h hidden width, B = 5 Titans memories,
    n tokens in a chunk, L levels (Titans memories then CMS levels), M metrics.
Memory order in the bank: 0 memory, 1 k, 2 v, 3 eta, 4 alpha.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from engine.config import CMSConfig, ModelConfig, TitansConfig
from engine.frames import LEVEL_METRICS, METRIC_INDEX
from engine.memory import (
    MLPCache, chunk_coefficients, grad_norm_mlp, mlp_forward, mlp_grad_factors,
)

TITANS_LEVELS = ("memory", "k", "v", "eta", "alpha")   # variant "self_modifying"
LMM_LEVELS = ("memory",)                               # variant "lmm": plain Titans memory


def titans_levels(cfg: TitansConfig) -> tuple[str, ...]:
    """Names of the Titans memories for a config's variant."""
    return TITANS_LEVELS if cfg.variant == "self_modifying" else LMM_LEVELS
N_METRICS = len(LEVEL_METRICS)
_M = METRIC_INDEX


def _normalize(x: Tensor) -> Tensor:
    """l2-normalise the columns of x (..., d, n)."""
    return x / x.norm(dim=-2, keepdim=True).clamp_min(1e-8)


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


# ----------------------------------------------------------------------------- memory bank
class MemoryBank:
    """B memories with weights stacked on a leading axis, so one bmm serves all five.

    mlp kind:    ``M_b(x) = r_b x + W1_b silu(W2_b x)``, W2 (B, h, d), W1 (B, d, h).
    linear kind: ``M_b(x) = W2_b x``, W2 (B, d, d); W1 is absent.
    The eta and alpha memories have one output (row 0 of their output, others masked
    to zero) and no residual, as in NL eq. 89 with a scalar head.
    """

    def __init__(self, cfg: TitansConfig, d: int, gen: torch.Generator,
                 dtype: torch.dtype, device: torch.device) -> None:
        B, h = len(titans_levels(cfg)), cfg.hidden
        self.kind = cfg.kind
        out_rows = torch.tensor([d, d, d, 1, 1][:B])
        self.out_mask = (torch.arange(d)[None, :] < out_rows[:, None]).to(dtype)[:, :, None]  # (B, d, 1)
        self.residual = (out_rows == d).to(dtype)[:, None, None]                           # (B, 1, 1)
        s = cfg.init_scale
        if self.kind == "mlp":
            w2 = torch.randn(B, h, d, generator=gen, dtype=torch.float64) * s / math.sqrt(d)
            w1 = torch.randn(B, d, h, generator=gen, dtype=torch.float64) * s / math.sqrt(h)
            self.w2 = w2.to(dtype).to(device)                       # (B, h, d)
            self.w1 = (w1.to(dtype) * self.out_mask).to(device)     # (B, d, h)
        else:
            w = torch.randn(B, d, d, generator=gen, dtype=torch.float64) * s / math.sqrt(d)
            w = w.to(dtype) + self.residual * torch.eye(d, dtype=dtype)
            self.w2 = (w * self.out_mask).to(device)                # (B, d, d)
            self.w1 = None
        self.out_mask = self.out_mask.to(device)
        self.residual = self.residual.to(device)

    def params(self) -> list[Tensor]:
        return [self.w2] if self.w1 is None else [self.w1, self.w2]

    def forward(self, x: Tensor, slope: bool = True) -> tuple[Tensor, MLPCache]:
        """x (B, d, n) -> y (B, d, n), cache. Rows beyond an output's width are zero."""
        if self.w1 is None:
            return self.w2 @ x, MLPCache(x, x, x)
        return mlp_forward(self.w1, self.w2, x, self.residual, slope)


# ------------------------------------------------------------------ self-modifying Titans
@dataclass
class TitansRead:
    """What a span of tokens learned from the chunk-start state: outputs, errors and the
    gradient factors that the chunk's write will apply (all on device)."""

    o: Tensor          # (d, n) read-out M_memory(q)
    k: Tensor          # (d, n) keys
    targets: Tensor    # (B, d, n) self-generated targets M_b(v) (for the probe set)
    eta: Tensor        # (n,) inner learning rate
    rho: Tensor        # (n,) retention
    surprise: Tensor   # (B, n) O1
    grad_norm: Tensor  # (B, n) O2
    factors: list[list[tuple[Tensor, Tensor]]]  # per weight: [(left (B,r,n), right (B,c,n))]


class SelfModifyingTitans:
    """NL eq. 83-91: k, v, eta, alpha and the memory are each a memory that trains itself.

    For token t (chunk of n tokens, states at the chunk start, eq. 90):
    ``q = norm(W_q x)``, ``o = M_mem(q)``, ``k = norm(M_k(x))``, ``v = M_v(x)``,
    ``eta = lr_max sigmoid(M_eta(x) + b)``, ``rho = sigmoid(M_alpha(x) + b')``;
    each memory b minimises ``1/2 ||M_b(k) - M_b(v)||^2`` (its own value, eq. 84-85) with
    ``S = beta S - eta grad``, ``W = rho W + S`` (delta rule; eq. 92 with the sign fixed),
    or with the extra ``-eta W2 k k^T`` of eq. 93 read literally.

    ``read`` may be called on any cut of a chunk; ``write`` applies the whole chunk.
    """

    def __init__(self, cfg: TitansConfig, d: int, gen: torch.Generator,
                 dtype: torch.dtype, device: torch.device) -> None:
        self.cfg = cfg
        self.bank = MemoryBank(cfg, d, gen, dtype, device)
        self.names = titans_levels(cfg)
        proj = torch.randn(3, d, d, generator=gen, dtype=torch.float64) / math.sqrt(d)
        self.w_q = proj[0].to(dtype).to(device)                      # (d, d) fixed (eq. 83)
        self.w_kv = proj[1:].to(dtype).to(device)                    # (2, d, d) lmm: fixed k, v
        self.mom = [torch.zeros_like(p) for p in self.bank.params()]
        self.init = [p.clone() for p in self.bank.params()]
        self.diag_every = 1                                          # steps between O3/O9
        self._diag: tuple[Tensor, Tensor] | None = None
        self.init_norm = _norm(self.init)                            # (B,)
        self.w_norm = self.init_norm.clone()                         # (B,) ||W|| now
        self.last_update = torch.zeros_like(self.bank.w2)            # (B, h, d) last dW2
        self.set_hyper(cfg)

    def set_hyper(self, cfg: TitansConfig) -> None:
        """Apply live-editable hyperparameters (lr, lr_max, retention, momentum)."""
        self.cfg = cfg
        self.b_eta = _logit(cfg.lr / cfg.lr_max) if cfg.gates == "adaptive" else 0.0
        self.b_rho = _logit(cfg.retention) if cfg.gates == "adaptive" else 0.0

    def gates(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """Inner learning rate eta (n,) and retention rho (n,) from the eta/alpha memories."""
        cfg = self.cfg
        if cfg.gates == "fixed" or len(self.names) == 1:
            n = y.shape[-1]
            return y.new_full((n,), cfg.lr), y.new_full((n,), cfg.retention)
        eta = cfg.lr_max * torch.sigmoid(y[3, 0] + self.b_eta)
        rho = torch.sigmoid(y[4, 0] + self.b_rho)
        return eta, rho

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Reads with the chunk-start states: o, k, v (d, n), eta, rho (n,)."""
        B = len(self.names)
        q = _normalize(self.w_q @ x)                                 # (d, n)
        if B == 1:  # Titans LMM: fixed projections; q is read in ``read`` with k and v
            eta, rho = self.gates(x)
            kv = self.w_kv @ x                                       # (2, d, n)
            return q, _normalize(kv[0]), kv[1], eta, rho
        inp = torch.stack([q] + [x] * (B - 1))                       # (B, d, n)
        y, _ = self.bank.forward(inp, slope=False)                   # (B, d, n)
        eta, rho = self.gates(y)
        return y[0], _normalize(y[1]), y[2], eta, rho

    def read(self, x: Tensor) -> TitansRead:
        """Tokens x (d, n): outputs, surprise and gradient factors at the current state."""
        bank, cfg = self.bank, self.cfg
        B, n = len(self.names), x.shape[-1]
        o, k, v, eta, rho = self.project(x)
        if B == 1:  # Titans LMM: one forward reads q and stores k; the target is v itself
            y, cache = bank.forward(torch.cat([k, o], -1)[None])      # (1, d, 2n)
            return self._read_lmm(y[0, :, n:], k, v, eta, rho, y[..., :n], cache)
        kv = torch.cat([k, v], dim=-1).expand(B, -1, -1)             # (B, d, 2n)
        y, cache = bank.forward(kv)                                  # (B, d, 2n)
        pred, target = y[..., :n], y[..., n:]                        # (B, d, n) each
        err = (pred - target) * bank.out_mask                        # (B, d, n)
        surprise = 0.5 * err.square().sum(1)                         # (B, n)  O1
        kb, vb = kv[..., :n], kv[..., n:]
        # gradient of weight W = sum over pairs and tokens of left_t right_t^T
        if bank.w1 is None:
            if cfg.stop_grad_target:
                factors = [[(err, kb)]]
                gnorm = err.norm(dim=1) * k.norm(dim=0)
            else:  # ambiguity 10 off: the gradient also flows through the target W v
                factors = [[(err, kb), (-err, vb)]]
                gnorm = _two_rank1_norm(err, k, -err, v)
        else:
            delta = mlp_grad_factors(bank.w1, cache, torch.cat([err, err], -1))  # (B, h, 2n)
            a_k, a_v = cache.a[..., :n], cache.a[..., n:]
            d_k, d_v = delta[..., :n], delta[..., n:]
            if cfg.stop_grad_target:
                factors = [[(err, a_k)], [(d_k, kb)]]
                gnorm = grad_norm_mlp(err, a_k, d_k, kb)
            else:
                factors = [[(err, a_k - a_v)], [(d_k, kb), (-d_v, vb)]]
                g1n = err.norm(dim=1) * (a_k - a_v).norm(dim=1)
                g2n = _two_rank1_norm(d_k, k, -d_v, v)
                gnorm = (g1n.square() + g2n.square()).sqrt()
        if cfg.proximal:  # DGD proximal step: eta' = eta / (1 + eta |input|^2), per layer
            factors = [[(l / (1 + eta * sum(r.square().sum(-2, keepdim=True) for _, r in pairs)), r)
                        for l, r in pairs] for pairs in factors]
        return TitansRead(o, k, target, eta, rho, surprise, gnorm, factors)

    def _read_lmm(self, o: Tensor, k: Tensor, v: Tensor, eta: Tensor, rho: Tensor,
                  pred: Tensor, cache: MLPCache) -> TitansRead:
        """Titans eq. 12-14: one memory learning k -> v with fixed projections."""
        n, bank = k.shape[-1], self.bank
        err = pred - v[None]                                         # (1, d, n)
        kb = k[None]
        if bank.w1 is None:
            factors = [[(err, kb)]]
            gnorm = err.norm(dim=1) * k.norm(dim=0)
        else:
            a_k = cache.a[..., :n]
            d_k = mlp_grad_factors(bank.w1, MLPCache(kb, a_k, cache.da[..., :n]), err)
            factors = [[(err, a_k)], [(d_k, kb)]]
            gnorm = grad_norm_mlp(err, a_k, d_k, kb)
        if self.cfg.proximal:
            factors = [[(l / (1 + eta * r.square().sum(-2, keepdim=True)), r) for l, r in pairs]
                       for pairs in factors]
        return TitansRead(o, k, v[None], eta, rho, 0.5 * err.square().sum(1), gnorm, factors)

    def write(self, reads: list[TitansRead]) -> tuple[Tensor, Tensor]:
        """Apply one chunk (the reads of all its pieces). Returns (||dW||, ||dW||/||W||) (B,)."""
        if len(reads) == 1:
            r = reads[0]
            eta, rho, factors = r.eta, r.rho, r.factors
        else:
            eta = torch.cat([r.eta for r in reads])
            rho = torch.cat([r.rho for r in reads])
            factors = [[(torch.cat([r.factors[i][j][0] for r in reads], -1),
                         torch.cat([r.factors[i][j][1] for r in reads], -1))
                        for j in range(len(reads[0].factors[i]))]
                       for i in range(len(reads[0].factors))]
        if self.cfg.update_rule == "literal93":
            deltas = self._deltas_literal93(factors, reads, eta, rho)
        else:
            deltas = self._deltas_delta(factors, eta, rho)
        upd = _norm(deltas)                                          # (B,)  O4
        rel = upd / self.w_norm.clamp_min(1e-12)
        for w, dw in zip(self.bank.params(), deltas):
            w.add_(dw)                                               # in place: no new weights
        self.last_update = deltas[-1]
        self.w_norm = _norm(self.bank.params())
        return upd, rel

    def state_metrics(self) -> tuple[Tensor, Tensor]:
        """(||S||, ||W - W0|| / ||W0||) per memory, (B,) each: as of the last refresh."""
        if self._diag is None:
            self.refresh_diag()
        return self._diag

    def refresh_diag(self) -> None:
        """Recompute the state diagnostics (O3 momentum norm, O9 drift from the initial
        state); between refreshes (``diag_every`` steps) the last values are held."""
        drift = _norm([w - w0 for w, w0 in zip(self.bank.params(), self.init)])
        drift = drift / self.init_norm.clamp_min(1e-12)
        mom = _norm(self.mom) if self.cfg.momentum > 0 else torch.zeros_like(drift)
        self._diag = (mom, drift)

    def _deltas_delta(self, factors: list[list[tuple[Tensor, Tensor]]], eta: Tensor,
                      rho: Tensor) -> list[Tensor]:
        """Weight changes of the delta rule over the chunk, in closed form (no per-token
        weights materialised); updates the momentum in place."""
        beta, n = self.cfg.momentum, eta.shape[0]
        deltas = []
        if n == 1:  # exact online rule, the hot path of per-token mode
            for w, s, pairs in zip(self.bank.params(), self.mom, factors):
                if beta > 0:  # S = beta S - eta g;  dW = (rho - 1) W + S
                    for j, (left, right) in enumerate(pairs):
                        s.baddbmm_(left * -eta, right.transpose(-1, -2), beta=beta if j == 0 else 1)
                    deltas.append(torch.addcmul(s, w, rho - 1))
                else:         # dW = (rho - 1) W - eta g
                    dw = w * (rho - 1)
                    for left, right in pairs:
                        dw.baddbmm_(left * -eta, right.transpose(-1, -2))
                    deltas.append(dw)
            return deltas
        c = chunk_coefficients(eta, rho, beta)
        for i, (w, s, pairs) in enumerate(zip(self.bank.params(), self.mom, factors)):
            dw = w * (c.w0 - 1)
            for left, right in pairs:
                dw.baddbmm_(left * -c.gw, right.transpose(-1, -2))
            if beta > 0:
                dw.addcmul_(s, c.s0)
                for j, (left, right) in enumerate(pairs):
                    s.baddbmm_(left * -c.sw, right.transpose(-1, -2), beta=beta ** n if j == 0 else 1)
            deltas.append(dw)
        return deltas

    def _deltas_literal93(self, factors: list[list[tuple[Tensor, Tensor]]],
                          reads: list[TitansRead], eta: Tensor, rho: Tensor) -> list[Tensor]:
        """Eq. 93 read literally: token loop with the extra ``-eta W2 k k^T`` on the key layer."""
        beta, n = self.cfg.momentum, eta.shape[0]
        k = torch.cat([r.k for r in reads], -1)                       # (d, n)
        old = self.bank.params()
        params = [p.clone() for p in old]
        for t in range(n):
            kt = k[:, t, None]                                        # (d, 1)
            for i, pairs in enumerate(factors):
                g = sum(l[..., t, None] @ r[..., t, None].transpose(-1, -2) for l, r in pairs)
                if beta > 0:
                    self.mom[i].mul_(beta).sub_(eta[t] * g)
                    step = self.mom[i]
                else:
                    step = -eta[t] * g
                w = rho[t] * params[i]
                if i == len(params) - 1:  # the layer whose input is k (ambiguity 8)
                    w = w - eta[t] * (params[i] @ kt) @ kt.T
                params[i] = w + step
        return [p - o for p, o in zip(params, old)]


def _norm(ts: list[Tensor]) -> Tensor:
    """Frobenius norm over several (B, r, c) tensors taken together: (B,)."""
    out = torch.linalg.vector_norm(ts[0], dim=(1, 2))
    for t in ts[1:]:
        out = torch.hypot(out, torch.linalg.vector_norm(t, dim=(1, 2)))
    return out


def _two_rank1_norm(a: Tensor, b: Tensor, c: Tensor, e: Tensor) -> Tensor:
    """||a b^T + c e^T||_F per token for a, c (B, r, n) and b, e (d, n) or (B, d, n)."""
    ab = a.square().sum(-2) * b.square().sum(-2)
    ce = c.square().sum(-2) * e.square().sum(-2)
    cross = 2 * (a * c).sum(-2) * (b * e).sum(-2)
    return (ab + ce + cross).clamp_min(0).sqrt()


# ------------------------------------------------------------------------------------ CMS
class CMSLevel:
    """One CMS level: ``f(u) = u + W1 silu(W2 u)``, updated every ``period`` steps with the
    sum of its per-token gradients since the last update (NL eq. 71)."""

    def __init__(self, d: int, h: int, period: int, lr: float, retention: float,
                 gen: torch.Generator, dtype: torch.dtype, device: torch.device) -> None:
        self.period, self.lr, self.retention = period, lr, retention
        w2 = torch.randn(h, d, generator=gen, dtype=torch.float64) / math.sqrt(d)
        w1 = torch.randn(d, h, generator=gen, dtype=torch.float64) * 0.1 / math.sqrt(h)
        self.w2 = w2.to(dtype).to(device)                            # (h, d)
        self.w1 = w1.to(dtype).to(device)                            # (d, h)
        self.g1 = torch.zeros_like(self.w1)                          # pending sum of grads
        self.g2 = torch.zeros_like(self.w2)
        self.sq = torch.zeros(2, dtype=dtype, device=device)         # pending sum |a|^2, |u|^2
        self.proximal = True
        self.init = (self.w1.clone(), self.w2.clone())
        self.init_norm = self._norm(self.init)
        self.w_norm = self.init_norm.clone()
        self.last_update = torch.zeros_like(self.w2)

    @staticmethod
    def _norm(ts: tuple[Tensor, Tensor]) -> Tensor:
        return (ts[0].square().sum() + ts[1].square().sum()).sqrt()

    def fire(self) -> tuple[Tensor, Tensor]:
        """Apply the pending update; returns (||dW||, ||dW|| / ||W_old||)."""
        if self.proximal:  # eta' = eta / (1 + eta sum_t |input_t|^2), per layer
            lr1, lr2 = (self.lr / (1 + self.lr * self.sq)).unbind()
        else:
            lr1 = lr2 = self.lr
        w1 = self.retention * self.w1 - lr1 * self.g1
        w2 = self.retention * self.w2 - lr2 * self.g2
        d1, d2 = w1 - self.w1, w2 - self.w2
        upd = self._norm((d1, d2))
        rel = upd / self.w_norm.clamp_min(1e-12)
        self.w1, self.w2, self.last_update = w1, w2, d2
        self.g1.zero_()
        self.g2.zero_()
        self.sq.zero_()
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
        self.refresh_state()

    def refresh_state(self) -> None:
        """Per-level constant metric columns (retention, lr, drift) until the next event."""
        if not self.levels:
            self.state_cols = None
            return
        cols = torch.zeros(len(self.levels), N_METRICS, dtype=self.levels[0].w1.dtype,
                           device=self.levels[0].w1.device)
        for j, lv in enumerate(self.levels):
            cols[j, _M["retention"]] = lv.retention
            cols[j, _M["lr"]] = lv.lr
            cols[j, _M["drift_init"]] = lv.drift()
        self.state_cols = cols                                       # (Lc, M)

    def set_hyper(self, cfg: CMSConfig) -> None:
        self.cfg = cfg
        for lv, lr in zip(self.levels, cfg.lrs()):
            lv.lr, lv.retention = lr, cfg.retention
        self.refresh_state()

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
            dz = mlp_grad_factors(lv.w1, cache, dy)                 # (h, m)
            lv.g1.addmm_(dy, cache.a.T)                              # (d, h) += sum_t dy a^T
            lv.g2.addmm_(dz, cache.x.T)                              # (h, d) += sum_t dz x^T
            norms.append(torch.stack([torch.linalg.vector_norm(t, dim=0)
                                      for t in (dy, cache.a, dz, cache.x)]))  # (4, m)
            dy = torch.addmm(dy, lv.w2.T, dz)                        # through the residual
        if not norms:
            return dy.new_zeros(0, dy.shape[-1]), dy.new_zeros(0, dy.shape[-1])
        e, a, z, x = torch.stack(norms[::-1]).unbind(1)              # (Lc, m) each
        if self.levels[0].proximal:
            sq = torch.stack([a, x], 1).square().sum(-1)             # (Lc, 2)
            for lv, row in zip(self.levels, sq):
                lv.sq += row
        return 0.5 * e.square(), torch.hypot(e * a, z * x)


# ------------------------------------------------------------------------------ the model
class HOPE:
    """The assembled block: ``x -> W_in -> self-modifying Titans -> CMS -> W_out``.

    ``step(x_raw)`` consumes a chunk of stream vectors (n, d_in) and returns
    ``(metrics (n, L, M), scalars (n, G), extras)`` on the model's device.
    """

    def __init__(self, cfg: ModelConfig, seed: int, device: torch.device) -> None:
        self.cfg = cfg
        self.device = device
        self.dtype = torch.float64 if cfg.dtype == "float64" else torch.float32
        gen = torch.Generator().manual_seed(seed)
        w_in = torch.linalg.qr(torch.randn(max(cfg.d, cfg.d_in), min(cfg.d, cfg.d_in),
                                           generator=gen, dtype=torch.float64))[0]
        w_in = w_in if cfg.d >= cfg.d_in else w_in.T                  # (d, d_in)
        self.w_in = w_in.to(self.dtype).to(device)
        self.w_out = self.w_in.T.contiguous()                         # (d_in, d) fixed readout
        self.titans = SelfModifyingTitans(cfg.titans, cfg.d, gen, self.dtype, device)
        self.cms = ContinuumMemory(cfg.cms, cfg.d, gen, self.dtype, device)
        self.prev_o: Tensor | None = None                             # (d, 1) for next_step
        self.pending: list[TitansRead] = []                           # reads of the open chunk
        self.cms_io: list[Tensor] = []                                # per span (Lc+1, d, m)
        self.count = 0                                                # steps processed

    @property
    def level_names(self) -> tuple[str, ...]:
        return self.titans.names + tuple(f"cms{i + 1}" for i in range(len(self.cms.levels)))

    @property
    def update_periods(self) -> tuple[int, ...]:
        return (self.cfg.titans.chunk_size,) * len(self.titans.names) + \
            tuple(lv.period for lv in self.cms.levels)

    def chunk_room(self) -> int:
        """Tokens left until the current Titans chunk is complete."""
        c = self.cfg.titans.chunk_size
        return c - self.count % c

    def step(self, x_raw: Tensor) -> tuple[Tensor, Tensor, TitansRead, Tensor]:
        """Process n tokens x_raw (n, d_in), n <= ``chunk_room()``.

        Titans reads use the chunk-start state; the chunk is written when its last token
        arrives, so cutting a chunk across calls changes nothing. Returns metrics
        (n, L, M), scalars (n, 2) [outer loss, output norm], the Titans read and the
        block output y (d, n).
        """
        n, B = x_raw.shape[0], len(self.titans.names)
        assert n <= self.chunk_room(), "a step may not cross a Titans chunk boundary"
        x = self.w_in @ x_raw.T                                       # (d, n)
        self.cms_io = []                                              # this call's CMS inputs
        read = self.titans.read(x)
        self.pending.append(read)
        y, cms_metrics, scalars = self._cms(read.o, x_raw.T)
        self.count += n
        zeros = read.surprise.new_zeros(B, n)
        upd = rel = zeros
        if self.count % self.cfg.titans.chunk_size == 0:
            # rows before the chunk's last token show the state before its write (causal)
            before = self.titans.state_metrics() if n > 1 else None
            u, r = self.titans.write(self.pending)
            self.pending = []
            every = self.titans.diag_every
            if every <= 1 or self.count // every > (self.count - n) // every:
                self.titans.refresh_diag()
            mom, drift = self.titans.state_metrics()
            if n == 1:
                upd, rel = u[:, None], r[:, None]
                mom, drift = mom[:, None], drift[:, None]
            else:                                                     # (B, n): at the last token
                upd = torch.cat([zeros[:, 1:], u[:, None]], 1)
                rel = torch.cat([zeros[:, 1:], r[:, None]], 1)
                mom = torch.cat([before[0][:, None].expand(B, n - 1), mom[:, None]], 1)
                drift = torch.cat([before[1][:, None].expand(B, n - 1), drift[:, None]], 1)
        else:
            mom, drift = (t[:, None] for t in self.titans.state_metrics())
        cols = [read.surprise, read.grad_norm, upd, rel, read.rho.expand(B, n),
                read.eta.expand(B, n), mom.expand(B, n), drift.expand(B, n)]
        tm = torch.stack(cols, -1).transpose(0, 1)                    # (n, B, M)
        return torch.cat([tm, cms_metrics], dim=1), scalars, read, y

    def _cms(self, o: Tensor, x_raw: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """CMS over a chunk o (d, n), split at the steps where some level fires."""
        n, levels = o.shape[-1], self.cms.levels
        Lc = len(levels)
        metrics = o.new_zeros(n, Lc, N_METRICS)
        scalars = o.new_zeros(n, 2)
        ys = []
        start = 0
        while start < n:
            end = self._next_event(start, n)
            y, m, s = self._cms_span(o[:, start:end], x_raw[:, start:end], start)
            metrics[start:end] = m
            if Lc:
                metrics[start:end] += self.cms.state_cols
            scalars[start:end] = s
            ys.append(y)
            fired = False
            for j, lv in enumerate(levels):
                if (self.count + end) % lv.period == 0:
                    upd, rel = lv.fire()
                    metrics[end - 1, j, _M["update_norm"]] = upd
                    metrics[end - 1, j, _M["update_rel"]] = rel
                    fired = True
            if fired:  # drift changes only at events: the firing row shows the new value
                old = self.cms.state_cols
                self.cms.refresh_state()
                metrics[end - 1] += self.cms.state_cols - old
            start = end
        return (torch.cat(ys, -1) if len(ys) > 1 else ys[0]), metrics, scalars

    def _next_event(self, start: int, n: int) -> int:
        """End (exclusive) of the span from ``start`` up to and including the next firing step."""
        end = n
        for lv in self.cms.levels:
            done = self.count + start                                 # steps before this span
            nxt = (done // lv.period + 1) * lv.period - self.count    # firing step count, relative
            end = min(end, nxt)
        return max(end, start + 1)

    def _cms_span(self, o: Tensor, x_raw: Tensor, offset: int) -> tuple[Tensor, Tensor, Tensor]:
        """Tokens with unchanged CMS weights: o (d, m), targets x_raw (d_in, m)."""
        m = o.shape[-1]
        if self.cms.cfg.objective == "next_step":
            prev = self.prev_o if self.prev_o is not None else torch.zeros_like(o[:, :1])
            loss_in = torch.cat([prev, o[:, :-1]], -1)                # (d, m): o_{t-1}
            valid = o.new_ones(m)
            if self.prev_o is None and self.count + offset == 0:
                valid[0] = 0.0
            cols = torch.cat([loss_in, o], -1)                        # (d, 2m)
            y_all, caches = self.cms.forward(cols)
            y_loss, y = y_all[:, :m], y_all[:, m:]
            loss_caches = [MLPCache(c.x[:, :m], c.a[:, :m], c.da[:, :m]) for c in caches]
            level_in = [c.x[:, m:] for c in caches]
            self.prev_o = o[:, -1:]
        else:
            y, caches = self.cms.forward(o)
            y_loss, loss_caches, valid = y, caches, o.new_ones(m)
            level_in = [c.x for c in caches]
        if level_in:  # each level's input and output per token, at the weights that made them
            self.cms_io.append(torch.stack(level_in + [y]))           # (Lc + 1, d, m)
        err = (self.w_out @ y_loss - x_raw) * valid                   # (d_in, m)
        dy = self.w_out.T @ err                                       # (d, m)
        surprise, gnorm = self.cms.accumulate(loss_caches, dy)        # (Lc, m) each
        metrics = torch.nn.functional.pad(torch.stack([surprise.T, gnorm.T], -1),
                                          (0, N_METRICS - 2))          # (m, Lc, M)
        scalars = torch.stack([0.5 * err.square().sum(0), y.norm(dim=0)], -1)  # (m, 2)
        return y, metrics, scalars
