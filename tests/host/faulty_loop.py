"""A test engine loop that accepts one more request, ``InjectFault``: the ``after``-th
model step call from then on raises ``RuntimeError(message)`` (then the model works
again), so the engine process's fault path can be driven on demand.

Chosen by dotted path: ``EngineProcess(config, loop=FAULTY_LOOP)`` or
``EngineWorker(..., loop=FAULTY_LOOP)``; the child process imports this module.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nlviz.host.loop import EngineLoop, Handler

FAULTY_LOOP = "tests.host.faulty_loop:FaultyLoop"


@dataclass(frozen=True)
class InjectFault:
    """The ``after``-th model step call from now raises ``RuntimeError(message)``."""

    after: int
    message: str = "injected fault"


class FaultyLoop(EngineLoop):
    """``EngineLoop`` + ``InjectFault``."""

    def handlers(self) -> dict[type, Handler]:
        return {**super().handlers(), InjectFault: self._on_inject_fault}

    def _on_inject_fault(self, req: InjectFault) -> None:
        model = self.session.model
        real = model.step
        calls = 0

        def broken(x: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == req.after:
                model.step = real
                raise RuntimeError(req.message)
            return real(x)

        model.step = broken
