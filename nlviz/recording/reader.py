"""``Recording``: open, validate and read an nlviz HDF5 run recording.

Random access by step (``window``), min/max overviews from the stored pyramid
(``overview``), sparse records (probes, snapshots, events, engine states) and SWMR
reading of a file that is still being written (``refresh``). The sparse records live
in ``records.py``, the damage-aware reads in ``base.py``; ``Recording`` is the one class
callers use.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from engine.frames import GLOBAL_METRICS, LEVEL_METRICS, LevelSpec, RunSpec
from nlviz.errors import one_line
from nlviz.recording import layout as L
from nlviz.recording import modelid
from nlviz.recording.base import RecordingError, _text
from nlviz.recording.damage import READ_ERRORS, Damage, read_rows
from nlviz.recording.opening import open_checked
from nlviz.recording.pyramid import group_minmax
from nlviz.recording.records import SparseRecords
from nlviz.recording.validate import (
    backed_rows,
    check_backed,
    check_increasing,
    check_level_attrs,
    check_shape,
    check_spec,
    header_checksum,
)


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


class Recording(SparseRecords):
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
    model : the model the run used, ``{"name", "sha256", "meta"}`` (``name`` "random" for
        a random start; "unknown" in files older than 1.3).
    damaged : ``Damage`` entries (dataset, rows, steps) found so far by reads that failed
        their checksum; those rows read as NaN (floats) / -1 / 0. ``scan()`` finds all.
    unwritten : for a file not closed cleanly, the sparse groups whose stored rows run
        past what was committed: ``{group: (rows stored, rows used)}`` (see
        ``_written_prefix``); filled as each group is read.
    """

    def __init__(self, path: str, f: h5py.File) -> None:
        self.path, self._f = path, f
        self._size = os.path.getsize(path)
        self._steps: np.ndarray | None = None
        self.damaged: list[Damage] = []
        self.unwritten: dict[str, tuple[int, int]] = {}
        self._nonfinite: dict[str, int] | None = None
        self._validate_header()
        self._load_meta()
        check_spec(self.spec, self._fail)
        check_level_attrs(f, self.spec, self._fail)
        self.n_rows = self._committed()
        self._validate_series()
        self._validate_values()
        self._validate_sparse()
        self._validate_lod()

    # ---- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Recording:
        """Open a recording (also one still being written, via SWMR) and check every
        documented invariant (docs/recording-format.md, "What the reader checks on open")
        before any bulk read. The open is bounded in time: damaged HDF5 metadata fails in
        milliseconds instead of minutes of SWMR retries (``h5open``).

        Raises
        ------
        RecordingError : missing, truncated or damaged file, not HDF5, not an nlviz
            recording, unknown major version, or any invariant broken; one line naming
            the file, the field and the value.
        """
        return open_checked(str(path), cls, "recording")

    def _validate_header(self) -> None:
        a = self._f.attrs
        self.kind = _text(a.get(L.A_FILE_KIND, L.FILE_KIND))   # absent before issue 10: a run
        if self.kind != L.FILE_KIND:
            raise self._fail(f"not a run recording (root attribute {L.A_FILE_KIND!r} is "
                             f"{self.kind!r}); nlviz info and --replay show it")
        if _text(a.get(L.A_SCHEMA)) != L.SCHEMA:
            raise self._fail(f"not an nlviz recording (root attribute {L.A_SCHEMA!r} is "
                             f"{_text(a.get(L.A_SCHEMA))!r}, expected {L.SCHEMA!r})")
        self.schema_version = _text(a.get(L.A_SCHEMA_VERSION))
        try:
            major, minor = L.parse_version(self.schema_version)
        except ValueError:
            raise self._fail(f"malformed schema_version {self.schema_version!r}") from None
        if major != L.SCHEMA_MAJOR:
            raise self._fail(f"schema version {self.schema_version} is not supported "
                             f"(this nlviz reads {L.SCHEMA_MAJOR}.x; upgrade nlviz)")
        self._payloads = minor >= L.EVENT_PAYLOAD_MINOR
        self._minor = minor
        self._has_evals = minor >= L.EVALS_MINOR

    def _load_meta(self) -> None:
        a = self._f.attrs
        if L.A_HEADER_CRC in a:
            stored = int(np.asarray(a[L.A_HEADER_CRC]).reshape(-1)[0])
            actual = header_checksum(a)
            if stored != actual:
                raise self._fail(f"root attribute {L.A_HEADER_CRC} is {stored}, the root "
                                 f"attributes give {actual}: the run description is damaged")
        for key in (L.A_SPEC_JSON, L.A_CONFIG_JSON):
            if key not in a:
                raise self._fail(f"missing root attribute {key!r}")
        try:
            d = json.loads(_text(a[L.A_SPEC_JSON]))
            self.spec = RunSpec(
                levels=tuple(LevelSpec(lv["name"], lv["kind"], int(lv["update_period"]),
                                       tuple(lv["snapshot_shape"])) for lv in d["levels"]),
                d_in=int(d["d_in"]), probe_size=int(d["probe_size"]),
                level_metrics=tuple(d["level_metrics"]), global_metrics=tuple(d["global_metrics"]),
                regime_names=tuple(str(n) for n in d.get("regime_names", ())))
            self.config: dict[str, Any] = json.loads(_text(a[L.A_CONFIG_JSON]))
        except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as exc:
            raise self._fail(f"unreadable run description (root attribute {L.A_SPEC_JSON} / "
                             f"{L.A_CONFIG_JSON}): {type(exc).__name__}: "
                             f"{one_line(exc)}") from None
        self.device = _text(a.get(L.A_DEVICE, ""))
        self.device_requested = _text(a.get(L.A_DEVICE_REQUESTED, ""))   # "" before 1.1
        self.device_reason = _text(a.get(L.A_DEVICE_REASON, ""))   # "" in older files
        self.stream = _text(a.get(L.A_STREAM, ""))
        self.created_utc = _text(a.get(L.A_CREATED_UTC, ""))
        self.nlviz_version = _text(a.get(L.A_NLVIZ_VERSION, ""))
        self.torch_version = _text(a.get(L.A_TORCH_VERSION, ""))
        self.parent_run: str | None = _text(a[L.A_PARENT_RUN]) if L.A_PARENT_RUN in a else None
        self.parent_step: int | None = int(a[L.A_PARENT_STEP]) if L.A_PARENT_STEP in a else None
        if L.A_MODEL_JSON in a:
            self.model: dict[str, Any] = modelid.from_json(_text(a[L.A_MODEL_JSON]), self._fail)
        elif self._minor >= L.MODEL_MINOR:
            raise self._fail(f"missing root attribute {L.A_MODEL_JSON!r} (schema "
                             f"{self.schema_version} stores the model the run used)")
        else:
            self.model = {**modelid.UNKNOWN, "meta": {}}
        self._series = L.series_names(self.spec.level_names, self.spec.level_metrics,
                                      self.spec.global_metrics)

    def _per_step_paths(self) -> dict[str, str]:
        out = {L.D_STEPS: "i", L.D_WALL_TIME: "f", L.D_REGIME: "i", L.D_TOKEN: "i", L.D_INPUTS: "f"}
        for m in self.spec.global_metrics:
            out[L.global_path(m)] = "f"
        for lv in self.spec.levels:
            for m in self.spec.level_metrics:
                out[L.level_path(lv.name, m)] = "f"
            out[L.level_path(lv.name, L.D_FIRED)] = "u"
        return out

    def _validate_series(self) -> None:
        lengths = {}
        for path, kind in self._per_step_paths().items():
            ds = self._dataset(path, kind)
            check_shape(ds, (self.spec.d_in,) if path == L.D_INPUTS else (), self._fail)
            ds.refresh()
            lengths[path] = ds.shape[0]
            check_backed(ds, self.n_rows, f"/{L.D_ROWS_COMMITTED}", self._fail, self._size)
        if self._f[L.D_STEPS].dtype != L.STEP_DTYPE:
            raise self._fail(f"/{L.D_STEPS} has dtype {self._f[L.D_STEPS].dtype}, expected int64")
        if self.complete and lengths[L.D_STEPS] != self.n_rows:
            raise self._fail(f"/{L.D_ROWS_COMMITTED} is {self.n_rows} but /{L.D_STEPS} has "
                             f"{lengths[L.D_STEPS]} rows (a cleanly closed file commits "
                             "every row)")
        short = {p: n for p, n in lengths.items() if n < self.n_rows}
        if short:
            p, n = next(iter(short.items()))
            raise self._fail(f"ragged lengths: /{p} has {n} rows, /{L.D_ROWS_COMMITTED} is "
                             f"{self.n_rows}")
        if self.complete and len(set(lengths.values())) > 1:
            lo = min(lengths, key=lengths.get)  # type: ignore[arg-type]
            hi = max(lengths, key=lengths.get)  # type: ignore[arg-type]
            raise self._fail(f"ragged lengths: /{lo} has {lengths[lo]} rows, /{hi} has "
                             f"{lengths[hi]} (a cleanly closed file has equal lengths)")

    def _validate_values(self) -> None:
        """/steps strictly increasing; /wall_time finite (read once, after the size checks)."""
        steps = self.steps
        check_increasing(steps, f"/{L.D_STEPS}", self._fail)
        wall, bad = read_rows(self._f[L.D_WALL_TIME], 0, self.n_rows)
        self._note(L.D_WALL_TIME, bad)
        ok = np.ones(len(wall), bool)
        for a, b in bad:
            ok[a:b] = False
        nonfinite = np.flatnonzero(ok & ~np.isfinite(wall))
        if len(nonfinite):
            i = int(nonfinite[0])
            what = "every row" if len(nonfinite) == int(ok.sum()) else f"row {i}"
            raise self._fail(f"/{L.D_WALL_TIME} is {float(wall[i])} at {what} "
                             "(wall times are finite seconds)")

    def _validate_lod(self) -> None:
        """Pyramid levels: (buckets, series, 2), series as listed; a cleanly closed file has
        exactly rows // bucket buckets."""
        if L.G_LOD not in self._f:
            return
        g = self._f[L.G_LOD]
        if L.A_SERIES in g.attrs:
            try:
                series = json.loads(_text(g.attrs[L.A_SERIES]))
            except (ValueError, RecursionError):
                series = None
            if series != self._series:
                raise self._fail(f"/{L.G_LOD} attribute {L.A_SERIES} is "
                                 f"{_text(g.attrs[L.A_SERIES])[:80]!r}, expected the "
                                 f"{len(self._series)} series of spec_json")
        for b in L.LOD_BUCKETS:
            path = L.lod_path(b)
            if path not in self._f:
                continue
            ds = self._dataset(path, "f")
            check_shape(ds, (len(self._series), 2), self._fail)
            ds.refresh()
            if self.complete and ds.shape[0] != self.n_rows // b:
                raise self._fail(f"/{path} has {ds.shape[0]} buckets, expected "
                                 f"{self.n_rows // b} ({self.n_rows} rows // {b})")
        if L.D_NONFINITE in self._f:
            check_shape(self._dataset(L.D_NONFINITE, "i"), (), self._fail)

    def scan(self) -> list[Damage]:
        """Read every chunk of the file's datasets once; returns ``damaged`` (all of it)."""
        block = 1 << 16
        key_of = {L.level_path(lv, m): f"{lv}/{m}" for lv in self.spec.level_names
                  for m in self.spec.level_metrics}
        key_of.update({L.global_path(m): L.global_path(m) for m in self.spec.global_metrics})
        counted = dict.fromkeys(self._series, 0)
        self.steps  # noqa: B018 - damage is reported with its steps
        for path in self._per_step_paths():
            for a in range(0, self.n_rows, block):
                b = min(self.n_rows, a + block)
                values, bad = read_rows(self._f[path], a, b)
                self._note(path, [(a + x, a + y) for x, y in bad])
                if path in key_of:
                    ok = np.ones(b - a, bool)
                    for x, y in bad:
                        ok[x:y] = False
                    counted[key_of[path]] += int(np.count_nonzero(~np.isfinite(values[ok])))
        counted = {k: v for k, v in counted.items() if v}
        # /status/nonfinite is contiguous (no checksum); a file still being written may
        # count rows past the ones read here, so only a closed file is held to it
        if self.complete and self.nonfinite != counted:
            self._add(Damage(L.D_NONFINITE, 0, len(self._series)))
            self._nonfinite = counted
        for group in self._sparse_groups():
            _, parts = self._sparse_parts(group)
            n = len(self._sparse_steps(group))
            for path, _k, _s in parts:
                ds = self._f[path]
                step = int(ds.chunks[0]) if ds.chunks else max(1, n)
                for a in range(0, n, step):
                    _, bad = read_rows(ds, a, min(n, a + step))
                    self._note_sparse(group, path, bad)
                del ds
        if self._payloads:
            self.events  # noqa: B018 - reads every payload byte in use, noting damage
        for b in L.LOD_BUCKETS:
            if L.lod_path(b) in self._f:
                ds = self._f[L.lod_path(b)]
                _, bad = read_rows(ds, 0, min(ds.shape[0], self.n_rows // b))
                self._note(L.lod_path(b), [(x * b, y * b) for x, y in bad])
        return self.damaged

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
        """(n_rows,) int64 global step of every recorded row (cached; a growing file's new
        rows are read and checked on their own)."""
        have = 0 if self._steps is None else len(self._steps)
        if self._steps is None or have > self.n_rows:
            self._steps, have = np.zeros(0, np.int64), 0
        if have < self.n_rows:
            new, bad = read_rows(self._f[L.D_STEPS], have, self.n_rows)
            full = np.concatenate([self._steps, np.asarray(new, np.int64)])
            if bad:
                self._mend_steps(full, [(a + have, b + have) for a, b in bad])
            check_increasing(full[max(0, have - 1):], f"/{L.D_STEPS}", self._fail)
            self._steps = full
        return self._steps

    def _mend_steps(self, full: np.ndarray, bad: list[tuple[int, int]]) -> None:
        """Rows of ``/steps`` in damaged chunks: recorded steps are strictly increasing
        integers, so rows [a, b) between two readable rows whose steps differ by exactly
        b - a + 1 can only hold the steps in between (the usual case: nothing paused in
        that chunk). Those are restored and the region reported; otherwise the step index
        is unknown there and the file is refused."""
        for a, b in bad:
            if a > 0 and b < len(full) and full[b] - full[a - 1] == b - a + 1:
                full[a:b] = np.arange(full[a - 1] + 1, full[b], dtype=np.int64)
                self._add(Damage(L.D_STEPS, a, b, int(full[a]), int(full[b - 1])))
                continue
            raise self._fail(f"/{L.D_STEPS} rows {a}..{b - 1} are damaged (checksum error) "
                             "and their steps cannot be told from the rows around them")

    @property
    def nonfinite(self) -> dict[str, int]:
        """Series (``"<level>/<metric>"`` or ``"global/<metric>"``) with NaN/inf, and counts
        (as stored by the writer; after ``scan()``, as counted in the readable rows)."""
        if self._nonfinite is not None:
            return dict(self._nonfinite)
        if L.D_NONFINITE not in self._f:
            return {}
        ds = self._f[L.D_NONFINITE]
        ds.refresh()
        return {s: int(c) for s, c in zip(self._series, ds[:]) if c}

    def refresh(self) -> int:
        """Pick up rows flushed by a writer since opening (SWMR); returns ``n_rows``.

        Every per-step handle is refreshed together and ``n_rows`` is clamped to the
        shortest of them (and to ``rows_committed``), so no read sees a row another
        dataset does not have yet."""
        n = self._committed()
        for path in self._per_step_paths():
            ds = self._f[path]
            try:
                ds.refresh()
                n = min(n, ds.shape[0], backed_rows(ds))
            except READ_ERRORS as exc:
                raise self._fail(f"/{path} cannot be read: {one_line(exc)}") from None
        self.n_rows = n
        for group in self._sparse_groups():
            self._sparse_rows(group)
        return self.n_rows

    def row_range(self, start_step: int | None, stop_step: int | None) -> tuple[int, int]:
        """Rows [lo, hi) whose steps lie in [start_step, stop_step] (inclusive)."""
        s = self.steps
        lo = 0 if start_step is None else int(np.searchsorted(s, start_step, "left"))
        hi = len(s) if stop_step is None else int(np.searchsorted(s, stop_step, "right"))
        return lo, max(lo, hi)

    def _series_path(self, metric: str, level: str | None = None) -> str:
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

    def absent(self, metric: str, level: str | None = None) -> bool:
        """True for a metric this nlviz records (``LEVEL_METRICS`` / ``GLOBAL_METRICS``)
        that the file predates: it reads as NaN rows (``column``, ``window``, ``overview``)."""
        if level is None:
            return metric in GLOBAL_METRICS and metric not in self.spec.global_metrics
        return (metric in LEVEL_METRICS and metric not in self.spec.level_metrics
                and level in self.spec.level_names)

    def _nan_rows(self, lo: int, hi: int) -> np.ndarray:
        lo, hi = max(0, int(lo)), min(self.n_rows, int(hi))
        return np.full(max(0, hi - lo), np.nan, np.float32)

    def window(self, metric: str, level: str | None = None, start_step: int | None = None,
               stop_step: int | None = None) -> Window:
        """Values of one series for steps in [start_step, stop_step] (reads only those rows)."""
        lo, hi = self.row_range(start_step, stop_step)
        if self.absent(metric, level):
            return Window(self.steps[lo:hi], self._nan_rows(lo, hi))
        path = self._series_path(metric, level)
        return Window(self.steps[lo:hi], self._read(path, lo, hi))

    def column(self, name: str, level: str | None = None, lo: int = 0,
               hi: int | None = None) -> np.ndarray:
        """Rows [lo, hi) (clamped to ``n_rows``; ``hi`` None = all) of one per-step series:
        a level metric or ``fired`` of ``level``, or (level None) a global metric or one of
        ``wall_time``, ``regime``, ``token``, ``inputs`` (rows of d_in), ``steps``. Values
        as stored; rows of a chunk that fails its checksum read as NaN / -1 / 0 and are
        added to ``damaged``.

        A metric this nlviz records but the file predates (``absent``) reads as NaN.

        Raises
        ------
        RecordingError : unknown series or level (the message lists the known ones).
        """
        if self.absent(name, level):
            return self._nan_rows(lo, self.n_rows if hi is None else hi)
        return self._read(self._series_path(name, level), lo,
                          self.n_rows if hi is None else hi)

    def column_at(self, name: str, level: str | None, steps: np.ndarray) -> np.ndarray:
        """Values of a per-step series (as ``column``) at recorded ``steps`` (each step's
        row, found by its position in ``steps``; steps not recorded take the next row)."""
        rows = np.searchsorted(self.steps, np.asarray(steps), "left")
        if len(rows) == 0 and self.absent(name, level):
            return np.zeros(0, np.float32)
        if len(rows) == 0:
            return np.zeros((0, *self._f[self._series_path(name, level)].shape[1:]),
                            self.series_dtype(name, level))
        lo, hi = int(rows.min()), int(rows.max()) + 1
        return self.column(name, level, lo, hi)[rows - lo]

    def series_dtype(self, name: str, level: str | None = None) -> np.dtype:
        """The stored dtype of a per-step series (see ``column`` for the names)."""
        if self.absent(name, level):
            return np.dtype(np.float32)
        return np.dtype(self._f[self._series_path(name, level)].dtype)

    def wall_time(self, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """(rows,) float64 seconds since the run started at rows [lo, hi) (all by default)."""
        return self.column(L.D_WALL_TIME, None, lo, hi)

    def inputs(self, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """(rows, d_in) float32 stream vectors fed at rows [lo, hi)."""
        return self.column(L.D_INPUTS, None, lo, hi)

    def regime(self, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """(rows,) int32 regime label at rows [lo, hi) (names: ``spec.regime_names``)."""
        return self.column(L.D_REGIME, None, lo, hi)

    def token(self, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """(rows,) int32 input byte at rows [lo, hi) (-1 for streams that are not text)."""
        return self.column(L.D_TOKEN, None, lo, hi)

    def damaged_rows(self, lo: int, hi: int) -> list[Damage]:
        """Damage found so far in per-step rows [lo, hi) (e.g. by an export's reads)."""
        per_step = self._per_step_paths()
        return [d for d in self.damaged if d.path in per_step and d.row_lo < hi and d.row_hi > lo]

    def overview(self, metric: str, level: str | None = None, max_points: int = 4000,
                 start_step: int | None = None, stop_step: int | None = None) -> Overview:
        """Min/max envelope with at most about ``max_points`` buckets, read from the
        pyramid (raw rows for small ranges and the not-yet-summarised tail)."""
        key = f"{L.G_GLOBAL}/{metric}" if level is None else f"{level}/{metric}"
        if self.absent(metric, level):    # NaN on the buckets of a series the file has
            ref = self.spec.level_metrics[0]
            ov = self.overview(ref, level or self.spec.level_names[0], max_points, start_step,
                               stop_step)
            nan = np.full(len(ov.steps), np.nan, np.float32)
            return Overview(ov.steps, nan, nan.copy(), ov.bucket_rows)
        if key not in self._series:
            self._series_path(metric, level)  # raises a precise message
            raise RecordingError(f"{self.path}: no overview for {key!r}")
        s = self._series.index(key)
        lo, hi = self.row_range(start_step, stop_step)
        n = hi - lo
        bucket = next((b for b in L.LOD_BUCKETS if n // b <= max_points), L.LOD_BUCKETS[-1])
        raw_path = self._series_path(metric, level)
        if n <= max_points or L.lod_path(bucket) not in self._f:
            w = self._read(raw_path, lo, hi).astype(np.float32)
            return Overview(self.steps[lo:hi], w, w, 1)
        ds = self._f[L.lod_path(bucket)]
        ds.refresh()
        b_lo = -(-lo // bucket)
        b_hi = max(b_lo, min(hi // bucket, ds.shape[0]))
        mm = self._lod_rows(ds, s, b_lo, b_hi, bucket, raw_path)
        head = self._read(raw_path, lo, b_lo * bucket) if b_hi > b_lo else None
        tail_lo = b_hi * bucket if b_hi > b_lo else lo
        tail = self._read(raw_path, tail_lo, hi)
        steps = [self.steps[b_lo * bucket:b_hi * bucket:bucket]]
        mins, maxs = [mm[:, 0]], [mm[:, 1]]
        for part, start in ((head, lo), (tail, tail_lo)):
            if part is not None and len(part):
                steps.append(self.steps[start:start + 1])
                mn, mx = group_minmax(part, len(part))
                mins.append(mn.astype(np.float32))
                maxs.append(mx.astype(np.float32))
        order = np.argsort(np.concatenate(steps), kind="stable")
        return Overview(np.concatenate(steps)[order], np.concatenate(mins)[order],
                        np.concatenate(maxs)[order], bucket)

    def _lod_rows(self, ds: h5py.Dataset, s: int, b_lo: int, b_hi: int, bucket: int,
                  raw_path: str) -> np.ndarray:
        """(k, 2) min/max buckets [b_lo, b_hi) of series ``s``; a damaged pyramid chunk is
        recomputed from the raw rows (themselves damage-aware)."""
        if b_hi <= b_lo:
            return np.zeros((0, 2), np.float32)
        mm, bad = read_rows(ds, b_lo, b_hi)
        mm = np.array(mm[:, s, :], np.float32)
        self._note(ds.name.lstrip("/"), [(a * bucket, b * bucket) for a, b in bad])
        for a, b in bad:
            raw = self._read(raw_path, a * bucket, b * bucket).astype(np.float32)
            mm[a - b_lo:b - b_lo, 0], mm[a - b_lo:b - b_lo, 1] = group_minmax(raw, bucket)
        return mm


__all__ = ["Overview", "Recording", "RecordingError", "Window"]
