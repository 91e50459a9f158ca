"""``nlviz info RUN.h5``: one screen summary of a recording. No Qt."""
from __future__ import annotations

import argparse
import os

from nlviz.recording.reader import Recording


def describe(rec: Recording) -> list[str]:
    """Lines of the summary (also used by tests)."""
    n = rec.n_rows
    steps = rec.steps
    wall = rec.window("wall_time") if n else None
    duration = float(wall.values[-1]) if wall is not None and len(wall.values) else 0.0
    streams = [e.detail for e in rec.events if e.kind in ("start", "stream")] or [rec.stream]
    lines = [
        f"file:           {rec.path}",
        f"schema:         nlviz.run {rec.schema_version}",
        f"status:         {'complete' if rec.complete else 'recovered (not closed cleanly)'}",
        f"steps:          {n}" + (f" (step {int(steps[0])} .. {int(steps[-1])})" if n else ""),
        f"levels:         {len(rec.levels)}",
    ]
    for lv in rec.spec.levels:
        lines.append(f"  {lv.name:<10} {lv.kind:<7} update period {lv.update_period}")
    lines.append(f"stream(s):      {streams[0]}")
    lines.extend(f"                {s}" for s in streams[1:])
    lines += [
        f"device:         {rec.device}",
        f"duration:       {duration:.1f} s (wall time of the recorded steps)",
        f"created (UTC):  {rec.created_utc}",
        f"nlviz / torch:  {rec.nlviz_version} / {rec.torch_version}",
        f"events:         {len(rec.events)}, probes: {len(rec.probe_steps())}, "
        f"snapshots: {len(rec.snapshot_steps())}, states: {len(rec.state_steps())}",
        f"file size:      {os.path.getsize(rec.path):,} bytes",
    ]
    bad = rec.nonfinite
    if bad:
        lines.append("non-finite:     " + ", ".join(f"{k} ({v})" for k, v in bad.items()))
    return lines


def run_info(args: argparse.Namespace) -> int:
    """Print the summary of ``args.path``; 0 on success (errors raise ``RecordingError``)."""
    with Recording.open(args.path) as rec:
        print("\n".join(describe(rec)))
    return 0
