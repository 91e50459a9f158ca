"""Engine throughput, interleaved: the HOPE presets per token (eager vs compiled engine) and a
single Titans memory against titans-pytorch's NeuralMemory of the same width, depth and
chunk size at 1 and at 2 threads, every case once per round in ONE process, several rounds.

    PYTHONPATH=. python bench/engine.py [--rounds 5] [--seconds 1.5] [--device cpu|cuda] [--quick]

Prints two markdown tables: per case the median throughput and its spread (min-max over the
rounds); per ratio the median of the per-round ratios and their range (a ratio within one
round shares that round's noise). ``--quick``: 2 rounds, short measurements (a smoke run).

The peer is optional; install it without letting pip touch torch (the ``bench`` extra in
pyproject.toml pins the same version; never part of the test install):

    pip install --no-deps titans-pytorch==0.5.1 assoc-scan axial-positional-embedding einops \\
        einx hyper-connections rotary-embedding-torch tensordict x-transformers tqdm \\
        frozendict pyvers torch-einops-utils loguru

Without it the peer rows and ratios say "n/a".
"""
from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.interleave import Case, Ratio, format_tables, run_rounds, timed_rate
from engine.session import Session, thread_count
from nlviz.config_loader import load_config

DIM = 256                              # single-memory width (the peer's hidden is 4 * DIM)
PEER_TOKENS = {1: 128, 64: 4096}       # peer sequence per call (its C = 1 rate falls with length)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def ours(preset: str, sets: list[str], batch: int, seconds: float, device: str,
         stream: str | None = None) -> Callable[[], float]:
    """A measure() for Session.step(batch), all observables of the config on; the session's
    own thread count (``run.threads``, 0 = auto) is re-applied before every measurement,
    since the cases of a round share the process."""
    session = Session(load_config(preset, sets, stream=stream, device=device))
    threads = thread_count(session.config)
    torch.set_num_threads(threads)
    session.step(4 * batch)                            # warm-up (and compilation, if any)

    def call() -> int:
        session.step(batch)
        _sync(device)
        return batch

    def measure() -> float:
        torch.set_num_threads(threads)
        return timed_rate(call, seconds)
    return measure


def single_memory_sets(dim: int, chunk: int) -> list[str]:
    """Our engine as one Titans memory: d=dim, 2-layer MLP with hidden 4*dim (as the peer).

    Probes, snapshots and the state diagnostics (momentum norm, drift) run every 64-1024
    steps: the peer computes none of them; per-step surprise, update norms and gates stay on.
    """
    return [f"model.d_in={dim}", f"model.d={dim}", "model.titans.variant=\"lmm\"",
            f"model.titans.hidden={4 * dim}", f"model.titans.chunk_size={chunk}",
            "model.cms.periods=[]", "model.titans.gates=\"fixed\"", "model.titans.lr=0.1",
            "run.probe_every=1024", "run.snapshot_every=1024",
            "run.state_every=0", "run.diag_every=64"]


def peer(dim: int, chunk: int, tokens: int, threads: int, seconds: float,
         device: str) -> Callable[[], float] | None:
    """A measure() for titans-pytorch NeuralMemory storing and retrieving ``tokens`` tokens
    in one call at ``threads`` threads; None when titans-pytorch is not installed."""
    try:
        from titans_pytorch import NeuralMemory
    except ImportError:
        return None
    torch.manual_seed(0)
    dev = torch.device("cuda" if device == "cuda" else "cpu")
    mem = NeuralMemory(dim=dim, chunk_size=chunk).to(dev)
    seq = torch.randn(1, tokens, dim, device=dev)

    def call() -> int:
        with torch.no_grad():
            mem(seq)
        _sync(device)
        return tokens

    torch.set_num_threads(threads)
    call()                                             # warm-up

    def measure() -> float:
        torch.set_num_threads(threads)
        return timed_rate(call, seconds)
    return measure


def build(seconds: float, device: str, quick: bool) -> tuple[list[Case], list[Ratio]]:
    """The cases in round order and the ratios reported."""
    cases: list[Case] = []
    ratios: list[Ratio] = []
    for preset in ("default", "consolidation"):
        for eng in ("eager", "compiled"):
            cases.append(Case(f"HOPE {preset}, per token, all observables, {eng}", "steps/s",
                              ours(preset, [f"run.engine=\"{eng}\""], 256, seconds, device)))
        ratios.append(Ratio(f"{preset}: compiled / eager", cases[-1].name, cases[-2].name))
    for chunk in (1, 64):
        tokens = PEER_TOKENS[chunk] // (4 if quick else 1)
        for threads in (1, 2):
            sets = single_memory_sets(DIM, chunk) + [f"run.threads={threads}"]
            label = f"single Titans memory d={DIM}, h={4 * DIM}, C={chunk}, {threads} thr"
            theirs = f"{label}: titans-pytorch"
            # the compiled path is per token; chunked Titans run eager (engine.fast.choose)
            engines = ("eager", "compiled") if chunk == 1 else ("eager",)
            for eng in engines:
                cases.append(Case(f"{label}: ours, {eng}", "tok/s",
                                  ours("default", sets + [f'run.engine="{eng}"'],
                                       max(256, chunk), seconds, device, "noise")))
            p = peer(DIM, chunk, tokens, threads, seconds, device)
            if p is not None:
                cases.append(Case(theirs, "tok/s", p))
            for eng in engines:
                ratios.append(Ratio(f"ours ({eng}) / titans-pytorch, C={chunk}, "
                                    f"{threads} thread(s)", f"{label}: ours, {eng}", theirs))
    return cases, ratios


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.5, help="time per case per round")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--quick", action="store_true", help="2 rounds, short measurements")
    args = ap.parse_args()
    rounds, seconds = (2, 0.3) if args.quick else (args.rounds, args.seconds)
    default_threads = torch.get_num_threads()
    cases, ratios = build(seconds, args.device, args.quick)
    samples = run_rounds(cases, rounds, log=lambda s: print(s, file=sys.stderr, flush=True))
    names = [(c.name, c.unit) for c in cases]
    for r in ratios:                                   # peer rows that could not run
        if r.denominator not in samples:
            names.append((r.denominator, "tok/s"))
    print(f"machine: {platform.processor() or platform.machine()}, {default_threads} torch "
          f"threads by default, torch {torch.__version__}, device {args.device}, {rounds} "
          f"interleaved rounds of {seconds:g} s per case")
    print(format_tables(names, samples, ratios, missing="n/a (titans-pytorch not installed)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
