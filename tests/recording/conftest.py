"""Shared fixtures: a real tiny-preset session recorded to a temp file."""
from __future__ import annotations

import pytest

from engine.frames import FrameBatch


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """(path, spec, concatenated FrameBatch the session yielded) for 300 real steps."""
    from engine.session import Mark, Session
    from nlviz.config_loader import load_config
    from nlviz.recording.writer import Recorder

    session = Session(load_config("tiny"))
    path = tmp_path_factory.mktemp("rec") / "run.h5"
    batches = []
    with Recorder(path, session.spec, session.config.to_dict(), device=session.device_name,
                  stream=session.stream_description, state_template=session.state_dict(),
                  queue_size=2) as rec:
        for i in range(3):
            if i == 1:
                session.apply(Mark("pause", "user pause"))
            b = session.step(100)
            rec.append(b)  # copies snapshot arrays (the engine may reuse their memory)
            batches.append(b)
    return path, session.spec, FrameBatch.concat(batches)
