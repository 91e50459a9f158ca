"""Command line: ``nlviz`` / ``python main.py``.

``nlviz [app options]`` opens the app; ``nlviz record|info|export|report ...`` run headless and
never import Qt. Bad input ends with one line on stderr naming the problem and a
non-zero exit code, never a traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from nlviz.errors import UserError

SUBCOMMANDS = ("record", "info", "export", "train", "report")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default=None,
                   help="shipped preset name (nlviz/presets) or .toml path (default: default)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. model.titans.lr=0.1 (repeatable)")
    p.add_argument("--stream", help="input stream name, or a .npy/.txt file path")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], help="compute device")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--model", metavar="auto|random|PATH",
                   help="slow weights to start from: the preset's shipped trained model "
                        "(auto, the default), random weights, or a checkpoint (nlviz train)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nlviz", description="Watch a HOPE model learn.")
    sub = parser.add_subparsers(dest="command")

    rec = sub.add_parser("record", help="run the engine headless and record to HDF5")
    rec.add_argument("--out", required=True, help="output recording (.h5)")
    rec.add_argument("--steps", type=int, required=True, help="number of engine steps")
    rec.add_argument("--batch", type=int, default=0,
                     help="steps per engine call (default: the Titans chunk size, at least 64)")
    rec.add_argument("--no-progress", action="store_true", help="no progress bar")
    rec.add_argument("--overwrite", action="store_true",
                     help="replace OUT if it exists (refused otherwise)")
    rec.add_argument("--seeds", type=int, metavar="N",
                     help="run seeds SEED .. SEED+N-1 in one batched engine and write one "
                          "recording per seed: OUT.s0.h5 ... (OUT without .h5)")
    _add_run_options(rec)

    info = sub.add_parser("info", help="summarise a recording")
    info.add_argument("path")

    from nlviz.commands.train import add_train_parser
    add_train_parser(sub)

    from nlviz.commands.report import add_report_parser
    add_report_parser(sub)

    exp = sub.add_parser("export", help="export a recording's per-step metrics to CSV")
    exp.add_argument("path")
    exp.add_argument("--csv", required=True, help="output CSV path")
    exp.add_argument("--levels", nargs="+", help="only these levels")
    exp.add_argument("--from", dest="start", type=int, help="first step (inclusive)")
    exp.add_argument("--to", dest="stop", type=int, help="last step (inclusive)")
    return parser


def build_app_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nlviz", description="Watch a HOPE model learn (the app). "
                                "Headless commands: nlviz record|info|export|report --help")
    _add_run_options(p)
    p.add_argument("--steps", type=int, default=0, help="run this many steps at start, then "
                   "pause (with --screenshot: before the picture)")
    p.add_argument("--play", action="store_true", help="start playing at once (the app "
                   "otherwise starts paused: press Play or Space)")
    p.add_argument("--screenshot", metavar="PNG", help="save a picture of the window and exit")
    p.add_argument("--window-size", metavar="WxH", help="window size, e.g. 1600x1000")
    p.add_argument("--replay", metavar="RUN.h5", help="open a recording for replay")
    p.add_argument("--record", metavar="RUN.h5", help="record the live run to this file")
    p.add_argument("--overwrite", action="store_true",
                   help="with --record: replace RUN.h5 if it exists (refused otherwise)")
    p.add_argument("--light", action="store_true", help="light theme")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command or the app; returns the exit code. A command that left a background
    compile running (``record`` with ``run.engine = auto``) ends the process here."""
    code = _run(argv)
    fast = sys.modules.get("engine.fast.background")      # imported only if it compiled
    if fast is not None:
        fast.exit_if_building(code)
    return code


def _run(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list and args_list[0] in SUBCOMMANDS:
            args = build_parser().parse_args(args_list)
            if args.command == "record":
                from nlviz.commands.record import run_record
                return run_record(args)
            if args.command == "info":
                from nlviz.commands.info import run_info
                return run_info(args)
            if args.command == "train":
                from nlviz.commands.train import run_train
                return run_train(args)
            if args.command == "report":
                from nlviz.commands.report import run_report
                return run_report(args)
            from nlviz.commands.export import run_export
            return run_export(args)
        args = build_app_parser().parse_args(args_list)
        from nlviz.preflight import check_qt_platform  # Qt-free: libraries and display
        check_qt_platform()  # one line instead of Qt's abort when the plugin cannot load
        from nlviz.qt.app import run_app  # the only Qt import on this path
        return run_app(args)
    except UserError as exc:
        print(f"nlviz: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nlviz: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:   # `nlviz info run.h5 | head`: the reader left; no traceback
        _silence_stdout()
        return 141            # what a shell reports for a pipe writer ended by SIGPIPE


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush cannot raise
    BrokenPipeError again (and print a traceback) after ``main`` returned."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        pass
