"""Replay ablations (``ablate_recorded``) give what the live ``Ablate`` command gives at the
same step of the same run."""
from __future__ import annotations

import numpy as np
import pytest

from engine.commands import Ablate
from nlviz.errors import UserError
from nlviz.recording.reader import Recording
from nlviz.replay.ablation import ReplayAblationError, ablate_recorded


def _live(step: int, command: Ablate):
    from engine.session import Session
    from nlviz.config_loader import load_config

    s = Session(load_config("tiny", ["run.state_every=16"]))
    s.step(step + 1)
    ev = s.apply(command)
    return ev, s.step(1).evals


@pytest.mark.parametrize(("level", "restore"), [("cms1", None), ("memory", 159)])
def test_replay_ablation_equals_the_live_command(tiny_run, level, restore):
    path, _batch = tiny_run
    with Recording.open(path) as rec:
        got = ablate_recorded(rec, 200, level, restore)
    ev, want = _live(200, Ablate(level, restore))
    assert ev.kind == "ablation"
    variant = f"knockout:{level}" if restore is None else f"restore:{level}@{restore}"
    assert [(r.step, r.variant) for r in got] == [(200, ""), (200, variant)]
    assert [(r.step, r.variant) for r in want] == [(200, ""), (200, variant)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.losses, w.losses, rtol=1e-6)
        np.testing.assert_allclose(g.copy, w.copy, rtol=1e-6)
    assert not np.array_equal(got[0].losses, got[1].losses)


def test_replay_ablation_refuses_with_one_line(tiny_run):
    path, _batch = tiny_run
    with Recording.open(path) as rec:
        with pytest.raises(ReplayAblationError) as info:
            ablate_recorded(rec, 200, "cms1", restore_step=160)
        assert str(info.value) == ("run.h5: no engine state recorded at step 160 (the last "
                                   "ones: 287, 303, 319, 335, 351, 367, 383, 399)")
        with pytest.raises(ReplayAblationError, match="ablate nope: unknown level 'nope'"):
            ablate_recorded(rec, 200, "nope")
        with pytest.raises(UserError, match="no engine state at or before step 3"):
            ablate_recorded(rec, 3, "cms1")
