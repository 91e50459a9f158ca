"""``nlviz info RUN.h5``: one screen summary of a recording. No Qt."""
from __future__ import annotations

import argparse
import os

import numpy as np

from engine.events import engine_change
from engine.frames import nan_by_design
from nlviz.errors import UserError, one_line
from nlviz.recording import modelid
from nlviz.recording.damage import READ_ERRORS
from nlviz.recording.reader import Recording, RecordingError
from nlviz.recording.training_reader import TrainingRecording, file_kind


def device_line(rec: Recording) -> str:
    """``"CPU (auto: CPU, 1,210 steps/s against CUDA 480 steps/s measured at start)"``: the
    device used and why, or what was asked, as far as the file says (files before 1.1
    have no request, files before issue 12 no reason)."""
    reason = getattr(rec, "device_reason", "")
    if reason and reason != "requested":
        return f"{rec.device} ({reason})"
    return rec.device + (f" (asked: {rec.device_requested})" if rec.device_requested else "")


def engine_line(rec: Recording) -> str:
    """Which engine computed the run, from its config and events: ``run.engine`` as asked,
    and where ``auto`` switched to the compiled path or a compile failed."""
    asked = str(rec.config.get("run", {}).get("engine", "eager")) if isinstance(
        rec.config, dict) else "eager"
    said = [f"{e.detail} at step {e.step:,}" for e in rec.events if engine_change([e])]
    return f"run.engine = {asked}" + ("; " + "; ".join(said) if said else "")


def describe(rec: Recording) -> list[str]:
    """Lines of the summary (also used by tests)."""
    n = rec.n_rows
    steps = rec.steps
    wall = rec.wall_time() if n else np.zeros(0)
    wall = wall[np.isfinite(wall)]              # damaged rows read as NaN
    duration = float(wall[-1] - wall[0]) if len(wall) else 0.0
    # the stream at the file's first step, then every switch ("start" events can also be
    # the Record button's "recording started at step N", not a stream)
    streams = [rec.stream] + [str(e.data.get("description", e.detail)) if e.data else e.detail
                              for e in rec.events if e.kind == "stream"]
    lines = [
        f"file:           {rec.path}",
        f"schema:         nlviz.run {rec.schema_version}",
        f"status:         {'complete' if rec.complete else 'recovered (not closed cleanly)'}",
        f"steps:          {n}" + (f" (step {int(steps[0])} .. {int(steps[-1])})" if n else ""),
        f"levels:         {len(rec.levels)}",
    ]
    for lv in rec.spec.levels:
        lines.append(f"  {lv.name:<10} {lv.kind:<7} update period {lv.update_period}")
    lines.append(f"model:          {modelid.describe(rec.model)}")
    lines.append(f"stream(s):      {streams[0]}")
    lines.extend(f"                {s}" for s in streams[1:])
    lines += [
        f"device:         {device_line(rec)}",
        f"engine:         {engine_line(rec)}",
        f"duration:       {duration:.1f} s (wall time from the first to the last recorded step)",
        f"created (UTC):  {rec.created_utc}",
        f"nlviz / torch:  {rec.nlviz_version} / {rec.torch_version}",
        f"events:         {rec.record_rows('events')}, probes: {rec.record_rows('probes')}, "
        f"snapshots: {rec.record_rows('snapshots')}, states: {rec.record_rows('states')}",
        f"file size:      {os.path.getsize(rec.path):,} bytes",
    ]
    cut = rec.unwritten_note()
    if cut:
        lines.append(f"unwritten:      {cut}")
    expected = nan_by_design(rec.spec)           # "no value" by design, not a fault
    bad = {k: v for k, v in rec.nonfinite.items() if k not in expected}
    if bad:
        lines.append("non-finite:     " + ", ".join(f"{k} ({v})" for k, v in bad.items()))
    if rec.damaged:
        lines.append(f"damaged:        {len(rec.damaged)} region(s) failed their checksum "
                     "(unreadable values show as NaN; everything else is intact)")
        lines.extend(f"                {d.describe()}" for d in rec.damaged)
    return lines


def run_info(args: argparse.Namespace) -> int:
    """Print the summary of ``args.path`` after reading every chunk once (``scan``), so
    damaged regions are listed; 0 on success (errors raise ``UserError``). A training
    recording (``nlviz train``) gets its own summary (``describe_training``)."""
    if file_kind(args.path) == "training":
        return _training_info(args.path)
    with Recording.open(args.path) as rec:
        try:
            rec.scan()
            lines = describe(rec)
        except RecordingError:
            raise
        except (*READ_ERRORS, KeyError, ValueError, MemoryError) as exc:
            raise UserError(f"{args.path}: damaged recording: {type(exc).__name__}: "
                            f"{one_line(exc)}") from None
    print("\n".join(lines))
    return 0


def _last(rec: TrainingRecording, column: str) -> str:
    """``"0.1234 (step 57)"``: the last finite value of ``column``, or "-"."""
    hit = rec.last_finite(column)
    return "-" if hit is None else f"{hit[1]:.4g} (step {hit[0]})"


def describe_training(rec: TrainingRecording) -> list[str]:
    """Lines of the summary of a training recording (also used by tests)."""
    n = rec.n_rows
    steps = rec.steps
    wall = rec.column("wall_time")
    wall = wall[np.isfinite(wall)]
    width = max([len(t) for t in rec.tasks] + [5])
    lines = [
        f"file:           {rec.path}",
        f"kind:           training (schema nlviz.training {rec.schema_version})",
        f"status:         {'complete' if rec.complete else 'recovered or still being written'}"
        + (f", resumed {rec.resumes}x" if rec.resumes else ""),
        f"steps:          {n}" + (f" (outer step {int(steps[0])} .. {int(steps[-1])})" if n else ""),
        f"tasks:          {', '.join(rec.tasks)}",
        f"groups:         {', '.join(rec.groups)}",
        f"gate stats:     {', '.join(rec.gate_stats) or '-'}",
        f"wall time:      {float(wall[-1]) if len(wall) else 0.0:.1f} s",
        "last losses:",
        f"  {'task':<{width}}  {'training':<22}held-out",
        f"  {'total':<{width}}  {_last(rec, 'loss/total'):<22}",
    ]
    for t in rec.tasks:
        lines.append(f"  {t:<{width}}  {_last(rec, 'loss/' + t):<22}{_last(rec, 'heldout/' + t)}")
    lines += [
        f"device:         {rec.device}",
        f"created (UTC):  {rec.created_utc}",
        f"nlviz / torch:  {rec.nlviz_version} / {rec.torch_version}",
        f"file size:      {os.path.getsize(rec.path):,} bytes",
    ]
    if rec.damaged:
        lines.append(f"damaged:        {len(rec.damaged)} region(s) failed their checksum "
                     "(unreadable values show as NaN)")
        lines.extend(f"                {d.describe()}" for d in rec.damaged)
    return [line.rstrip() for line in lines]


def _training_info(path: str) -> int:
    with TrainingRecording.open(path) as rec:
        try:
            lines = describe_training(rec)
        except RecordingError:
            raise
        except (*READ_ERRORS, KeyError, ValueError, MemoryError) as exc:
            raise UserError(f"{path}: damaged training recording: {type(exc).__name__}: "
                            f"{one_line(exc)}") from None
    print("\n".join(lines))
    return 0
