"""Live per-token engine speed: the steps/s of a Session stepping the default preset one
token at a time (as the app and ``nlviz record`` run it), for one model.

    python bench/live.py --model auto|random|PATH [--rounds 5] [--seconds 3]

Prints one JSON line: the model, the median and every round's steps/s. It also runs
against an older checkout (``PYTHONPATH=OLD python bench/live.py --model random``), whose
``load_config`` has no ``model`` argument: then the preset's random model runs. Compare
engines side by side by alternating the two in one session (docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.session import Session
from nlviz.config_loader import load_config


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="random")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--batch", type=int, default=64, help="steps per Session.step call")
    args = p.parse_args()
    try:
        cfg = load_config("default", device="cpu", model=args.model)
    except TypeError:                         # an engine from before --model
        cfg = load_config("default", device="cpu")
    session = Session(cfg)
    session.step(args.batch)                  # warm-up
    rates = []
    for _ in range(args.rounds):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            session.step(args.batch)
            n += args.batch
        rates.append(n / (time.perf_counter() - t0))
    print(json.dumps({"model": Path(cfg.model.weights).name if getattr(cfg.model, "weights", "")
                      else "random", "threads": torch.get_num_threads(),
                      "median": statistics.median(rates), "rounds": [round(r) for r in rates]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
