"""Every name, path and dtype of the nlviz HDF5 training recording (``nlviz train``).

A training recording follows the conventions of a run recording (``layout.py``): root
attributes describe the whole file (sealed by ``header_crc32``), every per-row dataset is
chunked, resizable and Fletcher-32 checksummed, ``/status/rows_committed`` says how many
rows a reader may trust, and ``/status/clean_close`` is 1 once the writer closed it. The
root attribute ``kind`` ("training" here, "run" in a run) tells the two apart.

One row per outer step. Per-task, per-group and per-statistic series live in groups
named after the kind of value: ``/loss/<task>``, ``/heldout/<task>``,
``/grad_norm/<group>``, ``/gates/<stat>``; ``/loss/total`` is the step's total loss.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nlviz.recording import layout as RL

SCHEMA = "nlviz.training"
SCHEMA_VERSION = "1.0"
SCHEMA_MAJOR = 1
KIND = "training"

# ---- root attributes (shared names from the run layout) ---------------------------------
A_SCHEMA = RL.A_SCHEMA
A_SCHEMA_VERSION = RL.A_SCHEMA_VERSION
A_FILE_KIND = RL.A_FILE_KIND
A_CONFIG_JSON = RL.A_CONFIG_JSON       # the training config (JSON)
A_MODEL_CONFIG_JSON = "model_config_json"   # the model's config (JSON)
A_TASKS = "tasks"                      # JSON list: order of TrainingRow.loss / .heldout
A_GROUPS = "groups"                    # JSON list: order of TrainingRow.grad_norm
A_GATE_STATS = "gate_stats"            # JSON list: order of TrainingRow.gates
A_CREATED_UTC = RL.A_CREATED_UTC
A_NLVIZ_VERSION = RL.A_NLVIZ_VERSION
A_TORCH_VERSION = RL.A_TORCH_VERSION
A_DEVICE = RL.A_DEVICE
A_HEADER_CRC = RL.A_HEADER_CRC

# ---- per-row datasets (row i = i-th recorded outer step) --------------------------------
D_STEP = "step"                        # int64 (N,) outer step, strictly increasing
D_WALL_TIME = "wall_time"              # float64 (N,) seconds since training started
D_LR = "lr"                            # float64 (N,) learning rate used by the step
D_TOKENS = "tokens"                    # int64 (N,) tokens processed so far
G_LOSS = "loss"                        # /loss/<task> float32 (N,), NaN: no episode of it
TOTAL = "total"                        # /loss/total float32 (N,): the step's total loss
G_HELDOUT = "heldout"                  # /heldout/<task> float32 (N,), NaN: not evaluated
G_GRAD_NORM = "grad_norm"              # /grad_norm/<group> float32 (N,)
G_GATES = "gates"                      # /gates/<stat> float32 (N,)

# ---- status (rewritten in place after each flush) ---------------------------------------
D_ROWS_COMMITTED = RL.D_ROWS_COMMITTED
D_CLEAN_CLOSE = RL.D_CLEAN_CLOSE
D_RESUMES = "status/resumes"           # int64 (1,): times a training was resumed into this
                                       # file (each rewrites it; a follower reloads)

INT_DATASETS = (D_STEP, D_TOKENS)
FLOAT64_DATASETS = (D_WALL_TIME, D_LR)
VALUE_DTYPE = np.dtype(np.float32)
ROW_CHUNK = 1024                       # rows per chunk (8 KiB of int64): a few per training
FILTERS: dict = dict(RL.CHECKSUM_FILTERS)


@dataclass(frozen=True)
class TrainingRow:
    """One outer step as recorded. ``loss`` and ``heldout`` follow the file's tasks,
    ``grad_norm`` its groups, ``gates`` its gate statistics (NaN: no value this step,
    e.g. a task without an episode in the batch, or a step without evaluation)."""

    step: int
    wall_time: float
    lr: float
    tokens: int
    total: float
    loss: tuple[float, ...]
    heldout: tuple[float, ...]
    grad_norm: tuple[float, ...]
    gates: tuple[float, ...]


def loss_path(task: str) -> str:
    """``loss/<task>`` (``loss/total`` for the total)."""
    return f"{G_LOSS}/{task}"


def heldout_path(task: str) -> str:
    """``heldout/<task>``."""
    return f"{G_HELDOUT}/{task}"


def grad_norm_path(group: str) -> str:
    """``grad_norm/<group>``."""
    return f"{G_GRAD_NORM}/{group}"


def gate_path(stat: str) -> str:
    """``gates/<stat>``."""
    return f"{G_GATES}/{stat}"


def column_paths(tasks: Sequence[str], groups: Sequence[str],
                 gate_stats: Sequence[str]) -> list[str]:
    """Every per-row dataset of a file with these names, in a fixed order."""
    return ([D_STEP, D_WALL_TIME, D_LR, D_TOKENS, loss_path(TOTAL)]
            + [loss_path(t) for t in tasks] + [heldout_path(t) for t in tasks]
            + [grad_norm_path(g) for g in groups] + [gate_path(s) for s in gate_stats])


def dtype_of(path: str) -> np.dtype:
    """The stored dtype of the per-row dataset ``path``."""
    if path in INT_DATASETS:
        return np.dtype(np.int64)
    if path in FLOAT64_DATASETS:
        return np.dtype(np.float64)
    return VALUE_DTYPE


def name_problem(what: str, names: Sequence[str]) -> str | None:
    """Why ``names`` cannot be the tasks / groups / gate statistics of a file, or None.

    Each name is a non-empty string without "/", unique; a task may not be called
    ``total`` (``/loss/total`` is the total loss)."""
    seen: set[str] = set()
    for n in names:
        if not isinstance(n, str) or not n or "/" in n or n in seen:
            return f"{what} entry {n!r} is empty, not unique, not text or contains '/'"
        if what == "tasks" and n == TOTAL:
            return f"{what} entry {n!r} is reserved (/loss/{TOTAL} is the total loss)"
        seen.add(n)
    return None


__all__ = [
    "A_GATE_STATS", "A_GROUPS", "A_MODEL_CONFIG_JSON", "A_TASKS", "D_LR", "D_STEP",
    "D_TOKENS", "D_WALL_TIME", "G_GATES", "G_GRAD_NORM", "G_HELDOUT", "G_LOSS", "KIND",
    "SCHEMA", "SCHEMA_VERSION", "TOTAL", "TrainingRow", "column_paths", "dtype_of", "gate_path",
    "grad_norm_path", "heldout_path", "loss_path", "name_problem",
]
