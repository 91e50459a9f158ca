"""The compiled side of a ``Session``: which engine runs (``run.engine``), and the steps the
compiled block path takes between the sparse records (``engine.fast``).

A block that raises or yields a non-finite value is undone (the state goes back to the
block's start) and the session replays it with the eager reference, so a fault is reported
at its exact step and level. A compile that fails turns the fast path off, with one line
saying why, and the run goes on eagerly.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from torch import Tensor

from engine import events as E
from engine.config import Config
from engine.fast.background import BackgroundBuild, built_before, one_line, remember_built
from engine.fast.choose import wants_fast_path
from engine.fast.runner import FastPath, steps_for
from engine.frames import EventRecord
from engine.model import HOPE


class BlockOffer(Protocol):
    """Takes a compiled block's probe candidates (``ProbeSet`` or a seed batch's reservoirs)."""

    def offer_block(self, keys: Tensor, targets: Tensor, cms_io: Tensor | None,
                    first_step: int) -> None: ...


class FastStepping:
    """The compiled block path of a session (mixed into ``Session``)."""

    config: Config
    model: HOPE
    probes: BlockOffer
    device: torch.device
    _events: list[EventRecord]
    fast: FastPath | None
    engine_note: str
    _may_build = False           # see allow_background_build

    def _build_fast(self, config: Config, make_model: Callable[[], HOPE],
                    lead: tuple[int, ...] = ()) -> None:
        """A fast path for the new model where ``run.engine`` asks for it and it runs:
        ``compiled`` at once (the first block compiles), ``auto`` once a background build
        after ``run.compile_after`` eager steps has compiled the graph (on a model from
        ``make_model``, with leading run axes ``lead``) where ``allow_background_build``
        was called; elsewhere ``auto`` stays eager."""
        use, self.engine_note = wants_fast_path(config, self.device)
        self.fast = FastPath(self.model) if use and config.run.engine == "compiled" else None
        self._auto = use and config.run.engine == "auto" and self._may_build
        if self._auto:
            self.engine_note = (f"eager engine for the first {config.run.compile_after} "
                                f"steps, then {self.engine_note} (auto)")
        elif use and config.run.engine == "auto":
            self.engine_note = "eager engine (auto: compiles in the app and record only)"
        self._make_model, self._lead = make_model, lead
        self._background: BackgroundBuild | None = None
        self._eager_until = 0        # model count up to which a faulted block replays eagerly

    def allow_background_build(self) -> None:
        """Let ``run.engine = "auto"`` compile the fast path in a background thread, now and
        after every rebuild. Only for a process that ends through
        ``engine.fast.background.exit_if_building`` (the app's engine process, ``record``):
        one that exits normally while a compile runs can abort at shutdown."""
        self._may_build = True
        self._build_fast(self.config, self._make_model, self._lead)

    def _event_step(self) -> int:
        """The global step count an engine event is logged at (the session's)."""
        raise NotImplementedError

    def _engine_event(self, event: EventRecord) -> None:
        """Where an engine switch or failure is logged (a seed batch logs it in every run)."""
        self._events.append(event)

    def _auto_build(self) -> None:
        """``auto``: start the background build after enough eager steps; take its
        result when it is done (the graph is then in torch.compile's cache)."""
        build = self._background
        runs = self._lead[0] if self._lead else 1
        if build is None:
            if self.model.count >= self.config.run.compile_after or built_before(
                    self.config, self.device, runs):
                self._background = BackgroundBuild(self._make_model, self._lead,
                                                   self.config.run.diag_every)
            return
        if not build.done():
            return
        self._auto, self._background = False, None
        if build.error is not None:
            self._fast_off(build.error)
            return
        remember_built(self.config, self.device, runs)
        self.fast = FastPath(self.model)
        self.engine_note = (f"compiled engine, blocks of {self.config.run.block} steps "
                            f"(auto: built in the background)")
        self._engine_event(E.mark(self._event_step(), "engine", self.engine_note))

    def _fast_steps(self, x: Tensor, first_step: int, metrics: list[Tensor],
                    scalars: list[Tensor]) -> int:
        """Take the compiled share of the steps x (..., m, d_in) (model steps first_step
        ...; leading axes: the model's runs); returns how many were taken (0: the caller
        steps eagerly)."""
        if self._auto:
            self._auto_build()
        fp = self.fast
        if fp is None or self.model.count < self._eager_until or not fp.ready():
            return 0
        block = self.config.run.block             # blocks end at multiples of K model steps
        m = steps_for(min(x.shape[-2], block - self.model.count % block), fp.unroll)
        if m == 0:
            return 0
        count0 = self.model.count
        saved = fp.snapshot()
        try:
            out = fp.advance(x[..., :m, :], self.config.run.diag_every)
            ok = bool(torch.isfinite(out.metrics).all()) and bool(torch.isfinite(out.scalars).all())
        except Exception as exc:  # noqa: BLE001 - any failure: undo and go on eagerly
            fp.restore(saved, count0)
            if not fp.compiled_once:
                self._fast_off(one_line(exc))
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
        self.engine_note = f"{E.COMPILE_FAILED} ({why})"
        self._engine_event(E.error(self._event_step(), self.engine_note))


__all__ = ["FastStepping"]
