"""Health flags on the step plots: a banner above them listing every flag that holds now
(collapsed weights, a constant gate, a non-finite value, a loss worse than copying the
input), each saying since when, and a mark on the plot at that step: on the level's row
for a level flag, on the loss plot otherwise. The checks are ``nlviz.analysis.health``.
"""
from __future__ import annotations

from collections.abc import Mapping

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QSizePolicy

from engine.frames import RunSpec
from nlviz.analysis.health import HealthConfig, HealthFlag, check_health, initial_norms
from nlviz.qt.theme import FLAG_COLOR, pen
from nlviz.series.views import HistoryView

BANNER_STYLE = "background: #5c1f1f; color: #ffd8d8; padding: 3px;"
KIND_TEXT = {"collapse": "weights collapsed", "constant_gate": "gate constant",
             "nan": "non-finite values", "worse_than_copy": "loss worse than copying the input"}


def flag_text(flag: HealthFlag) -> str:
    """One line: "cms2: weights collapsed since step 1,234 (detail)"."""
    what = KIND_TEXT.get(flag.kind, flag.kind)
    detail = f" ({flag.detail})" if flag.detail else ""
    return f"{flag.level or 'run'}: {what} since step {flag.since_step:,}{detail}"


class HealthMarks:
    """The banner (``banner``), the flags shown (``flags``) and their marks (``marks``:
    one ``InfiniteLine`` per flag, at ``since_step``, on the plot it concerns)."""

    def __init__(self) -> None:
        self.banner = QLabel("")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(BANNER_STYLE)
        self.banner.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.banner.hide()
        self.flags: list[HealthFlag] = []
        self.marks: list[tuple[pg.PlotItem, pg.InfiniteLine]] = []
        self._loss: pg.PlotItem | None = None
        self._rows: dict[str, pg.PlotItem] = {}
        self.config = HealthConfig()
        self.start_norms: tuple[float, ...] | None = None   # weight norms at the run's start

    def set_config(self, config: HealthConfig) -> None:
        """Thresholds for this run (``health_config_for(run config)``: no constant-gate flag
        for fixed gates); forgets the start norms (a new run)."""
        self.config, self.start_norms = config, None

    def set_plots(self, loss: pg.PlotItem, rows: Mapping[str, pg.PlotItem]) -> None:
        """Where marks go: the loss plot and each level's row (by level name)."""
        self.clear()
        self._loss, self._rows = loss, dict(rows)
        self.start_norms = None

    def clear(self) -> None:
        """No flags: hide the banner, remove the marks."""
        self.show([])

    def show_flags(self, view: HistoryView, spec: RunSpec) -> list[HealthFlag]:
        """Check ``view`` and show what holds; returns the flags. The weight norms of the
        run's first row are kept from the first view that holds every step (a live ring
        buffer later drops them), so a collapse is judged against the initial weights."""
        if self.start_norms is None and len(view.step) and len(view.step) == view.total \
                and not view.is_summary:
            self.start_norms = initial_norms(view, spec)
        flags = check_health(view, spec, self.config, self.start_norms)
        self.show(flags)
        return flags

    def show(self, flags: list[HealthFlag]) -> None:
        """Show ``flags`` (the banner and one mark each)."""
        if flags == self.flags:
            return
        self.flags = list(flags)
        for plot, line in self.marks:
            plot.removeItem(line)
        self.marks = []
        for f in self.flags:
            plot = self._rows.get(f.level or "", self._loss)
            if plot is None:
                continue
            line = pg.InfiniteLine(
                pos=f.since_step, angle=90, movable=False, pen=pen(FLAG_COLOR, dash=True),
                label=f"⚠ {KIND_TEXT.get(f.kind, f.kind)} since {f.since_step:,}",
                labelOpts={"position": 0.85, "color": FLAG_COLOR, "anchors": [(0, 0), (0, 0)]})
            line.setZValue(25)
            plot.addItem(line, ignoreBounds=True)
            self.marks.append((plot, line))
        self.banner.setText("⚠ " + " · ".join(flag_text(f) for f in self.flags))
        self.banner.setToolTip("\n".join(flag_text(f) for f in self.flags))
        self.banner.setVisible(bool(self.flags))


__all__ = ["BANNER_STYLE", "HealthMarks", "flag_text"]
