"""Health flags: conditions under which the plots look normal but the run is not.

Every flag holds at the last row of the view; ``since_step`` is the first step from which
its condition held continuously up to that row. Columns are looked up by name in the
spec's metric lists; a check whose column the run does not have is skipped.

Kinds
-----
- ``"collapse"`` (per level): ``weight_norm < collapse_frac * w0``, ``w0`` the first finite
  ``weight_norm`` of the view, or ``start_norms`` when given (the live plots pass the
  norms of the run's first row, kept after the ring buffer has dropped it). A memory whose weights decayed to (almost) zero reads nothing.
- ``"constant_gate"`` (Titans levels only; CMS gates are constants by design): over the
  last ``gate_window`` rows, ``std(x) < gate_tol * |mean(x)|`` for ``x`` = ``lr`` or
  ``retention``. ``since_step`` is the first step of the earliest such window in the final
  unbroken run of them. The Titans memories share one eta and one rho, so identical flags
  of several Titans levels are merged into one (``level`` = the first, ``detail`` names the
  others). Set ``check_gates=False`` for fixed gates (``model.titans.gates = "fixed"``,
  constant on purpose; ``health_config_for`` does it from a config).
- ``"nan"`` (per level, or ``level`` None for the global columns): any NaN or inf so far;
  ``since_step`` is the first non-finite step. Not counted: ``contribution`` of the Titans
  k, v, eta and alpha memories and ``oracle_loss`` (NaN by definition), and columns added
  after schema 1.3 (``weight_norm``, ``contribution``, ``copy_loss``, ``zero_loss``) where
  they are NaN on every row (an older recording that lacks them).
- ``"worse_than_copy"`` (``level`` None): the trailing mean of ``outer_loss`` over
  ``loss_window`` rows (fewer at the start) exceeds ``(1 + copy_margin)`` times the trailing
  mean of ``copy_loss`` over the same rows: predicting the last input would do better.
  Not flagged where that mean copy loss is 0 (the reconstruction objective, where copying
  is exact by construction).

On a summary view (min/max rows) the steps are bucket-accurate and a NaN inside a bucket
may be hidden by the NaN-ignoring min/max; use exact rows when the numbers matter.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.frames import RunSpec
from nlviz.series.views import HistoryView

OPTIONAL_COLUMNS: frozenset[str] = frozenset(
    {"weight_norm", "contribution", "copy_loss", "zero_loss", "oracle_loss"})
GATE_COLUMNS: tuple[str, ...] = ("lr", "retention")


@dataclass(frozen=True)
class HealthFlag:
    """One failed health check: ``kind`` (see the module docstring), the ``level`` it
    concerns (None: the whole run), ``since_step`` and a short human ``detail``."""

    kind: str
    level: str | None
    since_step: int
    detail: str


@dataclass(frozen=True)
class HealthConfig:
    """Thresholds of the checks (see the module docstring)."""

    collapse_frac: float = 0.05
    gate_window: int = 500
    gate_tol: float = 1e-4
    loss_window: int = 200
    copy_margin: float = 0.0
    check_gates: bool = True


def health_config_for(config: dict[str, Any] | None, **kw: Any) -> HealthConfig:
    """``HealthConfig(**kw)`` with ``check_gates`` off when the run's config (a dict as
    recorded) has fixed Titans gates."""
    gates = ((config or {}).get("model", {}).get("titans", {}) or {}).get("gates", "adaptive")
    if gates == "fixed":
        kw.setdefault("check_gates", False)
    return HealthConfig(**kw)


def _final_run_start(cond: np.ndarray) -> int | None:
    """Index where the final unbroken run of True in ``cond`` starts; None if the last
    entry is False (or ``cond`` is empty)."""
    if len(cond) == 0 or not cond[-1]:
        return None
    false = np.flatnonzero(~cond)
    return int(false[-1]) + 1 if len(false) else 0


def _trailing_mean(x: np.ndarray, w: int) -> np.ndarray:
    """(n,) mean of the finite values of ``x`` over the ``w`` rows ending at each row
    (fewer at the start); NaN where a window has none."""
    ok = np.isfinite(x)
    c = np.r_[0.0, np.cumsum(np.where(ok, x, 0.0))]                        # (n+1,)
    k = np.r_[0, np.cumsum(ok)]                                            # (n+1,)
    idx = np.arange(1, len(x) + 1)
    lo = np.maximum(idx - w, 0)
    cnt = k[idx] - k[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, (c[idx] - c[lo]) / np.maximum(cnt, 1), np.nan)


def _rolling_flat(x: np.ndarray, w: int, tol: float) -> np.ndarray:
    """(n - w + 1,) True where the window of ``w`` rows ending there has std < tol*|mean|
    (all values finite). Sums run from the newest row back, so the recent windows, the
    ones a constant gate makes tiny, carry no rounding from the older rows."""
    y = np.asarray(x, np.float64)[::-1]                                    # newest first
    finite = np.isfinite(y)
    shift = float(y[0]) if finite[0] else 0.0
    z = np.where(finite, y - shift, 0.0)
    c1 = np.r_[0.0, np.cumsum(z)]
    c2 = np.r_[0.0, np.cumsum(z * z)]
    cb = np.r_[0, np.cumsum(~finite)]
    s1 = c1[w:] - c1[:-w]
    s2 = c2[w:] - c2[:-w]
    mean = s1 / w
    var = np.maximum(s2 / w - mean * mean, 0.0)
    ok = (cb[w:] - cb[:-w] == 0) & (np.sqrt(var) < tol * np.abs(mean + shift))
    return ok[::-1]                                                        # window ending at i+w-1


def initial_norms(view: HistoryView, spec: RunSpec) -> tuple[float, ...] | None:
    """Each level's first finite ``weight_norm`` in ``view`` (NaN where none), or None when
    the run has no such column. Take it from a view that starts at the run's first step and
    keep it: a live view later holds only the newest steps."""
    if "weight_norm" not in spec.level_metrics:
        return None
    w = np.asarray(view.level[:, spec.level_metrics.index("weight_norm")], np.float64)  # (L, n)
    out = []
    for row in w:
        fin = np.flatnonzero(np.isfinite(row))
        out.append(float(row[fin[0]]) if len(fin) else float("nan"))
    return tuple(out)


def _collapse(view: HistoryView, spec: RunSpec, cfg: HealthConfig,
              start_norms: tuple[float, ...] | None) -> list[HealthFlag]:
    if "weight_norm" not in spec.level_metrics:
        return []
    mi = spec.level_metrics.index("weight_norm")
    first = initial_norms(view, spec) if start_norms is None else start_norms
    assert first is not None
    out = []
    for li, lv in enumerate(spec.levels):
        w = view.level[li, mi]                                  # (n,) compared as float64
        w0 = first[li] if li < len(first) else float("nan")
        if not np.isfinite(w0) or w0 <= 0:
            continue
        thr = cfg.collapse_frac * w0

        def below(lo: int, hi: int, w: np.ndarray = w, thr: float = thr) -> np.ndarray:
            return np.asarray(w[lo:hi], np.float64) < thr

        start = _run_start_from_end(below, len(w), TAIL_ROWS)
        if start is not None:
            out.append(HealthFlag("collapse", lv.name, int(view.step[start]),
                                  f"weight norm {float(w[-1]):.3g} < {cfg.collapse_frac:g} x its "
                                  f"start {w0:.3g}"))
    return out


def _constant_gates(view: HistoryView, spec: RunSpec, cfg: HealthConfig) -> list[HealthFlag]:
    n, w = len(view.step), int(cfg.gate_window)
    if not cfg.check_gates or n < w or w < 2:
        return []
    found: dict[tuple[str, int], list[tuple[str, float]]] = {}
    for m in GATE_COLUMNS:
        if m not in spec.level_metrics:
            continue
        mi = spec.level_metrics.index(m)
        prev: tuple[np.ndarray, int | None] | None = None
        for li, lv in enumerate(spec.levels):
            if lv.kind != "titans":
                continue
            x = view.level[li, mi]
            if prev is not None and np.array_equal(x, prev[0], equal_nan=True):
                start = prev[1]                    # the shared gate: same answer
            else:
                tail = np.asarray(x[-w:], np.float64)
                flat_now = bool(np.isfinite(tail).all()
                                and tail.std() < cfg.gate_tol * abs(tail.mean()))
                start = _final_run_start(_rolling_flat(x, w, cfg.gate_tol)) if flat_now \
                    else None                      # the usual case costs one window
                prev = (x, start)
            if start is not None:
                value = float(np.mean(x[-w:], dtype=np.float64))
                found.setdefault((m, int(view.step[start])), []).append((lv.name, value))
    out = []
    for (m, since), levels in found.items():
        names = [name for name, _ in levels]
        shared = f" (shared by {', '.join(names)})" if len(names) > 1 else ""
        out.append(HealthFlag("constant_gate", names[0], since,
                              f"{m} constant at {levels[0][1]:.4g} over the last {w} steps "
                              f"(std < {cfg.gate_tol:g} x mean){shared}"))
    return out


def _ignored(spec: RunSpec, li: int, metric: str) -> bool:
    lv = spec.levels[li]
    return metric == "contribution" and lv.kind == "titans" and lv.name != "memory"


def _nan(view: HistoryView, spec: RunSpec) -> list[HealthFlag]:
    out = []
    steps = view.step

    def first_bad(x: np.ndarray, metric: str) -> int | None:
        bad = ~np.isfinite(x)
        if not bad.any() or (metric in OPTIONAL_COLUMNS and bad.all()):
            return None
        return int(np.argmax(bad))

    for li, lv in enumerate(spec.levels):
        hits = [(i, m) for mi, m in enumerate(spec.level_metrics)
                if not _ignored(spec, li, m)
                and (i := first_bad(view.level[li, mi], m)) is not None]
        if hits:
            i = min(h[0] for h in hits)
            out.append(HealthFlag("nan", lv.name, int(steps[i]),
                                  "non-finite " + ", ".join(m for _, m in hits)))
    hits = [(i, m) for gi, m in enumerate(spec.global_metrics)
            if m != "oracle_loss" and (i := first_bad(view.scalars[gi], m)) is not None]
    if hits:
        i = min(h[0] for h in hits)
        out.append(HealthFlag("nan", None, int(steps[i]),
                              "non-finite " + ", ".join(m for _, m in hits)))
    return out


TAIL_ROWS = 1024                # the newest rows checked first (the flag's final run)


def _run_start_from_end(cond_of: Callable[[int, int], np.ndarray], n: int, first: int
                        ) -> int | None:
    """``_final_run_start`` of a condition over rows ``[0, n)`` evaluated from the end in
    doubling chunks (``cond_of(lo, hi)`` -> (hi - lo,) bool): a condition false at the
    last row costs one chunk of ``first`` rows, not the whole history."""
    hi, size = n, max(1, first)
    while hi > 0:
        lo = max(0, hi - size)
        cond = cond_of(lo, hi)
        if hi == n and not cond[-1]:
            return None
        false = np.flatnonzero(~cond)
        if len(false):
            return lo + int(false[-1]) + 1
        hi, size = lo, 2 * size
    return 0


def _worse_than_copy(view: HistoryView, spec: RunSpec, cfg: HealthConfig) -> list[HealthFlag]:
    g = spec.global_metrics
    n = len(view.step)
    if "outer_loss" not in g or "copy_loss" not in g or n == 0:
        return []
    w = max(1, int(cfg.loss_window))
    loss_all, copy_all = view.scalars[g.index("outer_loss")], view.scalars[g.index("copy_loss")]
    last: list[tuple[float, float]] = []

    def cond_of(lo: int, hi: int) -> np.ndarray:
        a = max(0, lo - w + 1)           # w - 1 rows of context: full windows from lo on
        loss = _trailing_mean(np.asarray(loss_all[a:hi], np.float64), w)[lo - a:]
        copy = _trailing_mean(np.asarray(copy_all[a:hi], np.float64), w)[lo - a:]
        if hi == n:
            last.append((float(loss[-1]), float(copy[-1])))
        with np.errstate(invalid="ignore"):
            return np.asarray((copy > 0) & (loss > (1.0 + cfg.copy_margin) * copy))

    start = _run_start_from_end(cond_of, n, max(TAIL_ROWS, 2 * w))
    if start is None:
        return []
    loss_last, copy_last = last[0]
    return [HealthFlag("worse_than_copy", None, int(view.step[start]),
                       f"loss {loss_last:.4g} > copy-last-input {copy_last:.4g} "
                       f"(means over the last {w} steps)")]


def check_health(view: HistoryView, spec: RunSpec, cfg: HealthConfig = HealthConfig(),
                 start_norms: tuple[float, ...] | None = None) -> list[HealthFlag]:
    """Every flag that holds at the view's last row, in the order nan, collapse,
    constant_gate, worse_than_copy (see the module docstring). ``start_norms``: each
    level's weight norm at the run's start (``initial_norms`` of a view that began there);
    None compares with the view's first row."""
    if len(view.step) == 0:
        return []
    return (_nan(view, spec) + _collapse(view, spec, cfg, start_norms)
            + _constant_gates(view, spec, cfg)
            + _worse_than_copy(view, spec, cfg))


__all__ = ["HealthConfig", "HealthFlag", "check_health", "health_config_for", "initial_norms"]
