"""Batched seeds: N runs of one config, seeds s_0 ... s_{N-1}, stepped by one batched HOPE.

``SeedBatch(config, seeds).step(n)`` returns one ``FrameBatch`` per seed, each what
``Session(config with run.seed = s_i).step(n)`` returns alone (float tolerance; inputs,
regimes, steps and fired exactly). The N ``Session`` objects are built as usual (their
streams, probe reservoirs, specs, events and records are the single-run code); only the
model math runs once for all of them, in a HOPE started with a leading run axis
(``HOPE.start_from(weights, batch=N)``). Slow weights that differ between the seeds
(random starts: each seed draws its own) are stacked per run; a checkpoint's are shared.

Each session's ``model`` is a per-run view of the batched model (``run_view``), refreshed
whenever a sparse record is taken and after every ``step``: ``Session.state_dict`` of
seed i is a normal single-run state (``Session.load_state`` of a plain Session restores
it). The sessions are driven by the batch: do not step, ``apply`` commands to or
``load_state`` them one by one (``mark`` and ``take_events`` are the batch's).

Faults: ``step`` checks every run; if any run raised or produced NaN/inf it raises
``SeedFault`` after the whole batch was computed, carrying every run's batch (a healthy
run's whole batch, a faulty run's steps up to and including its fault). The runs are
independent, so the healthy runs' data are unaffected; a caller such as ``nlviz record
--seeds`` writes them all and stops.

Shape legend: R runs (seeds), n steps, L levels, M metrics, d_in stream width.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from engine.budget import estimate_memory, format_bytes
from engine.cms import CMSLevel
from engine.commands import Mark
from engine.config import Config, ConfigError
from engine.device import available_memory, resolve_device
from engine.frames import FrameBatch, RunSpec
from engine.model import HOPE, TitansRead
from engine.observables import ProbeSet, cms_chain
from engine.session import EngineFault, Session
from engine.session_fast import FastStepping

MAX_SEEDS = 4096          # runs in one batch; memory is checked as well


class SeedFault(EngineFault):
    """One or more runs of a ``SeedBatch`` faulted. ``batches`` holds every run's batch
    (healthy runs: all steps; a faulty run: up to and including its fault); ``faults``
    maps a run's index to its ``EngineFault``. ``batch``/``step``/``level`` are the first
    faulty run's."""

    def __init__(self, faults: dict[int, EngineFault], batches: list[FrameBatch],
                 seeds: Sequence[int]) -> None:
        first = min(faults)
        f = faults[first]
        which = ", ".join(f"seed {seeds[i]}" for i in sorted(faults))
        super().__init__(f"{which}: {f.args[0]}", f.step, f.level, f.batch)
        self.faults, self.batches = faults, batches
        self.args = (f"{which}: {f.args[0]}",)


