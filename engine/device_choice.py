"""``--device auto``: measure this model on each available device once, take the faster.

A GPU is not always faster: a small model stepped per token launches a few hundred tiny
kernels per step, and on a fast CPU that loses to the CPU (issue 12). So ``auto`` builds
the session's own config on every candidate, runs a short warm-up and a short timed run
(``MEASURE_SECONDS`` per device) exactly as the app steps it (``Session.step`` in blocks,
every observable copied to the host), and picks the faster; a tie goes to the CPU. The
result is cached per process and per (model config without its weights path, device
kinds, ``run.engine``, ``run.block``, ``run.threads``), so a Reset or a rebuild with the
same sizes does not measure again.

The per-device measurement is a plain function ``Measure = (config, kind) -> steps/s``:
tests pass fakes, and another engine (``run.engine``) can pass its own.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import torch

from engine.config import Config
from engine.device import DeviceChoice, device_words

Measure = Callable[[Config, str], float]
MEASURE_SECONDS = 0.5      # timed run per device (after one warm-up batch)
MAX_BATCHES = 64           # at most this many timed batches per device

_cache: dict[tuple[Any, ...], DeviceChoice] = {}


def cache_key(config: Config, kinds: tuple[str, ...]) -> tuple[Any, ...]:
    """What the measurement depends on: the model config without its weights path (the
    values of the weights do not change the speed), the candidate kinds and the engine."""
    model = config.to_dict()["model"]
    model = {k: v for k, v in model.items() if k not in ("weights", "weights_sha256")}
    run = config.run
    return (json.dumps(model, sort_keys=True, default=str), tuple(kinds), run.engine,
            run.block, run.threads)


def clear_cache() -> None:
    """Forget every measurement (tests; a process that wants to measure again)."""
    _cache.clear()


def _sync(kind: str) -> None:
    if kind == "cuda":
        torch.cuda.synchronize()
    elif kind == "mps":
        torch.mps.synchronize()


def measure_session(config: Config, kind: str, budget_s: float = MEASURE_SECONDS) -> float:
    """Steps/s of ``Session(config on kind).step(K)``: one warm-up batch, then timed batches
    of K = max(run.block, titans chunk) steps until ``budget_s`` has passed (at least one,
    at most ``MAX_BATCHES``), the device synchronised before the clock is read."""
    from engine.session import Session  # the session calls this module: import when used

    session = Session(config.replace("run.device", kind))
    n = max(1, config.run.block, config.model.titans.chunk_size)
    session.step(n)                              # warm-up: lazy init, kernels, allocator
    _sync(kind)
    steps, t0 = 0, time.perf_counter()
    while True:
        session.step(n)
        _sync(kind)
        steps += n
        elapsed = time.perf_counter() - t0
        if elapsed >= budget_s or steps >= MAX_BATCHES * n:
            return steps / max(elapsed, 1e-9)


def _name(kind: str) -> str:
    try:
        return device_words(kind)
    except (RuntimeError, AssertionError):       # no such device here (a test's fake)
        return kind.upper()


def describe_choice(best: str, rates: dict[str, float], failed: dict[str, str]) -> str:
    """``"auto: CPU, 1,210 steps/s against CUDA 480 steps/s measured at start"``."""
    others = [f"{k.upper()} {r:,.0f} steps/s" for k, r in rates.items() if k != best]
    text = f"auto: {best.upper()}, {rates[best]:,.0f} steps/s"
    if others:
        text += " against " + ", ".join(others)
    text += " measured at start"
    if failed:
        text += "; " + ", ".join(f"{k.upper()} failed ({why})" for k, why in failed.items())
    return text


def choose_device(config: Config, kinds: tuple[str, ...],
                  measure: Measure = measure_session) -> DeviceChoice:
    """The faster of ``kinds`` for ``config`` by ``measure`` (steps/s), ties to the
    earlier kind (the CPU comes first); cached per ``cache_key``. A kind whose measurement
    raises is left out, with the reason in the choice's text."""
    key = cache_key(config, kinds)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    rates: dict[str, float] = {}
    failed: dict[str, str] = {}
    for kind in kinds:
        try:
            rates[kind] = float(measure(config, kind))
        except Exception as exc:                 # noqa: BLE001 - any failure rules it out
            first = (str(exc).splitlines() or [""])[0][:80]
            failed[kind] = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if not rates:
        choice = DeviceChoice(torch.device("cpu"), "CPU", None,
                              "auto: CPU, measuring failed on every device")
    else:
        best = max(rates, key=lambda k: (rates[k], -kinds.index(k)))
        choice = DeviceChoice(torch.device(best), _name(best), None,
                              describe_choice(best, rates, failed), tuple(rates.items()))
    _cache[key] = choice
    return choice
