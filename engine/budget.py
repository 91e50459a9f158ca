"""Memory budget: what a configuration will allocate, and what the machine has.

``estimate_memory(model_cfg, run_cfg)`` adds up, from the config alone, the bytes of every
tensor the engine keeps (parameters, optimizer state, probe reservoir) and a bound on what
one step allocates on top (the open Titans chunk, weight deltas, probe evaluation).
``check_memory`` compares that with the memory available and raises a ``ConfigError``
that names the field most responsible, e.g. ``model.titans.hidden=1000000: the model
needs about 48.2 GB, more than the 23.1 GB available``.

Stdlib only (no torch): ``engine.device.available_memory`` asks torch for a GPU's free
memory; ``host_available_memory`` reads /proc/meminfo and the cgroup limit.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from engine.config import ConfigError, ModelConfig, RunConfig

TITANS_MEMORIES = {"self_modifying": 5, "lmm": 1}


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes the engine needs, by part.

    Attributes
    ----------
    parameters : weights of the model: the Titans memories (W1, W2), the fixed projections
        (W_q, W_k/W_v, W_in, W_out) and every CMS level's W1, W2.
    state : tensors kept beside the weights: momentum, initial copies (for drift),
        last updates, pending CMS gradient sums, the Titans output masks.
    probes : the probe reservoir (keys, targets, CMS inputs and outputs).
    working : a bound on what one call allocates on top: the open Titans chunk's reads,
        weight deltas, probe evaluation, CMS events, and the host copies of the snapshots
        and state captures that one call of ``steps_per_call`` steps returns.
    overhead : allocator slack, half of the above: freed blocks the allocator keeps and
        fragmentation (measured: the peak resident memory of a run was 1.3-1.5 times its
        tensor bytes; tests/engine/test_engine_budget.py checks the bound).
    """

    parameters: int
    state: int
    probes: int
    working: int
    overhead: int

    @property
    def persistent(self) -> int:
        """Bytes held for the whole run (parameters + state + probes)."""
        return self.parameters + self.state + self.probes

    @property
    def total(self) -> int:
        return self.persistent + self.working + self.overhead


STEPS_PER_CALL = 256            # steps per engine call the estimate assumes (``record``'s)


