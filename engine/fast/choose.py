"""Where the compiled fast path runs, and what ``run.engine = "auto"`` picks.

The fast path covers per-token Titans writes (``chunk_size`` 1) with the delta rule, the
shipped presets' mode; chunked Titans already amortise the per-call cost over a chunk,
and the literal eq. 93 rule loops per token inside a chunk, so both stay eager.
"""
from __future__ import annotations

import shutil

import torch

from engine.config import Config


def unsupported_reason(config: Config) -> str | None:
    """Why the compiled path cannot run this config (None: it can)."""
    t = config.model.titans
    if t.chunk_size != 1:
        return f"model.titans.chunk_size is {t.chunk_size} (the fast path is per token)"
    if t.update_rule != "delta":
        return f"model.titans.update_rule is {t.update_rule!r} (the fast path is the delta rule)"
    return None


def compiler_missing(device: torch.device) -> str | None:
    """Why torch.compile cannot build kernels for ``device`` here (None: it can)."""
    if device.type == "cpu" and shutil.which("g++") is None and shutil.which("c++") is None:
        return "no C++ compiler (g++) on PATH for torch.compile's CPU kernels"
    if device.type == "mps":
        return "torch.compile is not used on MPS"
    return None


def wants_fast_path(config: Config, device: torch.device) -> tuple[bool, str]:
    """(use the compiled path, why) for ``run.engine`` on ``device``.

    ``eager`` never compiles. ``compiled`` compiles where supported, else runs eager and
    says why. ``auto`` compiles where supported and a compiler is present: measured on
    every preset, the compiled block runs several times the eager step (docs/benchmarks.md),
    and on a GPU the eager engine is launch-bound and slower than the CPU.
    """
    mode = config.run.engine
    if mode == "eager":
        return False, "eager engine (run.engine = eager)"
    reason = unsupported_reason(config) or compiler_missing(device)
    if reason is not None:
        return False, f"eager engine: {reason}"
    return True, f"compiled engine, blocks of {config.run.block} steps"
