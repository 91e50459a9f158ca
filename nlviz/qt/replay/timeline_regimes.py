"""Regime bands on the replay timeline: one coloured rectangle per stretch of one regime
(colour from ``theme.regime_color``, the loss panel's colours), with a tooltip naming the
regime, its visit number and its steps."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from nlviz.analysis.switches import Span, regime_spans
from nlviz.qt.theme import regime_color

BAND_ALPHA = 70


class RegimeBands(pg.BarGraphItem):
    """Bands behind the timeline's marks (y from 0 to 1 in the strip's coordinates)."""

    def __init__(self) -> None:
        super().__init__(x0=[], x1=[], y0=[], y1=[], brushes=[], pen=pg.mkPen(None))
        self.setZValue(-10)
        self.spans: list[Span] = []
        self.names: tuple[str, ...] = ()

    def set_names(self, names: tuple[str, ...]) -> None:
        """The stream's regime names (indexed by the regime column), for the tooltips."""
        self.names = tuple(names)

    def set_regimes(self, steps: np.ndarray, regime: np.ndarray) -> None:
        """Bands of the runs of equal ``regime`` ((n,) per recorded ``steps`` (n,)); a band
        covers its first step up to the next band's first step."""
        spans = regime_spans(np.asarray(steps), np.asarray(regime)) if len(steps) else []
        if spans == self.spans:
            return
        same_bands = [(x.start, x.regime) for x in spans] == \
            [(x.start, x.regime) for x in self.spans]
        self.spans = spans
        if not spans:
            self.setOpts(x0=[], x1=[], y0=[], y1=[], brushes=[])
            return
        x0 = np.array([s.start for s in spans], np.float64)
        x1 = np.append(x0[1:], float(spans[-1].stop) + 1.0)
        opts: dict[str, object] = {"x0": x0, "x1": x1, "y0": np.zeros(len(x0)),
                                   "y1": np.ones(len(x0))}
        if not same_bands:              # a growing recording only moves the last band's end
            opts["brushes"] = [pg.mkBrush(regime_color(s.regime, BAND_ALPHA)) for s in spans]
        self.setOpts(**opts)

    def edges(self) -> np.ndarray:
        """(k,) int64 first step of every band after the first: the regime switch steps."""
        return np.array([s.start for s in self.spans[1:]], np.int64)

    def regime_name(self, regime: int) -> str:
        return self.names[regime] if 0 <= regime < len(self.names) else f"regime {regime}"

    def tip_at(self, x: float) -> str:
        """Tooltip of the band under step ``x`` ("" outside every band)."""
        if not self.spans:
            return ""
        starts = np.array([s.start for s in self.spans])
        i = int(np.searchsorted(starts, x, "right")) - 1
        if i < 0 or x > self.spans[-1].stop + 1:
            return ""
        s = self.spans[i]
        return (f"{self.regime_name(s.regime)} · visit {s.visit} · steps {s.start:,}–{s.stop:,}"
                + ("" if i == 0 else f" (switch at step {s.start:,})"))


__all__ = ["RegimeBands"]