class SeedBatch(FastStepping):
    """N seeds of one config in one batched model (see the module docstring); the batched
    model takes the compiled block path as a session does (``run.engine``).

    Parameters
    ----------
    config : the shared configuration (its ``run.seed`` is replaced by each seed).
    seeds : the runs' seeds, distinct.

    Raises
    ------
    ConfigError : no seeds, repeated seeds, too many for the device's memory, a config the
        batched model does not support (the ``lmm`` Titans variant), or any error a single
        ``Session`` of this config raises.
    """

    def __init__(self, config: Config, seeds: Sequence[int]) -> None:
        config = config.validate()
        self.seeds = tuple(int(s) for s in seeds)
        R = len(self.seeds)
        if R < 1:
            raise ConfigError("seeds: at least one seed is needed")
        if R > MAX_SEEDS:
            raise ConfigError(f"seeds: {R} runs, at most {MAX_SEEDS} in one batch")
        if len(set(self.seeds)) != R:
            raise ConfigError(f"seeds: {list(self.seeds)} repeats a seed")
        if config.model.titans.variant == "lmm":
            raise ConfigError("model.titans.variant=lmm: batched seeds run the "
                              "self_modifying variant only")
        _check_room(config, R)
        self.config = config
        self.sessions = [Session(config.replace("run.seed", s)) for s in self.seeds]
        first = self.sessions[0]
        per_run = [s.model.slow_weights() for s in self.sessions]
        weights = {k: _shared_or_stacked([w[k] for w in per_run]) for k in per_run[0]}
        self.device = first.device

        def make_model() -> HOPE:
            model = HOPE(config.model, self.seeds[0], first.device)
            model.start_from(weights, batch=R)
            model.titans.diag_every = config.run.diag_every
            return model
        self.model = make_model()
        del per_run
        self._reservoir = Reservoirs([s.probes for s in self.sessions], self.model)
        self.probes = self._reservoir
        self._refresh_views()         # the sessions' own models are released here
        self._build_fast(config, make_model, (R,))

    @property
    def spec(self) -> RunSpec:
        """The runs' spec (the same for every seed)."""
        return self.sessions[0].spec

    @property
    def step_count(self) -> int:
        return self.sessions[0].step_count

    def __len__(self) -> int:
        return len(self.seeds)

    # ---- stepping ---------------------------------------------------------------------
    def step(self, n: int = 1) -> list[FrameBatch]:
        """Advance every run ``n`` steps; one ``FrameBatch`` per seed, in ``seeds`` order.

        Raises
        ------
        SeedFault : a run raised or produced NaN/inf (every run's batch is in it).
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        S, model, run = self.sessions, self.model, self.config.run
        lead = S[0]
        t0, local0 = lead.step_count, model.count
        samples = [s.stream.sample(t0 - s.origin, n) for s in S]
        baselines = [s._baselines(smp) for s, smp in zip(S, samples)]
        x_all = torch.from_numpy(np.stack([smp.x for smp in samples])).to(
            device=model.device, dtype=model.dtype)                   # (R, n, d_in)
        metrics: list[Tensor] = []        # (R, m, L, M) per call
        scalars: list[Tensor] = []        # (R, m, 2)
        ends: list[float] = []            # perf_counter when each call ended
        sizes: list[int] = []
        extras: list[dict[str, list]] = [
            {"probes": [], "snapshots": [], "states": [], "evals": []} for _ in S]
        done = 0
        try:
            with torch.inference_mode():
                while done < n:
                    lead.model.count = model.count
                    room = min(n - done, lead._room_to_record(run))
                    m = self._fast_steps(x_all[:, done:done + room], local0 + done, metrics,
                                         scalars)
                    if m == 0:                    # the eager reference, chunk by chunk
                        m = min(model.chunk_room(), room)
                        met, sc, read, _ = model.step(x_all[:, done:done + m])
                        self._reservoir.offer(model, read, local0 + done)
                        metrics.append(met)
                        scalars.append(sc)
                    done += m
                    ends.append(time.perf_counter())
                    sizes.append(m)
                    if _due(local0 + done - m, local0 + done, run):
                        self._refresh_views(t0 + done)
                        for s, ex in zip(S, extras):
                            s._sparse(local0 + done - m, local0 + done, t0 + done, run, ex)
        except Exception as exc:
            self._refresh_views(t0 + done)
            batches = self._assemble(t0, local0, done, metrics, scalars, ends, sizes,
                                     samples, extras, baselines)
            fault = EngineFault(f"{type(exc).__name__}: {exc}", t0 + done, None, batches[0])
            raise SeedFault(dict.fromkeys(range(len(S)), fault), batches, self.seeds) from exc
        self._refresh_views(t0 + n)
        batches = self._assemble(t0, local0, n, metrics, scalars, ends, sizes, samples,
                                 extras, baselines)
        faults: dict[int, EngineFault] = {}
        for i, (s, b) in enumerate(zip(S, batches)):
            try:
                s._check_finite(b)
            except EngineFault as f:
                faults[i] = f
                batches[i] = f.batch
        if faults:
            raise SeedFault(faults, batches, self.seeds)
        return batches

    def _assemble(self, t0: int, local0: int, n: int, metrics: list[Tensor],
                  scalars: list[Tensor], ends: list[float], sizes: list[int],
                  samples: list[Any], extras: list[dict[str, list]],
                  baselines: list[np.ndarray]) -> list[FrameBatch]:
        """Every run's batch through ``Session._assemble``, from one host copy."""
        if metrics:
            met = torch.cat(metrics, 1).cpu()                         # (R, n, L, M)
            sc = torch.cat(scalars, 1).cpu()                          # (R, n, 2)
        walls = np.repeat(np.asarray(ends, np.float64), sizes)        # (n,)
        return [s._assemble(t0, local0, n, [met[i]] if metrics else [],
                            [sc[i]] if metrics else [], [walls - s._t0], samples[i],
                            extras[i], baselines[i])
                for i, s in enumerate(self.sessions)]

    def _refresh_views(self, step_count: int | None = None) -> None:
        """Point every session at its run's current state (and global step count)."""
        for i, s in enumerate(self.sessions):
            s.model = run_view(self.model, i)
            if step_count is not None:
                s.step_count = step_count

    # ---- events -----------------------------------------------------------------------
    def _event_step(self) -> int:
        return self.step_count

    def _engine_event(self, event: Any) -> None:
        """An engine switch or failure is logged in every run."""
        for s in self.sessions:
            s._events.append(event)

    def mark(self, kind: str, detail: str) -> None:
        """Log a user action (``engine.commands.Mark``) in every run."""
        for s in self.sessions:
            s.apply(Mark(kind, detail))

    def take_events(self) -> list[FrameBatch | None]:
        """Every run's ``Session.take_events``."""
        return [s.take_events() for s in self.sessions]


