"""``nlviz record``: run the engine headless and record every step to HDF5. No Qt."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from nlviz.commands.building import built
from nlviz.errors import UserError

DEFAULT_BATCH = 256
MAX_BATCH = 65536                  # one call's frames are held in memory at once


def _progress(done: int, total: int, t0: float, fill: float) -> None:
    rate = done / max(1e-9, time.perf_counter() - t0)
    width = 30
    filled = int(width * done / max(1, total))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} steps "
                     f"{rate:,.0f} steps/s  queue {fill:.0%} ")
    sys.stderr.flush()


def default_batch(config: Any) -> int:
    """Steps per engine call without ``--batch``: at least one Titans chunk."""
    return int(min(MAX_BATCH, max(DEFAULT_BATCH, config.model.titans.chunk_size)))


def run_record(args: argparse.Namespace) -> int:
    """Record ``args.steps`` steps to ``args.out``; returns the exit code.

    0 on success (also after Ctrl-C: everything recorded so far is kept and the file
    is closed cleanly), 1 on an engine fault (its frames are recorded first).
    """
    from engine.commands import Mark
    from engine.session import EngineFault, Session, run
    from nlviz.config_loader import load_config
    from nlviz.host.recording_link import open_recorder
    from nlviz.recording.outlock import OutputLock
    from nlviz.recording.writer import RecorderError

    if args.steps < 1:
        raise UserError(f"--steps {args.steps}: must be at least 1")
    if args.batch < 0:
        raise UserError(f"--batch {args.batch}: must be at least 1")
    if args.batch > MAX_BATCH:
        raise UserError(f"--batch {args.batch}: at most {MAX_BATCH} steps per engine call")
    if getattr(args, "seeds", None) is not None:    # N seeds, one file each
        from nlviz.commands.record_seeds import run_record_seeds
        return run_record_seeds(args, default_batch, _progress)
    overwrite = bool(getattr(args, "overwrite", False))
    config = load_config(args.preset, args.overrides, args.stream, args.device, args.seed, args.model)
    OutputLock.check(args.out, overwrite=overwrite)   # refuse before the slow engine start
    session = built(lambda: Session(config), "the model")
    session.allow_background_build()   # run.engine = auto: nlviz.cli.main exits safely
    batch = args.batch or default_batch(config)
    show = not args.no_progress
    done, code, t0, last = 0, 0, time.perf_counter(), 0.0
    recorder = open_recorder(args.out, session, overwrite=overwrite)
    if session.device_note:
        print(f"nlviz: note: {session.device_note}", file=sys.stderr)
    try:
        try:
            for frames in run(session, batch, args.steps):
                recorder.append(frames)
                done += len(frames)
                if show and time.perf_counter() - last > 0.2:
                    last = time.perf_counter()
                    _progress(done, args.steps, t0, recorder.stats().queue_fill)
        except KeyboardInterrupt:
            if show:
                sys.stderr.write("\n")
            print(f"nlviz: interrupted at step {done}; keeping the {done} steps recorded",
                  file=sys.stderr)
            code = 130
        except EngineFault as fault:
            recorder.append(fault.batch)
            done += len(fault.batch)
            if show:
                sys.stderr.write("\n")
            print(f"nlviz: engine fault: {fault}; {done} steps recorded to {args.out}",
                  file=sys.stderr)
            code = 1
        session.apply(Mark("stop", "interrupted" if code == 130 else
                           "engine fault" if code == 1 else "all steps done"))
        events = session.take_events()
        if events is not None:
            recorder.append(events)
        recorder.close()
    except RecorderError as exc:
        if show:
            sys.stderr.write("\n")
        raise UserError(str(exc)) from None
    finally:
        try:
            recorder.close()
        except RecorderError:
            pass
    if show and code == 0:
        _progress(done, args.steps, t0, 0.0)
        sys.stderr.write("\n")
    if code == 0:
        rate = done / max(1e-9, time.perf_counter() - t0)
        print(f"recorded {done} steps to {args.out} ({rate:,.0f} steps/s)", file=sys.stderr)
    return code
