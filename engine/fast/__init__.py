"""The compiled fast path: the HOPE engine advanced in fixed blocks of K steps through one
compiled graph, with the state in fixed buffers updated in place, live hyperparameters and
CMS events as tensors, and the observables copied to the host once per block.

``engine.model.HOPE.step`` stays the reference; ``token.token_step`` is the same math
for one token with every step-count decision turned into a mask, ``state`` binds the
state to fixed buffers, ``runner.FastPath`` compiles and drives it, ``choose`` says
where the fast path is supported and picked.
"""
from engine.fast.choose import unsupported_reason, wants_fast_path
from engine.fast.runner import FastPath

__all__ = ["FastPath", "unsupported_reason", "wants_fast_path"]
