"""What one row per level can show (the quantity selector), as (L, n) arrays of a view.

Timescale-honest first: ``update_step`` spreads each update event's norm over the steps
of its period (a level firing every 64 steps moves that much per step, not 64x more),
``path`` is the cumulative distance the weights travelled, ``drift_init`` the distance
from the initial weights, ``weight_norm`` the size of the weights. ``update_norm`` is the
size of each update event, drawn at the events only and labelled as per event.
The arithmetic lives in ``nlviz.analysis.derived``; this module picks columns.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.frames import METRIC_INDEX, RunSpec
from nlviz.analysis.derived import level_rates
from nlviz.series.views import HistoryView


@dataclass(frozen=True)
class Quantity:
    """One selectable quantity: ``title`` (the rows' caption), the recorded ``column`` it
    derives from, and whether it is drawn at update events only (``at_events``)."""

    key: str
    title: str
    column: str
    at_events: bool = False
    smoothable: bool = True


QUANTITIES: dict[str, Quantity] = {q.key: q for q in (
    Quantity("surprise", "surprise ½‖u‖² (each level's own error signal)", "surprise"),
    Quantity("update_step", "update per step: ‖ΔW‖ of each event / period, spread over "
             "the period", "update_norm", smoothable=False),
    Quantity("path", "cumulative path Σ‖ΔW‖ since the first row shown", "update_norm",
             smoothable=False),
    Quantity("drift_init", "drift from init ‖W − W₀‖ / ‖W₀‖", "drift_init"),
    Quantity("weight_norm", "weight norm ‖W‖", "weight_norm"),
    Quantity("update_norm", "update per EVENT ‖ΔW‖ (size of one update; not per step)",
             "update_norm", at_events=True),
    Quantity("contribution", "contribution to the output ‖added‖ / ‖y‖", "contribution"),
    Quantity("gates", "gates: inner learning rate η and retention ρ", "lr"),
)}
DEFAULT_QUANTITY = "surprise"


def available(spec: RunSpec) -> list[str]:
    """Quantities whose column the run records (all of ``QUANTITIES`` on a current run)."""
    return [k for k, q in QUANTITIES.items() if q.column in spec.level_metrics]


def quantity_rows(view: HistoryView, spec: RunSpec, key: str, smoothed: bool
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """(values (L, n), mask (L, n) or None) of quantity ``key`` over the whole ``view``;
    ``mask`` marks the steps to draw (update events) for per-event quantities."""
    q = QUANTITIES[key]
    if key in ("update_step", "path"):
        rate, path = level_rates(view, spec)                         # (L, n) each
        return (rate if key == "update_step" else path), None
    src = view.smooth if smoothed and q.smoothable else view.level
    return src[:, METRIC_INDEX[q.column]], (view.fired if q.at_events else None)


__all__ = ["DEFAULT_QUANTITY", "QUANTITIES", "Quantity", "available", "quantity_rows"]
