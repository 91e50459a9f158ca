"""Recording benchmarks (issue 3): overhead, bytes per step, seek and overview reads.

Run: ``PYTHONPATH=. python bench/recording.py [--steps 3000] [--repeats 3] [--rows 1000000]``.
Prints a markdown section for ``docs/benchmarks.md``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.session import Session
from nlviz.config_loader import load_config
from nlviz.recording import layout as L
from nlviz.recording.reader import Recording
from nlviz.recording.writer import Recorder
from tests.support.synthetic import synthetic_batch, synthetic_spec


def _engine_run(preset: str, overrides: list[str], steps: int, batch: int, out: str | None) -> float:
    s = Session(load_config(preset, overrides))
    s.step(batch)  # warm-up, not timed
    rec = None
    if out:
        rec = Recorder(out, s.spec, s.config.to_dict(), device=s.device_name,
                       stream=s.stream_description, state_template=s.state_dict())
    t0 = time.perf_counter()
    done = 0
    while done < steps:
        b = s.step(min(batch, steps - done))
        done += len(b)
        if rec:
            rec.append(b)
    if rec:
        rec.close()
    return steps / (time.perf_counter() - t0)


def overhead(preset: str, overrides: list[str], steps: int, batch: int, repeats: int) -> dict:
    plain, recd = [], []
    with tempfile.TemporaryDirectory() as d:
        for i in range(repeats):
            plain.append(_engine_run(preset, overrides, steps, batch, None))
            recd.append(_engine_run(preset, overrides, steps, batch, f"{d}/r{i}.h5"))
    p, r = statistics.median(plain), statistics.median(recd)
    return {"headless": p, "recording": r, "overhead_pct": 100 * (1 - r / p),
            "best_pct": 100 * (1 - max(recd) / max(plain))}


PER_STEP_ROOTS = (L.D_STEPS, L.D_WALL_TIME, L.D_REGIME, L.D_TOKEN, L.G_GLOBAL, L.G_LEVELS, L.G_LOD)


def bytes_per_step(n_levels: int, rows: int, filters: dict) -> dict:
    """Stored bytes per step of the per-step scalars (plus pyramid; inputs separately)."""
    L.SCALAR_FILTERS.clear()
    L.SCALAR_FILTERS.update(filters)
    spec = synthetic_spec(n_levels=n_levels, d_in=16)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        path = f"{d}/b.h5"
        t0 = time.perf_counter()
        with Recorder(path, spec, {}, device="cpu", stream="s") as rec:
            for start in range(0, rows, 4096):
                b = synthetic_batch(spec, start, 4096, sparse_every=0, state_every=0)
                b.level[:] += rng.normal(0, 1, b.level.shape).astype(np.float32)  # real-ish noise
                rec.append(b)
        secs = time.perf_counter() - t0
        sizes = {"scalars": 0, "inputs": 0}
        with h5py.File(path, "r") as f:
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset) and name.split("/")[0] in PER_STEP_ROOTS \
                        and name.split("/")[0] != "status":
                    sizes["scalars"] += obj.id.get_storage_size()
            f.visititems(visit)
            sizes["inputs"] = f[L.D_INPUTS].id.get_storage_size()
    L.SCALAR_FILTERS.clear()
    return {"scalars_B": sizes["scalars"] / rows, "inputs_B": sizes["inputs"] / rows,
            "write_steps_per_s": rows / secs}


def make_big(path: str, rows: int, n_levels: int = 4) -> None:
    spec = synthetic_spec(n_levels=n_levels, d_in=16)
    with Recorder(path, spec, {}, device="cpu", stream="s", queue_size=8) as rec:
        for start in range(0, rows, 16384):
            rec.append(synthetic_batch(spec, start, min(16384, rows - start),
                                       sparse_every=1024, state_every=0))


def read_speed(path: str, window: int, trials: int) -> dict:
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    rec = Recording.open(path)
    t_open = time.perf_counter() - t0
    series = [(m, lv) for lv in rec.levels for m in (*rec.spec.level_metrics, "fired")] + \
        [(m, None) for m in rec.spec.global_metrics]
    t_all, t_one = [], []
    for _ in range(trials):
        start = int(rng.integers(0, rec.n_rows - window))
        t0 = time.perf_counter()
        for m, lv in series:
            w = rec.window(m, lv, start, start + window - 1)
        t_all.append(time.perf_counter() - t0)
        assert len(w.values) == window
        t0 = time.perf_counter()
        rec.window("surprise", rec.levels[0], start, start + window - 1)
        t_one.append(time.perf_counter() - t0)
    t_ov, t_ov_all = [], []
    for _ in range(trials):
        t0 = time.perf_counter()
        ov = rec.overview("surprise", rec.levels[-1], max_points=4000)
        t_ov.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for m, lv in series:
            if m != "fired":
                rec.overview(m, lv, max_points=4000)
        t_ov_all.append(time.perf_counter() - t0)
    rec.close()
    ms = lambda xs: 1000 * statistics.median(xs)  # noqa: E731
    return {"open_ms": 1000 * t_open, "n_series": len(series), "window_all_ms": ms(t_all),
            "window_one_ms": ms(t_one), "overview_ms": ms(t_ov), "overview_all_ms": ms(t_ov_all),
            "overview_points": len(ov.steps), "bucket_rows": ov.bucket_rows,
            "file_MB": os.path.getsize(path) / 1e6}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rows", type=int, default=1_000_000)
    a = ap.parse_args()
    print("## Recording (issue 3)\n")
    print("Machine: 2-core CPU container (no GPU), Python 3.11, torch CPU, h5py 3.16. "
          f"Command: `PYTHONPATH=. python bench/recording.py --steps {a.steps} "
          f"--repeats {a.repeats} --rows {a.rows}`.\n")
    print("### Overhead (same run with and without recording; median steps/s)\n")
    print("| run | levels | headless | recording | overhead (medians) | overhead (best of) |\n"
          "|---|---|---|---|---|---|")
    sparse64 = ["run.snapshot_every=64", "run.probe_every=64", "run.state_every=1024"]
    for preset, ov, n in (("tiny", [], 7), ("tiny", sparse64, 7), ("default", [], 8)):
        for batch in (256,):
            r = overhead(preset, ov, a.steps, batch, a.repeats)
            label = f"{preset} {' '.join(ov)} batch {batch}".strip()
            print(f"| {label} | {n} | {r['headless']:,.0f} | {r['recording']:,.0f} | "
                  f"{r['overhead_pct']:.1f}% | {r['best_pct']:.1f}% |", flush=True)
    print("\n### Bytes per step (per-step scalars incl. min/max pyramid; inputs separately)\n")
    print("| levels | filters | scalars B/step | inputs (d_in=16) B/step | write steps/s |\n"
          "|---|---|---|---|---|")
    for n in (4, 8):
        for name, filt in (("none", {}), ("gzip1+shuffle", {"compression": "gzip",
                                                            "compression_opts": 1, "shuffle": True})):
            r = bytes_per_step(n, 200_000, filt)
            print(f"| {n} | {name} | {r['scalars_B']:.1f} | {r['inputs_B']:.1f} | "
                  f"{r['write_steps_per_s']:,.0f} |", flush=True)
    print(f"\n### Reading a {a.rows:,}-step recording (4 levels, synthetic frames)\n")
    with tempfile.TemporaryDirectory() as d:
        path = f"{d}/big.h5"
        t0 = time.perf_counter()
        make_big(path, a.rows)
        t_make = time.perf_counter() - t0
        r = read_speed(path, 5000, 21)
    print(f"- written in {t_make:.1f} s ({a.rows / t_make:,.0f} steps/s), file {r['file_MB']:.0f} MB")
    print(f"- open (validation + header): {r['open_ms']:.1f} ms")
    print(f"- 5,000-step window of every metric ({r['n_series']} series) at a random position: "
          f"median {r['window_all_ms']:.1f} ms (one series: {r['window_one_ms']:.2f} ms)")
    print(f"- full-range overview of one metric via the pyramid: median {r['overview_ms']:.2f} ms "
          f"({r['overview_points']} points, {r['bucket_rows']} rows per bucket); all "
          f"{r['n_series'] - 4} float series: {r['overview_all_ms']:.1f} ms")


if __name__ == "__main__":
    main()
