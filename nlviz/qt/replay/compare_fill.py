"""Fill one ``ComparePlot`` with a metric of every run (or group), on the step axis or
around regime switches. Qt items only; the numbers come from ``CompareData``."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nlviz.analysis.derived import level_label
from nlviz.qt.replay.compare_draw import ComparePlot, series_xy
from nlviz.replay.compare_data import CompareData
from nlviz.replay.compare_series import Curve, display, envelope, mean_aligned


@dataclass(frozen=True)
class What:
    """What a plot shows: ``metric`` of ``level`` (None: a global metric), smoothed over
    ``smooth`` rows, in steps [start, stop] (None: open), per run or per group, on the step
    axis or aligned on switches (``visit``, ± ``window`` steps); ``baseline`` a global
    metric drawn dashed (loss plot) or ""."""

    metric: str
    level: str | None
    smooth: int = 1
    start: int | None = None
    stop: int | None = None
    per_group: bool = False
    aligned: bool = False
    visit: str = "first"
    window: int = 200
    baseline: str = ""


def _note(c: Curve | None, level: str | None) -> str | None:
    """Why a run's curve is not drawn (no such level, no values, a constant), or None."""
    if c is None:
        return f"no {level}"
    if not c.available:
        return "n/a"
    k = c.constant()
    return None if k is None else f"constant {k:.4g}"


def _switches(n: int) -> str:
    return f"{n} switch" + ("" if n == 1 else "es")


class Filler:
    """Fills plots from ``data`` (raw up to ``raw_limit`` rows, else ``max_points``
    min/max buckets); ``summary`` tells whether the last fill drew any envelope."""

    def __init__(self, data: CompareData, labels: list[str], raw_limit: int = 20_000,
                 max_points: int = 4000) -> None:
        self.data, self.labels = data, labels
        self.raw_limit, self.max_points = raw_limit, max_points
        self.summary = False
        self.start: int | None = None
        self.stop: int | None = None

    def _period_note(self, run: int, level: str | None) -> str:
        if level is None:
            return ""
        lv = next((x for x in self.data.cmp.runs[run].spec.levels if x.name == level), None)
        return "" if lv is None else f" · {level_label(lv)}"

    def fill(self, cp: ComparePlot, w: What) -> None:
        cp.clear()
        self.start, self.stop = w.start, w.stop
        cp.zero.setVisible(w.aligned)
        if w.aligned:
            self._fill_aligned(cp, w)
        elif w.per_group:
            self._fill_groups(cp, w)
        else:
            self._fill_runs(cp, w)

    def _show(self, c: Curve) -> tuple[np.ndarray, np.ndarray]:
        s = display(c, self.start, self.stop, self.raw_limit, self.max_points)
        self.summary |= s.is_summary
        return series_xy(s)

    def _fill_runs(self, cp: ComparePlot, w: What) -> None:
        for r, label in enumerate(self.labels):
            c = self.data.curve(r, w.metric, w.level, w.smooth)
            note = _note(c, w.level)
            if note is None and c is not None:
                cp.curves[r].setData(*self._show(c))
            text = label + self._period_note(r, w.level)
            cp.add_legend(cp.curves[r], text if note is None else f"{text} ({note})")
            b = self.data.curve(r, w.baseline, None, w.smooth) if w.baseline else None
            if b is not None and b.available:
                cp.baselines[r].setData(*self._show(b))

    def _band_xy(self, steps: np.ndarray, mean: np.ndarray, std: np.ndarray,
                 g: int, cp: ComparePlot) -> None:
        lo = 0 if self.start is None else int(np.searchsorted(steps, self.start, "left"))
        hi = len(steps) if self.stop is None else int(np.searchsorted(steps, self.stop, "right"))
        steps, mean, std = steps[lo:hi], mean[lo:hi], std[lo:hi]
        if len(steps) <= self.raw_limit:
            cp.set_band(g, steps.astype(np.float64), mean, mean - std, mean + std)
            return
        self.summary = True
        m = envelope(steps, mean, mean, self.max_points)
        b = envelope(steps, mean - std, mean + std, self.max_points)
        x, y = series_xy(m)
        cp.set_band(g, x, y, np.repeat(b.values, 2), np.repeat(b.maxs, 2))

    def _fill_groups(self, cp: ComparePlot, w: What) -> None:
        for g, group in enumerate(self.data.groups):
            band = self.data.band(group, w.metric, w.level, w.smooth)
            text = f"{group.label} · n={len(group.members)}" + \
                self._period_note(group.members[0], w.level)
            if band is None or not np.isfinite(band.mean).any():
                cp.add_legend(cp.means[g], f"{text} ({'n/a' if band else f'no {w.level}'})")
                continue
            self._band_xy(band.grid, band.mean, band.std, g, cp)
            cp.add_legend(cp.means[g], text)
            if w.baseline:
                base = self.data.band(group, w.baseline, None, w.smooth)
                if base is not None and np.isfinite(base.mean).any():
                    cp.baselines[g].setData(*self._show(Curve(base.grid, base.mean)))

    def _fill_aligned(self, cp: ComparePlot, w: What) -> None:
        parts = [self.data.aligned(r, w.metric, w.level, w.window, w.window, w.smooth)
                 for r in range(len(self.labels))]
        base = [self.data.aligned(r, w.baseline, None, w.window, w.window, w.smooth)
                if w.baseline else None for r in range(len(self.labels))]
        if w.per_group:
            for g, group in enumerate(self.data.groups):
                x, mean, std, count = mean_aligned(
                    [p[w.visit] for m in group.members if (p := parts[m]) is not None])
                text = (f"{group.label} · n={len(group.members)}"
                        f"{self._period_note(group.members[0], w.level)} · {_switches(count)}")
                if count:
                    cp.set_band(g, x.astype(np.float64), mean, mean - std, mean + std)
                bx, bmean, _, bcount = mean_aligned(
                    [b[w.visit] for m in group.members if (b := base[m]) is not None])
                if bcount:
                    cp.baselines[g].setData(bx.astype(np.float64), bmean)
                cp.add_legend(cp.means[g], text)
            return
        for r, label in enumerate(self.labels):
            p = parts[r]
            a = p[w.visit] if p is not None else None
            if a is None or a.count == 0:
                why = ("no switches" if p is not None else
                       f"no {w.level}" if self.data.curve(r, w.metric, w.level) is None
                       else "not per step")
                cp.add_legend(cp.curves[r], f"{label} ({why})")
                continue
            cp.curves[r].setData(np.asarray(a.offsets, np.float64),
                                 np.asarray(a.mean[0], np.float64))
            cp.add_legend(cp.curves[r], f"{label}{self._period_note(r, w.level)} · "
                          f"{_switches(a.count)}")
            b = base[r]
            if b is not None and b[w.visit].count:
                cp.baselines[r].setData(np.asarray(b[w.visit].offsets, np.float64),
                                        np.asarray(b[w.visit].mean[0], np.float64))


__all__ = ["Filler", "What"]
