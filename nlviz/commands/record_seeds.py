"""``nlviz record --seeds N``: N seeds of one config in one batched engine
(``engine.seeds.SeedBatch``), one recording per seed: ``OUT.s0.h5`` ... ``OUT.s{N-1}.h5``
for seeds ``run.seed`` ... ``run.seed + N - 1``. Each file is the recording a plain
``nlviz record --seed S`` of that seed writes (same schema and config; Compare groups
them as one config over seeds). No Qt.

Ctrl-C keeps every run's recorded steps (exit 130); an engine fault in any run records
every run's batch up to the fault and stops all runs (exit 1).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nlviz.commands.building import built
from nlviz.errors import UserError


def seed_paths(out: str, n: int) -> list[str]:
    """``OUT.s0.h5`` ... for ``n`` seeds (``OUT`` is ``out`` without a ``.h5`` suffix)."""
    base = out[:-3] if out.endswith(".h5") else out
    return [f"{base}.s{i}.h5" for i in range(n)]


def run_record_seeds(args: argparse.Namespace, batch_default: Callable[[Any], int],
                     progress: Callable[[int, int, float, float], None]) -> int:
    """Record ``args.steps`` steps of ``args.seeds`` seeds; returns the exit code (0 done,
    130 interrupted, 1 engine fault; files closed cleanly in every case). ``record``
    validated the other arguments; ``batch_default`` gives the steps per engine call
    without ``--batch``, ``progress`` draws the progress bar (both ``record``'s)."""
    from engine.seeds import MAX_SEEDS, SeedBatch, SeedFault
    from nlviz.config_loader import load_config
    from nlviz.host.recording_link import open_recorder
    from nlviz.recording.outlock import OutputLock
    from nlviz.recording.writer import Recorder, RecorderError

    n_seeds = int(args.seeds)
    if n_seeds < 1:
        raise UserError(f"--seeds {n_seeds}: must be at least 1")
    if n_seeds > MAX_SEEDS:
        raise UserError(f"--seeds {n_seeds}: at most {MAX_SEEDS} seeds in one batch")
    overwrite = bool(getattr(args, "overwrite", False))
    config = load_config(args.preset, args.overrides, args.stream, args.device, args.seed,
                         args.model)
    seeds = [config.run.seed + i for i in range(n_seeds)]
    paths = seed_paths(args.out, n_seeds)
    for path in paths:                                  # refuse before the slow engine start
        if not Path(path).parent.is_dir():
            raise UserError(f"{path}: no such directory")
        OutputLock.check(path, overwrite=overwrite)
    seeds_batch = built(lambda: SeedBatch(config, seeds), f"{n_seeds} runs")
    seeds_batch.allow_background_build()   # run.engine = auto: nlviz.cli.main exits safely
    batch = args.batch or batch_default(config)
    show = not args.no_progress
    done, code, t0, last = 0, 0, time.perf_counter(), 0.0
    recorders: list[Recorder] = []
    try:
        try:
            for path, session in zip(paths, seeds_batch.sessions):
                recorders.append(open_recorder(path, session, overwrite=overwrite))
            note = seeds_batch.sessions[0].device_note
            if note:
                print(f"nlviz: note: {note}", file=sys.stderr)
            while done < args.steps:
                try:
                    frames = seeds_batch.step(min(batch, args.steps - done))
                except SeedFault as fault:
                    for rec, b in zip(recorders, fault.batches):
                        rec.append(b)
                    done += len(fault.batches[min(fault.faults)])
                    if show:
                        sys.stderr.write("\n")
                    print(f"nlviz: engine fault: {fault}; every run recorded up to step "
                          f"{done} in {paths[0]} ... {paths[-1]}", file=sys.stderr)
                    code = 1
                    break
                for rec, b in zip(recorders, frames):
                    rec.append(b)
                done += len(frames[0])
                if show and time.perf_counter() - last > 0.2:
                    last = time.perf_counter()
                    progress(done, args.steps, t0, max(r.stats().queue_fill for r in recorders))
        except KeyboardInterrupt:
            if show:
                sys.stderr.write("\n")
            print(f"nlviz: interrupted at step {done}; keeping the {done} steps recorded "
                  f"in each of {len(recorders)} files", file=sys.stderr)
            code = 130
        seeds_batch.mark("stop", "interrupted" if code == 130 else
                         "engine fault" if code == 1 else "all steps done")
        for rec, events in zip(recorders, seeds_batch.take_events()):
            if events is not None:
                rec.append(events)
        for rec in recorders:
            rec.close()
    except RecorderError as exc:
        if show:
            sys.stderr.write("\n")
        raise UserError(str(exc)) from None
    finally:
        for rec in recorders:
            try:
                rec.close()
            except RecorderError:
                pass
    if code == 0:
        if show:
            progress(done, args.steps, t0, 0.0)
            sys.stderr.write("\n")
        rate = done * n_seeds / max(1e-9, time.perf_counter() - t0)
        print(f"recorded {done} steps x {n_seeds} seeds to {paths[0]} ... {paths[-1]} "
              f"({rate:,.0f} run-steps/s)", file=sys.stderr)
    return code
