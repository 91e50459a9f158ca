"""Make the golden recordings the reader (and "continue live") must keep reading.

- ``recording_v1_0.h5``: schema 1.0, synthetic (``main``), written before 1.1.
- ``recording_v1_1.h5``: schema 1.1, a real 120-step tiny-preset run with engine states
  every 16 steps and a live parameter change at step 40 (recorded as the sentence
  ``model.titans.lr=0.08 (live)``) (``real_run``), written at the last 1.1 commit.

Run from the repository root: ``PYTHONPATH=. python tests/data/make_golden.py [1.0|1.1]``.
Regenerate only when adding a new schema version, with the code of that version (then
keep the old files too): the files are what an older nlviz wrote.
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS = 600


def main() -> None:
    """The synthetic 1.0 file (3 levels, 600 steps, a pause event at step 300)."""
    from engine.frames import EventRecord
    from nlviz.recording.writer import Recorder
    from tests.support.synthetic import state_template, synthetic_batch, synthetic_spec

    out = HERE / "recording_v1_0.h5"
    spec = synthetic_spec(n_levels=3)
    with Recorder(out, spec, {"golden": True, "version": "1.0"}, device="cpu",
                  stream="synthetic stream", state_template=state_template(spec)) as rec:
        for start in range(0, STEPS, 200):
            b = synthetic_batch(spec, start, 200)
            if start == 200:
                b.events.append(EventRecord(300, "pause", "user pause"))
            rec.append(b)
    print(f"wrote {out}")


def real_run() -> None:
    """The real 1.1 file: 120 tiny-preset steps, states every 16, lr change at step 40.
    Per-step chunks of 128 rows (not 4096) keep the file small; chunk sizes are not part
    of the format."""
    from engine.commands import SetParam
    from engine.session import Session
    from nlviz.config_loader import load_config
    from nlviz.recording import filewriter
    from nlviz.recording.writer import Recorder

    filewriter._series_dataset.__defaults__ = ((), 128, None)
    out = HERE / "recording_v1_1.h5"
    s = Session(load_config("tiny", ["run.state_every=16"]))
    with Recorder(out, s.spec, s.config.to_dict(), device=s.device_name,
                  stream=s.stream_description, state_template=s.state_dict(),
                  device_requested="cpu") as rec:
        rec.append(s.step(40))
        s.apply(SetParam("model.titans.lr", 0.08))
        rec.append(s.step(40))
        rec.append(s.step(40))
    print(f"wrote {out}")


if __name__ == "__main__":
    real_run() if sys.argv[1:] == ["1.1"] else main()
