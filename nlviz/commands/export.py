"""``nlviz export RUN.h5 --csv OUT.csv``: tidy CSV, one row per (step, level). No Qt."""
from __future__ import annotations

import argparse
import csv

import numpy as np

from nlviz.errors import UserError
from nlviz.recording.reader import Recording

ROWS_PER_READ = 16384


def export_csv(rec: Recording, out: str, levels: list[str] | None = None,
               start: int | None = None, stop: int | None = None,
               metrics: list[str] | None = None) -> int:
    """Write the per-step metrics of ``levels`` for steps in [start, stop]; returns rows written.

    Columns: step, wall_time, regime, token, level, update_period, fired, every level
    metric, every global metric (repeated on each level's row). ``metrics`` (level and/or
    global metric names) keeps only those metric columns, in the file's order.
    """
    names = list(levels) if levels else list(rec.levels)
    unknown = [lv for lv in names if lv not in rec.levels]
    if unknown:
        raise UserError(f"--levels {' '.join(unknown)}: no such level in {rec.path} "
                        f"(have: {' '.join(rec.levels)})")
    if start is not None and stop is not None and stop < start:
        raise UserError(f"--from {start} --to {stop}: empty range")
    periods = {lv.name: lv.update_period for lv in rec.spec.levels}
    spec = rec.spec
    level_metrics, global_metrics = list(spec.level_metrics), list(spec.global_metrics)
    if metrics is not None:
        bad = [m for m in metrics if m not in level_metrics and m not in global_metrics]
        if bad:
            raise UserError(f"metrics {' '.join(bad)}: not in {rec.path} (have: "
                            f"{' '.join(level_metrics + global_metrics)})")
        level_metrics = [m for m in level_metrics if m in metrics]
        global_metrics = [m for m in global_metrics if m in metrics]
    header = ["step", "wall_time", "regime", "token", "level", "update_period", "fired",
              *level_metrics, *global_metrics]
    lo, hi = rec.row_range(start, stop)
    f = rec.file
    written = 0
    try:
        fh = open(out, "w", newline="", encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{out}: cannot write: {exc}") from None
    with fh:
        w = csv.writer(fh)
        w.writerow(header)
        for a in range(lo, hi, ROWS_PER_READ):
            b = min(hi, a + ROWS_PER_READ)
            steps = rec.steps[a:b]
            base = [steps, f["wall_time"][a:b], f["regime"][a:b], f["token"][a:b]]
            glob = [f[rec.series_path(m)][a:b] for m in global_metrics]
            for lv in names:
                cols = [f[rec.series_path(m, lv)][a:b] for m in level_metrics]
                fired = f[rec.series_path("fired", lv)][a:b]
                for i in range(b - a):
                    w.writerow([int(base[0][i]), repr(float(base[1][i])), int(base[2][i]),
                                int(base[3][i]), lv, periods[lv], int(fired[i]),
                                *(_num(c[i]) for c in cols), *(_num(g[i]) for g in glob)])
                written += b - a
    return written


def _num(x: np.floating) -> str:
    return repr(float(x))


def run_export(args: argparse.Namespace) -> int:
    """Export ``args.path`` to ``args.csv``; 0 on success."""
    with Recording.open(args.path) as rec:
        n = export_csv(rec, args.csv, args.levels, args.start, args.stop)
    print(f"wrote {n} rows to {args.csv}")
    return 0
