"""Single-threaded HDF5 side of the recorder: create the whole layout, append batches.

Used by ``writer.Recorder`` on its own thread. Every object and attribute is created in
``create_layout`` before SWMR mode is switched on; afterwards only existing datasets are
resized and written.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from typing import Any

import h5py
import numpy as np

from engine.frames import FrameBatch, RunSpec
from nlviz.recording import layout as L
from nlviz.recording.pyramid import PyramidBuilder
from nlviz.recording.validate import header_checksum


def _series_dataset(f: h5py.File, path: str, dtype: Any, tail: tuple[int, ...] = (),
                    chunk_rows: int = L.ROW_CHUNK, filters: dict | None = None) -> h5py.Dataset:
    rows = max(1, min(chunk_rows, (1 << 18) // max(1, int(np.prod(tail)) * np.dtype(dtype).itemsize)))
    kwargs = {**(L.SCALAR_FILTERS if filters is None else filters), **L.CHECKSUM_FILTERS}
    return f.create_dataset(path, shape=(0, *tail), maxshape=(None, *tail), dtype=dtype,
                            chunks=(rows, *tail), **kwargs)


def _text_len(value: np.ndarray) -> int:
    return max(L.STATE_TEXT_MIN_LEN, 4 * int(value.dtype.itemsize // 4 + 1))


class _Keeping:
    """Stands in for the file while the layout is created: keeps every group and dataset
    handle it hands out (see ``create_layout``)."""

    def __init__(self, f: h5py.File) -> None:
        self.f = f
        self.kept: list[Any] = []

    @property
    def attrs(self) -> h5py.AttributeManager:
        return self.f.attrs

    def create_dataset(self, *args: Any, **kwargs: Any) -> h5py.Dataset:
        self.kept.append(self.f.create_dataset(*args, **kwargs))
        return self.kept[-1]

    def require_group(self, name: str) -> h5py.Group:
        self.kept.append(self.f.require_group(name))
        return self.kept[-1]


def create_layout(f: h5py.File, spec: RunSpec, config: dict[str, Any], *, device: str,
                  stream: str, state_template: dict[str, np.ndarray] | None,
                  nlviz_version: str, torch_version: str,
                  device_requested: str | None = None) -> list[Any]:
    """Create every group, dataset and attribute of an empty recording in ``f``.

    Returns the created groups and datasets: keep them until the file is flushed (a
    handle released earlier closes its object, and a write failing then, e.g. on a full
    disk, could only be printed by h5py, not raised).
    """
    keeping = _Keeping(f)
    _create_layout(keeping, spec, config, device=device, stream=stream,
                   state_template=state_template, nlviz_version=nlviz_version,
                   torch_version=torch_version, device_requested=device_requested)
    return keeping.kept


def seal_header(f: h5py.File) -> None:
    """Store ``header_crc32``, the CRC-32 of every other root attribute. Call it after
    the last root attribute is written, and again whenever one is rewritten: their text
    sits in HDF5's global heap, which has no checksum, so the reader needs this one to
    notice a flipped byte in the device, stream or config."""
    f.attrs[L.A_HEADER_CRC] = np.int64(header_checksum(f.attrs))


def _create_layout(f: h5py.File, spec: RunSpec, config: dict[str, Any], *, device: str,
                   stream: str, state_template: dict[str, np.ndarray] | None,
                   nlviz_version: str, torch_version: str,
                   device_requested: str | None) -> None:
    a = f.attrs
    a[L.A_SCHEMA] = L.SCHEMA
    a[L.A_SCHEMA_VERSION] = L.SCHEMA_VERSION
    a[L.A_FILE_KIND] = L.FILE_KIND
    a[L.A_CONFIG_JSON] = json.dumps(config, sort_keys=True)
    a[L.A_SPEC_JSON] = json.dumps(dataclasses.asdict(spec))
    a[L.A_CREATED_UTC] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    a[L.A_NLVIZ_VERSION] = str(nlviz_version)
    a[L.A_TORCH_VERSION] = str(torch_version)
    a[L.A_DEVICE] = str(device)
    if device_requested is not None:
        a[L.A_DEVICE_REQUESTED] = str(device_requested)
    a[L.A_STREAM] = str(stream)
    a[L.A_LEVEL_NAMES] = json.dumps(list(spec.level_names))
    a[L.A_LEVEL_METRICS] = json.dumps(list(spec.level_metrics))
    a[L.A_GLOBAL_METRICS] = json.dumps(list(spec.global_metrics))

    _series_dataset(f, L.D_STEPS, L.STEP_DTYPE).attrs[L.A_UNITS] = "step"
    _series_dataset(f, L.D_WALL_TIME, np.float64).attrs[L.A_UNITS] = "s since run start"
    _series_dataset(f, L.D_REGIME, np.int32)
    _series_dataset(f, L.D_TOKEN, np.int32)
    _series_dataset(f, L.D_INPUTS, np.float32, (spec.d_in,))
    from engine.frames import METRIC_UNITS
    for m in spec.global_metrics:
        _series_dataset(f, L.global_path(m), L.METRIC_DTYPE)
    for i, lv in enumerate(spec.levels):
        g = f.require_group(L.level_path(lv.name))
        g.attrs[L.A_UPDATE_PERIOD] = int(lv.update_period)
        g.attrs[L.A_KIND] = lv.kind
        g.attrs[L.A_INDEX] = i
        g.attrs[L.A_SNAPSHOT_SHAPE] = np.asarray(lv.snapshot_shape, np.int64)
        for m in spec.level_metrics:
            ds = _series_dataset(f, L.level_path(lv.name, m), L.METRIC_DTYPE)
            ds.attrs[L.A_UNITS] = METRIC_UNITS.get(m, "")
        _series_dataset(f, L.level_path(lv.name, L.D_FIRED), L.FIRED_DTYPE)

    n_levels, p = len(spec.levels), spec.probe_size
    _series_dataset(f, L.D_PROBE_STEP, L.STEP_DTYPE, chunk_rows=L.SPARSE_CHUNK)
    _series_dataset(f, L.D_PROBE_AGES, np.int64, (p,), L.BLOB_CHUNK, L.BLOB_FILTERS)
    _series_dataset(f, L.D_PROBE_ERRORS, np.float32, (n_levels, p), L.BLOB_CHUNK, L.BLOB_FILTERS)
    _series_dataset(f, L.D_SNAP_STEP, L.STEP_DTYPE, chunk_rows=L.SPARSE_CHUNK)
    for lv in spec.levels:
        for group in (L.G_SNAP_WEIGHTS, L.G_SNAP_UPDATES):
            _series_dataset(f, f"{group}/{lv.name}", np.float32, tuple(lv.snapshot_shape), L.BLOB_CHUNK,
                            L.BLOB_FILTERS)
    _series_dataset(f, L.D_EVENT_STEP, L.STEP_DTYPE, chunk_rows=L.SPARSE_CHUNK)
    _series_dataset(f, L.D_EVENT_KIND, f"S{L.EVENT_KIND_LEN}", chunk_rows=L.SPARSE_CHUNK)
    _series_dataset(f, L.D_EVENT_DETAIL, f"S{L.EVENT_DETAIL_LEN}", chunk_rows=L.SPARSE_CHUNK)
    _series_dataset(f, L.D_EVENT_DATA_END, np.int64, chunk_rows=L.SPARSE_CHUNK)
    _series_dataset(f, L.D_EVENT_DATA, np.uint8, chunk_rows=L.EVENT_DATA_CHUNK)

    n_regimes = eval_width(spec)
    _series_dataset(f, L.D_EVAL_STEP, L.STEP_DTYPE, chunk_rows=L.SPARSE_CHUNK)
    for path in (L.D_EVAL_LOSSES, L.D_EVAL_COPY):
        _series_dataset(f, path, np.float32, (n_regimes,), L.SPARSE_CHUNK)
    _series_dataset(f, L.D_EVAL_VARIANT, f"S{L.EVAL_VARIANT_LEN}", chunk_rows=L.SPARSE_CHUNK)

    _series_dataset(f, L.D_STATE_STEP, L.STEP_DTYPE, chunk_rows=L.SPARSE_CHUNK)
    names = sorted(state_template or {})
    f.require_group(L.G_STATES).attrs[L.A_TENSOR_NAMES] = json.dumps(names)
    f.require_group(L.G_STATE_TENSORS)
    for name in names:
        value = np.asarray(state_template[name])  # type: ignore[index]
        if value.dtype.kind in "US":
            ds = _series_dataset(f, L.state_path(name), f"S{_text_len(value)}", value.shape,
                                 L.BLOB_CHUNK)
            ds.attrs[L.A_TEXT] = 1
        else:
            _series_dataset(f, L.state_path(name), value.dtype, value.shape, L.BLOB_CHUNK,
                            L.BLOB_FILTERS)

    series = L.series_names(spec.level_names, spec.level_metrics, spec.global_metrics)
    f.require_group(L.G_LOD).attrs[L.A_SERIES] = json.dumps(series)
    for b in L.LOD_BUCKETS:
        _series_dataset(f, L.lod_path(b), np.float32, (len(series), 2), 256)
    f.create_dataset(L.D_ROWS_COMMITTED, data=np.zeros(1, np.int64))
    f.create_dataset(L.D_CLEAN_CLOSE, data=np.zeros(1, np.uint8))
    f.create_dataset(L.D_NONFINITE, data=np.zeros(len(series), np.int64))
    f.create_dataset(L.D_STATES_SKIPPED, data=np.zeros(1, np.int64))


def _append(ds: h5py.Dataset, data: np.ndarray) -> None:
    """One resize and one slice write."""
    if len(data) == 0:
        return
    n = ds.shape[0]
    ds.resize(n + len(data), axis=0)
    ds[n:] = data


class BatchAppender:
    """Appends ``FrameBatch`` objects to a file made by ``create_layout`` (one thread)."""

    def __init__(self, f: h5py.File, spec: RunSpec) -> None:
        self.f, self.spec = f, spec
        self.rows = int(f[L.D_ROWS_COMMITTED][0])
        self.last_step = -1
        self.first_step: int | None = None     # step of row 0 (None while empty)
        self.committed_rows = self.rows         # rows published by the last ``commit``
        self.committed_last_step = -1           # step of the last published row
        self.pyramid = PyramidBuilder(len(spec.levels) * len(spec.level_metrics)
                                      + len(spec.global_metrics))
        self.nonfinite = np.zeros(self.pyramid.n_series, np.int64)
        self.states_skipped = 0
        self._lod = [f[L.lod_path(b)] for b in L.LOD_BUCKETS]
        self._level = [[f[L.level_path(lv.name, m)] for m in spec.level_metrics]
                       for lv in spec.levels]
        self._fired = [f[L.level_path(lv.name, L.D_FIRED)] for lv in spec.levels]
        self._global = [f[L.global_path(m)] for m in spec.global_metrics]
        self.event_bytes = int(f[L.D_EVENT_DATA].shape[0])    # end of the last payload
        names = json.loads(f[L.G_STATES].attrs[L.A_TENSOR_NAMES])
        self._states = {n: f[L.state_path(n)] for n in names}
        self._open: dict[str, h5py.Dataset] = {}

    def _ds(self, path: str) -> h5py.Dataset:
        """The dataset at ``path``, kept open: a handle released mid-run closes (and flushes)
        the dataset, whose error on a full disk HDF5 could only print, never raise."""
        ds = self._open.get(path)
        if ds is None:
            ds = self._open[path] = self.f[path]
        return ds

    def _check(self, b: FrameBatch) -> None:
        n, spec = len(b), self.spec
        shape = (n, len(spec.levels), len(spec.level_metrics))
        if b.level.shape != shape or b.scalars.shape != (n, len(spec.global_metrics)):
            raise ValueError(f"batch shape {b.level.shape} does not match the recorded run "
                             f"{shape} (the model was rebuilt?): start a new recording")
        if n and (b.step[0] <= self.last_step or np.any(np.diff(b.step) <= 0)):
            raise ValueError(f"steps must be strictly increasing (got {int(b.step[0])} after "
                             f"{self.last_step})")

    def append(self, b: FrameBatch) -> None:
        """Write one (possibly coalesced) batch; the caller flushes and commits."""
        self._check(b)
        n = len(b)
        if n:
            if self.first_step is None:
                self.first_step = int(b.step[0])
            _append(self._ds(L.D_STEPS), b.step.astype(L.STEP_DTYPE, copy=False))
            _append(self._ds(L.D_WALL_TIME), b.wall_time.astype(np.float64, copy=False))
            _append(self._ds(L.D_REGIME), b.regime.astype(np.int32, copy=False))
            _append(self._ds(L.D_TOKEN), b.token.astype(np.int32, copy=False))
            _append(self._ds(L.D_INPUTS), b.inputs.astype(np.float32, copy=False))
            for g, ds in enumerate(self._global):
                _append(ds, np.ascontiguousarray(b.scalars[:, g], np.float32))
            for li, dsets in enumerate(self._level):
                for mi, ds in enumerate(dsets):
                    _append(ds, np.ascontiguousarray(b.level[:, li, mi], np.float32))
                _append(self._fired[li], np.ascontiguousarray(b.fired[:, li], np.uint8))
            series = np.concatenate([b.level.reshape(n, -1), b.scalars], axis=1)
            self.nonfinite += (~np.isfinite(series)).sum(axis=0)
            for ds, buckets in zip(self._lod, self.pyramid.push(series)):
                _append(ds, buckets)
            self.rows += n
            self.last_step = int(b.step[-1])
        self._sparse(b)

    def _sparse(self, b: FrameBatch) -> None:
        if b.probes:
            _append(self._ds(L.D_PROBE_STEP), np.array([p.step for p in b.probes], np.int64))
            _append(self._ds(L.D_PROBE_AGES),
                    np.stack([p.ages for p in b.probes]).astype(np.int64))
            _append(self._ds(L.D_PROBE_ERRORS),
                    np.stack([p.errors for p in b.probes]).astype(np.float32))
        if b.snapshots:
            _append(self._ds(L.D_SNAP_STEP), np.array([s.step for s in b.snapshots], np.int64))
            for li, lv in enumerate(self.spec.levels):
                _append(self._ds(f"{L.G_SNAP_WEIGHTS}/{lv.name}"),
                        np.stack([s.weights[li] for s in b.snapshots]).astype(np.float32))
                _append(self._ds(f"{L.G_SNAP_UPDATES}/{lv.name}"),
                        np.stack([s.updates[li] for s in b.snapshots]).astype(np.float32))
        if b.events:
            _append(self._ds(L.D_EVENT_STEP), np.array([e.step for e in b.events], np.int64))
            _append(self._ds(L.D_EVENT_KIND), np.array(
                [e.kind.encode("ascii", "replace")[:L.EVENT_KIND_LEN] for e in b.events],
                f"S{L.EVENT_KIND_LEN}"))
            _append(self._ds(L.D_EVENT_DETAIL), np.array(
                [_clip_utf8(e.detail, L.EVENT_DETAIL_LEN) for e in b.events],
                f"S{L.EVENT_DETAIL_LEN}"))
            payloads = [payload_bytes(e.data) for e in b.events]
            ends = self.event_bytes + np.cumsum([len(p) for p in payloads], dtype=np.int64)
            _append(self._ds(L.D_EVENT_DATA), np.frombuffer(b"".join(payloads), np.uint8))
            _append(self._ds(L.D_EVENT_DATA_END), ends)
            self.event_bytes = int(ends[-1])
        if b.evals:
            width = self._ds(L.D_EVAL_LOSSES).shape[1]
            _append(self._ds(L.D_EVAL_STEP), np.array([e.step for e in b.evals], np.int64))
            _append(self._ds(L.D_EVAL_LOSSES), np.stack([_fit(e.losses, width) for e in b.evals]))
            _append(self._ds(L.D_EVAL_COPY), np.stack([_fit(e.copy, width) for e in b.evals]))
            _append(self._ds(L.D_EVAL_VARIANT), np.array(
                [_clip_utf8(e.variant, L.EVAL_VARIANT_LEN) for e in b.evals],
                f"S{L.EVAL_VARIANT_LEN}"))
        states = [s for s in b.states if self._state_fits(s.tensors)]
        self.states_skipped += len(b.states) - len(states)
        if states and self._states:
            _append(self._ds(L.D_STATE_STEP), np.array([s.step for s in states], np.int64))
            for name, ds in self._states.items():
                vals = [np.asarray(s.tensors[name]) for s in states]
                if ds.attrs.get(L.A_TEXT, 0):
                    vals = [np.array(_clip_utf8(str(v), ds.dtype.itemsize)) for v in vals]
                _append(ds, np.stack(vals).astype(ds.dtype))

    def _state_fits(self, tensors: dict[str, np.ndarray]) -> bool:
        if not self._states or set(tensors) != set(self._states):
            return False
        for name, ds in self._states.items():
            v = np.asarray(tensors[name])
            if v.shape != ds.shape[1:]:
                return False
            if ds.attrs.get(L.A_TEXT, 0):
                if len(str(v).encode("utf-8")) > ds.dtype.itemsize:
                    return False
            elif v.dtype.kind in "US":
                return False
        return True

    def commit(self) -> None:
        """Flush everything written, then publish the row count (readers trust it)."""
        self.f.flush()
        self._ds(L.D_NONFINITE)[:] = self.nonfinite
        self._ds(L.D_STATES_SKIPPED)[0] = self.states_skipped
        self._ds(L.D_ROWS_COMMITTED)[0] = self.rows
        self.f.flush()
        self.committed_rows, self.committed_last_step = self.rows, self.last_step

    def mark_clean_close(self) -> None:
        """Set ``clean_close = 1`` and flush (the last write before a clean close)."""
        self._ds(L.D_CLEAN_CLOSE)[0] = 1
        self.f.flush()


def payload_bytes(data: dict[str, Any] | None) -> bytes:
    """An event payload as stored in ``/events/data``: compact UTF-8 JSON (``null`` for
    none). Values JSON cannot hold (NaN, inf) are written as JSON's ``NaN`` /
    ``Infinity``, which Python's ``json`` reads back; anything else not JSON-able is
    stored as its ``repr`` text."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False,
                      default=repr).encode("utf-8")


def eval_width(spec: RunSpec) -> int:
    """Regimes per stored evaluation: those of the stream the run started with (at least 1)."""
    return max(1, len(spec.regime_names))


def _fit(values: np.ndarray, width: int) -> np.ndarray:
    """(R,) per-regime values as (width,) float32: NaN-padded or cut (a stream switched to
    one with other regimes is evaluated on its own; the file keeps the first ``width``)."""
    out = np.full(width, np.nan, np.float32)
    v = np.asarray(values, np.float32).reshape(-1)[:width]
    out[:len(v)] = v
    return out


def _clip_utf8(text: str, limit: int) -> bytes:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return data
    return data[:limit].decode("utf-8", "ignore").encode("utf-8")
