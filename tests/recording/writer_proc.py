"""Subprocess helper: record a synthetic run slowly (for kill -9 and SWMR tests).

Usage: python writer_proc.py OUT.h5 N_BATCHES BATCH_ROWS SLEEP_S
"""
from __future__ import annotations

import sys
import time

from nlviz.recording.writer import Recorder
from tests.support.synthetic import state_template, synthetic_batch, synthetic_spec


def main() -> None:
    out, n_batches, rows, sleep = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    spec = synthetic_spec()
    with Recorder(out, spec, {"synthetic": True}, device="cpu", stream="synthetic",
                  state_template=state_template(spec), flush_interval=0.1) as rec:
        print("ready", flush=True)
        for i in range(n_batches):
            rec.append(synthetic_batch(spec, i * rows, rows))
            time.sleep(sleep)


if __name__ == "__main__":
    main()
