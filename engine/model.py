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

The memories themselves live in ``engine/titans.py`` and ``engine/cms.py``; this file
assembles them into the block and runs a chunk through it.
"""
from __future__ import annotations

import torch
from torch import Tensor

from engine.cms import ContinuumMemory
from engine.config import ModelConfig
from engine.frames import LEVEL_METRICS, METRIC_INDEX
from engine.memory import MLPCache, restored, state_prefix
from engine.titans import LMM_LEVELS, TITANS_LEVELS, SelfModifyingTitans, TitansRead

N_METRICS = len(LEVEL_METRICS)
_M = METRIC_INDEX

__all__ = ["HOPE", "LMM_LEVELS", "TITANS_LEVELS", "TitansRead"]


# ------------------------------------------------------------------------------ the model
class HOPE:
    """The assembled block: ``x -> W_in -> self-modifying Titans -> CMS -> W_out``.

    ``step(x_raw)`` consumes a chunk of stream vectors (n, d_in) and returns
    ``(metrics (n, L, M), scalars (n, G), extras)`` on the model's device.
    """

    def __init__(self, cfg: ModelConfig, seed: int, device: torch.device,
                 weights: dict[str, Tensor] | None = None) -> None:
        self.cfg = cfg
        self.device = device
        self.dtype = torch.float64 if cfg.dtype == "float64" else torch.float32
        gen = torch.Generator().manual_seed(seed)
        width = cfg.d_in * cfg.context                                # what W_in reads
        w_in = torch.linalg.qr(torch.randn(max(cfg.d, width), min(cfg.d, width),
                                           generator=gen, dtype=torch.float64))[0]
        w_in = w_in if cfg.d >= width else w_in.T                     # (d, d_in * context)
        self.w_in = w_in.to(self.dtype).to(device)
        self.w_out = self.w_in[:, :cfg.d_in].T.contiguous()           # (d_in, d) readout
        self.titans = SelfModifyingTitans(cfg.titans, cfg.d, gen, self.dtype, device)
        self.cms = ContinuumMemory(cfg.cms, cfg.d, gen, self.dtype, device)
        self.prev_o: Tensor | None = None                             # (d, 1) for next_step
        self.prev_x = self.w_in.new_zeros(cfg.context - 1, cfg.d_in)  # (context-1, d_in)
        self.pending: list[TitansRead] = []                           # reads of the open chunk
        self.cms_io: list[list[Tensor]] = []   # per span: Lc+1 views (d, m), no copy made
        self.count = 0                                                # steps processed
        if weights is not None:
            self.start_from(weights)

    # ---- the slowest level: weights learned across sequences (nlviz train) ------------
    def slow_weights(self) -> dict[str, Tensor]:
        """What the outer loop learns, by name (references): ``w_in``, ``w_out``,
        ``titans/<w_q | w_kv | w1_0 | w2_0 | gate_shift>`` and ``cms<i>/<w1_0 | w2_0>``.
        A checkpoint stores exactly these; the inner state starts from them."""
        out = {"w_in": self.w_in, "w_out": self.w_out}
        out.update({f"titans/{k}": v for k, v in self.titans.slow_weights().items()})
        for i, lv in enumerate(self.cms.levels):
            out[f"cms{i}/w1_0"], out[f"cms{i}/w2_0"] = lv.init
        return out

    def start_from(self, weights: dict[str, Tensor], batch: int | None = None) -> None:
        """Start a fresh inner state (step 0) from slow weights named as ``slow_weights``.

        The tensors are used as given (moved to this model's device and dtype only when
        they are not there already), so a training step's autograd graph reaches them.
        ``batch`` adds a leading axis of that many independent runs: every state tensor
        then has shape (batch, ...) and ``step`` takes (batch, n, d_in). With ``batch``, a
        weight may also carry that axis itself (batch, ...): one starting value per run
        (seeds with random weights, ``engine.seeds``), except ``titans/gate_shift``,
        ``titans/gate_surprise`` and ``titans/w_kv``, which stay shared.
        """
        template = self.slow_weights()
        missing = sorted(set(template) - set(weights))
        if missing:
            raise KeyError(f"slow weights: {missing[0]} is missing")
        w = {k: weights[k].to(device=self.device, dtype=self.dtype) for k in template}
        lead = () if batch is None else (batch,)
        for k, v in w.items():   # shared by every run, or (batch only) one per run
            per_run = bool(lead) and k not in ("titans/gate_shift", "titans/gate_surprise",
                                               "titans/w_kv")
            if v.shape != template[k].shape and (not per_run or v.shape != lead + template[k].shape):
                raise ValueError(f"slow weights: {k} has shape {tuple(v.shape)}, expected "
                                 f"{tuple(template[k].shape)}")
        self.w_in, self.w_out = w["w_in"], w["w_out"]
        self.titans.start_from({k[7:]: v for k, v in w.items() if k.startswith("titans/")},
                               lead)
        for i, lv in enumerate(self.cms.levels):
            lv.start_from(w[f"cms{i}/w1_0"], w[f"cms{i}/w2_0"], lead)
        self.cms.refresh_state()
        self.prev_o = None
        self.prev_x = self.w_in.new_zeros(lead + (self.cfg.context - 1, self.cfg.d_in))
        self.pending, self.cms_io, self.count = [], [], 0

    @property
    def level_names(self) -> tuple[str, ...]:
        return self.titans.names + tuple(f"cms{i + 1}" for i in range(len(self.cms.levels)))

    @property
    def update_periods(self) -> tuple[int, ...]:
        return (self.cfg.titans.chunk_size,) * len(self.titans.names) + \
            tuple(lv.period for lv in self.cms.levels)

    def state_dict(self) -> dict[str, Tensor]:
        """The model's state as named tensors (references, not copies): ``titans/<name>``,
        ``cms<i>/<name>`` and ``prev_o`` (the last block output, (d, 1); NaN before the
        first step). Only at a Titans chunk boundary (``pending`` empty); ``count`` is
        kept by the caller. Everything else is fixed by the config and the seed."""
        if self.pending:
            raise RuntimeError("state is only taken at a Titans chunk boundary")
        out = {f"titans/{k}": v for k, v in self.titans.state_dict().items()}
        out.update(self.cms.state_dict())
        out["prev_o"] = self.prev_o if self.prev_o is not None else torch.full(
            (self.cfg.d, 1), float("nan"), dtype=self.dtype, device=self.device)
        if self.cfg.context > 1:
            out["prev_x"] = self.prev_x
        return out

    def load_state_dict(self, state: dict[str, Tensor], count: int) -> None:
        """Restore a ``state_dict`` taken after ``count`` steps (copies, moved to this
        model's device and dtype).

        Raises
        ------
        KeyError : a tensor is missing. ValueError : a tensor has another shape.
        """
        with state_prefix("titans/"):
            self.titans.load_state_dict({k[7:]: v for k, v in state.items()
                                         if k.startswith("titans/")})
        self.cms.load_state_dict(state)
        prev = restored(state, "prev_o", torch.empty(self.cfg.d, 1, dtype=self.dtype,
                                                     device=self.device))
        self.prev_o = None if torch.isnan(prev).all() else prev
        if self.cfg.context > 1:
            self.prev_x = restored(state, "prev_x", self.prev_x)
        self.count = int(count)
        self.pending = []

    def detach_state(self) -> None:
        """Cut the autograd graph behind the inner state (truncated BPTT): the values stay,
        the slow weights it started from stay attached."""
        if self.pending:
            raise RuntimeError("the state is only cut at a Titans chunk boundary")
        self.titans.detach_state()
        for lv in self.cms.levels:
            lv.detach_state()
        self.cms.refresh_state()
        self.prev_o = None if self.prev_o is None else self.prev_o.detach()
        self.prev_x = self.prev_x.detach()

    def set_hyper(self, cfg: ModelConfig) -> None:
        """Apply a config that differs only in live parameters (``LIVE_PARAMS``)."""
        self.titans.set_hyper(cfg.titans)
        self.cms.set_hyper(cfg.cms)
        self.cfg = cfg

    def chunk_room(self) -> int:
        """Tokens left until the current Titans chunk is complete."""
        c = self.cfg.titans.chunk_size
        return c - self.count % c

    def step(self, x_raw: Tensor) -> tuple[Tensor, Tensor, TitansRead, Tensor]:
        """Process n tokens x_raw (..., n, d_in), n <= ``chunk_room()``; leading axes are
        independent runs (see ``start_from``).

        Titans reads use the chunk-start state; the chunk is written when its last token
        arrives, so cutting a chunk across calls changes nothing. Returns metrics
        (..., n, L, M), scalars (..., n, 2) [outer loss, output norm], the Titans read and
        the block output y (..., d, n); the block's prediction of x_{t+1} is ``w_out @ y``.
        Every new state is a new tensor, so autograd can run back through many steps.
        """
        n = x_raw.shape[-2]
        assert n <= self.chunk_room(), "a step may not cross a Titans chunk boundary"
        x = self.w_in @ self._with_context(x_raw).mT                  # (..., d, n)
        self.cms_io = []                                              # this call's CMS inputs
        read = self.titans.read(x)
        self.pending.append(read)
        u = x + read.o if self.cfg.residual else read.o               # (..., d, n) CMS input
        y, cms_metrics, scalars = self._cms(u, x_raw.mT)
        self.count += n
        shape = read.surprise.shape                                   # (..., B, n)
        zeros = read.surprise.new_zeros(shape)
        upd = rel = zeros
        w_norm = self.titans.w_norm[..., None]                        # (..., B, 1)
        if self.count % self.cfg.titans.chunk_size == 0:
            # rows before the chunk's last token show the state before its write (causal)
            before = self.titans.state_metrics() if n > 1 else None
            w_before = self.titans.w_norm
            u_norm, r = self.titans.write(self.pending)
            self.pending = []
            every = self.titans.diag_every
            if every <= 1 or self.count // every > (self.count - n) // every:
                self.titans.refresh_diag()
            mom, drift = self.titans.state_metrics()
            if n == 1:
                upd, rel = u_norm[..., None], r[..., None]
                mom, drift = mom[..., None], drift[..., None]
            else:                                                     # (..., B, n): last token
                assert before is not None
                upd = torch.cat([zeros[..., 1:], u_norm[..., None]], -1)
                rel = torch.cat([zeros[..., 1:], r[..., None]], -1)
                held = shape[:-1] + (n - 1,)
                mom = torch.cat([before[0][..., None].expand(held), mom[..., None]], -1)
                drift = torch.cat([before[1][..., None].expand(held), drift[..., None]], -1)
            w_norm = self.titans.w_norm[..., None] if n == 1 else torch.cat(
                [w_before[..., None].expand(held), self.titans.w_norm[..., None]], -1)
        else:
            mom, drift = (t[..., None] for t in self.titans.state_metrics())
        cols = [read.surprise, read.grad_norm, upd, rel, read.rho.unsqueeze(-2).expand(shape),
                read.eta.unsqueeze(-2).expand(shape), mom.expand(shape), drift.expand(shape),
                w_norm.expand(shape), self._titans_contribution(read.o, y, shape)]
        tm = torch.stack(cols, -1).transpose(-3, -2)                  # (..., n, B, M)
        return torch.cat([tm, cms_metrics], dim=-2), scalars, read, y

    @staticmethod
    def _titans_contribution(o: Tensor, y: Tensor, shape: torch.Size) -> Tensor:
        """(..., B, n): ||o_t|| / ||y_t|| on the memory's row (what it adds to the residual
        stream), 0 on the k, v, eta, alpha rows (they steer the memory and add nothing; the
        session reports NaN there, so the model's metrics stay finite)."""
        ratio = o.norm(dim=-2) / y.norm(dim=-2).clamp_min(1e-12)     # (..., n)
        if shape[-2] == 1:
            return ratio.unsqueeze(-2)
        return torch.cat([ratio.unsqueeze(-2), ratio.new_zeros(shape[:-2] + (shape[-2] - 1,)
                                                                + shape[-1:])], -2)

    def _with_context(self, x_raw: Tensor) -> Tensor:
        """x_raw (..., n, d_in) -> (..., n, d_in * context): each token beside the ones
        before it, newest first (zeros before the first token)."""
        c = self.cfg.context
        if c == 1:
            return x_raw
        n = x_raw.shape[-2]
        hist = torch.cat([self.prev_x.expand(x_raw.shape[:-2] + self.prev_x.shape[-2:]),
                          x_raw], -2)                                 # (..., n + c - 1, d_in)
        self.prev_x = hist[..., n:, :]
        return torch.cat([hist[..., c - 1 - j:c - 1 - j + n, :] for j in range(c)], -1)

    def _cms(self, o: Tensor, x_raw: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """CMS over a chunk o (..., d, n), split at the steps where some level fires."""
        n, levels = o.shape[-1], self.cms.levels
        Lc = len(levels)
        metrics = o.new_zeros(o.shape[:-2] + (n, Lc, N_METRICS))
        scalars = o.new_zeros(o.shape[:-2] + (n, 2))
        ys = []
        start = 0
        while start < n:
            end = self._next_event(start, n)
            y, m, s = self._cms_span(o[..., start:end], x_raw[..., start:end], start)
            metrics[..., start:end, :, :] = m
            if Lc:
                metrics[..., start:end, :, :] += self.cms.state_cols.unsqueeze(-3)
            scalars[..., start:end, :] = s
            ys.append(y)
            fired = False
            for j, lv in enumerate(levels):
                if (self.count + end) % lv.period == 0:
                    upd, rel = lv.fire()
                    metrics[..., end - 1, j, _M["update_norm"]] = upd.detach()
                    metrics[..., end - 1, j, _M["update_rel"]] = rel.detach()
                    fired = True
            if fired:  # drift changes only at events: the firing row shows the new value
                old = self.cms.state_cols
                self.cms.refresh_state()
                metrics[..., end - 1, :, :] += self.cms.state_cols - old
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
        """Tokens with unchanged CMS weights: o (..., d, m), targets x_raw (..., d_in, m)."""
        m = o.shape[-1]
        if self.cms.cfg.objective == "next_step":
            prev = self.prev_o if self.prev_o is not None else torch.zeros_like(o[..., :1])
            loss_in = torch.cat([prev, o[..., :-1]], -1)              # (..., d, m): o_{t-1}
            valid = o.new_ones(m)
            if self.prev_o is None and self.count + offset == 0:
                valid[0] = 0.0
            cols = torch.cat([loss_in, o], -1)                        # (..., d, 2m)
            y_all, caches = self.cms.forward(cols)
            y_loss, y = y_all[..., :m], y_all[..., m:]
            loss_caches = [MLPCache(c.x[..., :m], c.a[..., :m], c.da[..., :m]) for c in caches]
            level_in = [c.x[..., m:] for c in caches]
            self.prev_o = o[..., -1:]
        else:
            y, caches = self.cms.forward(o)
            y_loss, loss_caches, valid = y, caches, o.new_ones(m)
            level_in = [c.x for c in caches]
        if level_in:  # each level's input and output per token, at the weights that made them
            self.cms_io.append(level_in + [y])    # views; stacked only if a probe takes them
        err = (self.w_out @ y_loss - x_raw) * valid                   # (..., d_in, m)
        dy = self.w_out.mT @ err                                      # (..., d, m)
        surprise, gnorm = self.cms.accumulate(loss_caches, dy)        # (Lc, ..., m) each
        metrics = torch.nn.functional.pad(
            torch.stack([surprise.movedim(0, -1), gnorm.movedim(0, -1)], -1),
            (0, N_METRICS - 2))                                       # (..., m, Lc, M)
        if level_in:  # ||f_l(u) - u|| / ||y||: the level's residual branch, per token
            io = torch.stack(level_in + [y])                          # (Lc + 1, ..., d, m)
            added = (io[1:] - io[:-1]).norm(dim=-2)                   # (Lc, ..., m)
            contrib = added / y.norm(dim=-2).clamp_min(1e-12)
            metrics[..., _M["contribution"]] = contrib.movedim(0, -1)
        scalars = torch.stack([0.5 * err.square().sum(-2), y.norm(dim=-2)], -1)  # (..., m, 2)
        return y, metrics, scalars
