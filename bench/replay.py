"""Replay data-layer benchmarks (issue 5) on a 1M-step synthetic recording.

- open + first fetch of a full-range view (every series, from the pyramid: what the first
  paint needs), target <= 1 s;
- scrub: random cursor positions with a 5,000-step visible window (every series raw, plus
  the sparse panels at the cursor), fetches per second, target >= 30/s;
- replay at "max": the Player in MAX mode driven by real elapsed time, fetching a
  5,000-step window at every tick; timeline steps per second swept, target >= 100,000.

Run: ``PYTHONPATH=. python bench/replay.py [--rows 1000000] [--repeats 7]``. Prints a
markdown section for ``docs/benchmarks.md``. Data layer only (no Qt drawing).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.recording import make_big
from nlviz.recording.reader import Recording
from nlviz.replay.player import Player, PlayMode
from nlviz.replay.source import ReplaySource

WINDOW = 5000


def open_and_first_fetch(path: str) -> tuple[float, float, bool]:
    t0 = time.perf_counter()
    rec = Recording.open(path)
    src = ReplaySource(rec)
    player = Player.from_recording(rec)
    t1 = time.perf_counter()
    fr = src.frame(player.cursor, None, None)
    t2 = time.perf_counter()
    rec.close()
    return t1 - t0, t2 - t1, fr.is_summary


def scrub(path: str, trials: int) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    with Recording.open(path) as rec:
        src = ReplaySource(rec)
        player = Player.from_recording(rec)
        n = int(rec.steps[-1])
        times, times_fast = [], []
        for _ in range(trials):
            c = player.seek(int(rng.integers(0, n)))
            t0 = time.perf_counter()
            fr = src.frame(c, c - WINDOW // 2, c + WINDOW // 2 - 1)
            times.append(time.perf_counter() - t0)
            assert not fr.is_summary
            c = player.seek(int(rng.integers(0, n)))
            t0 = time.perf_counter()
            src.frame(c, c - WINDOW // 2, c + WINDOW // 2 - 1, sparse=False)
            times_fast.append(time.perf_counter() - t0)
    return 1 / statistics.median(times), 1 / statistics.median(times_fast)


def replay_max(path: str, seconds: float) -> tuple[float, float]:
    with Recording.open(path) as rec:
        src = ReplaySource(rec)
        player = Player.from_recording(rec, max_rate=1_000_000)
        player.set_mode(PlayMode.MAX)
        player.set_speed(1.0)
        player.play()
        frames = 0
        t_start = last = time.perf_counter()
        start_row = player.row
        while time.perf_counter() - t_start < seconds and player.playing:
            now = time.perf_counter()
            c = player.advance(now - last)
            last = now
            src.frame(c, c - WINDOW + 1, c, sparse=frames % 8 == 0)   # slow panels at ~1/8
            frames += 1
        elapsed = time.perf_counter() - t_start
        return (player.row - start_row) / elapsed, frames / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = f"{d}/big.h5"
        make_big(path, a.rows)
        opens, firsts, summ = [], [], None
        for _ in range(a.repeats):
            o, f, summ = open_and_first_fetch(path)
            opens.append(o)
            firsts.append(f)
        scrubs = [scrub(path, 60) for _ in range(a.repeats)]
        maxes = [replay_max(path, 0.5) for _ in range(a.repeats)]
    med = statistics.median
    print("## Replay (issue 5, data layer)\n")
    print("Machine: 2-core CPU container (no GPU), Python 3.11, h5py 3.16. Command: "
          f"`PYTHONPATH=. python bench/replay.py --rows {a.rows} --repeats {a.repeats}`. "
          f"Synthetic {a.rows:,}-step recording, 4 levels (38 per-step series), sparse records "
          "every 1,024 steps (as in bench/recording.py). Medians over the repeats; data layer "
          "only (reads and arrays handed to the views; Qt drawing not included).\n")
    print("| measurement | median | target |\n|---|---|---|")
    print(f"| open (Recording + ReplaySource + Player) | {1000 * med(opens):.1f} ms | |")
    print(f"| first fetch, full-range view (summary={summ}: pyramid for 34 float series, fired "
          f"raster, probes, snapshot, inputs) | {1000 * med(firsts):.1f} ms | |")
    print(f"| open + first fetch | {1000 * (med(opens) + med(firsts)):.1f} ms | <= 1,000 ms |")
    print(f"| scrub: 5,000-step window, all series + sparse panels at the cursor | "
          f"{med([s[0] for s in scrubs]):,.0f} fetches/s | >= 30/s |")
    print(f"| scrub: 5,000-step window, series only | {med([s[1] for s in scrubs]):,.0f} "
          "fetches/s | |")
    print(f"| replay at max (5,000-step window fetched every tick) | "
          f"{med([m[0] for m in maxes]):,.0f} timeline steps/s at {med([m[1] for m in maxes]):,.0f} "
          "fetches/s | >= 100,000 steps/s |")


if __name__ == "__main__":
    main()
