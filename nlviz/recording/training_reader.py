"""``TrainingRecording``: open, check and read a training recording (``nlviz train``).

Opened read-only with SWMR (``h5open.open_h5``), so a training still being written can be
followed: ``refresh`` picks up the rows its writer has committed since. The same rules as
for a run recording: one line naming the file, the field and the value for anything
malformed; rows of a chunk that fails its checksum read as NaN (-1 for integers) and are
listed in ``damaged``. ``file_kind`` tells a training recording from a run.
"""
from __future__ import annotations

import json
import os
from typing import Any

import h5py
import numpy as np

from nlviz.errors import one_line
from nlviz.recording import training_layout as T
from nlviz.recording.base import RecordingBase, RecordingError, _text
from nlviz.recording.damage import READ_ERRORS, read_rows
from nlviz.recording.h5open import open_h5
from nlviz.recording.opening import open_checked
from nlviz.recording.training_layout import TrainingRow
from nlviz.recording.validate import backed_rows, check_backed, check_increasing, header_checksum


def file_kind(path: str | os.PathLike[str]) -> str:
    """``"training"`` for a training recording, else ``"run"`` (also for a file that is
    missing or no recording at all: the run reader then says what is wrong with it)."""
    try:
        if not h5py.is_hdf5(path):
            return "run"
        with open_h5(str(path)) as f:
            kind = _text(f.attrs.get(T.A_FILE_KIND, ""))
            schema = _text(f.attrs.get(T.A_SCHEMA, ""))
    except (OSError, RuntimeError, ValueError, KeyError, TypeError):
        return "run"
    return T.KIND if kind == T.KIND or schema == T.SCHEMA else "run"


