"""The loss panel on top of the step plots: the outer (next-step) loss, raw (faint) and
smoothed, the baselines the engine scores on the same stream (copy the last input,
predict zero, the stream's own clean signal where it knows one), and the regime bands
with their visit numbers behind them.

The smoothed curves are one debiased EMA (``LOSS_EMA``) of the raw columns, started
``WARM`` steps left of the drawn range (from the first row when that is in view), so the
loss and its baselines are smoothed alike and can be compared point by point.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyqtgraph as pg

from engine.frames import RunSpec
from nlviz.analysis.switches import Span, regime_spans
from nlviz.qt.panels.bands import BandLabels, BandsItem
from nlviz.qt.panels.drawing import Window, YRange, curve, rows_xy
from nlviz.qt.panels.ema_cache import EmaCache
from nlviz.qt.panels.levels import set_title
from nlviz.qt.panels.visits import VisitRegister
from nlviz.qt.theme import BASELINE_COLORS, LOSS_COLOR, pen
from nlviz.series.smoothing import ema_debiased
from nlviz.series.views import HistoryView

LOSS_EMA = 0.98                  # smoothing weight of the loss and baseline curves (~50 steps)
WARM = 500                       # steps of EMA warm-up left of the drawn range
BASELINES = ("copy_loss", "zero_loss", "oracle_loss")
NAMES = {"outer_loss": "loss", "copy_loss": "copy input", "zero_loss": "predict 0",
         "oracle_loss": "oracle - -"}


def smoothed_rows(rows: np.ndarray, weight: float = LOSS_EMA) -> np.ndarray:
    """Debiased EMA of each row of ``rows`` (S, n) from its first column -> (S, n) float32."""
    if rows.shape[1] == 0:
        return rows.astype(np.float32)
    S = rows.shape[0]
    out, _, _ = ema_debiased(rows.T, weight, np.zeros(S), np.zeros(S))
    return out.T.astype(np.float32)


class LossRow:
    """Curves and bands of the loss plot ``plot``.

    Attributes: ``raw`` and ``smooth`` (the outer loss), ``baselines`` (column name ->
    smoothed curve, only the columns the run records), ``bands`` (``BandsItem``; its
    ``spans`` are the regime spans drawn), ``labels`` (the visit labels).
    """

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        plot.setToolTip(f"smoothed: debiased EMA, weight {LOSS_EMA}; baselines on the same "
                        "stream: copy the last input, predict 0, the stream's clean signal")
        self.y = YRange(plot)
        self.bands = BandsItem()
        plot.addItem(self.bands, ignoreBounds=True)
        self.labels = BandLabels(plot)
        self.raw = curve(pen(LOSS_COLOR, 80))
        self.smooth = curve(pen(LOSS_COLOR))
        plot.addItem(self.raw)
        plot.addItem(self.smooth)
        self.baselines: dict[str, pg.PlotDataItem] = {}
        self.y.set_log(True)                     # loss and baselines span decades
        self.names: tuple[str, ...] = ()
        self._cols: dict[str, int] = {}
        self.ema = EmaCache(LOSS_EMA)            # live: only new rows are smoothed
        self._span_cache: tuple[float, float, list[Span]] | None = None
        self._history: tuple[float, float, list[Span]] | None = None
        self.visits = VisitRegister()            # the run's visit numbers (any view)

    def set_spec(self, spec: RunSpec) -> None:
        """The run's columns and regime names: one baseline curve per recorded baseline."""
        self.names = spec.regime_names
        self.visits.clear()
        self._span_cache = self._history = None
        self._cols = {m: i for i, m in enumerate(spec.global_metrics)}
        for name in list(self.baselines):
            if name not in self._cols:
                self.plot.removeItem(self.baselines.pop(name))
        for name in BASELINES:
            if name in self._cols and name not in self.baselines:
                item = curve(pen(BASELINE_COLORS[name], dash=name == "oracle_loss"))
                self.plot.addItem(item)
                self.baselines[name] = item
        set_title(self.plot, self.title())

    def title(self) -> str:
        """The plot's title, naming each curve in its colour."""
        def tag(color: str, text: str) -> str:
            return f'<span style="color:{color}">{text}</span>'
        parts = [tag(LOSS_COLOR, "outer loss (smoothed; raw faint)")]
        parts += [tag(BASELINE_COLORS[n], NAMES[n]) for n in self.baselines]
        return " · ".join(parts)

    def draw(self, view: HistoryView, w: Window, log: bool) -> None:
        """The loss and baselines of window ``w`` of ``view``, and the regime bands."""
        self.y.begin()
        cols = ["outer_loss", *self.baselines]
        idx = [self._cols[c] for c in cols if c in self._cols]
        if "outer_loss" not in self._cols or len(view.step) == 0 or w.hi <= w.lo:
            for item in (self.raw, self.smooth, *self.baselines.values()):
                item.setData([], [])
            self.bands.set_spans([])
            return
        a = max(0, w.lo - WARM)
        x = view.step[a:w.hi]
        win = Window(w.lo - a, w.hi - a, w.k)
        raw = view.scalars[idx, a:w.hi]                                   # (S, m)
        sm = smoothed_rows(raw) if view.is_summary else self.ema.rows(x, raw)
        (rx, ry), = rows_xy(x, raw[:1], win, log=log)
        self.raw.setData(rx, ry)
        self.y.see(ry)
        for (sx, sy), c in zip(rows_xy(x, sm, win, log=log), cols, strict=True):
            item = self.smooth if c == "outer_loss" else self.baselines[c]
            if not np.isfinite(sy).any():
                item.setData([], [])
                continue
            item.setData(sx, sy)
            if c != "zero_loss":                      # predicting 0 may be far above: no stretch
                self.y.see(sy)
        self.y.apply()
        self.draw_bands(view)

    def draw_bands(self, view: HistoryView) -> None:
        """Bands of every regime span of ``view``; visit numbers count from its first row."""
        spans = self._spans(view)
        if len(spans) == 1 and len(self.names) <= 1:      # one regime all along: no band
            spans = []
        self.bands.set_spans(spans)
        self.labels.draw(spans, self.names)

    def set_history(self, view: HistoryView) -> None:
        """The run's history up to the cursor (the slow path): its spans number the visits
        from the run's first row, for every later frame inside it (replay windows)."""
        spans = regime_spans(view.step, view.regime) if len(view.step) else []
        self._history = (float(view.step[0]), float(view.step[-1]), spans) if spans else None
        if spans and spans[0].start <= self._first_known():
            self.visits.learn(spans)             # from the run's first row: the truth

    def _spans(self, view: HistoryView) -> list[Span]:
        """The regime spans of ``view``: from the history when it covers the view, else the
        previous frame's spans grown by the new rows (live: no rescan of 100k rows; rows
        the ring dropped keep their visits counted), else ``regime_spans`` of the view."""
        if len(view.step) == 0:
            return []
        first, last = float(view.step[0]), float(view.step[-1])
        h = self._history
        if h is not None and h[0] <= first and last <= h[1]:
            spans = [sp for sp in h[2] if sp.stop >= first and sp.start <= last]
            switches = view.step[1:][np.diff(view.regime) != 0]           # (k,) this view's
            if np.array_equal(switches, [sp.start for sp in spans[1:]]) and \
                    int(view.regime[0]) == spans[0].regime:               # same run: use it
                return spans
        c = self._span_cache
        if c is not None and not view.is_summary and c[0] <= first <= c[1] <= last:
            tail = c[2][-1]
            i = int(np.searchsorted(view.step, max(tail.start, first)))
            if (view.regime[i:] == tail.regime).all():               # no switch since
                spans = [sp for sp in c[2][:-1] if sp.stop >= first]
                spans.append(replace(tail, stop=int(last)))
                self._span_cache = (first, last, spans)
                return spans
        spans = self.visits.number(regime_spans(view.step, view.regime))
        self._span_cache = (first, last, spans)
        return spans

    def _first_known(self) -> int:
        """The first step of any span seen so far (a huge number before any)."""
        return min((rows[0][0] for rows in self.visits.known.values() if rows), default=1 << 62)

__all__ = ["BASELINES", "LOSS_EMA", "LossRow", "smoothed_rows"]
