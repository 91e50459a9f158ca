"""The update-cadence raster: which level fired when, as an event rate per pixel.

Each image column is one bucket of ``k`` steps (``k`` = visible steps per pixel, buckets
aligned to step numbers); a cell holds the fraction of the bucket's steps at which the
level fired (``fired count / steps in the bucket``). Brightness follows the log of that
rate, so a level firing every token and one firing every 4,096 steps are both visible at
any zoom, and zoomed in (``k`` = 1) every event is its own cell. Row labels state the
period (``cms3 · 64``).
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFont

from engine.frames import RunSpec
from nlviz.series.views import HistoryView

RASTER_MAX_COLS = 2000
ROW_PX = 13                      # pixels per level row (a label's height)
RATE_FLOOR = 1.0 / 4096          # rates at or below this are drawn at the dimmest shade
DIMMEST = 0.3                    # brightness of a rate at RATE_FLOOR (0 events: background)


def rate_bins(step: np.ndarray, fired: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Event rate per bucket of ``k`` steps aligned to ``step % k == 0``.

    step (n,) sorted step numbers, fired (L, n) 0/1 -> (rate (L, nb) float32 = events /
    recorded steps in the bucket (0 for an empty bucket), first bucket's start step).
    """
    x0 = float(step[0] - step[0] % k)
    L, n = fired.shape
    if step[-1] - step[0] == n - 1:                                   # contiguous: reshape
        off = int(step[0] - x0)
        nb = -(-(off + n) // k)
        padded = np.zeros((L, nb * k), np.float32)
        padded[:, off:off + n] = fired
        sizes = np.full(nb, float(k))
        sizes[0] -= off
        sizes[-1] -= nb * k - off - n
        return (padded.reshape(L, nb, k).sum(2) / sizes).astype(np.float32), x0
    idx = ((step - x0) // k).astype(np.int64)                        # (n,)
    nb = int(idx[-1]) + 1
    flat = (idx[None, :] + nb * np.arange(L)[:, None]).ravel()       # (L n,)
    counts = np.bincount(flat, weights=fired.ravel().astype(np.float64),
                         minlength=L * nb).reshape(L, nb)
    sizes = np.bincount(idx, minlength=nb).astype(np.float64)        # (nb,)
    rate = np.divide(counts, sizes, out=np.zeros_like(counts), where=sizes > 0)
    return rate.astype(np.float32), x0


def brightness(rate: np.ndarray) -> np.ndarray:
    """Log brightness in [0, 1]: 0 for no event, ``DIMMEST`` at ``RATE_FLOOR``, 1 at 1."""
    with np.errstate(divide="ignore"):
        lg = np.log(np.maximum(rate, RATE_FLOOR)) / -np.log(RATE_FLOOR)    # [-1, 0]
    return np.where(rate > 0, 1.0 + (1.0 - DIMMEST) * lg, 0.0).astype(np.float32)


def period_text(period: int) -> str:
    """``1`` -> "every token"; ``64`` -> "every 64"."""
    return "every token" if period == 1 else f"every {period:,}"


class CadenceRaster:
    """The raster plot (``plot``) and its image (``image``); ``rate`` holds the last
    drawn event rates (L, cols) and ``bucket`` the steps per column."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self.periods = np.zeros(0, np.float32)   # (L,) update periods of the run's levels
        plot.getAxis("left").setToolTip("update cadence: events per step in each pixel's "
                                        "steps (brighter = more often, log scale)")
        plot.setMouseEnabled(y=False)
        plot.enableAutoRange(y=False)            # the level rows, not the image's bounds
        plot.setLabel("bottom", "step    (raster: update events per step in each pixel, "
                      "brighter = more often)")
        font = QFont()
        font.setPointSize(7)
        plot.getAxis("left").setStyle(tickFont=font)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLevels([0, 1])
        plot.addItem(self.image)
        self.rate = np.zeros((0, 0), np.float32)
        self.bucket = 1
        self._rgba = (230, 230, 230, 255)
        self._lut()

    def set_levels(self, spec: RunSpec) -> None:
        """Row labels: level name and period (bottom row = first level)."""
        self.periods = np.array([max(1, lv.update_period) for lv in spec.levels], np.float32)
        ax = self.plot.getAxis("left")
        ax.setTicks([[(i + 0.5, f"{lv.name} · {lv.update_period:,}")
                      for i, lv in enumerate(spec.levels)]])
        self.plot.setYRange(-0.5, len(spec.levels) + 0.2, padding=0)   # end labels fit
        self.plot.setMinimumHeight(ROW_PX * len(spec.levels) + 48)   # every label readable

    def set_color(self, color: str) -> None:
        """Colour of the fastest rate (the theme's foreground)."""
        c = pg.mkColor(color)
        self._rgba = (c.red(), c.green(), c.blue(), 255)
        self._lut()

    def _lut(self) -> None:
        t = np.linspace(0.0, 1.0, 256)[:, None]
        lut = np.zeros((256, 4), np.uint8)
        lut[:, :3] = (t * np.array(self._rgba[:3])).astype(np.uint8)
        lut[:, 3] = np.where(t[:, 0] > 0, 255, 0)
        self.image.setLookupTable(lut)

    def draw(self, view: HistoryView) -> None:
        """Rates over the visible x range, one column per pixel (at most ``RASTER_MAX_COLS``)."""
        if len(view.step) == 0:
            return
        x0, x1 = self.plot.viewRange()[0]
        lo = int(np.searchsorted(view.step, x0))
        hi = int(np.searchsorted(view.step, x1, side="right"))
        if hi - lo < 1:
            self.image.clear()                   # nothing visible: no stale picture
            return
        step = view.step[lo:hi]
        pixels = max(50, min(RASTER_MAX_COLS, int(self.plot.getViewBox().width())))
        span = float(step[-1] - step[0] + 1)
        k = max(1, int(np.ceil(span / pixels)))
        self.rate, first = rate_bins(step, view.fired[:, lo:hi], k)
        if view.is_summary and len(self.periods) == len(self.rate):
            # a summary row says only "fired in this bucket of rows": the rate inside a
            # bucket is the level's schedule, one event per period (approximate)
            self.rate = self.rate / self.periods[:, None]
        self.bucket = k
        self.image.setImage(brightness(self.rate), autoLevels=False, levels=(0, 1))
        self.image.setRect(first, 0, float(self.rate.shape[1] * k), self.rate.shape[0])


__all__ = ["CadenceRaster", "brightness", "period_text", "rate_bins"]