class TrainingRecording(RecordingBase):
    """An open training recording. Use ``TrainingRecording.open(path)``; close with
    ``close()`` or ``with``.

    Attributes
    ----------
    path, schema_version : as stored.
    tasks, groups, gate_stats : names of the per-task, per-group and gate series.
    config, model_config : the training and model configs (dicts).
    device, torch_version, nlviz_version, created_utc : as stored.
    n_rows : outer steps readable (committed by the writer).
    complete : True when the writer closed the file cleanly.
    resumes : times a training was resumed into the file (``--resume``).
    damaged : ``Damage`` entries of rows that failed their checksum (read as NaN / -1).
    """

    def __init__(self, path: str, f: h5py.File) -> None:
        self.path, self._f = path, f
        self._size = os.path.getsize(path)
        self._steps: np.ndarray | None = None
        self.damaged = []
        self._header()
        self._paths = T.column_paths(self.tasks, self.groups, self.gate_stats)
        for p in self._paths:
            ds = self._dataset(p, "i" if T.dtype_of(p).kind == "i" else "f")
            if ds.ndim != 1:
                raise self._fail(f"/{p} has shape {ds.shape}, expected (n,)")
        self.n_rows = self._committed()
        lengths = {}
        for p in self._paths:
            ds = self._f[p]
            check_backed(ds, self.n_rows, f"/{T.D_ROWS_COMMITTED}", self._fail, self._size)
            lengths[p] = ds.shape[0]
        short = {p: n for p, n in lengths.items() if n < self.n_rows}
        if short:
            p, n = next(iter(short.items()))
            raise self._fail(f"ragged lengths: /{p} has {n} rows, /{T.D_ROWS_COMMITTED} is "
                             f"{self.n_rows}")
        self.steps  # noqa: B018 - read and checked (strictly increasing) on open

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> TrainingRecording:
        """Open a training recording (also one still being written).

        Raises
        ------
        RecordingError : missing, truncated or damaged file, not HDF5, a run recording or
            no nlviz recording, unknown major version, or a broken invariant; one line.
        """
        return open_checked(str(path), cls, "training recording")

    def _header(self) -> None:
        a = self._f.attrs
        kind, schema = _text(a.get(T.A_FILE_KIND, "")), _text(a.get(T.A_SCHEMA, ""))
        if kind != T.KIND and schema != T.SCHEMA:
            if kind == "run" or schema == "nlviz.run":
                raise self._fail(f"a run recording, not a training recording (root attribute "
                                 f"{T.A_FILE_KIND!r} is {kind or 'absent'!r}); "
                                 "--replay and nlviz info show it as a run")
            raise self._fail(f"not an nlviz training recording (root attribute "
                             f"{T.A_SCHEMA!r} is {schema!r}, expected {T.SCHEMA!r})")
        if schema != T.SCHEMA or kind != T.KIND:
            raise self._fail(f"root attributes {T.A_SCHEMA!r} = {schema!r} and "
                             f"{T.A_FILE_KIND!r} = {kind!r} disagree")
        self.schema_version = _text(a.get(T.A_SCHEMA_VERSION))
        try:
            major, _minor = (int(x) for x in self.schema_version.split("."))
        except ValueError:
            raise self._fail(f"malformed schema_version {self.schema_version!r}") from None
        if major != T.SCHEMA_MAJOR:
            raise self._fail(f"schema version {self.schema_version} is not supported "
                             f"(this nlviz reads {T.SCHEMA_MAJOR}.x; upgrade nlviz)")
        if T.A_HEADER_CRC in a:
            stored = int(np.asarray(a[T.A_HEADER_CRC]).reshape(-1)[0])
            actual = header_checksum(a)
            if stored != actual:
                raise self._fail(f"root attribute {T.A_HEADER_CRC} is {stored}, the root "
                                 f"attributes give {actual}: the description is damaged")
        self.tasks = self._names(T.A_TASKS)
        self.groups = self._names(T.A_GROUPS)
        self.gate_stats = self._names(T.A_GATE_STATS)
        self.config: dict[str, Any] = self._json_dict(T.A_CONFIG_JSON)
        self.model_config: dict[str, Any] = self._json_dict(T.A_MODEL_CONFIG_JSON)
        self.device = _text(a.get(T.A_DEVICE, ""))
        self.created_utc = _text(a.get(T.A_CREATED_UTC, ""))
        self.nlviz_version = _text(a.get(T.A_NLVIZ_VERSION, ""))
        self.torch_version = _text(a.get(T.A_TORCH_VERSION, ""))

    def _json(self, key: str) -> Any:
        if key not in self._f.attrs:
            raise self._fail(f"missing root attribute {key!r}")
        try:
            return json.loads(_text(self._f.attrs[key]))
        except (ValueError, RecursionError) as exc:
            raise self._fail(f"root attribute {key} is not JSON: {one_line(exc)}") from None

    def _json_dict(self, key: str) -> dict[str, Any]:
        value = self._json(key)
        if not isinstance(value, dict):
            raise self._fail(f"root attribute {key} is {type(value).__name__}, expected "
                             "a JSON object")
        return value

    def _names(self, key: str) -> tuple[str, ...]:
        value = self._json(key)
        if not isinstance(value, list):
            raise self._fail(f"root attribute {key} is {_text(self._f.attrs[key])[:80]!r}, "
                             "expected a JSON list of names")
        problem = T.name_problem(key, value)
        if problem:
            raise self._fail(f"root attribute {problem}")
        return tuple(value)

    def _committed(self) -> int:
        n = super()._committed()
        self.resumes = 0
        if T.D_RESUMES in self._f:
            ds = self._dataset(T.D_RESUMES, "i")
            ds.refresh()
            self.resumes = int(ds[0]) if ds.shape == (1,) else 0
        return n

    # ---- reading ----------------------------------------------------------------------------
    @property
    def columns(self) -> list[str]:
        """Every column name ``column`` accepts, e.g. ``"step"``, ``"loss/regime_shift"``."""
        return list(self._paths)

    @property
    def steps(self) -> np.ndarray:
        """(n_rows,) int64 outer steps (cached; new rows are read and checked on their own)."""
        have = 0 if self._steps is None else len(self._steps)
        if self._steps is None or have > self.n_rows:
            self._steps, have = np.zeros(0, np.int64), 0
        if have < self.n_rows:
            new, bad = read_rows(self._f[T.D_STEP], have, self.n_rows)
            if bad:
                a, b = bad[0]
                raise self._fail(f"/{T.D_STEP} rows {a + have}..{b + have - 1} are damaged "
                                 "(checksum error)")
            full = np.concatenate([self._steps, np.asarray(new, np.int64)])
            check_increasing(full[max(0, have - 1):], f"/{T.D_STEP}", self._fail)
            self._steps = full
        return self._steps

    def column(self, name: str, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """Rows [lo, hi) (clamped to ``n_rows``; ``hi`` None: all) of the column ``name``
        (see ``columns``): int64 ``step`` / ``tokens``, float64 ``wall_time`` / ``lr``,
        float32 otherwise.

        Raises
        ------
        RecordingError : unknown column (the message lists the known ones).
        """
        if name not in self._paths:
            raise RecordingError(f"{self.path}: unknown column {name!r} "
                                 f"(have: {', '.join(self._paths)})")
        if name == T.D_STEP:
            return self.steps[max(0, lo):self.n_rows if hi is None else hi].copy()
        return self._read(name, lo, self.n_rows if hi is None else hi)

    def row(self, i: int) -> TrainingRow:
        """Row ``i`` (0 <= i < n_rows) as a ``TrainingRow``."""
        if not 0 <= i < self.n_rows:
            raise IndexError(f"row {i} is not in 0..{self.n_rows - 1}")

        def val(p: str) -> Any:
            return self.column(p, i, i + 1)[0].item()

        return TrainingRow(
            step=val(T.D_STEP), wall_time=val(T.D_WALL_TIME), lr=val(T.D_LR),
            tokens=val(T.D_TOKENS), total=val(T.loss_path(T.TOTAL)),
            loss=tuple(val(T.loss_path(t)) for t in self.tasks),
            heldout=tuple(val(T.heldout_path(t)) for t in self.tasks),
            grad_norm=tuple(val(T.grad_norm_path(g)) for g in self.groups),
            gates=tuple(val(T.gate_path(s)) for s in self.gate_stats))

    def last_finite(self, name: str) -> tuple[int, float] | None:
        """(step, value) of the last row whose ``name`` is finite, or None."""
        values = self.column(name)
        ok = np.flatnonzero(np.isfinite(values))
        if not len(ok):
            return None
        return int(self.steps[ok[-1]]), float(values[ok[-1]])

    def refresh(self) -> int:
        """Pick up rows the writer committed since (SWMR); returns ``n_rows``. Every
        column is refreshed together; ``n_rows`` is clamped to the shortest."""
        n = self._committed()
        for p in self._paths:
            ds = self._f[p]
            try:
                ds.refresh()
                n = min(n, ds.shape[0], backed_rows(ds))
            except READ_ERRORS as exc:
                raise self._fail(f"/{p} cannot be read: {one_line(exc)}") from None
        self.n_rows = n
        return n


__all__ = ["TrainingRecording", "file_kind"]
