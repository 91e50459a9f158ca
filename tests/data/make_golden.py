"""Make ``tests/data/recording_v1_0.h5``: the schema 1.0 golden file the reader must open.

Run from the repository root: ``PYTHONPATH=. python tests/data/make_golden.py``.
Regenerate only when adding a new schema version (then keep the old file too).
"""
from __future__ import annotations

from pathlib import Path

from engine.frames import EventRecord
from nlviz.recording.writer import Recorder
from tests.support.synthetic import state_template, synthetic_batch, synthetic_spec

OUT = Path(__file__).resolve().parent / "recording_v1_0.h5"
STEPS = 600


def main() -> None:
    spec = synthetic_spec(n_levels=3)
    with Recorder(OUT, spec, {"golden": True, "version": "1.0"}, device="cpu",
                  stream="synthetic stream", state_template=state_template(spec)) as rec:
        for start in range(0, STEPS, 200):
            b = synthetic_batch(spec, start, 200)
            if start == 200:
                b.events.append(EventRecord(300, "pause", "user pause"))
            rec.append(b)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
