"""The compiled side of a ``Session``: which engine runs (``run.engine``), and the steps the
compiled block path takes between the sparse records (``engine.fast``).

A block that raises or yields a non-finite value is undone (the state goes back to the
block's start) and the session replays it with the eager reference, so a fault is reported
at its exact step and level. A compile that fails turns the fast path off, with one line
saying why, and the run goes on eagerly.
"""
from __future__ import annotations

import torch
from torch import Tensor

from engine import events as E
from engine.config import Config
from engine.fast import background
from engine.fast.background import BackgroundBuild, built_before, remember_built
from engine.fast.choose import wants_fast_path
from engine.fast.runner import FastPath, steps_for
from engine.frames import EventRecord
from engine.model import HOPE
from engine.observables import ProbeSet


class FastStepping:
    """The compiled block path of a session (mixed into ``Session``)."""

    config: Config
    model: HOPE
    probes: ProbeSet
    device: torch.device
    step_count: int
    _events: list[EventRecord]
    fast: FastPath | None
    engine_note: str

    def _build_fast(self, config: Config, weights: dict[str, Tensor] | None) -> None:
        """A fast path for the new model where ``run.engine`` asks for it and it runs:
        ``compiled`` at once (the first block compiles), ``auto`` once a background build
        after ``AUTO_AFTER`` eager steps has compiled the graph."""
        use, self.engine_note = wants_fast_path(config, self.device)
        self.fast = FastPath(self.model) if use and config.run.engine == "compiled" else None
        self._auto = use and config.run.engine == "auto"
        if self._auto:
            self.engine_note = (f"eager engine for the first {background.AUTO_AFTER} steps, then "
                                f"{self.engine_note} (auto)")
        self._weights = weights
        self._background: BackgroundBuild | None = None
        self._eager_until = 0        # model count up to which a faulted block replays eagerly

    def _auto_build(self) -> None:
        """``auto``: start the background build after enough eager steps; take its
        result when it is done (the graph is then in torch.compile's cache)."""
        build = self._background
        if build is None:
            if self.model.count >= background.AUTO_AFTER or built_before(self.config,
                                                                          self.device):
                self._background = BackgroundBuild(self.config, self.device, self._weights)
            return
        if not build.done():
            return
        self._auto, self._background = False, None
        if build.error is not None:
            self._fast_off(build.error)
            return
        remember_built(self.config, self.device)
        self.fast = FastPath(self.model)
        self.engine_note = (f"compiled engine, blocks of {self.config.run.block} steps "
                            f"(auto: built in the background)")
        self._events.append(E.mark(self.step_count, "engine", self.engine_note))

    def _fast_steps(self, x: Tensor, first_step: int, metrics: list[Tensor],
                    scalars: list[Tensor]) -> int:
        """Take the compiled share of the steps x (m, d_in) (model steps first_step ...);
        returns how many were taken (0: the caller steps eagerly)."""
        if self._auto:
            self._auto_build()
        fp = self.fast
        if fp is None or self.model.count < self._eager_until or not fp.ready():
            return 0
        block = self.config.run.block             # blocks end at multiples of K model steps
        m = steps_for(min(x.shape[0], block - self.model.count % block), fp.unroll)
        if m == 0:
            return 0
        count0 = self.model.count
        saved = fp.snapshot()
        try:
            out = fp.advance(x[:m], self.config.run.diag_every)
            ok = bool(torch.isfinite(out.metrics).all()) and bool(torch.isfinite(out.scalars).all())
        except Exception as exc:  # noqa: BLE001 - any failure: undo and go on eagerly
            fp.restore(saved, count0)
            if not fp.compiled_once:
                self._fast_off(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            self._eager_until = count0 + m
            return 0
        if not ok:
            fp.restore(saved, count0)
            self._eager_until = count0 + m
            return 0
        self.probes.offer_block(out.keys, out.targets, out.cms_io, first_step)
        metrics.append(out.metrics)
        scalars.append(out.scalars)
        return m

    def _fast_off(self, why: str) -> None:
        """The compiled path failed to build: eager from now on, and say so once."""
        self.fast = None
        self.engine_note = f"eager engine: compiling failed ({why})"
        self._events.append(E.error(self.step_count, self.engine_note))


__all__ = ["FastStepping"]
