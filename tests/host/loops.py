"""A test engine loop that accepts two more requests: ``InjectFault`` (the ``after``-th
model step call from then on raises ``RuntimeError(message)``, then the model works
again), so the engine process's fault path can be driven on demand; and ``WhichModules``
(replies ``Event`` listing the loaded top-level modules of the child).

Chosen by dotted path: ``EngineProcess(config, loop=FAULTY_LOOP)`` or
``EngineWorker(..., loop=FAULTY_LOOP)``; the child process imports this module.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from nlviz.host.loop import EngineLoop, Handler
from nlviz.host.protocol import Event

FAULTY_LOOP = "tests.host.loops:FaultyLoop"


@dataclass(frozen=True)
class InjectFault:
    """The ``after``-th model step call from now raises ``RuntimeError(message)``."""

    after: int
    message: str = "injected fault"


@dataclass(frozen=True)
class WhichModules:
    """Reply ``Event("modules: NAME NAME ...")``: the child's loaded top-level modules."""


class FaultyLoop(EngineLoop):
    """``EngineLoop`` + ``InjectFault`` + ``WhichModules``."""

    def handlers(self) -> dict[type, Handler]:
        return {**super().handlers(), InjectFault: self._on_inject_fault,
                WhichModules: self._on_which_modules}

    def _on_which_modules(self, _: WhichModules) -> None:
        top = sorted({name.partition(".")[0] for name in sys.modules})
        self.send(Event("modules: " + " ".join(top)))

    def _on_inject_fault(self, req: InjectFault) -> None:
        model = self.session.model
        assert model is not None
        real = model.step
        calls = 0

        def broken(x: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == req.after:
                del model.__dict__["step"]          # the class's method again
                raise RuntimeError(req.message)
            return real(x)

        model.__dict__["step"] = broken             # shadows the method on this instance


THIN_LOOP = "tests.host.loops:SlowGuiLoop"


class SlowGuiLoop(EngineLoop):
    """``EngineLoop`` whose GUI gets at most one record of each thinned kind per hour:
    within a test, only the first record of each kind and the newest (flushed at the
    pause) reach the parent, whatever the machine's speed."""

    gui_record_period = 3600.0
