"""Batch sizes in whole blocks (Qt-free, torch-free).

The compiled engine advances in fixed blocks of K = ``run.block`` steps and runs any
remainder eagerly (slower), so the engine loop asks for whole blocks whenever a batch
holds at least K steps: at "max" always (at least one block), at a paced speed when its
share of steps is K or more. Fewer than K steps (a slow paced speed, the last steps of a
``StepN``, a single step) stay exact.
"""
from __future__ import annotations


def block_batch(n: int, block: int, cap: int) -> int:
    """``n`` steps, at most ``cap``, rounded down to a multiple of ``block`` when
    ``n >= block`` (``cap`` too, but never below one block); ``n < block`` is kept."""
    k = max(1, int(block))
    cap = max(k, cap // k * k)
    n = min(int(n), cap)
    return n // k * k if n >= k else n


__all__ = ["block_batch"]
