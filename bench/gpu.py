"""GPU benchmark (issue 12 targets), prepared so anyone with a GPU can run it in ~5 minutes:

    python bench/gpu.py                      # CUDA if present (else the CPU, with a note)
    python bench/gpu.py --device cpu --quick # the CPU branch, a smoke run in seconds
    python bench/gpu.py --budget-seconds 300 # bound on the whole run (default 300 s)

The compiled rows compile first (CUDA: Triton kernels and a CUDA graph; the CPU: C++), which
takes minutes on a cold cache and is not counted in the budget's rounds.

Prints a markdown table: the machine (GPU, torch and CUDA versions), then the default preset
per token with every observable copied to the host (``Session.step``), for ``run.engine``
eager and compiled, on the CPU and on the device; one chunked (C = 64) Titans memory against
titans-pytorch's NeuralMemory of the same width on the device; what ``--device auto`` picks
with its measured numbers; and the check "auto never slower than CPU".

Every case runs once per round, the cases interleaved, for several rounds; the table gives
the median over rounds and the spread (min..max). Rounds continue while the budget lasts.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.engine import peer, single_memory_sets  # noqa: E402
from engine import device_choice  # noqa: E402
from engine.device import available_kinds  # noqa: E402
from engine.session import Session, _set_threads  # noqa: E402
from nlviz.config_loader import load_config  # noqa: E402

DIM = 256                    # width of the single-memory comparison (as bench/engine.py)
THREADS = torch.get_num_threads()    # torch's default here, before any Session sets its own
TARGETS = {"per_token": 50_000}
SLICE_S = {True: 0.05, False: 2.0}   # seconds per case per round (quick, full)


@dataclass
class Case:
    """One row: ``run(seconds)`` runs it for about ``seconds`` and returns its rate."""

    name: str
    device: str
    unit: str
    run: Callable[[float], float]
    rates: list[float] = field(default_factory=list)
    note: str = ""


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def session_case(name: str, preset: str, sets: list[str], device: str, batch: int,
                 stream: str | None = None, unit: str = "steps/s") -> Case:
    """``Session.step(batch)`` repeated for a time slice (one warm-up batch when built)."""
    cfg = load_config(preset, sets, stream=stream, device=device)
    session = Session(cfg)
    dev = session.device.type
    session.step(batch)                                   # warm-up: init, compile, kernels
    _sync(dev)

    def run(seconds: float) -> float:
        _set_threads(session.config)                      # the peer may have changed them
        done, t0 = 0, time.perf_counter()
        while True:
            session.step(batch)
            _sync(dev)
            done += batch
            took = time.perf_counter() - t0
            if took >= seconds:
                return done / took
    label = session.device_name if device != "auto" else f"auto -> {session.device_name}"
    return Case(name, label, unit, run)


def peer_case(device: str, chunk: int, tokens: int, seconds: float) -> Case | None:
    """titans-pytorch's NeuralMemory (``bench/engine.py``'s ``peer``) at torch's default
    thread count, as a user runs it; None if it is not installed."""
    measure = peer(DIM, chunk, tokens, THREADS, seconds, device)
    if measure is None:
        return None
    return Case(f"titans-pytorch NeuralMemory d={DIM}, C={chunk}", device.upper(), "tok/s",
                lambda _seconds: measure())


def machine_line(device: str) -> str:
    """GPU name, torch and CUDA versions, CPU threads."""
    gpu = "no GPU"
    if device == "cuda" and torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        gpu = f"{p.name} ({p.total_memory / 2**30:.0f} GiB)"
    elif device == "mps":
        gpu = "Apple GPU (MPS)"
    return (f"machine: {gpu}; CPU {platform.processor() or platform.machine()}, "
            f"{torch.get_num_threads()} torch threads; torch {torch.__version__}, "
            f"CUDA {torch.version.cuda or '-'}; python {platform.python_version()}")


def auto_choice(kinds: tuple[str, ...]) -> tuple[str, str, float]:
    """What ``--device auto`` picks for the default preset (measured afresh here; with one
    kind it is measured anyway, to show its number): (device kind, reason, seconds spent)."""
    device_choice.clear_cache()
    cfg = load_config("default", device="auto")
    t0 = time.perf_counter()
    choice = device_choice.choose_device(cfg, kinds)
    return choice.device.type, choice.reason, time.perf_counter() - t0


def build_cases(device: str, quick: bool) -> list[Case]:
    """Every row's case, built and warmed up (a failing one is reported and skipped)."""
    k = 64
    per_token = k if quick else 8 * k
    chunk_tokens = 2 * k if quick else 4096
    devices = ["cpu"] + ([device] if device != "cpu" else [])
    makers: list[Callable[[], Case | None]] = []
    for dev in devices:
        for engine in ("eager", "compiled"):
            makers.append(lambda dev=dev, engine=engine: session_case(
                f"HOPE default, per token, all observables, run.engine={engine}", "default",
                [f"run.engine=\"{engine}\""], dev, per_token))
    # the engine named: with run.engine = auto a background compile would start inside
    # the measurement after 4,096 steps
    for dev in ("auto", "cpu"):
        makers.append(lambda dev=dev: session_case(
            f"HOPE default, per token, --device {dev}, run.engine=compiled", "default",
            ['run.engine="compiled"'], dev, per_token))
    makers.append(lambda: session_case(
        f"single Titans memory d={DIM}, C=64: ours", "default",
        single_memory_sets(DIM, 64), device, chunk_tokens, "noise", "tok/s"))
    makers.append(lambda: peer_case(device, 64, chunk_tokens, SLICE_S[quick]))
    cases = []
    for make in makers:
        try:
            case = make()
        except Exception as exc:                  # noqa: BLE001 - a row says why it is missing
            print(f"note: a case failed to start: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        if case is not None:
            cases.append(case)
    return cases


def _fmt(v: float) -> str:
    return f"{v:,.0f}"


def run_rounds(cases: list[Case], budget_s: float, quick: bool, started: float) -> int:
    """Interleave the cases round by round while the budget lasts (at least 2 rounds,
    at most 2 in quick mode or 9); returns the rounds run."""
    max_rounds = 2 if quick else 9
    slice_s = SLICE_S[quick]
    rounds = 0
    while rounds < max_rounds:
        t0 = time.perf_counter()
        for case in cases:
            case.rates.append(case.run(slice_s))
        rounds += 1
        took = time.perf_counter() - t0
        if rounds >= 2 and time.perf_counter() - started + took > budget_s:
            break
    return rounds


def table(cases: list[Case], auto: tuple[str, str, float], rounds: int) -> list[str]:
    """The markdown rows: per case median and spread, auto's choice, the auto check."""
    lines = ["| case | device | median | spread (min..max) | note |", "|---|---|---|---|---|"]
    by_name = {c.name: c for c in cases}
    ours = by_name.get(f"single Titans memory d={DIM}, C=64: ours")
    peer = by_name.get(f"titans-pytorch NeuralMemory d={DIM}, C=64")
    if ours is not None and peer is not None:
        pairs = [a / b for a, b in zip(ours.rates, peer.rates) if b > 0]
        if pairs:
            ours.note = (f"{statistics.median(pairs):.2f}x the peer (median of per-round "
                         f"ratios {min(pairs):.2f}..{max(pairs):.2f}; target >= 1x on a GPU)")
    for c in cases:
        if c.name.startswith("HOPE default, per token, all") and c.device.startswith("CUDA"):
            c.note = f"target >= {_fmt(TARGETS['per_token'])} steps/s"
    for c in cases:
        med = statistics.median(c.rates)
        lines.append(f"| {c.name} | {c.device} | {_fmt(med)} {c.unit} | "
                     f"{_fmt(min(c.rates))}..{_fmt(max(c.rates))} | {c.note} |")
    kind, reason, cost = auto
    lines.append(f"| --device auto picks | {kind.upper()} | - | - | {reason} "
                 f"(choosing took {cost:.2f} s) |")
    a = by_name.get("HOPE default, per token, --device auto, run.engine=compiled")
    b = by_name.get("HOPE default, per token, --device cpu, run.engine=compiled")
    if a is not None and b is not None:
        ra, rb = statistics.median(a.rates), statistics.median(b.rates)
        same = a.device == "auto -> CPU"            # the very config of the CPU row
        ok = same or ra >= 0.9 * rb                # within 10 %: noise between rounds
        lines.append(f"| auto never slower than CPU: {'yes' if ok else 'no'} | - | "
                     f"{ra / rb:.2f}x | - | auto {_fmt(ra)} vs CPU {_fmt(rb)} steps/s, "
                     f"median of {rounds} rounds" + ("; auto picked the CPU" if same else "") + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=["cuda", "mps", "cpu"], default=None,
                    help="the accelerator to measure (default: CUDA, else MPS, else the CPU)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: short slices, 2 rounds")
    ap.add_argument("--budget-seconds", type=float, default=300.0,
                    help="bound on the whole run (default 300)")
    ap.add_argument("--unroll", type=int, default=0,
                    help="tokens per compiled graph (default: the engine's, 8); the test of "
                         "the CPU branch uses 2, a quarter of the compile time")
    args = ap.parse_args(argv)
    if args.unroll > 0:
        from engine.fast import runner
        runner.UNROLL = args.unroll
    started = time.perf_counter()
    have = available_kinds()
    device = args.device or (have[1] if len(have) > 1 else "cpu")
    if device not in have:
        print(f"bench/gpu.py: --device {device}: not available here (have: {', '.join(have)})",
              file=sys.stderr)
        return 2
    if device == "cpu" and args.device is None:
        print("note: no GPU here; measuring the CPU branch", file=sys.stderr)
    print(machine_line(device))
    auto = auto_choice(have if device != "cpu" else ("cpu",))
    cases = build_cases(device, args.quick)
    if not cases:
        print("bench/gpu.py: no case could start", file=sys.stderr)
        return 1
    rounds = run_rounds(cases, args.budget_seconds, args.quick, started)
    print(f"{rounds} rounds, cases interleaved; target per token on a GPU >= "
          f"{_fmt(TARGETS['per_token'])} steps/s; total {time.perf_counter() - started:.0f} s")
    print("\n".join(table(cases, auto, rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
