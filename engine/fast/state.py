"""The model's mutable state as one ordered list of tensors, so a compiled block can read
it as inputs and write it back into fixed buffers in place (CUDA graphs need fixed
addresses; the CPU saves an allocation per tensor and step).

Order: the Titans bank's weights, momenta, last update, weight norm, held diagnostics
(momentum norm, drift); then per CMS level ``CMSLevel.STATE``; then ``prev_o``, ``prev_x``.
"""
from __future__ import annotations

import torch
from torch import Tensor

from engine.cms import CMSLevel
from engine.model import HOPE


def get_state(model: HOPE) -> list[Tensor]:
    """The tensors a step reads and replaces, in a fixed order (references)."""
    t = model.titans
    diag = t.state_metrics()
    out = [*t.bank.params(), *t.mom, t.last_update, t.w_norm, diag[0], diag[1]]
    for lv in model.cms.levels:
        out += [getattr(lv, name) for name in CMSLevel.STATE]
    assert model.prev_o is not None, "the fast path starts after the first step"
    out += [model.prev_o, model.prev_x]
    return out


def set_state(model: HOPE, tensors: list[Tensor]) -> None:
    """Point the model's state at ``tensors`` (ordered as ``get_state``; no copy)."""
    t = model.titans
    it = iter(tensors)
    n_params = len(t.bank.params())
    t.bank.set_params([next(it) for _ in range(n_params)])
    t.mom = [next(it) for _ in range(n_params)]
    t.last_update, t.w_norm = next(it), next(it)
    t._diag = (next(it), next(it))
    for lv in model.cms.levels:
        for name in CMSLevel.STATE:
            setattr(lv, name, next(it))
    model.prev_o, model.prev_x = next(it), next(it)


def bind_buffers(model: HOPE) -> list[Tensor]:
    """Give every state tensor its own contiguous buffer (a fresh model's weights are
    views of its starting weights, which an in-place write must never touch) and return
    them; the model's state then lives in these buffers."""
    buffers = [t.detach().clone(memory_format=torch.contiguous_format)
               for t in get_state(model)]
    set_state(model, buffers)
    model.cms.refresh_state()
    return buffers


def write_back(model: HOPE, buffers: list[Tensor]) -> None:
    """Copy the model's current state into ``buffers`` and point the model at them again
    (inside the compiled graph this becomes the in-place write of each buffer)."""
    for buf, new in zip(buffers, get_state(model)):
        if new is not buf:
            buf.copy_(new)
    set_state(model, buffers)
