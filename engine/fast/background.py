"""Build the compiled block in a background thread while the session steps eagerly.

Compiling takes tens of seconds (minutes on a cold cache); ``run.engine = "auto"`` should
neither make the user wait for it nor spend it on a short run. So after a session has
stepped ``run.compile_after`` steps, a thread traces and compiles the block on a throw-away model
of the same config (same shapes, same graph); the session keeps stepping eagerly and
switches to the compiled path at its next block once the thread is done. The compiled
graph is shared through torch.compile's cache, so the session's own ``FastPath`` reuses it.
"""
from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from dataclasses import replace

import torch

from engine.config import Config
from engine.fast.runner import FastPath
from engine.model import HOPE

_THREADS: list[threading.Thread] = []


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 200 characters of it)."""
    lines = str(exc).splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__


def building() -> bool:
    """A background compile is running in this process."""
    return any(t.is_alive() for t in _THREADS)


def exit_if_building(code: int) -> None:
    """End the process now with ``code`` (streams flushed, no interpreter shutdown) when a
    background compile is still running; return otherwise. Call it last, after every file
    is closed: a process that exits normally while a compile runs can abort in the
    compiler's threads at interpreter shutdown (seen in the suite: "terminate called
    without an active exception", signal 6)."""
    if building():
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
_BUILT: set[tuple[str, str, int]] = set()   # (model structure, device, runs) compiled here


def _key(config: Config, device: torch.device, runs: int) -> tuple[str, str, int]:
    """What fixes the compiled graph: the model config without its weights' path, the
    device and the number of batched runs (1: a plain session)."""
    model = replace(config.model, weights="", weights_sha256="")
    return repr(model), str(device), runs


def built_before(config: Config, device: torch.device, runs: int = 1) -> bool:
    """This process has compiled the block for this model structure (a Reset, a new seed
    or a live rebuild at the same sizes need not wait again)."""
    return _key(config, device, runs) in _BUILT


def remember_built(config: Config, device: torch.device, runs: int = 1) -> None:
    _BUILT.add(_key(config, device, runs))


class BackgroundBuild:
    """Compile the block in a thread on the model ``make_model()`` builds (same config as
    the session's: same shapes, so the same graph); ``done()`` / ``error`` report it.

    ``lead``: the model's leading run axes (``()``: a plain session; ``(R,)``: a seed batch).
    """

    def __init__(self, make_model: Callable[[], HOPE], lead: tuple[int, ...],
                 diag_every: int) -> None:
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, args=(make_model, lead, diag_every),
                                        name="nlviz-compile", daemon=True)
        _THREADS[:] = [t for t in _THREADS if t.is_alive()] + [self._thread]
        self._thread.start()

    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the build (tests, shutdown); True when it finished."""
        self._thread.join(timeout)
        return self.done()

    def _run(self, make_model: Callable[[], HOPE], lead: tuple[int, ...],
             diag_every: int) -> None:
        try:
            with torch.inference_mode():
                model = make_model()
                d_in, dt, dev = model.cfg.d_in, model.dtype, model.device
                model.step(torch.zeros(lead + (1, d_in), dtype=dt, device=dev))  # 1st step
                fast = FastPath(model)
                fast.advance(torch.zeros(lead + (fast.unroll, d_in), dtype=dt, device=dev),
                             diag_every)
        except Exception as exc:  # noqa: BLE001 - reported as one line, the run goes on
            self.error = one_line(exc)
