"""Frozen evaluation on held-out windows: the continual-learning accuracy matrix, and the
knock-out / restore ablations of one level.

A frozen evaluation reads the model at its current state and never writes: the Titans
memories read with their current weights, the CMS levels apply their current weights,
and nothing (weights, pending sums, ``prev_o``, context, counters) changes. The loss is
the model's outer objective (``next_step``: ``1/2 ||W_out y_t - x_{t+1}||^2``;
``reconstruction``: ``1/2 ||W_out y_t - x_t||^2``) averaged over the tokens of a window
that belong to the window's regime, each window read from a fresh context.

Held-out windows come from the run's own stream kind and seed (so "regime A" is the same
signal the run sees) at steps from ``HELDOUT_T0`` = 2^40 on, which no run reaches: unseen
noise, phases and episodes of the same regimes. Window r starts at the first held-out step
whose regime is r and holds ``window`` tokens; its loss counts the targets labelled r.

Shape legend: R regimes, W tokens per window, d_in stream width, d model width.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from engine.frames import EvalRecord
from engine.memory import mlp_forward
from engine.model import HOPE
from engine.streams import Stream
from engine.titans import SelfModifyingTitans

HELDOUT_T0 = 1 << 40          # held-out windows start here: no run gets this far
SEARCH_TOKENS = 1 << 18       # held-out steps searched for a window of each regime
_SEARCH_PIECE = 4096


@dataclass(frozen=True)
class Windows:
    """Held-out windows, one per regime (None where the search found none).

    Attributes
    ----------
    x : per regime, (W, d_in) float32 stream vectors, or None.
    mask : per regime, (W,) bool: the tokens labelled with the regime (the loss counts the
        targets among them).
    """

    x: tuple[np.ndarray | None, ...]
    mask: tuple[np.ndarray | None, ...]

    @property
    def n_regimes(self) -> int:
        return len(self.x)


def heldout_windows(stream: Stream, window: int) -> Windows:
    """One held-out window of ``window`` tokens per regime of ``stream`` (see the module doc)."""
    R = max(1, len(stream.regime_names()))
    starts: dict[int, int] = {}
    t = 0
    while len(starts) < R and t < SEARCH_TOKENS:
        regime = stream.sample(HELDOUT_T0 + t, _SEARCH_PIECE).regime
        for r in np.unique(regime):
            if int(r) < R and int(r) not in starts:
                starts[int(r)] = t + int(np.argmax(regime == r))
        t += _SEARCH_PIECE
    xs: list[np.ndarray | None] = []
    masks: list[np.ndarray | None] = []
    for r in range(R):
        if r not in starts:
            xs.append(None)
            masks.append(None)
            continue
        s = stream.sample(HELDOUT_T0 + starts[r], window)
        xs.append(np.ascontiguousarray(s.x, np.float32))
        masks.append(s.regime == r)
    return Windows(tuple(xs), tuple(masks))


def frozen_loss(model: HOPE, x_raw: Tensor | np.ndarray, mask: np.ndarray | None = None,
                knockout: str | None = None,
                weights: Mapping[str, Tensor] | None = None) -> float:
    """Mean outer loss of the frozen model on the window ``x_raw`` (n, d_in), read from a
    fresh context; pure (the model is not changed). ``mask`` (n,) limits the targets
    counted; ``knockout`` and ``weights`` as in ``evaluate``. NaN if no target counts."""
    x = torch.as_tensor(np.asarray(x_raw), dtype=model.dtype, device=model.device)
    losses = _token_losses(model, x[None], knockout, weights)[0]      # (n,)
    keep = _targets(model, mask, x.shape[0])
    if not keep.any():
        return float("nan")
    return float(losses[torch.as_tensor(keep, device=losses.device)].mean())


def evaluate(model: HOPE, windows: Windows, step: int, variant: str = "",
             knockout: str | None = None,
             weights: Mapping[str, Tensor] | None = None) -> EvalRecord:
    """Frozen losses and copy losses of every regime's window at ``step``.

    ``knockout`` removes a level's contribution (``memory``: its read is 0; ``cms<i>``:
    the level is bypassed; ``k``, ``v``, ``eta``, ``alpha`` steer the memory's writes and
    change nothing in a frozen read). ``weights`` replaces a level's weights for this
    evaluation (``level_weights``). The model is not changed.
    """
    R = windows.n_regimes
    losses = np.full(R, np.nan, np.float32)
    copies = np.full(R, np.nan, np.float32)
    found = [(r, w) for r, w in enumerate(windows.x) if w is not None]
    have = [r for r, _ in found]
    if found:
        xs = np.stack([w for _, w in found])                         # (R', W, d_in)
        x = torch.as_tensor(xs, dtype=model.dtype, device=model.device)
        per_token = _token_losses(model, x, knockout, weights).double().cpu().numpy()
        for i, r in enumerate(have):
            keep = _targets(model, windows.mask[r], xs.shape[1])
            if keep.any():
                losses[r] = per_token[i][keep].mean()
                copies[r] = _copy_losses(model, xs[i])[keep].mean()
    return EvalRecord(int(step), losses, copies, variant)


def level_weights(model: HOPE, level: str, state: Mapping[str, np.ndarray]) -> dict[str, Tensor]:
    """The weights of ``level`` in a ``Session.state_dict()`` (names ``model/...``), keyed
    as ``evaluate(weights=...)`` takes them: ``titans/<w1|w2>`` (the whole bank with this
    memory's rows from ``state``) or ``cms<i>/<w1|w2>``.

    Raises
    ------
    KeyError : unknown level or the state lacks its weights.
    """
    names = model.level_names
    if level not in names:
        raise KeyError(f"unknown level {level!r} (levels: {', '.join(names)})")
    j = names.index(level)
    B = len(model.titans.names)
    if j < B:
        out = {}
        for name, now in model.titans.bank.state_dict().items():
            kept = _tensor(model, state[f"model/titans/{name}"])
            new = now.clone()
            new[..., j, :, :] = kept[..., j, :, :]
            out[f"titans/{name}"] = new
        return out
    i = j - B
    return {f"cms{i}/{w}": _tensor(model, state[f"model/cms{i}/{w}"]) for w in ("w1", "w2")}


def _tensor(model: HOPE, value: np.ndarray) -> Tensor:
    return torch.as_tensor(np.asarray(value), dtype=model.dtype, device=model.device)


# ---------------------------------------------------------------------------- internals
def _targets(model: HOPE, mask: np.ndarray | None, n: int) -> np.ndarray:
    """(n,) bool: the token positions whose loss counts (next_step: the last token predicts
    nothing in the window; a target counts when its token carries the window's regime)."""
    keep = np.ones(n, bool) if mask is None else np.asarray(mask, bool).copy()
    if model.cfg.cms.objective == "next_step":
        keep = np.r_[keep[1:], False]                                # loss t predicts x_{t+1}
    return keep


def _copy_losses(model: HOPE, x: np.ndarray) -> np.ndarray:
    """(n,) copy-last-input loss at each position, aligned like ``_token_losses``."""
    if model.cfg.cms.objective != "next_step":
        return np.zeros(len(x))
    xd = x.astype(np.float64)
    return np.r_[0.5 * np.square(xd[1:] - xd[:-1]).sum(1), np.nan]


def _token_losses(model: HOPE, x_raw: Tensor, knockout: str | None,
                  weights: Mapping[str, Tensor] | None) -> Tensor:
    """(R, n) per-position outer loss of windows x_raw (R, n, d_in); NaN where none
    (next_step: the last position predicts nothing in its window)."""
    with torch.inference_mode():
        c = model.cfg.context
        hist = torch.cat([x_raw.new_zeros(x_raw.shape[:-2] + (c - 1, x_raw.shape[-1])), x_raw],
                         -2)                                          # fresh context
        n = x_raw.shape[-2]
        ctx = torch.cat([hist[..., c - 1 - j:c - 1 - j + n, :] for j in range(c)], -1)
        # frozen reads are per token (no write in between): every window's tokens side by
        # side as one (d, R n) sequence, then back to (R, n, d_in)
        R = x_raw.shape[0]
        x = model.w_in @ ctx.reshape(R * n, -1).T                     # (d, R n)
        o = _memory_read(_titans_with(model, weights), x)
        if knockout == "memory":
            o = torch.zeros_like(o)
        u = x + o if model.cfg.residual else o
        for i, lv in enumerate(model.cms.levels):
            if knockout == f"cms{i + 1}":
                continue                                              # bypassed
            w1 = weights.get(f"cms{i}/w1", lv.w1) if weights else lv.w1
            w2 = weights.get(f"cms{i}/w2", lv.w2) if weights else lv.w2
            u, _ = mlp_forward(w1, w2, u, 1.0, slope=False)
        pred = (model.w_out @ u).T.reshape(R, n, -1)                  # (R, n, d_in)
        if model.cfg.cms.objective == "next_step":
            err = pred[..., :-1, :] - x_raw[..., 1:, :]
            nan = err.new_full(err.shape[:-2] + (1,), float("nan"))
            return torch.cat([0.5 * err.square().sum(-1), nan], -1)
        return 0.5 * (pred - x_raw).square().sum(-1)


def _titans_with(model: HOPE, weights: Mapping[str, Tensor] | None) -> SelfModifyingTitans:
    """The model's Titans, or a shallow copy reading other bank weights (the model's own
    objects are never changed)."""
    titans = model.titans
    if not weights or not any(k.startswith("titans/") for k in weights):
        return titans
    bank = copy.copy(titans.bank)
    bank.load_state_dict({k[7:]: v for k, v in weights.items() if k.startswith("titans/")})
    other = copy.copy(titans)
    other.bank = bank
    return other


def _memory_read(titans: SelfModifyingTitans, x: Tensor) -> Tensor:
    """The memory's read-out o (d, m) at the current weights (no write)."""
    if len(titans.names) == 1:
        return titans.read(x).o
    return titans.project(x)[0]


__all__ = ["HELDOUT_T0", "Windows", "evaluate", "frozen_loss", "heldout_windows",
           "level_weights"]
