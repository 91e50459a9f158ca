"""Batched seeds against sequential runs: run-steps/s of one ``SeedBatch`` of R seeds
versus R single ``Session`` runs stepped one after another, the same config (default
preset, all observables on: probes, snapshots, states, evaluations).

    python bench/seeds.py [--runs 16 4 64] [--rounds 5] [--preset default] [--engine eager]

Cases are interleaved in one process (each round runs every case, the order alternating
between rounds) at 1 thread; each round steps every run ``max(64, 4096 // R)`` steps (a
multiple of 64, so each round holds the same probe / snapshot cadence). Prints a markdown
table: median run-steps/s of both, the median per-round ratio and its spread (min .. max).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.seeds import SeedBatch
from engine.session import Session
from nlviz.config_loader import load_config


def steps_for(runs: int) -> int:
    """Steps per run and round: about 4096 run-steps, at least 64, a multiple of 64."""
    return max(64, (4096 // runs) // 64 * 64)


def _batched(batch: SeedBatch, singles: list[Session], n: int) -> float:
    """Run-steps/s of one batched step of n steps."""
    t = time.perf_counter()
    batch.step(n)
    return len(singles) * n / (time.perf_counter() - t)


def _sequential(batch: SeedBatch, singles: list[Session], n: int) -> float:
    """Run-steps/s of the single sessions stepped n steps one after another."""
    t = time.perf_counter()
    for s in singles:
        s.step(n)
    return len(singles) * n / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, nargs="+", default=[16], help="seeds per batch (R)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--preset", default="default")
    p.add_argument("--engine", default="eager", help="run.engine of the sequential sessions")
    p.add_argument("--steps", type=int, default=0, help="steps per run and round "
                   "(0: max(64, 4096 // R))")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    config = load_config(args.preset, ["run.threads=1", f"run.engine=\"{args.engine}\""],
                         None, "cpu", 0, None)
    cases = {}
    for R in args.runs:
        n = args.steps or steps_for(R)
        batch = SeedBatch(config, range(R))
        singles = [Session(config.replace("run.seed", s)) for s in range(R)]
        batch.step(max(n, 256))                   # warm-up; builds the held-out windows
        for s in singles:
            s.step(max(n, 256))
        cases[R] = (n, batch, singles, [], [])
    for r in range(args.rounds):
        for R, (n, batch, singles, bat, seq) in cases.items():
            order = (_sequential, _batched) if r % 2 else (_batched, _sequential)
            for case in order:
                rate = case(batch, singles, n)
                (bat if case is _batched else seq).append(rate)
            print(f"round {r + 1} R={R}: batched {bat[-1]:,.0f}, sequential {seq[-1]:,.0f} "
                  f"run-steps/s, ratio {bat[-1] / seq[-1]:.2f}", file=sys.stderr)
    print(f"\nMachine: {platform.processor() or platform.machine()}, "
          f"{platform.python_version()}, torch {torch.__version__}, 1 thread; preset "
          f"{args.preset}, sequential run.engine={args.engine}; {args.rounds} rounds\n")
    print("| R seeds | steps/run/round | batched run-steps/s | sequential run-steps/s | "
          "ratio (median) | ratio spread |")
    print("|---:|---:|---:|---:|---:|---|")
    for R, (n, _, _, bat, seq) in cases.items():
        ratios = [b / s for b, s in zip(bat, seq)]
        print(f"| {R} | {n} | {statistics.median(bat):,.0f} | {statistics.median(seq):,.0f} | "
              f"{statistics.median(ratios):.2f}x | {min(ratios):.2f} .. {max(ratios):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
