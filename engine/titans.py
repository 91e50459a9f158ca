"""Self-modifying Titans (NL eq. 83-91): the memory, k, v, eta and alpha memories,
batched on one axis, each trained on its own self-generated value; plus the plain Titans
memory (variant ``lmm``, Titans eq. 12-14).

Shape legend: B memories in the bank (5, or 1 for lmm), d width, h hidden width, n tokens.
Memory order in the bank: 0 memory, 1 k, 2 v, 3 eta, 4 alpha.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from engine.config import TitansConfig
from engine.memory import (
    MLPCache,
    chunk_coefficients,
    grad_norm_mlp,
    mlp_forward,
    mlp_grad_factors,
    restored,
)

TITANS_LEVELS = ("memory", "k", "v", "eta", "alpha")   # variant "self_modifying"
LMM_LEVELS = ("memory",)                               # variant "lmm": plain Titans memory


def titans_levels(cfg: TitansConfig) -> tuple[str, ...]:
    """Names of the Titans memories for a config's variant."""
    return TITANS_LEVELS if cfg.variant == "self_modifying" else LMM_LEVELS


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
            self.w1: Tensor | None = (w1.to(dtype) * self.out_mask).to(device)  # (B, d, h)
        else:
            w = torch.randn(B, d, d, generator=gen, dtype=torch.float64) * s / math.sqrt(d)
            w = w.to(dtype) + self.residual * torch.eye(d, dtype=dtype)
            self.w2 = (w * self.out_mask).to(device)                # (B, d, d)
            self.w1 = None
        self.out_mask = self.out_mask.to(device)
        self.residual = self.residual.to(device)

    def params(self) -> list[Tensor]:
        return [self.w2] if self.w1 is None else [self.w1, self.w2]

    def set_params(self, params: list[Tensor]) -> None:
        """Replace the weights, in ``params()`` order (new tensors; no copy)."""
        if self.w1 is None:
            (self.w2,) = params
        else:
            self.w1, self.w2 = params

    def state_dict(self) -> dict[str, Tensor]:
        """The trainable weights: ``w2`` and (mlp kind) ``w1`` (references, not copies)."""
        return {"w2": self.w2} if self.w1 is None else {"w1": self.w1, "w2": self.w2}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restore weights taken by ``state_dict`` (copied onto this bank's device)."""
        self.w2 = restored(state, "w2", self.w2)
        if self.w1 is not None:
            self.w1 = restored(state, "w1", self.w1)

    def forward(self, x: Tensor, slope: bool = True) -> tuple[Tensor, MLPCache]:
        """x (..., B, d, n) -> y (..., B, d, n), cache. Rows beyond an output's width are zero."""
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
        self.gate_shift: Tensor | None = None   # (2,) meta-learned offsets of b_eta, b_rho
        self.w_mem_in: Tensor | None = None     # (B-1, d, d) meta-learned inputs of k..alpha
        self.gate_surprise: Tensor | None = None  # (2,) weights of log-surprise in the gates
        self.live: dict[str, Tensor] | None = None  # live hyperparameters as tensors (fast path)
        self.set_hyper(cfg)

    def slow_weights(self) -> dict[str, Tensor]:
        """What the outer loop learns (references): ``w_q``; ``w_kv`` (lmm) or
        ``w_mem_in`` (B-1, d, d), the projections of x the k, v, eta and alpha memories
        read (identity until meta-learned); the initial states ``w1_0`` (mlp kind),
        ``w2_0`` of every memory; ``gate_shift`` (2,)."""
        out = {"w_q": self.w_q}
        B, d = len(self.names), self.w_q.shape[-1]
        if B == 1:
            out["w_kv"] = self.w_kv
        else:
            out["w_mem_in"] = self.w_mem_in if self.w_mem_in is not None else \
                torch.eye(d, dtype=self.w_q.dtype, device=self.w_q.device).repeat(B - 1, 1, 1)
        for i, name in enumerate(("w1_0", "w2_0")[2 - len(self.init):]):
            out[name] = self.init[i]
        out["gate_shift"] = self.gate_shift if self.gate_shift is not None else \
            self.w_q.new_zeros(2)
        if self.cfg.surprise_gates:
            out["gate_surprise"] = self.gate_surprise if self.gate_surprise is not None \
                else self.w_q.new_zeros(2)
        return out

    def start_from(self, weights: dict[str, Tensor], lead: tuple[int, ...] = ()) -> None:
        """Fresh inner state from slow weights (kept as given, so autograd reaches them):
        the memories start at ``w*_0``, momenta at zero; ``lead`` adds leading axes of
        independent runs (a batch of episodes); ``w_q``, ``w1_0`` and ``w2_0`` may already
        carry them (one starting value per run)."""
        self.w_q = weights["w_q"]
        if len(self.names) == 1:
            self.w_kv = weights["w_kv"]
        else:
            self.w_mem_in = weights["w_mem_in"]
        self.gate_shift = weights["gate_shift"]
        self.gate_surprise = weights.get("gate_surprise") if self.cfg.surprise_gates else None
        self.init = [weights[k] for k in ("w1_0", "w2_0")[2 - len(self.init):]]
        self.bank.set_params([w.expand(lead + w.shape[-3:]) for w in self.init])
        self.mom = [w.new_zeros(lead + w.shape[-3:]) for w in self.init]
        self.init_norm = _norm(self.init)
        self.w_norm = _norm(self.bank.params())
        self.last_update = self.init[-1].new_zeros(lead + self.init[-1].shape[-3:])
        self._diag = None

    def state_dict(self) -> dict[str, Tensor]:
        """Everything a write changes: the bank's weights (``w1``, ``w2``), the momenta
        ``mom<i>`` (in ``bank.params()`` order), ``last_update`` and ``w_norm``.
        References, not copies; the initial weights are rebuilt from the seed."""
        out = self.bank.state_dict()
        out.update({f"mom{i}": m for i, m in enumerate(self.mom)})
        out["last_update"], out["w_norm"] = self.last_update, self.w_norm
        return out

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restore a ``state_dict`` (copies) and refresh the held diagnostics (O3, O9)."""
        self.bank.load_state_dict(state)
        self.mom = [restored(state, f"mom{i}", m) for i, m in enumerate(self.mom)]
        self.last_update = restored(state, "last_update", self.last_update)
        self.w_norm = restored(state, "w_norm", self.w_norm)
        self.refresh_diag()

    def detach_state(self) -> None:
        """Cut the autograd graph behind the inner state (values unchanged)."""
        self.bank.set_params([p.detach() for p in self.bank.params()])
        self.mom = [m.detach() for m in self.mom]
        self.last_update, self.w_norm = self.last_update.detach(), self.w_norm.detach()
        self._diag = None

    def set_hyper(self, cfg: TitansConfig) -> None:
        """Apply live-editable hyperparameters (lr, lr_max, retention, momentum)."""
        self.cfg = cfg
        self.b_eta = _logit(cfg.lr / cfg.lr_max) if cfg.gates == "adaptive" else 0.0
        self.b_rho = _logit(cfg.retention) if cfg.gates == "adaptive" else 0.0
        self.momentum_on = cfg.momentum > 0          # structure: momentum on or off
        self._floats = {"lr": cfg.lr, "lr_max": cfg.lr_max, "retention": cfg.retention,
                        "beta": cfg.momentum, "b_eta": self.b_eta, "b_rho": self.b_rho}
        if self.live is not None:
            for name, value in self._floats.items():
                self.live[name].fill_(value)

    def use_live_tensors(self) -> None:
        """Hold the live hyperparameters as 0-dim tensors that ``set_hyper`` edits in place,
        so a compiled step reads them as inputs: a live edit changes a value, never the
        graph (``engine.fast``). The eager reference keeps Python floats."""
        if self.live is None:
            self.live = {name: torch.tensor(value, dtype=self.w_q.dtype, device=self.w_q.device)
                         for name, value in self._floats.items()}

    def _hp(self, name: str) -> Tensor | float:
        """A live hyperparameter: the float, or its tensor once ``use_live_tensors`` ran."""
        return self._floats[name] if self.live is None else self.live[name]

    def gates(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """Inner learning rate eta (..., n) and retention rho (..., n) from the eta/alpha
        memories' outputs y (..., B, d, n) (fixed gates: y is any (..., d, n) input)."""
        cfg = self.cfg
        if cfg.gates == "fixed" or len(self.names) == 1:
            shape = y.shape[:-3] + y.shape[-1:] if len(self.names) > 1 else \
                y.shape[:-2] + y.shape[-1:]
            if self.live is not None:
                return self.live["lr"].expand(shape), self.live["retention"].expand(shape)
            return y.new_full(shape, cfg.lr), y.new_full(shape, cfg.retention)
        return self._gates(y[..., 3, 0, :], y[..., 4, 0, :])

    def _gates(self, a_eta: Tensor, a_rho: Tensor) -> tuple[Tensor, Tensor]:
        """eta, rho (..., n) from the eta/alpha memories' outputs plus their biases."""
        lr_max, b_eta, b_rho = self._hp("lr_max"), self._hp("b_eta"), self._hp("b_rho")
        if self.gate_shift is None:
            eta = lr_max * torch.sigmoid(a_eta + b_eta)
            rho = torch.sigmoid(a_rho + b_rho)
        else:
            eta = lr_max * torch.sigmoid(a_eta + (self.gate_shift[0] + b_eta))
            rho = torch.sigmoid(a_rho + (self.gate_shift[1] + b_rho))
        return eta, rho

    def surprise_gates(self, y: Tensor, surprise: Tensor) -> tuple[Tensor, Tensor]:
        """Gates that also see the memory's surprise s (..., n) of the token (``surprise_gates``):
        ``w log(s + 1e-3)`` added to the eta and rho logits, w = ``gate_surprise`` (2,)."""
        assert self.gate_surprise is not None
        ls = torch.log(surprise + 1e-3)                               # (..., n)
        return self._gates(y[..., 3, 0, :] + self.gate_surprise[0] * ls,
                           y[..., 4, 0, :] + self.gate_surprise[1] * ls)

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor | None]:
        """Reads with the chunk-start states: o, k, v (..., d, n), eta, rho (..., n) and the
        bank's outputs (..., B, d, n) that made them (None for lmm)."""
        B = len(self.names)
        q = _normalize(self.w_q @ x)                                 # (d, n)
        if B == 1:  # Titans LMM: fixed projections; q is read in ``read`` with k and v
            eta, rho = self.gates(x)
            kv = self.w_kv @ x                                       # (2, d, n)
            return q, _normalize(kv[0]), kv[1], eta, rho, None
        if self.w_mem_in is None:
            inp = torch.stack([q] + [x] * (B - 1), -3)               # (..., B, d, n)
        else:  # meta-learned inputs: k from the past token, v from the present, ...
            inp = torch.cat([q.unsqueeze(-3), self.w_mem_in @ x.unsqueeze(-3)], -3)
        y, _ = self.bank.forward(inp, slope=False)                   # (..., B, d, n)
        eta, rho = self.gates(y)
        return y[..., 0, :, :], _normalize(y[..., 1, :, :]), y[..., 2, :, :], eta, rho, y

    def read(self, x: Tensor) -> TitansRead:
        """Tokens x (d, n): outputs, surprise and gradient factors at the current state."""
        bank, cfg = self.bank, self.cfg
        B, n = len(self.names), x.shape[-1]
        o, k, v, eta, rho, y_in = self.project(x)
        if B == 1:  # Titans LMM: one forward reads q and stores k; the target is v itself
            y, cache = bank.forward(torch.cat([k, o], -1).unsqueeze(-3))  # (..., 1, d, 2n)
            return self._read_lmm(y[..., 0, :, n:], k, v, eta, rho, y[..., :n], cache)
        kv = torch.cat([k, v], dim=-1).unsqueeze(-3)                 # (..., 1, d, 2n)
        kv = kv.expand(kv.shape[:-3] + (B,) + kv.shape[-2:])         # (..., B, d, 2n)
        y, cache = bank.forward(kv)                                  # (..., B, d, 2n)
        pred, target = y[..., :n], y[..., n:]                        # (..., B, d, n) each
        own = None  # (B, 1, 1): 1 where a memory's target is its own output M_b(v)
        if cfg.memory_target == "value":   # the memory stores v itself (Titans eq. 12)
            target = torch.cat([v.unsqueeze(-3), target[..., 1:, :, :]], -3)
            own = torch.ones(B, 1, 1, dtype=v.dtype, device=v.device)
            own[0] = 0.0
        err = (pred - target) * bank.out_mask                        # (..., B, d, n)
        surprise = 0.5 * err.square().sum(-2)                        # (..., B, n)  O1
        if self.gate_surprise is not None and cfg.gates == "adaptive" and y_in is not None:
            eta, rho = self.surprise_gates(y_in, surprise[..., 0, :])
        kb, vb = kv[..., :n], kv[..., n:]
        k1, v1 = k.unsqueeze(-3), v.unsqueeze(-3)                    # (..., 1, d, n)
        # gradient of weight W = sum over pairs and tokens of left_t right_t^T
        if bank.w1 is None:
            if cfg.stop_grad_target:
                factors = [[(err, kb)]]
                gnorm = err.norm(dim=-2) * k1.norm(dim=-2)
            else:  # ambiguity 10 off: the gradient also flows through the target W v
                if own is not None:
                    vb, v1 = vb * own, v1 * own
                factors = [[(err, kb), (-err, vb)]]
                gnorm = _two_rank1_norm(err, k1, -err, v1)
        else:
            delta = mlp_grad_factors(bank.w1, cache, torch.cat([err, err], -1))  # (B, h, 2n)
            a_k, a_v = cache.a[..., :n], cache.a[..., n:]
            d_k, d_v = delta[..., :n], delta[..., n:]
            if cfg.stop_grad_target:
                factors = [[(err, a_k)], [(d_k, kb)]]
                gnorm = grad_norm_mlp(err, a_k, d_k, kb)
            else:
                if own is not None:  # no gradient through a target that is v itself
                    a_v, d_v, vb, v1 = a_v * own, d_v * own, vb * own, v1 * own
                factors = [[(err, a_k - a_v)], [(d_k, kb), (-d_v, vb)]]
                g1n = err.norm(dim=-2) * (a_k - a_v).norm(dim=-2)
                g2n = _two_rank1_norm(d_k, k1, -d_v, v1)
                gnorm = (g1n.square() + g2n.square()).sqrt()
        factors = self._clip(factors, gnorm)
        e = _per_token(eta)                                          # (..., 1, 1, n)
        if cfg.self_lr != 1.0:  # k, v, eta, alpha memories learn at self_lr times eta
            rate = torch.full((B, 1, 1), cfg.self_lr, dtype=eta.dtype, device=eta.device)
            rate[0] = 1.0
            factors = [[(lf * rate, r) for lf, r in pairs] for pairs in factors]
            e = e * rate                                             # (..., B, 1, n)
        if cfg.proximal:  # DGD proximal step: eta' = eta / (1 + eta |input|^2), per layer
            factors = [[(lf / (1 + e * sum(r.square().sum(-2, keepdim=True) for _, r in pairs)), r)
                        for lf, r in pairs] for pairs in factors]
        return TitansRead(o, k, target, eta, rho, surprise, gnorm, factors)

    def _clip(self, factors: list[list[tuple[Tensor, Tensor]]], gnorm: Tensor
              ) -> list[list[tuple[Tensor, Tensor]]]:
        """Each memory's per-token gradient scaled to norm at most ``grad_clip`` (gnorm
        (..., B, n)); the scale is a constant to the outer gradient (sqrt has no slope at 0)."""
        clip = self.cfg.grad_clip
        if clip <= 0:
            return factors
        scale = (clip / gnorm.detach().clamp_min(clip)).unsqueeze(-2)   # (..., B, 1, n)
        return [[(lf * scale, r) for lf, r in pairs] for pairs in factors]

    def _read_lmm(self, o: Tensor, k: Tensor, v: Tensor, eta: Tensor, rho: Tensor,
                  pred: Tensor, cache: MLPCache) -> TitansRead:
        """Titans eq. 12-14: one memory learning k -> v with fixed projections."""
        n, bank = k.shape[-1], self.bank
        err = pred - v.unsqueeze(-3)                                 # (..., 1, d, n)
        kb = k.unsqueeze(-3)
        if bank.w1 is None:
            factors = [[(err, kb)]]
            gnorm = err.norm(dim=-2) * kb.norm(dim=-2)
        else:
            a_k = cache.a[..., :n]
            d_k = mlp_grad_factors(bank.w1, MLPCache(kb, a_k, cache.da[..., :n]), err)
            factors = [[(err, a_k)], [(d_k, kb)]]
            gnorm = grad_norm_mlp(err, a_k, d_k, kb)
        factors = self._clip(factors, gnorm)
        if self.cfg.proximal:
            e = _per_token(eta)
            factors = [[(lf / (1 + e * r.square().sum(-2, keepdim=True)), r) for lf, r in pairs]
                       for pairs in factors]
        return TitansRead(o, k, v.unsqueeze(-3), eta, rho, 0.5 * err.square().sum(-2), gnorm,
                          factors)

    def write(self, reads: list[TitansRead]) -> tuple[Tensor, Tensor]:
        """Apply one chunk (the reads of all its pieces). Returns (||dW||, ||dW||/||W||),
        (..., B) each. Out of place: the new weights and momenta are new tensors, so
        autograd can differentiate through a whole sequence of writes."""
        if len(reads) == 1:
            r = reads[0]
            eta, rho, factors = r.eta, r.rho, r.factors
        else:
            eta = torch.cat([r.eta for r in reads], -1)
            rho = torch.cat([r.rho for r in reads], -1)
            factors = [[(torch.cat([r.factors[i][j][0] for r in reads], -1),
                         torch.cat([r.factors[i][j][1] for r in reads], -1))
                        for j in range(len(reads[0].factors[i]))]
                       for i in range(len(reads[0].factors))]
        if self.cfg.update_rule == "literal93":
            deltas = self._deltas_literal93(factors, reads, eta, rho)
        else:
            deltas = self._deltas_delta(factors, eta, rho)
        upd = _norm(deltas)                                          # (..., B)  O4
        rel = upd / self.w_norm.clamp_min(1e-12)
        self.bank.set_params([w + dw for w, dw in zip(self.bank.params(), deltas)])
        self.last_update = deltas[-1]
        self.w_norm = _norm(self.bank.params())
        return upd, rel

    def state_metrics(self) -> tuple[Tensor, Tensor]:
        """(||S||, ||W - W0|| / ||W0||) per memory, (B,) each: as of the last refresh."""
        return self._diag if self._diag is not None else self.refresh_diag()

    def refresh_diag(self) -> tuple[Tensor, Tensor]:
        """Recompute the state diagnostics (O3 momentum norm, O9 drift from the initial
        state) and return them; between refreshes (``diag_every`` steps) they are held."""
        drift = _norm([w - w0 for w, w0 in zip(self.bank.params(), self.init)])
        drift = drift / self.init_norm.clamp_min(1e-12)
        mom = _norm(self.mom) if self.momentum_on else torch.zeros_like(drift)
        self._diag = (mom, drift)
        return self._diag

    def _deltas_delta(self, factors: list[list[tuple[Tensor, Tensor]]], eta: Tensor,
                      rho: Tensor) -> list[Tensor]:
        """Weight changes of the delta rule over the chunk, in closed form (no per-token
        weights materialised); sets the new momenta. eta, rho (..., n)."""
        n = eta.shape[-1]
        deltas, moms = [], []
        params = self.bank.params()
        if self.cfg.decay_to == "init":  # retention pulls towards W0, not towards zero
            params = [w - w0 for w, w0 in zip(params, self.init)]
        if n == 1:  # exact online rule, the hot path of per-token mode
            beta = self._hp("beta")
            neg_eta = -_per_token(eta)                                # (..., 1, 1, 1)
            decay = _per_token(rho) - 1                               # (..., 1, 1, 1)
            for w, s, pairs in zip(params, self.mom, factors):
                if self.momentum_on:  # S = beta S - eta g;  dW = (rho - 1) W + S
                    for j, (left, right) in enumerate(pairs):
                        s = _baddbmm(s, left * neg_eta, right, beta if j == 0 else 1)
                    moms.append(s)
                    deltas.append(torch.addcmul(s, w, decay))
                else:         # dW = (rho - 1) W - eta g
                    dw = w * decay
                    for left, right in pairs:
                        dw = _baddbmm(dw, left * neg_eta, right, 1)
                    moms.append(s)
                    deltas.append(dw)
            self.mom = moms
            return deltas
        beta = self.cfg.momentum
        c = chunk_coefficients(eta, rho, beta)
        w0, s0 = (_per_matrix(t) for t in (c.w0, c.s0))             # (..., 1, 1, 1)
        neg_gw, neg_sw = -_per_token(c.gw), -_per_token(c.sw)         # (..., 1, 1, n)
        for w, s, pairs in zip(params, self.mom, factors):
            dw = w * (w0 - 1)
            for left, right in pairs:
                dw = _baddbmm(dw, left * neg_gw, right, 1)
            if beta > 0:
                dw = torch.addcmul(dw, s, s0)
                for j, (left, right) in enumerate(pairs):
                    s = _baddbmm(s, left * neg_sw, right, beta ** n if j == 0 else 1)
            moms.append(s)
            deltas.append(dw)
        self.mom = moms
        return deltas

    def _deltas_literal93(self, factors: list[list[tuple[Tensor, Tensor]]],
                          reads: list[TitansRead], eta: Tensor, rho: Tensor) -> list[Tensor]:
        """Eq. 93 read literally: token loop with the extra ``-eta W2 k k^T`` on the key layer
        (out of place, any leading run axes; retention towards ``decay_to``)."""
        beta, n = self.cfg.momentum, eta.shape[-1]
        k = torch.cat([r.k for r in reads], -1).unsqueeze(-3)         # (..., 1, d, n)
        old = self.bank.params()
        params, moms = list(old), list(self.mom)
        to_init = self.cfg.decay_to == "init"
        for t in range(n):
            kt = k[..., t:t + 1]                                      # (..., 1, d, 1)
            e, r_t = _per_matrix(eta[..., t]), _per_matrix(rho[..., t])  # (..., 1, 1, 1)
            for i, pairs in enumerate(factors):
                g = sum(lf[..., t:t + 1] @ r[..., t:t + 1].mT for lf, r in pairs)
                if beta > 0:
                    moms[i] = beta * moms[i] - e * g
                    step = moms[i]
                else:
                    step = -e * g
                w = self.init[i] + r_t * (params[i] - self.init[i]) if to_init \
                    else r_t * params[i]
                if i == len(params) - 1:  # the layer whose input is k (ambiguity 8)
                    w = w - e * (params[i] @ kt) @ kt.mT
                params[i] = w + step
        self.mom = moms
        return [p - o for p, o in zip(params, old)]


