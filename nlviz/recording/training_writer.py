"""``TrainingRecorder``: the HDF5 recording of ``nlviz train``, one row per outer step.

Written synchronously on the caller's thread (an outer step takes 0.1-1 s; a row is a
few hundred bytes): ``append`` buffers the row, and every ``flush_rows`` rows or
``flush_interval`` seconds (the first row at once) the buffered rows are written with one
resize per dataset, flushed, and published in ``/status/rows_committed``, so a replay
following the file (SWMR) sees them. ``close`` flushes and sets ``clean_close = 1``.

Like the run ``Recorder``, the file is locked against a second writer from before it is
created or truncated (``outlock.OutputLock``), and a write failure stops the recording
with one line saying which steps the file holds.

Resuming (``append=True``): the existing file is read (its tasks, groups and gate
statistics must match), and rewritten in place when the first new row arrives, keeping
only the rows before that row's step (a training resumed from an older checkpoint drops
the steps it does again). The file is not held open until then, so a replay of it keeps
working while the model is set up.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import h5py
import numpy as np

from nlviz.errors import UserError
from nlviz.recording import failure as F
from nlviz.recording import training_layout as T
from nlviz.recording.filewriter import seal_header
from nlviz.recording.outlock import OutputLock
from nlviz.recording.superblock import clamp_eof
from nlviz.recording.training_layout import TrainingRow

FLUSH_ROWS = 50
FLUSH_INTERVAL = 2.0          # s


class TrainingRecorderError(UserError):
    """Writing the training recording failed; rows committed before stay readable."""


def _loaded_torch_version() -> str:
    import sys
    return str(getattr(sys.modules.get("torch"), "__version__", "unknown"))


class TrainingRecorder:
    """Record a training to ``path`` (a new file; an existing one only with ``overwrite``
    or, to continue it, ``append``).

    Parameters
    ----------
    path : output ``.h5`` file.
    tasks, groups, gate_stats : names of the per-task, per-parameter-group and gate series
        (non-empty text without "/", unique; no task called "total").
    config : the training config, stored as JSON (``config_json``).
    model_config : the model's config, stored as JSON (``model_config_json``).
    device, torch_version : stored as root attributes (as in a run recording).
    overwrite : replace an existing file.
    append : continue an existing training recording (``--resume``); a missing file is
        created. Its names must equal ``tasks``, ``groups`` and ``gate_stats``.
    resume_step : with ``append``: drop the rows with step >= this at once (otherwise
        the first appended row's step decides).
    flush_rows, flush_interval : flush after this many rows or seconds.

    Raises
    ------
    nlviz.errors.UserError : bad names, the file cannot be created, exists
        (``OutputExists``), is being written (``OutputBusy``), or (``append``) is not a
        training recording or was made with other names; one line each.
    """

    def __init__(self, path: str | os.PathLike[str], *, tasks: Sequence[str],
                 groups: Sequence[str], gate_stats: Sequence[str], config: Mapping[str, Any],
                 model_config: Mapping[str, Any], device: str, torch_version: str | None = None,
                 overwrite: bool = False, append: bool = False, resume_step: int | None = None,
                 flush_rows: int = FLUSH_ROWS, flush_interval: float = FLUSH_INTERVAL) -> None:
        self.path = str(path)
        self.tasks, self.groups = tuple(tasks), tuple(groups)
        self.gate_stats = tuple(gate_stats)
        for what, names in (("tasks", self.tasks), ("groups", self.groups),
                            ("gate_stats", self.gate_stats)):
            problem = T.name_problem(what, names)
            if problem:
                raise UserError(f"{self.path}: cannot record training: {problem}")
        self.flush_rows, self.flush_interval = max(1, int(flush_rows)), float(flush_interval)
        self._paths = T.column_paths(self.tasks, self.groups, self.gate_stats)
        self._header = self._header_attrs(config, model_config, device,
                                          torch_version or _loaded_torch_version())
        self._pending: list[TrainingRow] = []
        self._kept: dict[str, np.ndarray] | None = None     # rows of a file being resumed
        self.resumes = 0                   # times a training was resumed into this file
        self._file: h5py.File | None = None
        self._ds: dict[str, h5py.Dataset] = {}
        self._error: str | None = None
        self._closed = False
        self.rows = 0                      # rows committed to the file
        self.first_step: int | None = None
        self.last_step = -1                # last step appended (or kept from a resumed file)
        self._last_flush = time.monotonic()
        self._claim = OutputLock.claim(self.path, overwrite=overwrite or append)
        try:
            if append and not self._claim.created:
                self._load_existing()
                if resume_step is not None:
                    self._start(int(resume_step))
            else:
                self._start(None)
        except BaseException:
            self._abandon(discard=True)
            raise

    # ---- public API -------------------------------------------------------------------------
    def append(self, row: TrainingRow) -> None:
        """Add one outer step (flushed after ``flush_rows`` rows / ``flush_interval`` s).

        Raises
        ------
        ValueError : the row's tuples do not match the names, or its step is not after
            the last one.
        TrainingRecorderError : writing failed (now or before), or the recorder is closed.
        """
        self._raise_if_failed()
        if self._closed:
            raise TrainingRecorderError(f"{self.path}: training recorder is closed")
        self._check(row)
        if self._file is None:
            self._start(int(row.step))
        if int(row.step) <= self.last_step:
            raise ValueError(f"training steps must increase (got {row.step} after "
                             f"{self.last_step})")
        self._pending.append(row)
        self.last_step = int(row.step)
        if self.first_step is None:
            self.first_step = self.last_step
        due = time.monotonic() - self._last_flush >= self.flush_interval
        if due or len(self._pending) >= self.flush_rows or self.rows == 0:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows and publish them (readable by another process now)."""
        self._raise_if_failed()
        if self._closed:
            return
        if self._file is None:
            self._start(None)
        try:
            self._write_pending()
        except (OSError, RuntimeError, ValueError) as exc:
            self._fail(exc)

    def close(self) -> None:
        """Flush, set ``clean_close = 1`` and close the file. Idempotent.

        Raises
        ------
        TrainingRecorderError : a write failed (the rows committed before stay readable).
        """
        if self._closed:
            self._raise_if_failed()
            return
        try:
            self.flush()
            if self._file is not None:
                try:
                    self._ds[T.D_CLEAN_CLOSE][0] = 1
                    self._file.flush()
                except (OSError, RuntimeError, ValueError) as exc:
                    self._fail(exc)
        finally:
            self._closed = True
            self._abandon(discard=False)

    def __enter__(self) -> TrainingRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the file -------------------------------------------------------------------------
    def _header_attrs(self, config: Mapping[str, Any], model_config: Mapping[str, Any],
                      device: str, torch_version: str) -> dict[str, Any]:
        from nlviz import __version__
        return {
            T.A_SCHEMA: T.SCHEMA, T.A_SCHEMA_VERSION: T.SCHEMA_VERSION, T.A_FILE_KIND: T.KIND,
            T.A_CONFIG_JSON: json.dumps(dict(config), sort_keys=True, default=str),
            T.A_MODEL_CONFIG_JSON: json.dumps(dict(model_config), sort_keys=True, default=str),
            T.A_TASKS: json.dumps(list(self.tasks)), T.A_GROUPS: json.dumps(list(self.groups)),
            T.A_GATE_STATS: json.dumps(list(self.gate_stats)),
            T.A_CREATED_UTC: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            T.A_NLVIZ_VERSION: str(__version__), T.A_TORCH_VERSION: str(torch_version),
            T.A_DEVICE: str(device),
        }

    def _load_existing(self) -> None:
        """Read the file being resumed (the names must match); written back by ``_start``."""
        from nlviz.recording.training_reader import TrainingRecording
        with TrainingRecording.open(self.path) as old:
            for what, mine, theirs in (("tasks", self.tasks, old.tasks),
                                       ("groups", self.groups, old.groups),
                                       ("gate_stats", self.gate_stats, old.gate_stats)):
                if tuple(theirs) != mine:
                    raise UserError(f"{self.path}: cannot resume this training recording: "
                                    f"its {what} are {list(theirs)}, this training has "
                                    f"{list(mine)}")
            self._kept = {p: old.column(p) for p in self._paths}
            self.resumes = old.resumes + 1
            if old.created_utc:
                self._header[T.A_CREATED_UTC] = old.created_utc
        steps = self._kept[T.D_STEP]
        self.last_step = int(steps[-1]) if len(steps) else -1

    def _start(self, resume_step: int | None) -> None:
        """Create the file (a resumed one keeps its rows before ``resume_step``) and switch
        it to SWMR so that readers follow it."""
        kept = self._kept or {}
        if kept and resume_step is not None:
            keep = kept[T.D_STEP] < resume_step
            kept = {p: v[keep] for p, v in kept.items()}
        self._kept = None
        try:
            f = self._file = h5py.File(self.path, "w", libver="latest")
        except OSError as exc:
            raise UserError(f"{self.path}: cannot create training recording: "
                            f"{F.reason(exc)}") from None
        try:
            for k, v in self._header.items():
                f.attrs[k] = v
            seal_header(f)
            for p in self._paths:
                data = np.asarray(kept.get(p, np.zeros(0)), T.dtype_of(p))
                self._ds[p] = f.create_dataset(p, data=data, maxshape=(None,),
                                               chunks=(T.ROW_CHUNK,), **T.FILTERS)
            n = len(kept.get(T.D_STEP, ()))
            self._ds[T.D_ROWS_COMMITTED] = f.create_dataset(T.D_ROWS_COMMITTED,
                                                            data=np.array([n], np.int64))
            self._ds[T.D_CLEAN_CLOSE] = f.create_dataset(T.D_CLEAN_CLOSE,
                                                         data=np.zeros(1, np.uint8))
            f.create_dataset(T.D_RESUMES, data=np.array([self.resumes], np.int64))
            f.flush()
            f.swmr_mode = True
        except (OSError, RuntimeError, ValueError) as exc:
            raise UserError(f"{self.path}: cannot create training recording: "
                            f"{F.reason(exc)}") from None
        self.rows = n
        steps = kept.get(T.D_STEP, np.zeros(0, np.int64))
        self.first_step = int(steps[0]) if n else None
        self.last_step = int(steps[-1]) if n else -1

    def _check(self, row: TrainingRow) -> None:
        for what, values, names in (("loss", row.loss, self.tasks),
                                    ("heldout", row.heldout, self.tasks),
                                    ("grad_norm", row.grad_norm, self.groups),
                                    ("gates", row.gates, self.gate_stats)):
            if len(values) != len(names):
                raise ValueError(f"TrainingRow.{what} has {len(values)} values, the recording "
                                 f"has {len(names)} ({', '.join(names)})")

    def _columns(self, rows: list[TrainingRow]) -> dict[str, np.ndarray]:
        """The buffered rows as one array per dataset."""
        nt, ng = len(self.tasks), len(self.groups)
        cols: dict[str, Any] = {
            T.D_STEP: [r.step for r in rows], T.D_WALL_TIME: [r.wall_time for r in rows],
            T.D_LR: [r.lr for r in rows], T.D_TOKENS: [r.tokens for r in rows],
            T.loss_path(T.TOTAL): [r.total for r in rows],
        }
        loss = np.array([r.loss for r in rows], np.float64).reshape(len(rows), nt)
        held = np.array([r.heldout for r in rows], np.float64).reshape(len(rows), nt)
        grad = np.array([r.grad_norm for r in rows], np.float64).reshape(len(rows), ng)
        gates = np.array([r.gates for r in rows], np.float64).reshape(len(rows), -1)
        for i, t in enumerate(self.tasks):
            cols[T.loss_path(t)], cols[T.heldout_path(t)] = loss[:, i], held[:, i]
        for i, g in enumerate(self.groups):
            cols[T.grad_norm_path(g)] = grad[:, i]
        for i, s in enumerate(self.gate_stats):
            cols[T.gate_path(s)] = gates[:, i]
        return {p: np.asarray(cols[p], T.dtype_of(p)) for p in self._paths}

    def _write_pending(self) -> None:
        if self._file is None:
            return
        if self._claim.vanished():
            raise F.Vanished(self.path)
        rows = self._pending
        if rows:
            n = self.rows
            for p, values in self._columns(rows).items():
                ds = self._ds[p]
                ds.resize(n + len(rows), axis=0)
                ds[n:] = values
            self._file.flush()
            self._ds[T.D_ROWS_COMMITTED][0] = n + len(rows)
            self._file.flush()
            self.rows = n + len(rows)
            self._pending = []      # only now: a Ctrl-C above leaves them for close()
        self._last_flush = time.monotonic()

    # ---- failure --------------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        """Stop writing at once; keep the committed rows; raise one line."""
        after = f"after step {self.last_step}" if self.last_step >= 0 else "before the first step"
        held = (f"the recording holds steps {self.first_step}..{self._committed_last()}"
                if self.rows and self.first_step is not None else "the recording holds no steps")
        code = F.errno_of(exc)
        if isinstance(exc, F.Vanished):
            text = f"{self.path}: the file was deleted or replaced while recording ({after})"
        elif code in F.DISK_FULL:
            text = f"{self.path}: disk full {after}; {held}"
        else:
            text = f"{self.path}: write failed {after} ({F.reason(exc)}); {held}"
        self._error = text
        if self._file is not None:
            F.close_abandoned(self._file)
            self._file = None
            if not self._claim.vanished():
                try:
                    clamp_eof(self.path)
                except OSError:
                    pass
        self._ds = {}
        raise TrainingRecorderError(text) from None

    def _committed_last(self) -> int:
        try:
            return int(self._ds[T.D_STEP][self.rows - 1])
        except (KeyError, OSError, RuntimeError, ValueError, IndexError):
            return self.last_step

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise TrainingRecorderError(self._error)

    def _abandon(self, discard: bool) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except Exception:  # noqa: BLE001 - closing after a failure: nothing to add
                pass
            self._file = None
        self._ds = {}
        self._claim.release(discard=discard)


__all__ = ["TrainingRecorder", "TrainingRecorderError", "TrainingRow"]  # row re-exported
