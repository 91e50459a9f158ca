"""Sparse observables: the probe reservoir behind forgetting curves (O7, O8) and the
down-sampled weight snapshots behind the heatmaps.

Per-step observables (O1-O5, O9, O11) come straight out of ``HOPE.step``; these ones
cost a batched forward over P probes and run every ``probe_every`` steps.
"""
from __future__ import annotations

import random

import numpy as np
import torch
from torch import Tensor

from engine.frames import ProbeRecord, SnapshotRecord
from engine.memory import block_average, mlp_forward
from engine.model import HOPE, TitansRead


class ProbeSet:
    """Reservoir of P written pairs, sampled uniformly over the run (Vitter's algorithm R).

    For a pair written at step tau it keeps the key k and every Titans memory's own target
    ``M_b(v)`` (for recall error), and every CMS level's input and output at that time
    (for functional drift).
    """

    def __init__(self, model: HOPE, size: int, seed: int) -> None:
        d = model.cfg.d
        B, Lc = model.titans.bank.w2.shape[0], len(model.cms.levels)
        dev, dt = model.device, model.dtype
        self.size = size
        self.rng = random.Random(seed * 7919 + 17)
        self.seen = 0
        self.keys = torch.zeros(d, size, dtype=dt, device=dev)                # (d, P)
        self.targets = torch.zeros(B, d, size, dtype=dt, device=dev)          # (B, d, P)
        self.cms_in = torch.zeros(Lc, d, size, dtype=dt, device=dev)          # (Lc, d, P)
        self.cms_out = torch.zeros(Lc, d, size, dtype=dt, device=dev)         # (Lc, d, P)
        self.written = np.full(size, -1, dtype=np.int64)                      # tau per slot

    def offer(self, model: HOPE, read: TitansRead, first_step: int) -> None:
        """Offer every token of a read (steps first_step ...) to the reservoir."""
        slots, cols = self._draw(read.k.shape[-1])
        if not slots:
            return
        self._store(slots, cols, read.k, read.targets, cms_chain(model), first_step)

    def offer_block(self, keys: Tensor, targets: Tensor, cms_io: Tensor | None,
                    first_step: int) -> None:
        """Offer m steps of the compiled path: keys (m, d), targets (m, B, d), CMS chain
        input/outputs (m, Lc + 1, d) or None; the same draws as ``offer`` step by step."""
        slots, cols = self._draw(keys.shape[0])
        if slots:
            self._store(slots, cols, keys.mT, targets.permute(1, 2, 0),
                        None if cms_io is None else cms_io.permute(1, 2, 0), first_step)

    def _draw(self, n: int) -> tuple[list[int], list[int]]:
        """Reservoir slots (algorithm R) for the next n tokens: (slots, token columns kept)."""
        slots, cols = [], []
        for j in range(n):
            self.seen += 1
            slot = self.seen - 1 if self.seen <= self.size else self.rng.randrange(self.seen)
            if slot < self.size:
                slots.append(slot)
                cols.append(j)
        return slots, cols

    def _store(self, slots: list[int], cols: list[int], keys: Tensor, targets: Tensor,
               io: Tensor | None, first_step: int) -> None:
        """Write the kept columns: keys (d, n), targets (B, d, n), io (Lc + 1, d, n)."""
        dev = keys.device
        s = torch.tensor(slots, device=dev)
        c = torch.tensor(cols, device=dev)
        self.keys[:, s] = keys[:, c]
        self.targets[:, :, s] = targets[:, :, c]
        if io is not None:
            io = io[:, :, c]
            self.cms_in[:, :, s] = io[:-1]
            self.cms_out[:, :, s] = io[1:]
        self.written[slots] = np.arange(first_step, first_step + keys.shape[-1])[cols]

    def evaluate(self, model: HOPE, step: int) -> ProbeRecord:
        """Recall error of each Titans memory and drift of each CMS level on every probe."""
        B = model.titans.bank.w2.shape[0]
        pred, _ = model.titans.bank.forward(self.keys.expand(B, -1, -1))     # (B, d, P)
        mask = model.titans.bank.out_mask
        num = ((pred - self.targets) * mask).square().sum(1)                  # (B, P)
        den = (self.targets * mask).square().sum(1).clamp_min(1e-12)
        rows = [num / den]
        for li, lv in enumerate(model.cms.levels):
            out, _ = mlp_forward(lv.w1, lv.w2, self.cms_in[li], 1.0)         # (d, P)
            ref = self.cms_out[li]
            rows.append(((out - ref).norm(dim=0) / ref.norm(dim=0).clamp_min(1e-12))[None])
        errors = torch.cat(rows).float().cpu().numpy()                        # (L, P)
        empty = self.written < 0
        errors[:, empty] = np.nan
        ages = np.where(empty, -1, step - self.written)
        return ProbeRecord(step=step, ages=ages.astype(np.int64), errors=errors)

    def state(self) -> dict[str, np.ndarray]:
        """The reservoir as numpy arrays; without CMS levels the (empty) CMS arrays are left
        out, so every array has a non-zero size (a recording stores each as a dataset)."""
        st = self.rng.getstate()
        out = {
            "keys": _np(self.keys), "targets": _np(self.targets), "written": self.written.copy(),
            "seen": np.array(self.seen), "rng": np.array(st[1], dtype=np.int64),
            "rng_pos": np.array(st[1][-1]),
        }
        if self.cms_in.shape[0]:
            out["cms_in"], out["cms_out"] = _np(self.cms_in), _np(self.cms_out)
        return out

    def load(self, st: dict[str, np.ndarray], device: torch.device, dtype: torch.dtype) -> None:
        self.keys = _t(st["keys"], device, dtype)
        self.targets = _t(st["targets"], device, dtype)
        if "cms_in" in st:
            self.cms_in = _t(st["cms_in"], device, dtype)
            self.cms_out = _t(st["cms_out"], device, dtype)
        else:  # no CMS levels
            self.cms_in = self.keys.new_zeros(0, *self.keys.shape)
            self.cms_out = self.keys.new_zeros(0, *self.keys.shape)
        self.written = st["written"].copy()
        self.seen = int(st["seen"])
        self.rng.setstate((3, tuple(int(v) for v in st["rng"]), None))


