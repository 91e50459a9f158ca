"""Engine throughput: the HOPE presets per token and chunked, and a single Titans memory
against titans-pytorch's NeuralMemory of the same width, depth and chunk size.

    python bench/engine.py [--repeats 5] [--device cpu|cuda] [--quick]

Prints a markdown table (medians over repeats, measured side by side in one run).
titans-pytorch is optional (``pip install -e .[bench]``); without it the peer rows say so.
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

from engine.session import Session

THREADS = torch.get_num_threads()  # torch's default on this machine (before any Session)
from nlviz.config_loader import load_config  # noqa: E402


def timed(fn, repeats: int) -> list[float]:
    """Wall seconds of ``fn()`` per repeat (after one warm-up call)."""
    fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t)
    return out


def ours(preset: str, sets: list[str], steps: int, repeats: int, device: str,
         stream: str | None = None) -> float:
    """Median steps/s of Session.step(steps), all observables on (the session sets its
    own thread count: run.threads auto)."""
    session = Session(load_config(preset, sets, stream=stream, device=device))
    session.step(max(64, steps // 4))
    return steps / statistics.median(timed(lambda: session.step(steps), repeats))


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


def peer(dim: int, chunk: int, tokens: int, repeats: int, device: str) -> float | None:
    """Median tokens/s of titans-pytorch NeuralMemory storing and retrieving a sequence."""
    try:
        from titans_pytorch import NeuralMemory
    except ImportError:
        return None
    torch.manual_seed(0)
    dev = torch.device("cuda" if device == "cuda" else "cpu")
    mem = NeuralMemory(dim=dim, chunk_size=chunk).to(dev)
    seq = torch.randn(1, tokens, dim, device=dev)

    def run() -> None:
        with torch.no_grad():
            mem(seq)
    torch.set_num_threads(THREADS)  # the peer at torch's default, as a user runs it
    return tokens / statistics.median(timed(run, repeats))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--quick", action="store_true", help="fewer steps (smoke run)")
    args = ap.parse_args()
    scale = 4 if args.quick else 1
    r, dev = args.repeats, args.device
    rows = []
    per_token = ours("default", [], 2000 // scale, r, dev)
    rows.append(("HOPE default, per token (chunk 1), all observables", f"{per_token:,.0f} steps/s",
                 "target >= 2,000"))
    for c in (16, 64):
        v = ours("default", [f"model.titans.chunk_size={c}"], 4096 // scale, r, dev)
        rows.append((f"HOPE default, chunked C={c}", f"{v:,.0f} tok/s", ""))
    dim = 256
    for c, ours_tokens, peer_tokens, target in ((64, 4096, 4096, 3), (1, 512, 128, 20)):
        mine = ours("default", single_memory_sets(dim, c), ours_tokens // scale, r, dev, "noise")
        theirs = peer(dim, c, peer_tokens, r, dev)
        ratio = f"{mine / theirs:.1f}x" if theirs else "n/a"
        rows.append((f"single Titans memory d={dim}, h={4 * dim}, C={c}: ours", f"{mine:,.0f} tok/s",
                     f"{ratio} of peer (target >= {target}x)"))
        rows.append((f"single Titans memory d={dim}, h={4 * dim}, C={c}: titans-pytorch 0.5.1",
                     f"{theirs:,.0f} tok/s" if theirs else "not installed", ""))
    print(f"machine: {platform.processor() or platform.machine()}, {THREADS} torch threads by "
          f"default (ours: run.threads auto = 1 for the HOPE preset, {THREADS} for d=256), "
          f"torch {torch.__version__}, device {dev}, median of {r}")
    print("| case | throughput | note |\n|---|---|---|")
    for case, val, note in rows:
        print(f"| {case} | {val} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
