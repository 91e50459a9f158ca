"""Regime bands: one coloured band per regime span behind a step plot, with the regime
and the visit number ("B #2": the second time regime B is seen) where it has room.

One graphics item paints every band (hundreds of spans cost one ``paint``); the spans it
holds (``spans``) are the item data the tests read.
"""
from __future__ import annotations

from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QPainter

from nlviz.analysis.switches import Span
from nlviz.qt.theme import regime_color

MAX_LABELS = 40
LABEL_MIN_PX = 48        # a band narrower than this on screen gets no label


class BandsItem(pg.GraphicsObject):
    """Vertical bands over the whole visible y range, one per ``Span`` (the loss panel,
    Compare's plots); ``alpha``: the colours' opacity (``theme.regime_color``)."""

    def __init__(self, alpha: int | None = None, z: float = -100) -> None:
        super().__init__()
        self.spans: list[Span] = []
        self.alpha = alpha
        self.setZValue(z)

    def edges(self) -> list[tuple[float, float, int]]:
        """(x0, x1, regime) of every band; x1 is one past its last step."""
        return [(float(s.start), float(s.stop + 1), s.regime) for s in self.spans]

    def set_spans(self, spans: Sequence[Span]) -> None:
        """Show ``spans`` (steps inclusive), coloured by regime."""
        if list(spans) == self.spans:
            return
        self.spans = list(spans)
        self.prepareGeometryChange()
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        vr = self.viewRect()
        if vr is None or not self.spans:
            return QRectF()
        x0, x1 = self.spans[0].start, self.spans[-1].stop + 1
        return QRectF(x0, vr.top(), x1 - x0, vr.height())

    def viewRangeChanged(self) -> None:  # noqa: N802 - pyqtgraph hook
        self.prepareGeometryChange()
        self.update()

    def paint(self, p: QPainter, *args: object) -> None:
        vr = self.viewRect()
        if vr is None:
            return
        left, right = vr.left(), vr.right()
        rects: dict[int, list[QRectF]] = {}
        for s in self.spans:                    # one drawRects per regime colour
            if s.stop + 1 < left or s.start > right:
                continue
            rects.setdefault(s.regime, []).append(
                QRectF(s.start, vr.top(), s.stop + 1 - s.start, vr.height()))
        p.setPen(Qt.PenStyle.NoPen)
        for regime, rs in rects.items():
            p.setBrush(regime_color(regime) if self.alpha is None
                       else regime_color(regime, self.alpha))
            p.drawRects(rs)


class BandLabels:
    """Text labels "<regime> #<visit>" at the bottom of bands wide enough on screen; each
    span keeps its label item while it is shown (no re-layout of text per frame)."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self.items: dict[tuple[int, int], pg.TextItem] = {}     # (start, regime) -> label
        self.spare: list[pg.TextItem] = []
        self.shown: list[str] = []

    def draw(self, spans: Sequence[Span], names: Sequence[str]) -> None:
        """Place labels for the visible spans that have room; hide the rest."""
        vb = self.plot.getViewBox()
        (x0, x1), (y0, _) = vb.viewRange()
        px = max(1.0, vb.width()) / max(1e-9, x1 - x0)           # pixels per step
        want: dict[tuple[int, int], tuple[float, str]] = {}
        for s in spans:
            a, b = max(s.start, x0), min(s.stop + 1, x1)
            if (b - a) * px < LABEL_MIN_PX:
                continue
            name = names[s.regime] if 0 <= s.regime < len(names) else f"regime {s.regime}"
            want[(s.start, s.regime)] = (a, f"{name[:14]} #{s.visit}")
            if len(want) == MAX_LABELS:
                break
        for key in [k for k in self.items if k not in want]:
            item = self.items.pop(key)
            item.setVisible(False)
            self.spare.append(item)
        for key, (x, text) in want.items():
            item = self.items.get(key)
            if item is None:
                item = self.spare.pop() if self.spare else self._new()
                self.items[key] = item
                item.setVisible(True)
            if item.toPlainText() != text:
                item.setText(text)
            item.setPos(x, y0)                   # bottom; view coordinates (log10 in log mode)
        self.shown = [t for _, t in want.values()]

    def _new(self) -> pg.TextItem:
        item = pg.TextItem(anchor=(0, 1), color="#c8ccd4")
        item.setZValue(-50)
        self.plot.addItem(item, ignoreBounds=True)
        return item


__all__ = ["BandLabels", "BandsItem"]
