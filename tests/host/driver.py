"""Drives an ``EngineProcess`` from a test the way the Qt worker does, without Qt: reads
typed replies, acknowledges batches and keeps what arrived, in order."""
from __future__ import annotations

from typing import TypeVar, cast

from engine.frames import FrameBatch
from nlviz.host.process import EngineProcess
from nlviz.host.protocol import Ack, Batch, Reply, Request, SessionInfo

HANG_GUARD_S = 120.0               # only to fail a hung engine instead of hanging the suite

R = TypeVar("R")


class Driver:
    """``send`` requests, then ``until(ReplyType)``; ``take()`` returns what was read since
    the last ``take``; ``log`` keeps every reply."""

    def __init__(self, engine: EngineProcess) -> None:
        self.engine = engine
        self.log: list[Reply] = []
        self._new: list[Reply] = []

    def send(self, request: object) -> None:
        """A protocol request, or one a test loop accepts (e.g. ``InjectFault``)."""
        assert self.engine.send(cast(Request, request))

    def until(self, kind: type[R]) -> R:
        """Read replies (acknowledging batches) until one of type ``kind``; returns it."""
        while True:
            assert self.engine.poll(HANG_GUARD_S), f"no reply for {HANG_GUARD_S} s (hung?)"
            reply = self.engine.receive()
            self.log.append(reply)
            self._new.append(reply)
            if isinstance(reply, Batch):
                self.engine.send(Ack())
            if isinstance(reply, kind):
                return reply

    def take(self) -> list[Reply]:
        """The replies read since the last ``take``."""
        out, self._new = self._new, []
        return out

    def info(self) -> SessionInfo:
        """The newest ``SessionInfo`` read so far."""
        return [r for r in self.log if isinstance(r, SessionInfo)][-1]


def frames_of(replies: list[Reply]) -> FrameBatch:
    """The frames of the ``Batch`` replies among ``replies``, joined in order."""
    return FrameBatch.concat([r.frames for r in replies if isinstance(r, Batch)])


def kinds(replies: list[Reply]) -> list[str]:
    """The replies' class names, batches left out (their count depends on timing)."""
    return [type(r).__name__ for r in replies if not isinstance(r, Batch)]
