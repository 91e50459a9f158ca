"""Knock-out / restore ablations of a recorded run (the replay side of the live ``Ablate``
command). No Qt.

``ablate_recorded(rec, step, level)`` rebuilds the engine at recorded ``step`` the way
"continue live from here" does (``nlviz.replay.branch``: the stored state at or before
``step``, re-played forward to it), then evaluates the intact model and the model with
``level`` knocked out, or with that level's weights put back to the state recorded at
``restore_step``, on the run's held-out windows (``engine.ablation``). The recording and
the rebuilt model are not changed.
"""
from __future__ import annotations

import os

from engine.frames import EvalRecord
from nlviz.errors import UserError
from nlviz.recording.reader import Recording
from nlviz.replay.branch import branch_session


class ReplayAblationError(UserError):
    """The ablation cannot be done on this recording; the message says why (one line)."""


def ablate_recorded(rec: Recording, step: int, level: str,
                    restore_step: int | None = None) -> list[EvalRecord]:
    """[intact, variant] EvalRecords at ``step`` (variant ``knockout:<level>`` or
    ``restore:<level>@<restore_step>``), computed on the CPU.

    Raises
    ------
    ReplayAblationError (a ``UserError``) : no state at or before ``step``, an unknown
        level, no state recorded at exactly ``restore_step``, or an engine that cannot be
        rebuilt (``BranchError`` is a ``UserError`` too and passes through).
    """
    from engine.ablation import AblationError, ablate

    name = os.path.basename(rec.path)
    state = None
    if restore_step is not None:
        kept = rec.state_at_or_before(int(restore_step))
        if kept is None or kept.step != int(restore_step):
            steps = ", ".join(str(int(s)) for s in rec.state_steps()[-8:]) or "none"
            raise ReplayAblationError(f"{name}: no engine state recorded at step "
                                      f"{restore_step} (the last ones: {steps})")
        state = kept.tensors
    branch = branch_session(rec, int(step), device="cpu")
    session = branch.session
    try:
        return ablate(session.model, session.heldout(), int(step), level,
                      None if restore_step is None else int(restore_step), state)
    except AblationError as exc:
        raise ReplayAblationError(f"{name}: ablate {level}: {exc}") from None


__all__ = ["ReplayAblationError", "ablate_recorded"]
