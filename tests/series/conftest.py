"""A real tiny-preset engine run, recorded to .h5 while the same batches fill RunBuffers."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from engine.frames import EvalRecord, FrameBatch
from nlviz.series.ring import RunBuffers

N_STEPS = 400
PROBES_KEPT = 6
INPUTS_KEPT = 32


@dataclass
class TwinRun:
    """One run seen both ways: the recording's path, the live buffers, the batches."""

    path: Path
    live: RunBuffers
    ref: FrameBatch


@pytest.fixture(scope="module")
def twin_run(tmp_path_factory: pytest.TempPathFactory) -> TwinRun:
    from engine.session import Session
    from nlviz.config_loader import load_config
    from nlviz.recording.writer import Recorder

    path = tmp_path_factory.mktemp("twin") / "run.h5"
    session = Session(load_config("tiny", []))
    live = RunBuffers(session.spec, capacity=1000, margin=100, probes_kept=PROBES_KEPT,
                      inputs_kept=INPUTS_KEPT)
    batches = []
    with Recorder(path, session.spec, session.config.to_dict(), device=session.device_name,
                  stream=session.stream_description, queue_size=2) as rec:
        done = 0
        while done < N_STEPS:
            b = session.step(min(70, N_STEPS - done))
            k = float(len(batches))        # an evaluation per batch (as the engine attaches)
            b.evals.append(EvalRecord(int(b.step[-1]), np.array([k, np.nan], np.float32),
                                      np.array([k + 1, 1.0], np.float32), "" if k % 2 else
                                      "knockout:cms1"))
            rec.append(b)
            live.push(b)
            batches.append(b)
            done += len(b)
    return TwinRun(path, live, FrameBatch.concat(batches))