def cms_chain(model: HOPE) -> Tensor | None:
    """The CMS chain's input and every level's output for the tokens of the last
    ``model.step`` (..., Lc + 1, d, n), at the weights that made them (before later
    events); None without CMS levels."""
    if not model.cms.levels:
        return None
    spans = [torch.stack(views, -3) for views in model.cms_io]       # (..., Lc+1, d, m_i)
    return spans[0] if len(spans) == 1 else torch.cat(spans, -1)


def snapshot(model: HOPE, step: int, max_side: int) -> SnapshotRecord:
    """Block-averaged W2 (the key-side layer) and its last update, for every level."""
    mats = list(model.titans.bank.w2) + [lv.w2 for lv in model.cms.levels]
    upds = list(model.titans.last_update) + [lv.last_update for lv in model.cms.levels]
    weights = tuple(_np(block_average(w, max_side).float()) for w in mats)   # copies, not views
    updates = tuple(_np(block_average(u, max_side).float()) for u in upds)
    return SnapshotRecord(step=step, weights=weights, updates=updates)


def snapshot_shapes(model: HOPE, max_side: int) -> list[tuple[int, int]]:
    mats = list(model.titans.bank.w2) + [lv.w2 for lv in model.cms.levels]
    return [(min(m.shape[0], max_side), min(m.shape[1], max_side)) for m in mats]


def _np(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _t(a: np.ndarray, device: torch.device, dtype: torch.dtype) -> Tensor:
    return torch.from_numpy(np.asarray(a)).to(device=device, dtype=dtype)
