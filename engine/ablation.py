"""Which level carries the memory: the held-out losses of the model with one level knocked
out, or with that level's weights put back to an earlier state, beside the intact model's
(``engine.evaluation``; the model is never changed). Shared by the live ``Ablate`` command
and the replay's ``nlviz.replay.ablation``.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from engine.evaluation import Windows, evaluate, level_weights
from engine.frames import EvalRecord
from engine.model import HOPE


class AblationError(ValueError):
    """The ablation asked for cannot be done (unknown level, no state at that step)."""


def ablate(model: HOPE, windows: Windows, step: int, level: str,
           restore_step: int | None = None,
           state: Mapping[str, np.ndarray] | None = None) -> list[EvalRecord]:
    """[intact, variant] EvalRecords at ``step``: variant ``knockout:<level>`` (its
    contribution removed) or, with ``restore_step``, ``restore:<level>@<restore_step>``
    with the level's weights from ``state`` (a ``Session.state_dict()`` taken then).

    Raises
    ------
    AblationError : unknown level, or ``restore_step`` without its state.
    """
    if level not in model.level_names:
        raise AblationError(f"unknown level {level!r} (levels: {', '.join(model.level_names)})")
    if restore_step is None:
        variant = evaluate(model, windows, step, f"knockout:{level}", knockout=level)
    else:
        if state is None:
            raise AblationError(f"no kept state at step {restore_step}")
        try:
            weights = level_weights(model, level, state)
        except (KeyError, ValueError, RuntimeError) as exc:
            raise AblationError(f"the state at step {restore_step} has no usable weights for "
                                f"{level} ({exc})") from None
        variant = evaluate(model, windows, step, f"restore:{level}@{restore_step}",
                           weights=weights)
    return [evaluate(model, windows, step), variant]


def describe(records: list[EvalRecord]) -> str:
    """One line: the held-out loss per regime, intact -> ablated."""
    intact, variant = records
    pairs = ", ".join(f"{a:.4g} -> {b:.4g}" for a, b in zip(intact.losses, variant.losses))
    return f"held-out loss per regime {pairs}"


__all__ = ["AblationError", "ablate", "describe"]
