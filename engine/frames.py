"""The frame contract: what the engine reports, step by step, to the app and the recorder.

numpy only (no torch): the recorder, the GUI buffers and the tests import this
without pulling in the model.

A run is described once by a ``RunSpec`` (level names and update periods, metric
names, input width) and then streams ``FrameBatch`` objects: column-oriented arrays
for ``n`` consecutive steps, plus the sparse records (probe evaluations, weight
snapshots, user events) that fell inside those steps. Arrays are copies, never
views of engine tensors.

Shapes: n = steps in the batch, L = levels, M = per-level metrics, P = probes,
d_in = stream width.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Per-level metrics reported every step, in this column order (FrameBatch.level[..., m]).
LEVEL_METRICS: tuple[str, ...] = (
    "surprise",        # O1: 1/2 ||u||^2, u = output error of the level (its local surprise signal)
    "grad_surprise",   # O2: ||grad_theta loss||_F, closed form
    "update_norm",     # O4: ||W_t - W_{t-1}||_F over the level's weights (0 between updates)
    "update_rel",      # O4: update_norm / ||W_{t-1}||_F
    "retention",       # O5: retention factor rho in [0, 1] applied at this step's update
    "lr",              # O5: inner learning rate eta applied at this step's update
    "momentum_norm",   # O3: ||S_t||_F (Titans momentum; 0 where momentum is off)
    "drift_init",      # O9: ||W_t - W_0||_F / ||W_0||_F
    "weight_norm",     # ||W_t||_F over the weights drift_init measures (absolute)
    "contribution",    # ||what the level adds to the residual stream|| / ||y_t|| per token:
                       # Titans memory: its read o_t; CMS level: ||f_l(u) - u||; NaN for the
                       # Titans k, v, eta, alpha memories (they steer rather than add)
)
METRIC_INDEX = {name: i for i, name in enumerate(LEVEL_METRICS)}

METRIC_UNITS = {
    "surprise": "loss (1/2 squared L2)",
    "grad_surprise": "Frobenius norm",
    "update_norm": "Frobenius norm",
    "update_rel": "ratio",
    "retention": "factor in [0, 1]",
    "lr": "step size",
    "momentum_norm": "Frobenius norm",
    "drift_init": "ratio",
    "weight_norm": "Frobenius norm",
    "contribution": "ratio to ||y||",
}

# Global (not per-level) metrics reported every step (FrameBatch.scalars[:, g]).
GLOBAL_METRICS: tuple[str, ...] = (
    "outer_loss",      # O12: loss of the CMS objective at this step (next-step or reconstruction)
    "output_norm",     # ||y_t||, the block output
    # baselines on the same stream and mask as outer_loss (computed by the session, not
    # the model): copy the last input (1/2 ||x_{t-1} - x_t||^2; reconstruction: 0),
    # predict zero (1/2 ||x_t||^2), the stream's noiseless value (1/2 ||x_t - clean_t||^2,
    # NaN where the stream has none)
    "copy_loss",
    "zero_loss",
    "oracle_loss",
)
GLOBAL_INDEX = {name: i for i, name in enumerate(GLOBAL_METRICS)}
# Global metrics the model itself computes (HOPE.step's scalars), in this order.
MODEL_GLOBAL_METRICS: tuple[str, ...] = ("outer_loss", "output_norm")

def nan_by_design(spec: RunSpec) -> frozenset[str]:
    """Series (``"<level>/<metric>"``, ``"global/<metric>"``) whose NaN means "no value"
    rather than a fault: the contribution of the Titans memories that steer rather than
    add (k, v, eta, alpha) and the oracle baseline (NaN where the stream knows none)."""
    out = {f"{lv.name}/contribution" for lv in spec.levels
           if lv.kind == "titans" and lv.name != "memory" and "contribution" in spec.level_metrics}
    if "oracle_loss" in spec.global_metrics:
        out.add("global/oracle_loss")
    return frozenset(out)


EVENT_KINDS = ("start", "pause", "resume", "reset", "stream", "param", "seek", "stop", "error",
               "ablation")


@dataclass(frozen=True)
class LevelSpec:
    """One updatable memory: a Titans memory (``memory``, ``k``, ``v``, ``eta``, ``alpha``)
    or a CMS level (``cms1`` ...).

    Attributes
    ----------
    name : short identifier, also the HDF5 group name.
    kind : ``"titans"`` or ``"cms"``.
    update_period : steps between update events (1 = every step).
    snapshot_shape : (rows, cols) of this level's weight snapshots.
    """

    name: str
    kind: str
    update_period: int
    snapshot_shape: tuple[int, int]


@dataclass(frozen=True)
class RunSpec:
    """Static description of a run: fixed at start, stored once with a recording.
    Two specs are equal when their levels, metrics and widths are (the recorded
    layout); ``regime_names`` is left out."""

    levels: tuple[LevelSpec, ...]
    d_in: int
    probe_size: int
    level_metrics: tuple[str, ...] = LEVEL_METRICS
    global_metrics: tuple[str, ...] = GLOBAL_METRICS
    # labels of the ``regime`` values of the stream the model was built with; descriptive
    # only (a stream switch keeps the spec), so not part of equality
    regime_names: tuple[str, ...] = field(default=(), compare=False)

    @property
    def level_names(self) -> tuple[str, ...]:
        return tuple(lv.name for lv in self.levels)

    @property
    def update_periods(self) -> tuple[int, ...]:
        return tuple(lv.update_period for lv in self.levels)


@dataclass(frozen=True)
class ProbeRecord:
    """Recall / drift of every level on the probe set at one step (O7, O8).

    Attributes
    ----------
    step : the step after which the probes were evaluated.
    ages : (P,) int64, steps since each probe pair was written (-1 = empty slot).
    errors : (L, P) float32; Titans levels: relative recall error ``||M(k)-v||^2/||v||^2``;
        CMS levels: functional drift ``||f_t(x)-f_tau(x)||/||f_tau(x)||``. NaN for empty slots.
    """

    step: int
    ages: np.ndarray
    errors: np.ndarray


@dataclass(frozen=True)
class SnapshotRecord:
    """Down-sampled main weight matrix (W2, the layer fed by the key) of every level.

    Attributes
    ----------
    step : step after which the snapshot was taken.
    weights : one (rows, cols) float32 array per level (shape from ``LevelSpec.snapshot_shape``).
    updates : the same for the level's most recent update ``W2_new - W2_old``.
    """

    step: int
    weights: tuple[np.ndarray, ...]
    updates: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class EventRecord:
    """A user action or run event at a step (pause, stream switch, parameter change...).

    Attributes
    ----------
    step : the global step count when it happened.
    kind : one of ``EVENT_KINDS`` (the event's class: ``param``, ``stream``...).
    detail : short human text for display (a recording keeps at most 256 bytes of it).
    data : the structured payload, a JSON-able dict with a ``"kind"`` key (see
        ``docs/recording-format.md``, "Event payloads"), e.g. ``{"kind": "set", "changes":
        [{"key": "model.titans.lr", "value": 0.1}], "live": True}``; None when the producer
        gave none or (read from a recording) the file predates payloads or its payload is
        unreadable. Code acts on ``data``, never on ``detail``.
    """

    step: int
    kind: str
    detail: str
    data: dict[str, Any] | None = field(default=None, hash=False)


@dataclass(frozen=True)
class StateRecord:
    """Full engine state at a step (for "continue live from here"): name -> array."""

    step: int
    tensors: dict[str, np.ndarray]


@dataclass(frozen=True)
class EvalRecord:
    """Frozen-weight evaluation on held-out windows, one per regime (the continual-learning
    accuracy matrix's row at ``step``).

    Attributes
    ----------
    step : the step after which it was evaluated.
    losses : (R,) float32, mean next-step loss of the frozen weights (no inner writes) on a
        held-out window of each regime; NaN where a regime has no window. R =
        ``len(RunSpec.regime_names)`` (1 for single-regime streams).
    copy : (R,) float32, the copy-last-input loss on the same windows.
    variant : ``""`` the regular evaluation; ``"knockout:<level>"``;
        ``"restore:<level>@<step>"``.
    """

    step: int
    losses: np.ndarray
    copy: np.ndarray
    variant: str = ""


@dataclass
class FrameBatch:
    """``n`` consecutive engine steps, column-oriented.

    Attributes
    ----------
    step : (n,) int64, global step index (0-based, strictly increasing).
    level : (n, L, M) float32, per-level metrics in ``LEVEL_METRICS`` order.
    fired : (n, L) uint8, 1 where the level applied an update at that step (O11).
    scalars : (n, G) float32, ``GLOBAL_METRICS``.
    inputs : (n, d_in) float32, the stream vectors fed at each step.
    regime : (n,) int32, the stream's regime / phase label at each step.
    token : (n,) int32, the byte for text streams, else -1.
    wall_time : (n,) float64, seconds since the run started, when each step finished.
    probes, snapshots, events, states, evals : sparse records that fall inside this batch.
    """

    step: np.ndarray
    level: np.ndarray
    fired: np.ndarray
    scalars: np.ndarray
    inputs: np.ndarray
    regime: np.ndarray
    token: np.ndarray
    wall_time: np.ndarray
    probes: list[ProbeRecord] = field(default_factory=list)
    snapshots: list[SnapshotRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    states: list[StateRecord] = field(default_factory=list)
    evals: list[EvalRecord] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.step.shape[0])

    def metric(self, name: str) -> np.ndarray:
        """(n, L) column of one per-level metric."""
        return self.level[:, :, METRIC_INDEX[name]]

    @staticmethod
    def concat(batches: list[FrameBatch]) -> FrameBatch:
        """Join consecutive batches into one."""
        if len(batches) == 1:
            return batches[0]
        cat = np.concatenate
        return FrameBatch(
            step=cat([b.step for b in batches]),
            level=cat([b.level for b in batches]),
            fired=cat([b.fired for b in batches]),
            scalars=cat([b.scalars for b in batches]),
            inputs=cat([b.inputs for b in batches]),
            regime=cat([b.regime for b in batches]),
            token=cat([b.token for b in batches]),
            wall_time=cat([b.wall_time for b in batches]),
            probes=[p for b in batches for p in b.probes],
            snapshots=[s for b in batches for s in b.snapshots],
            events=[e for b in batches for e in b.events],
            states=[s for b in batches for s in b.states],
            evals=[e for b in batches for e in b.evals],
        )

    @staticmethod
    def empty(spec: RunSpec) -> FrameBatch:
        L, M, G = len(spec.levels), len(spec.level_metrics), len(spec.global_metrics)
        return FrameBatch(
            step=np.zeros(0, np.int64), level=np.zeros((0, L, M), np.float32),
            fired=np.zeros((0, L), np.uint8), scalars=np.zeros((0, G), np.float32),
            inputs=np.zeros((0, spec.d_in), np.float32), regime=np.zeros(0, np.int32),
            token=np.zeros(0, np.int32), wall_time=np.zeros(0, np.float64),
        )
