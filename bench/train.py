"""Meta-training speed on this machine: outer steps/s and tokens/s of ``nlviz train``'s
loop for the shipped default training config, at a few batch sizes, rounds interleaved.

    python bench/train.py [--rounds 3] [--steps 20] [--batches 8 16 32] [--threads 1]

Prints a markdown table: median and range of outer steps/s over the rounds, and
tokens/s (batch x segment tokens per outer step).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.outer import OuterLoop
from nlviz.training.config import load_train_config


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=20, help="outer steps timed per round")
    p.add_argument("--batches", type=int, nargs="+", default=[8, 16, 32])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model, train = load_train_config("default")
    loops = {b: OuterLoop(model, replace(train, batch=b), torch.device(args.device))
             for b in args.batches}
    for loop in loops.values():          # warm-up: the first round of episodes
        loop.step()
    rates: dict[int, list[float]] = {b: [] for b in args.batches}
    for _ in range(args.rounds):
        for b, loop in loops.items():    # interleaved: a busy neighbour hits every case
            t0 = time.perf_counter()
            for _ in range(args.steps):
                loop.step()
            rates[b].append(args.steps / (time.perf_counter() - t0))
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} thread(s), "
          f"torch {torch.__version__}, device {args.device}, segment {train.segment} tokens, "
          f"train chunk {train.chunk}\n")
    print("| batch | outer steps/s (median, min-max) | tokens/s |\n|---|---|---|")
    for b, r in rates.items():
        med = statistics.median(r)
        print(f"| {b} | {med:.2f} ({min(r):.2f}-{max(r):.2f}) | {med * b * train.segment:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
