"""File > Screenshot and File > Export, one path for both fronts: a picture of the window
or of one plot (PNG or SVG by the suffix, ``nlviz.qt.pictures``), and the visible step range
of a recording as CSV. Asks for a path when none is given; the outcome is one line in the
window's status bar."""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

from nlviz.errors import UserError, one_line
from nlviz.qt.dialogs import Dialogs
from nlviz.qt.main_window import MainWindow
from nlviz.qt.pictures import save_plot
from nlviz.qt.screenshot import save_picture
from nlviz.recording.csv import export_csv
from nlviz.recording.reader import Recording

PICTURES = "Pictures (*.png *.svg)"


class CsvSource(Protocol):
    """What a CSV export reads: the open recording and the visible step range."""

    def visible_recording(self) -> tuple[Recording, int, int] | None:
        """(recording, first step, last step), or None when no recording is open."""


class Exporter:
    """Pictures and CSV for ``window``.

    Parameters
    ----------
    window : the window (its deck's plots, its status bar).
    dialogs : asks for the output path.
    base : the default output path without suffix (e.g. the recording's, or ./nlviz).
    csv : the recording and range a CSV export writes; None: CSV export is not offered.
    """

    def __init__(self, window: MainWindow[Any], dialogs: Dialogs,
                 base: Callable[[], str] = lambda: os.path.join(os.getcwd(), "nlviz"),
                 csv: CsvSource | None = None) -> None:
        self.window, self.dialogs, self.base, self.csv = window, dialogs, base, csv

    def _path(self, title: str, suffix: str, filters: str, path: str | None) -> str | None:
        if path is not None:
            return path
        return self.dialogs.ask_one("save", title, f"{self.base()}-{suffix}", filters)

    def screenshot(self, path: str | None = None) -> str | None:
        """File > Screenshot: the whole window, PNG or SVG by the chosen suffix."""
        out = self._path("Screenshot", "window.png", PICTURES, path)
        return self._save(lambda: save_picture(self.window, out), out) if out else None

    def export_window(self, kind: str = "png", path: str | None = None) -> str | None:
        """The whole window as ``kind`` ("png" or "svg"); returns the path written."""
        out = self._path("Export window", f"window.{kind}", f"{kind.upper()} (*.{kind})", path)
        return self._save(lambda: save_picture(self.window, out), out) if out else None

    def export_plot(self, key: str, kind: str = "png", path: str | None = None) -> str | None:
        """One plot (a metric, ``raster``, ``forgetting`` or ``heatmap``) as ``kind``."""
        out = self._path("Export plot", f"{key}.{kind}", f"{kind.upper()} (*.{kind})", path)
        item = self.window.deck.plot_item(key)
        return self._save(lambda: save_plot(item, out), out) if out else None

    def export_csv(self, path: str | None = None) -> int | None:
        """The visible step range of the recording as CSV (all levels, all metrics);
        returns the rows written."""
        what = self.csv.visible_recording() if self.csv is not None else None
        if what is None:
            self.window.show_message("no recording open", error=True)
            return None
        rec, lo, hi = what
        out = self._path("Export visible range", f"{lo}-{hi}.csv", "CSV (*.csv)", path)
        if not out:
            return None
        try:
            n = export_csv(rec, str(out), None, lo, hi)
        except (UserError, OSError) as exc:
            self.window.show_message(one_line(exc), error=True)
            return None
        self.window.show_message(f"wrote {n:,} rows (steps {lo:,} to {hi:,}) to {out}")
        return n

    def _save(self, fn: Callable[[], str], out: str) -> str | None:
        try:
            fn()
        except (UserError, OSError) as exc:
            self.window.show_message(one_line(exc), error=True)
            return None
        self.window.show_message(f"saved {out}")
        return out


__all__ = ["PICTURES", "CsvSource", "Exporter"]
