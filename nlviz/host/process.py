"""``EngineProcess``: the parent's handle on one engine child process (Qt-free, torch-free).

The child is started with the ``spawn`` context (forking a process that already runs Qt
and torch threads is unsafe) and runs ``nlviz.host.loop.child_main``; messages are the
typed requests and replies of ``nlviz.host.protocol``.
"""
from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import cast

from nlviz.host.loop import child_main
from nlviz.host.protocol import Ack, Batch, Finished, Reply, Request, Source, Stop

DEFAULT_LOOP = "nlviz.host.loop:EngineLoop"
STOP_TIMEOUT_S = 20.0           # waiting for the child to close the recording and exit


class EngineProcess:
    """Handle on one engine child process.

    Parameters
    ----------
    source : a ``Config``, or a ``BranchSource`` to continue a recorded run live.
    loop : ``"package.module:Class"`` of the ``EngineLoop`` (sub)class the child runs.
    """

    def __init__(self, source: Source, loop: str = DEFAULT_LOOP) -> None:
        self.source = source
        self.loop = loop
        self.process: BaseProcess | None = None
        self._conn: Connection | None = None
        self.closed = False

    def start(self) -> None:
        """Spawn the child (returns at once; it sends ``SessionInfo`` + ``Ready`` later)."""
        ctx = mp.get_context("spawn")
        self._conn, child_conn = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=child_main, args=(child_conn, self.source, self.loop),
                                   name="nlviz-engine", daemon=True)
        self.process.start()
        child_conn.close()

    # ---- state ---------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The child's process id (None before ``start``)."""
        return self.process.pid if self.process is not None else None

    @property
    def alive(self) -> bool:
        """True while the child process runs."""
        return self.process is not None and self.process.is_alive()

    @property
    def exitcode(self) -> int | None:
        """The child's exit code (negative: killed by that signal); None while it runs."""
        return self.process.exitcode if self.process is not None else None

    def fileno(self) -> int:
        """The pipe's file descriptor (to wait on it with a socket notifier or select)."""
        return self._connection().fileno()

    def _connection(self) -> Connection:
        if self._conn is None:
            raise EOFError("engine process not started")
        return self._conn

    # ---- talking -------------------------------------------------------------------
    def send(self, request: Request) -> bool:
        """Queue a request for the child; False if the child is gone."""
        if self.closed or self._conn is None:
            return False
        try:
            self._conn.send(request)
            return True
        except (OSError, ValueError):
            return False

    def poll(self, timeout: float = 0.0) -> bool:
        """True if a reply (or EOF) is waiting."""
        if self.closed or self._conn is None:
            return False
        try:
            return bool(self._conn.poll(timeout))
        except (OSError, ValueError):
            return True                         # receive will raise EOFError

    def receive(self) -> Reply:
        """The next reply; raises ``EOFError`` when the child has gone."""
        if self.closed:
            raise EOFError("engine connection closed")
        try:
            return cast(Reply, self._connection().recv())
        except (OSError, ValueError) as exc:
            raise EOFError(str(exc)) from exc

    # ---- ending --------------------------------------------------------------------
    def stop(self, on_reply: Callable[[Reply], None] | None = None,
             timeout: float = STOP_TIMEOUT_S) -> bool:
        """Ask the child to stop at a step boundary, close its recording and exit; hand
        every reply it sends meanwhile to ``on_reply`` (batches are acknowledged); join it
        (terminate as the last resort). Blocks; returns True if the child finished cleanly."""
        clean = False
        if self.process is not None and not self.closed and self.send(Stop()):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not self.poll(0.05):
                    if not self.alive and not self.poll(0):
                        break
                    continue
                try:
                    reply = self.receive()
                except EOFError:
                    break
                if isinstance(reply, Finished):
                    clean = True
                    break
                if isinstance(reply, Batch):
                    self.send(Ack())
                if on_reply is not None:
                    on_reply(reply)
        self.close(join_timeout=5.0 if clean else 1.0)
        return clean

    def close(self, join_timeout: float = 1.0) -> None:
        """Join the child (terminate, then kill, if it does not exit); close the pipe."""
        p = self.process
        if p is not None:
            p.join(join_timeout)
            if p.is_alive():
                p.terminate()
                p.join(2.0)
            if p.is_alive():
                p.kill()
                p.join(2.0)
        if self._conn is not None and not self.closed:
            try:
                self._conn.close()
            except OSError:
                pass
        self.closed = True

    def kill(self) -> None:
        """Kill the child at once (a hung engine; tests)."""
        if self.process is not None and self.process.is_alive():
            self.process.kill()


__all__ = ["DEFAULT_LOOP", "STOP_TIMEOUT_S", "EngineProcess"]