class Reservoirs:
    """The runs' probe reservoirs (``ProbeSet``), filled in one batched write per step.

    Each ``ProbeSet`` keeps its own Python RNG, counters and ``written`` steps and draws
    exactly as ``ProbeSet.offer`` does; its tensors become views of stacked (R, ...)
    tensors, so the pairs every run keeps at a step are copied by one indexed write.
    ``ProbeSet.evaluate`` and ``state`` of each run work unchanged on those views.
    """

    def __init__(self, probes: list[ProbeSet], model: HOPE) -> None:
        self.probes = probes
        self.keys = torch.stack([p.keys for p in probes])             # (R, d, P)
        self.targets = torch.stack([p.targets for p in probes])       # (R, B, d, P)
        self.cms_in = torch.stack([p.cms_in for p in probes])         # (R, Lc, d, P)
        self.cms_out = torch.stack([p.cms_out for p in probes])
        for i, p in enumerate(probes):
            p.keys, p.targets = self.keys[i], self.targets[i]
            p.cms_in, p.cms_out = self.cms_in[i], self.cms_out[i]
        self.device = model.device

    def offer(self, model: HOPE, read: TitansRead, first_step: int) -> None:
        """Offer every token of a batched read (R, ..., n) to each run's reservoir."""
        def chain() -> Tensor | None:     # stacked only when some run keeps a token
            io = cms_chain(model)                                     # (R, Lc+1, d, n)
            return None if io is None else io.movedim(-1, 1)
        self._store(read.k.mT, read.targets.movedim(-1, 1), chain, first_step)

    def offer_block(self, keys: Tensor, targets: Tensor, cms_io: Tensor | None,
                    first_step: int) -> None:
        """Offer m steps of the compiled path: keys (R, m, d), targets (R, m, B, d), CMS
        chain input/outputs (R, m, Lc + 1, d) or None."""
        self._store(keys, targets, lambda: cms_io, first_step)

    def _store(self, keys: Tensor, targets: Tensor, chain: Callable[[], Tensor | None],
               first_step: int) -> None:
        """Draw each run's slots for the n steps (algorithm R, as ``ProbeSet``) and write
        the kept pairs: keys (R, n, d), targets (R, n, B, d), ``chain()`` the CMS chain
        (R, n, Lc + 1, d) or None, asked for only when a pair is kept."""
        n = keys.shape[1]
        runs: list[int] = []
        slots: list[int] = []
        cols: list[int] = []
        for i, p in enumerate(self.probes):       # each run's own draws (ProbeSet._draw)
            drawn, at = p._draw(n)
            if drawn:
                runs += [i] * len(drawn)
                slots += drawn
                cols += at
                p.written[drawn] = first_step + np.asarray(at)
        if not runs:
            return
        r = torch.tensor(runs, device=self.device)
        s = torch.tensor(slots, device=self.device)
        c = torch.tensor(cols, device=self.device)
        self.keys[r, :, s] = keys[r, c]                               # (K, d)
        self.targets[r, :, :, s] = targets[r, c]                      # (K, B, d)
        io = chain()
        if io is not None:
            kept = io[r, c]                                           # (K, Lc + 1, d)
            self.cms_in[r, :, :, s] = kept[:, :-1]                    # (K, Lc, d)
            self.cms_out[r, :, :, s] = kept[:, 1:]


