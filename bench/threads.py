"""Engine threads beside a busy neighbour: our engine per token at 1 and 2 threads, alone and
beside a CPU hog (a separate Python process spinning ``while True: pass``), interleaved
rounds in one process, medians and per-round ratios. Backs the ``run.threads`` auto rule
(``engine.session.thread_count``).

    PYTHONPATH=. python bench/threads.py [--rounds 5] [--seconds 1.5] [--quick]

Models: the default preset per token; a wide one (d = 256, Titans hidden 256, CMS hidden 512:
d x hidden = 131,072 > 65,536); the default preset chunked at C = 64. Each round measures
every case alone, then starts the hog and measures every case again, then stops it.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.interleave import Case, Ratio, format_tables, timed_rate
from engine.session import Session
from nlviz.config_loader import load_config

MODELS = {
    "default": [],
    "wide d=256": ["model.d=256", "model.titans.hidden=256", "model.cms.hidden=512"],
    "default C=64": ["model.titans.chunk_size=64"],
}


@contextmanager
def hog() -> Iterator[None]:
    """A busy-loop Python process for the duration of the block."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def measure_for(sets: list[str], threads: int, seconds: float) -> Callable[[], float]:
    """A measure() of the default preset with ``sets`` at ``threads`` threads (steps/s)."""
    session = Session(load_config("default", sets + [f"run.threads={threads}"], device="cpu"))
    batch = 64                                         # K; bounded calls when collapsed
    session.step(4 * batch)                            # warm-up

    def call() -> int:
        session.step(batch)
        return batch

    def measure() -> float:
        torch.set_num_threads(threads)
        return timed_rate(call, seconds)
    return measure


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.5, help="time per case per round")
    ap.add_argument("--quick", action="store_true", help="2 rounds, short measurements")
    args = ap.parse_args()
    rounds, seconds = (2, 0.3) if args.quick else (args.rounds, args.seconds)
    base: list[tuple[str, Callable[[], float]]] = [
        (f"{model}, {threads} thr", measure_for(sets, threads, seconds))
        for model, sets in MODELS.items() for threads in (1, 2)]
    cases = [Case(f"{name}, alone", "steps/s", m) for name, m in base] + \
            [Case(f"{name}, beside hog", "steps/s", m) for name, m in base]
    samples: dict[str, list[float]] = {c.name: [] for c in cases}
    n = len(base)
    for r in range(rounds):
        for phase in ("alone", "beside hog"):
            order = [base[(r + k) % n] for k in range(n)]  # rotate the start each round
            if phase == "alone":
                for name, m in order:
                    samples[f"{name}, alone"].append(m())
            else:
                with hog():
                    for name, m in order:
                        samples[f"{name}, beside hog"].append(m())
        print(f"round {r + 1}/{rounds}", file=sys.stderr, flush=True)
    ratios = []
    for model in MODELS:
        ratios.append(Ratio(f"{model}: 2 thr / 1 thr, alone",
                            f"{model}, 2 thr, alone", f"{model}, 1 thr, alone"))
        ratios.append(Ratio(f"{model}: 2 thr / 1 thr, beside hog",
                            f"{model}, 2 thr, beside hog", f"{model}, 1 thr, beside hog"))
        for threads in (1, 2):
            ratios.append(Ratio(f"{model}, {threads} thr: beside hog / alone",
                                f"{model}, {threads} thr, beside hog",
                                f"{model}, {threads} thr, alone"))
    print(f"torch {torch.__version__}, {rounds} interleaved rounds of {seconds:g} s per case")
    print(format_tables([(c.name, c.unit) for c in cases], samples, ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
