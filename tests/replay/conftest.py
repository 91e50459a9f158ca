"""Fixtures: a real tiny-preset run recorded with frequent engine states, and a synthetic one."""
from __future__ import annotations

import pytest

from engine.frames import FrameBatch

N_STEPS = 400


def record_session(path, overrides=(), steps=N_STEPS, batch=100, parent=None):
    """Record ``steps`` real tiny-preset steps; returns the concatenated FrameBatch."""
    from engine.session import Session
    from nlviz.config_loader import load_config
    from nlviz.recording.writer import Recorder

    session = Session(load_config("tiny", ["run.state_every=16", *overrides]))
    batches = []
    with Recorder(path, session.spec, session.config.to_dict(), device=session.device_name,
                  stream=session.stream_description, state_template=session.state_dict(),
                  queue_size=2, parent=parent) as rec:
        done = 0
        while done < steps:
            b = session.step(min(batch, steps - done))
            rec.append(b)
            batches.append(b)
            done += len(b)
    return FrameBatch.concat(batches)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """(path, FrameBatch) of a 400-step tiny-preset recording with states every 16 steps."""
    path = tmp_path_factory.mktemp("replay") / "run.h5"
    return path, record_session(path)


@pytest.fixture(scope="module")
def synth_run(tmp_path_factory):
    """Path of a 50,000-step synthetic recording (4 levels, sparse records every 64)."""
    from nlviz.recording.writer import Recorder
    from tests.support.synthetic import synthetic_batch, synthetic_spec

    spec = synthetic_spec(4)
    path = tmp_path_factory.mktemp("synth") / "synth.h5"
    with Recorder(path, spec, {"model": {"d": 8}, "run": {"seed": 1}}, device="cpu",
                  stream="synthetic") as rec:
        for start in range(0, 50_000, 5000):
            rec.append(synthetic_batch(spec, start, 5000, sparse_every=64, state_every=0))
    return path
