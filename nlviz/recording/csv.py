"""Tidy CSV export of a recording: one row per (step, level), the metrics as columns.

Used by ``nlviz export`` (``nlviz.commands.export``) and the replay window's "export the
visible range" (``nlviz.qt.exporting``). No Qt, no torch.
"""
from __future__ import annotations

import csv
import os
import stat
import tempfile
from typing import TextIO

import numpy as np

from nlviz.errors import UserError
from nlviz.recording import layout as L
from nlviz.recording.reader import Recording

ROWS_PER_READ = 16384


def export_csv(rec: Recording, out: str, levels: list[str] | None = None,
               start: int | None = None, stop: int | None = None,
               metrics: list[str] | None = None) -> int:
    """Write the per-step metrics of ``levels`` for steps in [start, stop]; returns rows written.

    Columns: step, wall_time, regime, token, level, update_period, fired, every level
    metric, every global metric (repeated on each level's row). ``metrics`` (level and/or
    global metric names) keeps only those metric columns, in the file's order.

    The CSV is written next to ``out`` and moved there only when every row read back
    intact: a chunk that fails its checksum raises ``UserError`` naming the damaged step
    ranges and leaves ``out`` untouched (NaN in a CSV would pass for a recorded NaN).
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
    partial = _partial_for(out)           # None: write in place (a pipe, /dev/stdout, ...)
    try:
        fh = open(partial or out, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed by _CsvFile
    except OSError as exc:
        _remove(partial)
        raise UserError(f"{out}: cannot write: {exc.strerror or exc}") from None
    try:
        csv_file = _CsvFile(fh)
        with csv_file:
            written = _write_rows(rec, csv_file, header, names, periods, level_metrics,
                                  global_metrics, lo, hi)
        new = rec.damaged_rows(lo, hi)
        if new:
            raise UserError(f"{rec.path}: damaged data (checksum error) in "
                            + "; ".join(d.describe() for d in new[:4])
                            + (f" and {len(new) - 4} more" if len(new) > 4 else "")
                            + f": nothing written to {out} (a CSV cannot mark damaged rows; "
                            "export the ranges around them with --from/--to)")
        if partial:
            try:
                os.replace(partial, out)
            except OSError as exc:
                raise CsvWriteError(exc.errno, exc.strerror) from None
    except CsvWriteError as exc:            # the CSV, not the recording (disk full, ...)
        _remove(partial)
        raise UserError(f"{out}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        _remove(partial)
        raise
    return written


class CsvWriteError(OSError):
    """Writing the CSV failed (as opposed to reading the recording)."""


class _CsvFile:
    """The output file, with its write errors told apart from the recording's read errors."""

    def __init__(self, fh: TextIO) -> None:
        self.fh = fh

    def write(self, text: str) -> int:
        try:
            return self.fh.write(text)
        except OSError as exc:
            raise CsvWriteError(exc.errno, exc.strerror) from None

    def __enter__(self) -> _CsvFile:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.fh.close()                  # the last buffered rows reach the disk here
        except OSError as err:
            if exc[0] is None:
                raise CsvWriteError(err.errno, err.strerror) from None


def _partial_for(out: str) -> str | None:
    """A new temporary file beside ``out`` to write and then move over it, so a refused
    export leaves ``out`` untouched; None when ``out`` exists and is not a plain regular
    file: a link, a pipe or a device (``/dev/stdout``) is written in place, never replaced."""
    if os.path.isdir(out):
        raise UserError(f"{out}: is a directory, not a CSV file")
    try:
        st = os.lstat(out)
        if os.path.islink(out) or not stat.S_ISREG(st.st_mode):
            return None
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise UserError(f"{out}: cannot write: {exc.strerror or exc}") from None
    folder = os.path.dirname(os.path.abspath(out))
    try:
        fd, path = tempfile.mkstemp(prefix=f".{os.path.basename(out)}.", suffix=".partial",
                                    dir=folder)
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)       # as a plain open() would create it
    except OSError as exc:
        raise UserError(f"{out}: cannot write: {exc.strerror or exc}") from None
    finally:
        try:
            os.close(fd)
        except (OSError, UnboundLocalError):
            pass
    return path


def _remove(path: str | None) -> None:
    if path:
        try:
            os.remove(path)
        except OSError:
            pass


def _write_rows(rec: Recording, fh: _CsvFile, header: list[str], names: list[str],
                periods: dict[str, int],
                level_metrics: list[str], global_metrics: list[str], lo: int, hi: int) -> int:
    written = 0
    w = csv.writer(fh)
    w.writerow(header)
    for a in range(lo, hi, ROWS_PER_READ):
        b = min(hi, a + ROWS_PER_READ)
        steps = rec.steps[a:b]
        base = [steps, rec.wall_time(a, b), rec.regime(a, b), rec.token(a, b)]
        glob = [rec.column(m, None, a, b) for m in global_metrics]
        for lv in names:
            cols = [rec.column(m, lv, a, b) for m in level_metrics]
            fired = rec.column(L.D_FIRED, lv, a, b)
            for i in range(b - a):
                w.writerow([int(base[0][i]), repr(float(base[1][i])), int(base[2][i]),
                            int(base[3][i]), lv, periods[lv], int(fired[i]),
                            *(_num(c[i]) for c in cols), *(_num(g[i]) for g in glob)])
            written += b - a
    return written


def _num(x: np.floating) -> str:
    return repr(float(x))


__all__ = ["CsvWriteError", "export_csv"]
