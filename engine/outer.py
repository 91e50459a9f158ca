"""The outermost level of nesting: the slow weights (initial states of every memory, the
projections, the gate offsets) learned across sequences by backprop through the inner loop.

One outer step runs a batch of episodes (one per slot) for ``segment`` tokens through the
same ``HOPE.step`` the live app runs, from the state the previous segment left (truncated
BPTT: the state is carried, its graph cut), takes the masked prediction loss, and makes
one AdamW step. Every ``segments`` outer steps each slot starts a new episode from the
slow weights. With ``torch.distributed`` initialised the slots are spread over the
processes and the gradients summed, so N processes give the parameters one process gives
with the same global batch.

Shape legend: b episodes in this process, T tokens per segment, d_in stream width.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from engine.config import (
    MAX_PERIOD,
    MAX_SEED,
    ConfigError,
    ModelConfig,
    _choice,
    _in_range,
    _int_in,
    _positive_int,
)
from engine.model import HOPE
from engine.tasks import DEFAULT_MIXTURE, TASKS, Episode, check_mixture, draw_episode

GROUPS = ("projections", "titans_init", "gates", "cms_init")
GATE_STATS = ("eta_mean", "eta_cv", "rho_mean", "rho_std", "norm_ratio_min")
GATE_INIT_GAIN = 10.0   # wired start: the eta/alpha memories' output layer, times this


@dataclass(frozen=True)
class TrainConfig:
    """How the outer loop trains.

    Attributes
    ----------
    steps : outer steps (AdamW updates) in all.
    batch : episodes per outer step, over all processes (the global batch).
    segment : tokens per outer step and episode (the truncated-BPTT window).
    segments : outer steps an episode lasts before its slot draws a new one.
    chunk : Titans chunk size while training (the live engine may use another).
    lr, weight_decay, clip, warmup : AdamW's rate (cosine-decayed to 10 % after
        ``warmup`` linear steps), its decoupled weight decay and the gradient-norm clip.
    seed : seeds the episodes; the starting slow weights come from ``init_seed``.
    eval_every, eval_episodes : held-out evaluation period (outer steps) and episodes
        per task (each ``segment * segments`` tokens, no gradient).
    tasks : the task mixture (name -> weight).
    init : where the slow weights start: ``"random"`` (the seed's random model) or
        ``"wired"`` (``wired_weights``: the input reads the token and the one before it,
        queries and values the present token, keys the past one, the readout copies the
        present token; every memory starts near the identity, the eta and alpha memories'
        output layers ``GATE_INIT_GAIN`` times larger so that the gates vary from the start).
    """

    steps: int = 600
    batch: int = 16
    segment: int = 32
    segments: int = 16
    chunk: int = 4
    lr: float = 3e-3
    weight_decay: float = 0.0
    clip: float = 1.0
    warmup: int = 20
    seed: int = 0
    init_seed: int = 0
    eval_every: int = 50
    eval_episodes: int = 2
    tasks: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIXTURE))
    init: str = "random"

    def validate(self) -> TrainConfig:
        """Self, or a ``ConfigError`` naming ``train.<field>`` and its value."""
        for name in ("steps", "batch", "segment", "segments", "chunk", "eval_every",
                     "eval_episodes"):
            _positive_int(getattr(self, name), f"train.{name}", MAX_PERIOD)
        _int_in(self.warmup, "train.warmup", 0, MAX_PERIOD)
        _int_in(self.seed, "train.seed", 0, MAX_SEED)
        _int_in(self.init_seed, "train.init_seed", 0, MAX_SEED)
        if self.segment % self.chunk:
            raise ConfigError(f"train.segment: {self.segment} must be a multiple of "
                              f"train.chunk ({self.chunk})")
        for name in ("lr", "weight_decay", "clip"):
            _in_range(getattr(self, name), 0.0, 100.0, f"train.{name}")
        _choice(self.init, ("random", "wired"), "train.init")
        try:
            check_mixture(self.tasks)
        except ValueError as exc:
            raise ConfigError(f"train.{exc}") from None
        return self


def training_model_config(model: ModelConfig, chunk: int) -> ModelConfig:
    """The model as trained: the same, with the training chunk size."""
    from dataclasses import replace
    return replace(model, titans=replace(model.titans, chunk_size=chunk))


def param_group(name: str) -> str:
    """The parameter group a slow weight belongs to (for gradient norms)."""
    if name.startswith("cms"):
        return "cms_init"
    if name.endswith(("w1_0", "w2_0")):
        return "titans_init"
    if name.endswith("gate_shift"):
        return "gates"
    return "projections"


@dataclass(frozen=True)
class StepStats:
    """What one outer step measured (plain floats, global over every process)."""

    step: int
    loss: tuple[float, ...]      # per task in TASKS order; NaN if no episode of it
    total: float
    grad_norm: tuple[float, ...]  # per GROUPS, before clipping
    gates: tuple[float, ...]      # per GATE_STATS
    lr: float
    tokens: int                   # tokens processed so far, all processes
    skipped: int = 0              # outer steps skipped so far for a non-finite loss


class OuterLoop:
    """AdamW over ``HOPE.slow_weights()`` through ``HOPE.step`` on batches of episodes."""

    def __init__(self, model_cfg: ModelConfig, cfg: TrainConfig, device: torch.device,
                 weights: dict[str, Tensor] | None = None, rank: int = 0, world: int = 1) -> None:
        self.cfg = cfg.validate()
        self.mixture = check_mixture(cfg.tasks)
        self.model_cfg = training_model_config(model_cfg, cfg.chunk)
        self.device, self.rank, self.world = device, rank, world
        self.model = HOPE(self.model_cfg, cfg.init_seed, device)
        start = weights if weights is not None else self.model.slow_weights()
        if weights is None and cfg.init == "wired":
            start = wired_weights(self.model_cfg, start)
        self.params = {k: v.detach().clone().to(device=device, dtype=self.model.dtype)
                       .requires_grad_(True) for k, v in start.items()}
        self.opt = torch.optim.AdamW(list(self.params.values()), lr=cfg.lr,
                                     weight_decay=cfg.weight_decay)
        self.slots = list(range(rank, cfg.batch, world))              # global slot indices
        self.step_count = 0
        self.tokens = 0
        self.round, self.seg = 0, 0          # episode round, segment within it
        self.skipped = 0
        self.episodes: list[Episode] = []

    # ---- schedule ------------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        """Linear warmup, then cosine decay to 10 % of ``cfg.lr`` at the last step."""
        c = self.cfg
        if step < c.warmup:
            return c.lr * (step + 1) / c.warmup
        frac = (step - c.warmup) / max(1, c.steps - c.warmup)
        return c.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * min(frac, 1.0))))

    # ---- one outer step ------------------------------------------------------------
    def step(self) -> StepStats:
        """One AdamW step on the next segment of every slot's episode."""
        c = self.cfg
        seg = self.seg
        if seg == 0:   # a new round: new episodes, state from the slow weights
            length = c.segment * c.segments
            self.episodes = [draw_episode(self.mixture, self.model_cfg.d_in, length, c.seed,
                                          self.round, slot) for slot in self.slots]
            self.model.start_from(self.params, batch=len(self.slots))
        else:          # carry the state, cut its graph (truncated BPTT)
            self.model.detach_state()
        lo, hi = seg * c.segment, (seg + 1) * c.segment
        x = self._batch([e.x[lo:hi] for e in self.episodes])           # (b, T, d_in)
        target = self._batch([e.target[lo:hi] for e in self.episodes])
        mask = self._batch([e.mask[lo:hi] for e in self.episodes])     # (b, T)
        pred, gates = self._run(x)                                     # (b, T, d_in)
        per_ep = self._episode_loss(pred, target, mask)                # (b,)
        loss = per_ep.sum() / c.batch                                  # mean over global batch
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self._all_reduce_grads()
        norms = self._group_norms()
        lr = self.lr_at(self.step_count)
        finite = all(math.isfinite(v) for v in norms) and bool(torch.isfinite(loss))
        if self.world > 1:  # every process must take the same decision
            finite = bool(self._sum(torch.tensor(float(not finite))) == 0)
        if finite:
            torch.nn.utils.clip_grad_norm_(list(self.params.values()), c.clip)
            for g in self.opt.param_groups:
                g["lr"] = lr
            self.opt.step()
            self.seg = (seg + 1) % c.segments
            self.round += self.seg == 0
        else:  # an inner loop diverged: no update, and fresh episodes for every slot
            self.skipped += 1
            self.seg, self.round = 0, self.round + 1
        self.step_count += 1
        self.tokens += c.segment * c.batch
        task_loss = self._task_losses(per_ep.detach())
        total = float(self._sum(per_ep.detach().sum()) / c.batch)
        return StepStats(self.step_count, task_loss, total, norms, self._gate_stats(gates),
                         lr, self.tokens, self.skipped)

    def _run(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Feed x (b, T, d_in) chunk by chunk; predictions (b, T, d_in) and the gate
        values (2, b, T) [eta, rho]."""
        m, c = self.model, self.cfg.chunk
        preds, etas, rhos = [], [], []
        for t in range(0, x.shape[1], c):
            _, _, read, y = m.step(x[:, t:t + c])
            preds.append((m.w_out @ y).mT)                             # (b, c, d_in)
            etas.append(read.eta.detach())
            rhos.append(read.rho.detach())
        return torch.cat(preds, 1), torch.stack([torch.cat(etas, -1), torch.cat(rhos, -1)])

    def _batch(self, arrays: list[np.ndarray]) -> Tensor:
        return torch.from_numpy(np.stack(arrays)).to(device=self.device, dtype=self.model.dtype)

    @staticmethod
    def _episode_loss(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        """Per episode: the mean over counted steps of 1/2 ||pred - target||^2: (b,)."""
        sq = 0.5 * (pred - target).square().sum(-1)                    # (b, T)
        return (sq * mask).sum(-1) / mask.sum(-1).clamp_min(1.0)

    # ---- statistics --------------------------------------------------------------------
    def _task_losses(self, per_ep: Tensor) -> tuple[float, ...]:
        sums = torch.zeros(2, len(TASKS), dtype=torch.float64)
        for ep, v in zip(self.episodes, per_ep.cpu().double()):
            sums[0, ep.task] += v
            sums[1, ep.task] += 1
        sums = self._sum(sums)
        return tuple(float(s / n) if n else math.nan for s, n in zip(sums[0], sums[1]))

    def _group_norms(self) -> tuple[float, ...]:
        sq = dict.fromkeys(GROUPS, 0.0)
        for name, p in self.params.items():
            if p.grad is not None:
                sq[param_group(name)] += float(p.grad.double().square().sum())
        return tuple(math.sqrt(sq[g]) for g in GROUPS)

    def _gate_stats(self, gates: Tensor) -> tuple[float, ...]:
        eta, rho = gates.double()                                      # (b, T) each
        m = self.model
        ratio = (m.titans.w_norm.detach() / m.titans.init_norm.detach().clamp_min(1e-12)).min()
        vals = torch.stack([eta.mean(), eta.std() / eta.mean().clamp_min(1e-12), rho.mean(),
                            rho.std(), ratio.double().cpu()])
        if self.world > 1:  # the mean over processes (min of the norm ratio is close enough)
            vals = self._sum(vals) / self.world
        return tuple(float(v) for v in vals)

    # ---- data parallel -----------------------------------------------------------------
    def _all_reduce_grads(self) -> None:
        if self.world == 1:
            return
        import torch.distributed as dist
        # a weight outside this segment's graph has no gradient on every process alike (the
        # graph's shape is the same everywhere), and stays without one, as in one process
        with_grad = [p for p in self.params.values() if p.grad is not None]
        if not with_grad:
            return
        flat = torch.cat([p.grad.reshape(-1) for p in with_grad if p.grad is not None])
        dist.all_reduce(flat)
        i = 0
        for p in with_grad:
            p.grad = flat[i:i + p.numel()].view_as(p)
            i += p.numel()

    def _sum(self, t: Tensor) -> Tensor:
        if self.world == 1:
            return t
        import torch.distributed as dist
        t = t.clone()
        dist.all_reduce(t)
        return t

    # ---- held-out evaluation -----------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> tuple[float, ...]:
        """Held-out loss per task (TASKS order; NaN for tasks not in the mixture): whole
        episodes of ``segment * segments`` tokens with fixed held-out seeds."""
        c = self.cfg
        length = c.segment * c.segments
        out = []
        model = HOPE(self.model_cfg, c.init_seed, self.device)
        for task in TASKS:
            if self.mixture.get(task, 0.0) <= 0:
                out.append(math.nan)
                continue
            eps = [draw_episode({task: 1.0}, self.model_cfg.d_in, length, c.seed, 0, i,
                                heldout=True) for i in range(c.eval_episodes)]
            model.start_from(self.params, batch=len(eps))
            x = self._batch([e.x for e in eps])
            preds = []
            for t in range(0, length, c.chunk):
                _, _, _, y = model.step(x[:, t:t + c.chunk])
                preds.append((model.w_out @ y).mT)
            loss = self._episode_loss(torch.cat(preds, 1), self._batch([e.target for e in eps]),
                                      self._batch([e.mask for e in eps]))
            out.append(float(loss.mean()))
        return tuple(out)

    # ---- what a checkpoint holds ---------------------------------------------------------
    def weights(self) -> dict[str, Tensor]:
        """The slow weights now (detached copies on the CPU)."""
        return {k: v.detach().cpu().clone() for k, v in self.params.items()}

    def optimizer_tensors(self) -> dict[str, Tensor]:
        """AdamW's state, by ``optim/<exp_avg|exp_avg_sq|step>/<weight>`` (step as (1,))."""
        out = {}
        for name, p in self.params.items():
            st = self.opt.state.get(p, {})
            for key in ("exp_avg", "exp_avg_sq"):
                if key in st:
                    out[f"optim/{key}/{name}"] = st[key].detach().cpu().clone()
            if "step" in st:   # a weight without a gradient in some step counts fewer
                out[f"optim/step/{name}"] = torch.as_tensor(st["step"], dtype=torch.float64
                                                            ).reshape(1).cpu().clone()
        return out

    def restore(self, optim: dict[str, Tensor], step: int, tokens: int) -> None:
        """Continue after ``step`` outer steps (``--resume``): AdamW's moments and counters."""
        for name, p in self.params.items():
            avg, sq = optim.get(f"optim/exp_avg/{name}"), optim.get(f"optim/exp_avg_sq/{name}")
            count = optim.get(f"optim/step/{name}")
            if avg is not None and sq is not None:
                n = float(count.reshape(-1)[0]) if count is not None else float(step)
                self.opt.state[p] = {"step": torch.tensor(n),
                                     "exp_avg": avg.to(p), "exp_avg_sq": sq.to(p)}
        self.step_count, self.tokens = step, tokens
        # the inner state is not saved: continue with the next round's fresh episodes
        self.round, self.seg = -(-step // self.cfg.segments), 0


def wired_weights(cfg: ModelConfig, random: dict[str, Tensor]) -> dict[str, Tensor]:
    """A starting point for meta-training that already routes information the way
    in-context prediction needs (the outer loop refines it): ``W_in`` stacks the token and
    the ones before it (when ``d >= d_in * context``); queries and values read the present
    token, keys the previous one; the readout copies the present token; the memories'
    learned parts keep their random start. Other shapes keep the random weights."""
    d, d_in, c = cfg.d, cfg.d_in, cfg.context
    w = dict(random)
    if d < d_in * c or "titans/w_mem_in" not in w:
        return w
    eye = torch.eye(d, dtype=random["w_in"].dtype)
    w["w_in"] = eye[:, :d_in * c].clone()                             # (d, d_in * c)
    present = torch.zeros(d, d, dtype=eye.dtype)
    present[:d_in, :d_in] = torch.eye(d_in)                           # x_t -> first d_in
    past = torch.zeros(d, d, dtype=eye.dtype)
    if c > 1:
        past[:d_in, d_in:2 * d_in] = torch.eye(d_in)                  # x_{t-1} -> first d_in
    w["titans/w_q"] = present
    mem_in = w["titans/w_mem_in"].clone()                             # (B-1, d, d): k, v, eta, alpha
    mem_in[0] = past if c > 1 else present
    mem_in[1] = present
    w["titans/w_mem_in"] = mem_in
    w["w_out"] = eye[:d_in].clone()                                   # (d_in, d)
    if "titans/w1_0" in w:   # gates that vary with the input from the start
        w1 = w["titans/w1_0"].clone()
        w1[3:] = w1[3:] * GATE_INIT_GAIN
        w["titans/w1_0"] = w1
    return w
