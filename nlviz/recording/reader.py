"""``Recording``: open, validate and read an nlviz HDF5 run recording.

Random access by step (``window``), min/max overviews from the stored pyramid
(``overview``), sparse records (probes, snapshots, events, engine states) and SWMR
reading of a file that is still being written (``refresh``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from engine.frames import EventRecord, LevelSpec, ProbeRecord, RunSpec, SnapshotRecord, StateRecord
from nlviz.errors import UserError
from nlviz.recording import layout as L


class RecordingError(UserError):
    """A recording that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class Window:
    """Rows of one series between two steps.

    Attributes
    ----------
    steps : (n,) int64 global steps.
    values : (n,) values as stored (NaN / inf kept).
    """

    steps: np.ndarray
    values: np.ndarray

    @property
    def nonfinite(self) -> np.ndarray:
        """(n,) bool, True where the value is NaN or inf."""
        return ~np.isfinite(self.values)


@dataclass(frozen=True)
class Overview:
    """Min/max envelope of one series: bucket ``i`` covers steps from ``steps[i]``."""

    steps: np.ndarray
    mins: np.ndarray
    maxs: np.ndarray
    bucket_rows: int


class Recording:
    """An open recording. Use ``Recording.open(path)``; close with ``close()`` or ``with``.

    Attributes
    ----------
    path : file path.
    schema_version : ``"MAJOR.MINOR"`` as stored.
    spec : the ``RunSpec`` of the recorded run.
    config : the resolved config at start (dict).
    complete : True when the writer closed cleanly; False = recovered after a crash/kill.
    n_rows : steps readable (``/status/rows_committed``).
    parent_run, parent_step : the run (file name) and step this run was branched from
        ("continue live from here"), or None.
    """

    def __init__(self, path: str, f: h5py.File) -> None:
        self.path, self._f = path, f
        self._steps: np.ndarray | None = None
        self._validate_header()
        self._load_meta()
        self.n_rows = self._committed()
        self._validate_series()

    # ---- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Recording:
        """Open a recording (also one still being written, via SWMR).

        Raises
        ------
        RecordingError : missing file, not HDF5, not an nlviz recording, unknown major
            version, missing dataset, ragged lengths or wrong dtype.
        """
        path = str(path)
        if not os.path.exists(path):
            raise RecordingError(f"{path}: no such file")
        if not h5py.is_hdf5(path):
            raise RecordingError(f"{path}: not an HDF5 file")
        _check_not_truncated(path)
        try:
            f = h5py.File(path, "r", libver="latest", swmr=True)
        except OSError:
            try:
                f = h5py.File(path, "r")
            except OSError as exc:
                raise RecordingError(f"{path}: cannot open: {exc}") from None
        try:
            return cls(path, f)
        except RecordingError:
            f.close()
            raise
        except (KeyError, ValueError, TypeError, OSError) as exc:
            f.close()
            raise RecordingError(f"{path}: damaged recording: {exc}") from None

    def _fail(self, problem: str) -> RecordingError:
        return RecordingError(f"{self.path}: {problem}")

    def _validate_header(self) -> None:
        a = self._f.attrs
        if _text(a.get(L.A_SCHEMA)) != L.SCHEMA:
            raise self._fail(f"not an nlviz recording (root attribute {L.A_SCHEMA!r} is "
                             f"{_text(a.get(L.A_SCHEMA))!r}, expected {L.SCHEMA!r})")
        self.schema_version = _text(a.get(L.A_SCHEMA_VERSION))
        try:
            major, _minor = L.parse_version(self.schema_version)
        except ValueError:
            raise self._fail(f"malformed schema_version {self.schema_version!r}") from None
        if major != L.SCHEMA_MAJOR:
            raise self._fail(f"schema version {self.schema_version} is not supported "
                             f"(this nlviz reads {L.SCHEMA_MAJOR}.x; upgrade nlviz)")

    def _load_meta(self) -> None:
        a = self._f.attrs
        for key in (L.A_SPEC_JSON, L.A_CONFIG_JSON):
            if key not in a:
                raise self._fail(f"missing root attribute {key!r}")
        try:
            d = json.loads(_text(a[L.A_SPEC_JSON]))
            self.spec = RunSpec(
                levels=tuple(LevelSpec(lv["name"], lv["kind"], int(lv["update_period"]),
                                       tuple(lv["snapshot_shape"])) for lv in d["levels"]),
                d_in=int(d["d_in"]), probe_size=int(d["probe_size"]),
                level_metrics=tuple(d["level_metrics"]), global_metrics=tuple(d["global_metrics"]))
            self.config: dict[str, Any] = json.loads(_text(a[L.A_CONFIG_JSON]))
        except (ValueError, KeyError, TypeError) as exc:
            raise self._fail(f"unreadable run description: {exc}") from None
        self.device = _text(a.get(L.A_DEVICE, ""))
        self.stream = _text(a.get(L.A_STREAM, ""))
        self.created_utc = _text(a.get(L.A_CREATED_UTC, ""))
        self.nlviz_version = _text(a.get(L.A_NLVIZ_VERSION, ""))
        self.torch_version = _text(a.get(L.A_TORCH_VERSION, ""))
        self.parent_run: str | None = _text(a[L.A_PARENT_RUN]) if L.A_PARENT_RUN in a else None
        self.parent_step: int | None = int(a[L.A_PARENT_STEP]) if L.A_PARENT_STEP in a else None
        self._series = L.series_names(self.spec.level_names, self.spec.level_metrics,
                                      self.spec.global_metrics)

    def _dataset(self, path: str, kind: str) -> h5py.Dataset:
        if path not in self._f or not isinstance(self._f[path], h5py.Dataset):
            raise self._fail(f"missing dataset /{path}")
        ds = self._f[path]
        if ds.dtype.kind not in kind:
            raise self._fail(f"/{path} has dtype {ds.dtype}, expected "
                             f"{ {'i': 'integer', 'f': 'float', 'u': 'uint8', 'S': 'bytes'}.get(kind, kind)}")
        return ds

    def _per_step_paths(self) -> dict[str, str]:
        out = {L.D_STEPS: "i", L.D_WALL_TIME: "f", L.D_REGIME: "i", L.D_TOKEN: "i", L.D_INPUTS: "f"}
        for m in self.spec.global_metrics:
            out[L.global_path(m)] = "f"
        for lv in self.spec.levels:
            for m in self.spec.level_metrics:
                out[L.level_path(lv.name, m)] = "f"
            out[L.level_path(lv.name, L.D_FIRED)] = "u"
        return out

    def _committed(self) -> int:
        rc = self._dataset(L.D_ROWS_COMMITTED, "i")
        cc = self._dataset(L.D_CLEAN_CLOSE, "u")
        rc.refresh()
        cc.refresh()
        self.complete = bool(cc[0] == 1)
        return int(rc[0])

    def _validate_series(self) -> None:
        lengths = {}
        for path, kind in self._per_step_paths().items():
            ds = self._dataset(path, kind)
            ds.refresh()
            lengths[path] = ds.shape[0]
        short = {p: n for p, n in lengths.items() if n < self.n_rows}
        if short:
            p, n = next(iter(short.items()))
            raise self._fail(f"ragged lengths: /{p} has {n} rows, rows_committed is {self.n_rows}")
        if self.complete and len(set(lengths.values())) > 1:
            p = min(lengths, key=lengths.get)  # type: ignore[arg-type]
            raise self._fail(f"ragged lengths: /{p} has {lengths[p]} rows, /{L.D_STEPS} has "
                             f"{lengths[L.D_STEPS]}")
        if self._dataset(L.D_STEPS, "i").dtype != L.STEP_DTYPE:
            raise self._fail(f"/{L.D_STEPS} has dtype {self._f[L.D_STEPS].dtype}, expected int64")

    # ---- basics ---------------------------------------------------------------------------
    @property
    def recovered(self) -> bool:
        """True when the writer never closed the file cleanly (crash or still writing)."""
        return not self.complete

    @property
    def levels(self) -> tuple[str, ...]:
        return self.spec.level_names

    @property
    def steps(self) -> np.ndarray:
        """(n_rows,) int64 global step of every recorded row (cached)."""
        if self._steps is None or len(self._steps) != self.n_rows:
            self._steps = np.asarray(self._f[L.D_STEPS][: self.n_rows], np.int64)
        return self._steps

    @property
    def nonfinite(self) -> dict[str, int]:
        """Series (``"<level>/<metric>"`` or ``"global/<metric>"``) with NaN/inf, and counts."""
        if L.D_NONFINITE not in self._f:
            return {}
        ds = self._f[L.D_NONFINITE]
        ds.refresh()
        return {s: int(c) for s, c in zip(self._series, ds[:]) if c}

    def refresh(self) -> int:
        """Pick up rows flushed by a writer since opening (SWMR); returns ``n_rows``."""
        self.n_rows = self._committed()
        for path in self._per_step_paths():
            self._f[path].refresh()
        for path in (L.D_PROBE_STEP, L.D_SNAP_STEP, L.D_EVENT_STEP, L.D_STATE_STEP):
            if path in self._f:
                self._f[path].refresh()
        return self.n_rows

    def row_range(self, start_step: int | None, stop_step: int | None) -> tuple[int, int]:
        """Rows [lo, hi) whose steps lie in [start_step, stop_step] (inclusive)."""
        s = self.steps
        lo = 0 if start_step is None else int(np.searchsorted(s, start_step, "left"))
        hi = len(s) if stop_step is None else int(np.searchsorted(s, stop_step, "right"))
        return lo, max(lo, hi)

    def series_path(self, metric: str, level: str | None = None) -> str:
        """Dataset path of a per-step series: a level metric, ``fired``, or (level None) a
        global metric or ``wall_time`` / ``regime`` / ``token``."""
        if level is None:
            if metric in self.spec.global_metrics:
                return L.global_path(metric)
            if metric in (L.D_WALL_TIME, L.D_REGIME, L.D_TOKEN, L.D_INPUTS, L.D_STEPS):
                return metric
            raise RecordingError(f"{self.path}: unknown global series {metric!r} "
                                 f"(have: {', '.join(self.spec.global_metrics)})")
        if level not in self.spec.level_names:
            raise RecordingError(f"{self.path}: unknown level {level!r} "
                                 f"(have: {', '.join(self.spec.level_names)})")
        if metric != L.D_FIRED and metric not in self.spec.level_metrics:
            raise RecordingError(f"{self.path}: unknown metric {metric!r} "
                                 f"(have: {', '.join(self.spec.level_metrics)}, fired)")
        return L.level_path(level, metric)

    def window(self, metric: str, level: str | None = None, start_step: int | None = None,
               stop_step: int | None = None) -> Window:
        """Values of one series for steps in [start_step, stop_step] (reads only those rows)."""
        path = self.series_path(metric, level)
        lo, hi = self.row_range(start_step, stop_step)
        return Window(self.steps[lo:hi], self._f[path][lo:hi])

    def overview(self, metric: str, level: str | None = None, max_points: int = 4000,
                 start_step: int | None = None, stop_step: int | None = None) -> Overview:
        """Min/max envelope with at most about ``max_points`` buckets, read from the
        pyramid (raw rows for small ranges and the not-yet-summarised tail)."""
        key = f"{L.G_GLOBAL}/{metric}" if level is None else f"{level}/{metric}"
        if key not in self._series:
            self.series_path(metric, level)  # raises a precise message
            raise RecordingError(f"{self.path}: no overview for {key!r}")
        s = self._series.index(key)
        lo, hi = self.row_range(start_step, stop_step)
        n = hi - lo
        bucket = next((b for b in L.LOD_BUCKETS if n // b <= max_points), L.LOD_BUCKETS[-1])
        if n <= max_points or L.lod_path(bucket) not in self._f:
            w = self._f[self.series_path(metric, level)][lo:hi].astype(np.float32)
            return Overview(self.steps[lo:hi], w, w, 1)
        ds = self._f[L.lod_path(bucket)]
        ds.refresh()
        b_lo = -(-lo // bucket)
        b_hi = min(hi // bucket, ds.shape[0])
        mm = ds[b_lo:b_hi, s, :] if b_hi > b_lo else np.zeros((0, 2), np.float32)
        head = self._f[self.series_path(metric, level)][lo:b_lo * bucket] if b_hi > b_lo else None
        tail_lo = b_hi * bucket if b_hi > b_lo else lo
        tail = self._f[self.series_path(metric, level)][tail_lo:hi]
        steps = [self.steps[b_lo * bucket:b_hi * bucket:bucket]]
        mins, maxs = [mm[:, 0]], [mm[:, 1]]
        for part, start in ((head, lo), (tail, tail_lo)):
            if part is not None and len(part):
                steps.append(self.steps[start:start + 1])
                mins.append(np.fmin.reduce(part, keepdims=True).astype(np.float32))
                maxs.append(np.fmax.reduce(part, keepdims=True).astype(np.float32))
        order = np.argsort(np.concatenate(steps), kind="stable")
        return Overview(np.concatenate(steps)[order], np.concatenate(mins)[order],
                        np.concatenate(maxs)[order], bucket)

    # ---- sparse records ---------------------------------------------------------------------
    def _sparse_len(self, path: str) -> int:
        """Rows of a sparse dataset, after a SWMR refresh. Call it BEFORE taking the handle
        you read from: a handle taken before another handle of the same dataset is refreshed
        reads stale chunk addresses (rows past the first chunk came back as copies of the
        first chunk; h5py 3.16 / HDF5 1.14, SWMR read)."""
        ds = self._f[path]
        ds.refresh()
        return ds.shape[0]

    @property
    def events(self) -> list[EventRecord]:
        """Every recorded event (start, pause, stream switch, parameter change, seek...)."""
        n = self._sparse_len(L.D_EVENT_STEP)
        steps = self._f[L.D_EVENT_STEP][:n]
        kinds = self._f[L.D_EVENT_KIND][:n]
        details = self._f[L.D_EVENT_DETAIL][:n]
        return [EventRecord(int(s), k.decode("ascii", "replace"), d.decode("utf-8", "replace"))
                for s, k, d in zip(steps, kinds, details)]

    def probes(self) -> list[ProbeRecord]:
        """Every probe evaluation (ages (P,), errors (L, P)) in step order."""
        n = self._sparse_len(L.D_PROBE_STEP)
        steps, ages, errs = (self._f[p][:n] for p in (L.D_PROBE_STEP, L.D_PROBE_AGES,
                                                      L.D_PROBE_ERRORS))
        return [ProbeRecord(int(s), a, e) for s, a, e in zip(steps, ages, errs)]

    def probe_steps(self) -> np.ndarray:
        """(P,) int64 steps of the probe evaluations."""
        n = self._sparse_len(L.D_PROBE_STEP)   # refresh first: see _sparse_len
        return self._f[L.D_PROBE_STEP][:n]

    def snapshot_steps(self) -> np.ndarray:
        """(S,) int64 steps of the weight snapshots."""
        n = self._sparse_len(L.D_SNAP_STEP)
        return self._f[L.D_SNAP_STEP][:n]

    def snapshot_at(self, step: int) -> SnapshotRecord | None:
        """The weight snapshot nearest to ``step`` (ties: the earlier one); None if none."""
        steps = self.snapshot_steps()
        if len(steps) == 0:
            return None
        i = int(np.searchsorted(steps, step))
        if i == len(steps) or (i > 0 and step - steps[i - 1] <= steps[i] - step):
            i -= 1
        w = tuple(self._f[f"{L.G_SNAP_WEIGHTS}/{lv}"][i] for lv in self.levels)
        u = tuple(self._f[f"{L.G_SNAP_UPDATES}/{lv}"][i] for lv in self.levels)
        return SnapshotRecord(int(steps[i]), w, u)

    def state_steps(self) -> np.ndarray:
        """(K,) int64 steps at which full engine states were stored."""
        n = self._sparse_len(L.D_STATE_STEP)
        return self._f[L.D_STATE_STEP][:n]

    def state_at_or_before(self, step: int) -> StateRecord | None:
        """The latest engine state at or before ``step`` (for "continue live from here")."""
        steps = self.state_steps()
        i = int(np.searchsorted(steps, step, "right")) - 1
        if i < 0:
            return None
        names = json.loads(_text(self._f[L.G_STATES].attrs[L.A_TENSOR_NAMES]))
        tensors: dict[str, np.ndarray] = {}
        for name in names:
            ds = self._f[L.state_path(name)]
            v = ds[i]
            if ds.attrs.get(L.A_TEXT, 0):
                v = np.array(np.asarray(v).item().decode("utf-8"))
            tensors[name] = np.asarray(v)
        return StateRecord(int(steps[i]), tensors)

    # ---- misc -------------------------------------------------------------------------------
    @property
    def file(self) -> h5py.File:
        """The underlying h5py file (read-only), for ad-hoc access."""
        return self._f

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value.item())
    return str(value)


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _check_not_truncated(path: str) -> None:
    """Refuse a file shorter than the end-of-file address its superblock records.

    A SWMR open does not check this and retries unreadable metadata for minutes, so a
    cut-off copy would hang the reader; a file being written never has fewer bytes than
    its superblock's end of file (the writer grows the file before it records the EOF).
    Superblock versions 2 and 3 (what nlviz writes) only; others are left to HDF5.
    """
    with open(path, "rb") as fh:
        head = fh.read(48)
    if len(head) < 13 or head[:8] != _HDF5_SIGNATURE or head[8] not in (2, 3):
        return
    size_of_offsets = head[9]
    start = 12 + 2 * size_of_offsets                 # after base and extension addresses
    if len(head) < start + size_of_offsets:
        return
    eof = int.from_bytes(head[start:start + size_of_offsets], "little")
    actual = os.path.getsize(path)
    if actual < eof:
        raise RecordingError(f"{path}: truncated file ({actual:,} of {eof:,} bytes); "
                             "it was cut off, e.g. by an interrupted copy")

