"""``nlviz export RUN.h5 --csv OUT.csv``: tidy CSV, one row per (step, level). No Qt.

The argparse side only; the CSV writer is ``nlviz.recording.csv.export_csv``.
"""
from __future__ import annotations

import argparse

from nlviz.errors import UserError, one_line
from nlviz.recording.csv import export_csv
from nlviz.recording.reader import Recording


def run_export(args: argparse.Namespace) -> int:
    """Export ``args.path`` to ``args.csv`` (``args.levels``, ``args.start``,
    ``args.stop``); 0 on success, ``UserError`` (one line) otherwise."""
    with Recording.open(args.path) as rec:
        try:
            n = export_csv(rec, args.csv, args.levels, args.start, args.stop)
        except UserError:
            raise
        except (OSError, RuntimeError, KeyError, ValueError, MemoryError) as exc:
            raise UserError(f"{args.path}: damaged recording: {type(exc).__name__}: "
                            f"{one_line(exc)}") from None
    print(f"wrote {n} rows to {args.csv}")
    return 0


__all__ = ["run_export"]
