"""CSV of the visible replay range: the same tidy format as ``nlviz export`` (one row per
step and level), restricted to the visible steps and the selected levels / metrics.

Shares its writer with ``nlviz export`` (``nlviz.recording.csv.export_csv``); no Qt.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

from nlviz.recording.csv import export_csv
from nlviz.recording.reader import Recording


def export_visible_csv(rec: Recording, out: str | os.PathLike[str], start_step: int | None,
                       stop_step: int | None, levels: Sequence[str] | None = None,
                       metrics: Sequence[str] | None = None) -> int:
    """Write steps in [start_step, stop_step] (inclusive) of ``levels`` (default: all) with
    the ``metrics`` columns (level and/or global metric names; default: all) to ``out``.

    Columns: step, wall_time, regime, token, level, update_period, fired, the selected
    level metrics, the selected global metrics. Returns the data rows written.

    Raises
    ------
    nlviz.errors.UserError : unknown level or metric, empty range, unwritable file.
    """
    return export_csv(rec, os.fspath(out), list(levels) if levels else None, start_step,
                      stop_step, list(metrics) if metrics is not None else None)


__all__ = ["export_visible_csv"]
