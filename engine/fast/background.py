"""Build the compiled block in a background thread while the session steps eagerly.

Compiling takes tens of seconds (minutes on a cold cache); ``run.engine = "auto"`` should
neither make the user wait for it nor spend it on a short run. So after a session has
stepped ``AUTO_AFTER`` steps, a thread traces and compiles the block on a throw-away model
of the same config (same shapes, same graph); the session keeps stepping eagerly and
switches to the compiled path at its next block once the thread is done. The compiled
graph is shared through torch.compile's cache, so the session's own ``FastPath`` reuses it.
"""
from __future__ import annotations

import threading
from dataclasses import replace

import torch
from torch import Tensor

from engine.config import Config
from engine.fast.runner import FastPath
from engine.model import HOPE

AUTO_AFTER = 4096       # steps a session runs eagerly before "auto" starts compiling
_BUILT: set[tuple[str, str]] = set()   # (model structure, device) compiled in this process


def _key(config: Config, device: torch.device) -> tuple[str, str]:
    """What fixes the compiled graph: the model config without its weights' path."""
    model = replace(config.model, weights="", weights_sha256="")
    return repr(model), str(device)


def built_before(config: Config, device: torch.device) -> bool:
    """This process has compiled the block for this model structure (a Reset, a new seed
    or a live rebuild at the same sizes need not wait again)."""
    return _key(config, device) in _BUILT


def remember_built(config: Config, device: torch.device) -> None:
    _BUILT.add(_key(config, device))


class BackgroundBuild:
    """Compile the block for ``config`` in a thread; ``done()`` / ``error`` report it."""

    def __init__(self, config: Config, device: torch.device,
                 weights: dict[str, Tensor] | None) -> None:
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, args=(config, device, weights),
                                        name="nlviz-compile", daemon=True)
        self._thread.start()

    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the build (tests, shutdown); True when it finished."""
        self._thread.join(timeout)
        return self.done()

    def _run(self, config: Config, device: torch.device,
             weights: dict[str, Tensor] | None) -> None:
        try:
            with torch.inference_mode():
                model = HOPE(config.model, config.run.seed, device, weights)
                model.titans.diag_every = config.run.diag_every
                model.step(torch.zeros(1, config.model.d_in, dtype=model.dtype, device=device))
                fast = FastPath(model)
                x = torch.zeros(fast.unroll, config.model.d_in, dtype=model.dtype, device=device)
                fast.advance(x, config.run.diag_every)
        except Exception as exc:  # noqa: BLE001 - reported as one line, the run goes on
            self.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}" \
                if str(exc) else type(exc).__name__
