"""Drive a model through the compiled block: masks from the step count, the compiled
U-step graph called K/U times per block, state in fixed buffers, a fault restores the
block's start (the session then replays it eagerly, so the faulty step stays exact).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from engine.fast.state import bind_buffers, get_state, set_state, write_back
from engine.fast.token import token_step
from engine.model import HOPE

# Tokens per compiled call. Compile time grows with it (about 35 s a token, cold, on the
# 2-core machine of docs/benchmarks.md) and the per-call cost shrinks: 1 token ran 2.7-4.1x
# the eager step, 8 tokens 6.0-8.9x.
UNROLL = 8


# One graph per model structure (sizes, dtype, runs, device), all traced from the one
# ``FastPath._chunk``: a session that rebuilds at other sizes, or a test suite, can hold
# more than dynamo's default 8 graphs for a function. A structure compiles once either way.
GRAPHS_PER_FUNCTION = 64
torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit,
                                           GRAPHS_PER_FUNCTION)


class BlockOut(NamedTuple):
    """What m steps produced, on the model's device: metrics (..., m, L, M), scalars
    (..., m, 2), keys (..., m, d), Titans targets (..., m, B, d), CMS chain input/outputs
    (..., m, Lc + 1, d) or None; leading axes: the model's independent runs."""

    metrics: Tensor
    scalars: Tensor
    keys: Tensor
    targets: Tensor
    cms_io: Tensor | None


class FastPath:
    """The compiled block path of one ``HOPE`` model (per-token Titans writes).

    ``advance(xs)`` runs m steps (a multiple of ``unroll``) through the compiled graph and
    advances ``model.count``. The first call compiles (half a minute to minutes);
    later calls, phase changes and live edits (``set_hyper`` writes the tensors in place)
    reuse the graph.
    """

    def __init__(self, model: HOPE, unroll: int | None = None) -> None:
        self.model = model
        self.unroll = unroll or UNROLL
        model.titans.use_live_tensors()
        model.cms.use_live_tensors()
        self.buffers: list[Tensor] | None = None
        self.compiled_once = False    # a compiled call has completed (the graph exists)
        self.periods = torch.tensor([lv.period for lv in model.cms.levels], dtype=torch.long)
        options: dict[str, Any] = {}
        mode = None
        if model.device.type == "cuda":
            mode = "reduce-overhead"                      # CUDA graphs: one launch per call
        else:
            options["cpp_wrapper"] = True                 # no Python between the kernels
        self._compiled = torch.compile(self._chunk, fullgraph=True, dynamic=False,
                                       mode=mode, options=options or None)

    def ready(self) -> bool:
        """The model can take a compiled block now (past its first step: ``prev_o`` set)."""
        return self.model.prev_o is not None

    def snapshot(self) -> list[Tensor]:
        """Copies of the state, to restore if a block faults."""
        return [t.clone() for t in get_state(self.model)]

    def restore(self, saved: list[Tensor], count: int) -> None:
        """Back to a ``snapshot`` taken at step ``count``."""
        buffers = self._bind()
        for buf, old in zip(buffers, saved):
            buf.copy_(old)
        set_state(self.model, buffers)
        self.model.cms.refresh_state()
        self.model.count = count

    def advance(self, xs: Tensor, diag_every: int) -> BlockOut:
        """Run the steps xs (..., m, d_in) (m a multiple of ``unroll``) compiled."""
        model, U = self.model, self.unroll
        m = xs.shape[-2]
        assert m % U == 0 and self.ready()
        buffers = self._bind()
        fire, diag = self.masks(model.count, m, diag_every)
        # contiguous: a slice of a batched (R, n, d_in) input has a stride that depends on
        # n, and the graph is specialised to its inputs' strides
        outs = [self._call(xs[..., i:i + U, :].contiguous(), fire[i:i + U], diag[i:i + U],
                           buffers) for i in range(0, m, U)]
        self.compiled_once = True
        model.count += m
        axes = (-3, -2, -2, -3, -3)                  # each output's step axis
        metrics, scalars, keys, targets, io = (
            torch.cat(parts, axis) if parts[0] is not None else None
            for parts, axis in zip(zip(*outs), axes))
        assert metrics is not None and scalars is not None and keys is not None \
            and targets is not None
        return BlockOut(metrics, scalars, keys, targets, io)

    def _call(self, xs: Tensor, fire: Tensor, diag: Tensor, buffers: list[Tensor]
              ) -> tuple[Tensor | None, ...]:
        """One compiled call. Under CUDA graphs the next replay reuses the outputs' memory,
        so they are copied out first (the state buffers are static and written in place)."""
        if self.model.device.type != "cuda":
            return self._compiled(xs, fire, diag, buffers)
        torch.compiler.cudagraph_mark_step_begin()
        out = self._compiled(xs, fire, diag, buffers)
        return tuple(None if t is None else t.clone() for t in out)

    def masks(self, count: int, m: int, diag_every: int) -> tuple[Tensor, Tensor]:
        """(fire (m, Lc), diag (m,)) bool for the m steps after ``count`` steps: level l
        fires where the step count reaches a multiple of its period (as ``HOPE.step``)."""
        after = torch.arange(count + 1, count + m + 1)[:, None]      # (m, 1) counts after
        fire = after % self.periods[None, :] == 0                    # (m, Lc)
        diag = (after[:, 0] % max(diag_every, 1)) == 0
        dev = self.model.device
        return fire.to(dev), diag.to(dev)

    def _bind(self) -> list[Tensor]:
        """The state buffers, re-bound when an eager step replaced the model's tensors."""
        current = get_state(self.model)
        if self.buffers is None or any(c is not b for c, b in zip(current, self.buffers)):
            if self.buffers is None or any(c.shape != b.shape for c, b in
                                           zip(current, self.buffers)):
                self.buffers = bind_buffers(self.model)
                if self.model.device.type == "cuda":
                    for buf in self.buffers:
                        torch._dynamo.mark_static_address(buf)
            else:
                write_back(self.model, self.buffers)
        return self.buffers

    def _chunk(self, xs: Tensor, fire: Tensor, diag: Tensor, buffers: list[Tensor]
               ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
        """U tokens xs (..., U, d_in) through ``token_step``; the state is written back into
        ``buffers`` in place. The traced body of the compiled graph."""
        model = self.model
        set_state(model, buffers)
        outs = [token_step(model, xs[..., t:t + 1, :], fire[t], diag[t])
                for t in range(xs.shape[-2])]
        write_back(model, buffers)
        metrics, scalars, keys, targets, io = zip(*outs)
        return (torch.cat(metrics, -3), torch.cat(scalars, -2), torch.cat(keys, -1).mT,
                torch.cat(targets, -1).movedim(-1, -3),
                None if io[0] is None else torch.cat(io, -1).movedim(-1, -3))


def steps_for(m: int, unroll: int) -> int:
    """The compiled share of m steps (a whole number of calls)."""
    return m - m % unroll


__all__ = ["UNROLL", "BlockOut", "FastPath", "steps_for"]