def run_view(model: HOPE, i: int) -> HOPE:
    """Run ``i`` of a model started with ``start_from(..., batch=R)`` as a single-run HOPE
    sharing its tensors (views, no copies): what a session's records read (probe
    evaluation, snapshots, ``state_dict``, frozen evaluation). Not for stepping: its
    ``pending`` only tells whether a Titans chunk is open."""
    def pick(t: Tensor, dims: int) -> Tensor:   # slow weights: shared or one per run
        return t[i] if t.dim() > dims else t

    v = copy.copy(model)
    v.w_in, v.w_out = pick(model.w_in, 2), pick(model.w_out, 2)
    v.prev_o = None if model.prev_o is None else model.prev_o[i]     # (d, 1)
    v.prev_x = model.prev_x[i]                                        # (context-1, d_in)
    v.pending = list(model.pending)
    v.cms_io = []
    src = model.titans
    t = v.titans = copy.copy(src)
    t.bank = copy.copy(src.bank)
    t.bank.set_params([p[i] for p in src.bank.params()])              # (B, r, c) each
    t.w_q = pick(src.w_q, 2)
    if src.w_mem_in is not None:
        t.w_mem_in = pick(src.w_mem_in, 3)
    t.init = [pick(w, 3) for w in src.init]
    t.mom = [m[i] for m in src.mom]
    t.init_norm = pick(src.init_norm, 1)
    t.w_norm, t.last_update = src.w_norm[i], src.last_update[i]
    t._diag = None if src._diag is None else (src._diag[0][i], src._diag[1][i])
    c = v.cms = copy.copy(model.cms)
    c.levels = []
    for lv in model.cms.levels:
        w = copy.copy(lv)
        w.init = (pick(lv.init[0], 2), pick(lv.init[1], 2))
        w.init_norm = pick(lv.init_norm, 0)
        for name in CMSLevel.STATE:
            setattr(w, name, getattr(lv, name)[i])
        c.levels.append(w)
    if c.levels:
        c.state_cols = model.cms.state_cols[i]                        # (Lc, M)
    return v


def _shared_or_stacked(ts: list[Tensor]) -> Tensor:
    """One tensor when every run starts from the same value, else (R, ...) stacked."""
    first = ts[0]
    if all(t is first or torch.equal(t, first) for t in ts[1:]):
        return first
    return torch.stack(ts)


def _due(lo: int, hi: int, run: Any) -> bool:
    """Whether a probe, snapshot, state or evaluation falls in model steps (lo, hi]."""
    return any(every > 0 and hi // every > lo // every for every in
               (run.probe_every, run.snapshot_every, run.state_every, run.eval_every))


def _check_room(config: Config, runs: int) -> None:
    """Refuse ``runs`` runs that the device's memory cannot hold (before allocating)."""
    device, _, _ = resolve_device(config.run.device)
    avail, where = available_memory(device)
    est = estimate_memory(config.model, config.run, host=device.type != "cuda")
    need = est.total * runs
    if avail is not None and need > avail:
        raise ConfigError(f"seeds: {runs} runs need about {format_bytes(need)}, more than "
                          f"the {format_bytes(avail)} {where}")


__all__ = ["MAX_SEEDS", "SeedBatch", "SeedFault", "run_view"]