def _norm(ts: list[Tensor]) -> Tensor:
    """Frobenius norm over several (..., B, r, c) tensors taken together: (..., B)."""
    out = torch.linalg.vector_norm(ts[0], dim=(-2, -1))
    for t in ts[1:]:
        out = torch.hypot(out, torch.linalg.vector_norm(t, dim=(-2, -1)))
    return out


def _per_token(t: Tensor) -> Tensor:
    """Per-token values (..., n) as (..., 1, 1, n): one per column of every memory's factor."""
    return t.reshape(t.shape[:-1] + (1, 1, t.shape[-1]))


def _per_matrix(t: Tensor) -> Tensor:
    """One value per run (...) as (..., 1, 1, 1): scales every memory's weight matrix."""
    return t.reshape(t.shape + (1, 1, 1))


def _baddbmm(acc: Tensor, left: Tensor, right: Tensor, beta: Tensor | float) -> Tensor:
    """``beta acc + left @ right^T`` for (..., B, r, c) acc, (..., B, r, n) left and
    (..., B, c, n) right, out of place; one fused kernel over the flattened leading axes
    (a tensor beta, the fast path's live momentum, scales acc first)."""
    if isinstance(beta, Tensor):
        acc, beta = acc * beta, 1
    if acc.dim() == 3 and left.dim() == 3 and right.dim() == 3:
        return torch.baddbmm(acc, left, right.transpose(-1, -2), beta=beta)
    lead = torch.broadcast_shapes(acc.shape[:-2], left.shape[:-2], right.shape[:-2])
    a = acc.expand(lead + acc.shape[-2:]).reshape(-1, *acc.shape[-2:])
    lf = left.expand(lead + left.shape[-2:]).reshape(-1, *left.shape[-2:])
    rt = right.expand(lead + right.shape[-2:]).reshape(-1, *right.shape[-2:])
    return torch.baddbmm(a, lf, rt.transpose(-1, -2), beta=beta).reshape(lead + acc.shape[-2:])


def _two_rank1_norm(a: Tensor, b: Tensor, c: Tensor, e: Tensor) -> Tensor:
    """||a b^T + c e^T||_F per token for a, c (..., B, r, n) and b, e (..., B or 1, d, n)."""
    ab = a.square().sum(-2) * b.square().sum(-2)
    ce = c.square().sum(-2) * e.square().sum(-2)
    cross = 2 * (a * c).sum(-2) * (b * e).sum(-2)
    return (ab + ce + cross).clamp_min(0).sqrt()


