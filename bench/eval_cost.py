"""What the frozen evaluations (``run.eval_every``) cost the live engine: steps/s of the
default preset stepped per token, with evaluations off and at several cadences, in
interleaved rounds on one thread (so a load change hits every setting alike).

    python bench/eval_cost.py [--every 0 256 1024] [--rounds 5] [--steps 2048] [--preset default]

Prints one JSON line per cadence: the median steps/s and CPU time per step (this thread's,
less sensitive to other processes), their cost relative to "off", every round; then the
CPU time of one evaluation alone.
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
    p.add_argument("--every", type=int, nargs="+", default=[0, 256, 1024])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=2048, help="steps per round and cadence")
    p.add_argument("--batch", type=int, default=64, help="steps per Session.step call")
    p.add_argument("--preset", default="default")
    args = p.parse_args()
    torch.set_num_threads(1)
    sessions = {e: Session(load_config(args.preset, [f"run.eval_every={e}", "run.threads=1"],
                                       device="cpu")) for e in args.every}
    for s in sessions.values():
        s.step(max(args.batch, 1024))           # warm-up (held-out windows built)
    rates: dict[int, list[float]] = {e: [] for e in args.every}
    cpu: dict[int, list[float]] = {e: [] for e in args.every}     # CPU s per step
    n = args.steps // args.batch * args.batch
    for _ in range(args.rounds):
        for e, s in sessions.items():
            t0, c0 = time.perf_counter(), time.thread_time()
            for _ in range(args.steps // args.batch):
                s.step(args.batch)
            rates[e].append(n / (time.perf_counter() - t0))
            cpu[e].append((time.thread_time() - c0) / n)
    off = statistics.median(rates[0]) if 0 in rates else None
    cpu_off = statistics.median(cpu[0]) if 0 in cpu else None
    for e, r in rates.items():
        med, c = statistics.median(r), statistics.median(cpu[e])
        print(json.dumps({"eval_every": e, "median_steps_per_s": round(med, 1),
                          "cost": None if off is None else round(1 - med / off, 4),
                          "cpu_ms_per_step": round(1e3 * c, 4),
                          "cpu_cost": None if cpu_off is None else round(c / cpu_off - 1, 4),
                          "rounds": [round(x) for x in r]}))
    s = next(iter(sessions.values()))           # one evaluation alone, CPU time
    from engine.evaluation import evaluate
    w = s.heldout()
    c0 = time.thread_time()
    for _ in range(50):
        evaluate(s.model, w, 0)
    print(json.dumps({"cpu_ms_per_evaluation": round(1e3 * (time.thread_time() - c0) / 50, 3),
                      "regimes": w.n_regimes, "window": len(w.x[0]) if w.x[0] is not None else 0}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