def estimate_memory(model: ModelConfig, run: RunConfig, steps_per_call: int = STEPS_PER_CALL,
                    host: bool = True) -> MemoryEstimate:
    """Bytes the engine built from ``model`` / ``run`` will need (see ``MemoryEstimate``)
    when stepped ``steps_per_call`` steps at a time. ``host=False`` (a CUDA device) leaves
    out the snapshot and state copies, which live in host memory."""
    s = 8 if model.dtype == "float64" else 4
    d, d_in, t = model.d, model.d_in, model.titans
    B = TITANS_MEMORIES.get(t.variant, 5)
    h, hc, Lc, P, C = t.hidden, model.cms.hidden, len(model.cms.periods), run.probe_size, \
        t.chunk_size
    bank = B * 2 * d * h if t.kind == "mlp" else B * d * d      # Titans W1, W2 (or W)
    w2 = B * h * d if t.kind == "mlp" else B * d * d             # the key-side layer
    fixed = 3 * d * d + 2 * d * d_in                             # W_q, W_k/W_v; W_in, W_out
    cms = Lc * 2 * d * hc
    parameters = (bank + fixed + cms) * s
    titans_state = 2 * bank + w2 + B * d + B + 4 * B            # momentum, init, last dW2, masks
    cms_state = Lc * (5 * d * hc + 2 + 2)                       # g1 g2, init w1 w2, last dW2
    state = (titans_state + cms_state) * s
    probes = (d * P + B * d * P + 2 * Lc * d * P) * s
    per_token = B * (8 * d + 8 * h) + Lc * 2 * (d + 2 * hc) + 2 * d + d_in
    working = (
        C * per_token                         # the open chunk's reads and the bank's caches
        + 2 * bank                            # weight deltas and the drift diagnostics
        + (6 * d * hc if Lc else 0)           # one CMS level's event (new weights, deltas)
        + 3 * B * d * P                       # probe evaluation
    ) * s + 2 * max(d, d_in) * min(d, d_in) * 8  # the float64 QR behind W_in
    side = min(run.snapshot_max, h if t.kind == "mlp" else d), min(run.snapshot_max, d)
    cms_side = min(run.snapshot_max, hc), min(run.snapshot_max, d)
    snap = 2 * 4 * (B * side[0] * side[1] + Lc * cms_side[0] * cms_side[1])
    if host:
        working += snap * _per_call(steps_per_call, run.snapshot_every)
    if host and run.state_every > 0:         # host copies of the state captures of a call
        working += (parameters + state + probes) * _per_call(steps_per_call, run.state_every)
    return MemoryEstimate(parameters, state, probes, working,
                          (parameters + state + probes + working) // 2)


def _per_call(steps: int, every: int) -> int:
    """Most records due every ``every`` steps that a call of ``steps`` steps can hold."""
    return min(steps, -(-steps // every))


def host_available_memory() -> int | None:
    """Bytes of host memory available now: ``MemAvailable`` (or physical memory), capped by
    the cgroup (container) limit; None if nothing can be read."""
    avail: int | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        avail = None
    if avail is None:
        try:
            avail = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, OSError, ValueError):
            avail = None
    limit = _cgroup_room()
    if limit is not None:
        avail = limit if avail is None else min(avail, limit)
    return avail


def _cgroup_room() -> int | None:
    """Bytes left under a cgroup v2 / v1 memory limit, if one is set."""
    for max_f, cur_f in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                          "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            text = Path(max_f).read_text().strip()
            if text == "max":
                return None
            limit = int(text)
            if limit >= 1 << 60:                  # v1's "no limit"
                return None
            return max(0, limit - int(Path(cur_f).read_text().strip()))
        except (OSError, ValueError):
            continue
    return None


def format_bytes(n: float) -> str:
    """``48.2 GB``-style size (powers of 1000, like the numbers people compare)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover


# Size fields that can be blamed, with the value they are compared against (the default).
_SIZE_FIELDS = ("model.titans.hidden", "model.cms.hidden", "model.d", "model.d_in",
                "model.cms.periods", "model.titans.chunk_size", "run.probe_size", "model.dtype")


def _with(model: ModelConfig, run: RunConfig, path: str) -> tuple[ModelConfig, RunConfig]:
    """``model`` / ``run`` with the field at ``path`` set back to its default."""
    if path == "run.probe_size":
        return model, replace(run, probe_size=RunConfig.probe_size)
    if path.startswith("model.titans."):
        key = path.rsplit(".", 1)[1]
        return replace(model, titans=replace(model.titans, **{key: getattr(
            type(model.titans)(), key)})), run
    if path == "model.cms.periods":
        base = type(model.cms)()
        return replace(model, cms=replace(model.cms, periods=base.periods, lr=base.lr)), run
    if path.startswith("model.cms."):
        key = path.rsplit(".", 1)[1]
        return replace(model, cms=replace(model.cms, **{key: getattr(type(model.cms)(), key)})), run
    key = path.rsplit(".", 1)[1]
    return replace(model, **{key: getattr(ModelConfig(), key)}), run


def _value_text(model: ModelConfig, run: RunConfig, path: str) -> str:
    if path == "model.cms.periods":
        return f"[{len(model.cms.periods)} levels]" if len(model.cms.periods) > 8 else \
            "[" + ", ".join(str(p) for p in model.cms.periods) + "]"
    node: Any = {"model": model, "run": run}[path.split(".")[0]]
    for part in path.split(".")[1:]:
        node = getattr(node, part)
    return str(node)


def blame(model: ModelConfig, run: RunConfig, host: bool = True) -> str:
    """The size field whose return to its default saves the most memory."""
    base = estimate_memory(model, run, host=host).total
    best, saved = _SIZE_FIELDS[0], -1
    for path in _SIZE_FIELDS:
        smaller = estimate_memory(*_with(model, run, path), host=host).total
        if base - smaller > saved:
            best, saved = path, base - smaller
    return best


def check_memory(model: ModelConfig, run: RunConfig, available: int | None,
                 where: str = "available", host: bool = True) -> MemoryEstimate:
    """Raise ``ConfigError`` naming the most responsible field if the engine would need more
    than ``available`` bytes (None: unknown, nothing is refused). Returns the estimate.
    ``host``: the memory is the host's (see ``estimate_memory``)."""
    est = estimate_memory(model, run, host=host)
    if available is not None and est.total > available:
        path = blame(model, run, host)
        raise ConfigError(f"{path}={_value_text(model, run, path)}: the model needs about "
                          f"{format_bytes(est.total)}, more than the "
                          f"{format_bytes(available)} {where}")
    return est


__all__ = ["MemoryEstimate", "check_memory", "estimate_memory", "format_bytes",
           "host_available_memory"]
