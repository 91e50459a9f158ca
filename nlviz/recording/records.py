"""Sparse records of a recording: each is a step index plus companion datasets (events
and their payloads, probe evaluations, weight snapshots, engine states), read with the
same rules on a growing, recovered or damaged file. Part of ``Recording``.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from engine.frames import (
    EvalRecord,
    EventRecord,
    ProbeRecord,
    RunSpec,
    SnapshotRecord,
    StateRecord,
)
from nlviz.errors import one_line
from nlviz.recording import layout as L
from nlviz.recording.base import RecordingBase, _text
from nlviz.recording.damage import READ_ERRORS, Damage, read_rows
from nlviz.recording.payloads import check_ends, decode, spans
from nlviz.recording.validate import backed_rows, check_backed, check_increasing, check_shape

_Part = tuple[str, str, tuple[int, ...] | None]   # (companion path, dtype kinds, row shape)


class SparseRecords(RecordingBase):
    """Events, probes, snapshots and states of an open recording (``Recording`` sets
    every attribute)."""

    spec: RunSpec
    complete: bool
    unwritten: dict[str, tuple[int, int]]
    _payloads: bool
    _has_evals: bool

    def _sparse_groups(self) -> tuple[str, ...]:
        """The sparse record groups this file has (``evals`` from schema 1.4 on)."""
        base = (L.G_EVENTS, L.G_PROBES, L.G_SNAPSHOTS, L.G_STATES)
        return base + ((L.G_EVALS,) if self._has_evals else ())

    # ---- sparse records: each is a step index plus companion datasets ----------------------
    def _sparse_parts(self, group: str) -> tuple[str, list[_Part]]:
        """(step index path, [(companion path, dtype kinds, row shape or None = any)])."""
        spec = self.spec
        if group == L.G_EVENTS:
            parts: list[_Part] = [(L.D_EVENT_KIND, "S", ()), (L.D_EVENT_DETAIL, "S", ())]
            if self._payloads:
                parts.append((L.D_EVENT_DATA_END, "i", ()))
            return L.D_EVENT_STEP, parts
        if group == L.G_PROBES:
            return L.D_PROBE_STEP, [(L.D_PROBE_AGES, "i", (spec.probe_size,)),
                                    (L.D_PROBE_ERRORS, "f", (len(spec.levels), spec.probe_size))]
        if group == L.G_SNAPSHOTS:
            return L.D_SNAP_STEP, [(f"{g}/{lv.name}", "f", tuple(int(d) for d in lv.snapshot_shape))
                                   for g in (L.G_SNAP_WEIGHTS, L.G_SNAP_UPDATES)
                                   for lv in spec.levels]
        if group == L.G_EVALS:
            width = self._eval_width()
            return L.D_EVAL_STEP, [(L.D_EVAL_LOSSES, "f", (width,)),
                                   (L.D_EVAL_COPY, "f", (width,)), (L.D_EVAL_VARIANT, "S", ())]
        return L.D_STATE_STEP, [(L.state_path(n), "biufcS", None) for n in self._state_names()]

    def _eval_width(self) -> int:
        """R, the regimes per stored evaluation (the width of ``/evals/losses``)."""
        ds = self._dataset(L.D_EVAL_LOSSES, "f")
        if ds.ndim != 2:
            raise self._fail(f"/{L.D_EVAL_LOSSES} has shape {ds.shape}, expected (n, R)")
        return int(ds.shape[1])

    def _state_names(self) -> list[str]:
        g = self._f.get(L.G_STATES)
        if g is None or L.A_TENSOR_NAMES not in g.attrs:
            raise self._fail(f"missing attribute /{L.G_STATES} {L.A_TENSOR_NAMES}")
        try:
            names = json.loads(_text(g.attrs[L.A_TENSOR_NAMES]))
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError("not a list of names")
        except (ValueError, RecursionError) as exc:
            raise self._fail(f"/{L.G_STATES} attribute {L.A_TENSOR_NAMES} is unreadable: "
                             f"{one_line(exc)}") from None
        return names

    def _sparse_rows(self, group: str) -> int:
        """Rows of a sparse record readable now: every handle refreshed together, then the
        shortest length (a live writer appends the step index and its companions one after
        the other), never more than the file's storage holds. Call it BEFORE taking the
        handles you read from, and hold no other handle of these datasets meanwhile: a
        handle taken before another handle of the same dataset is refreshed reads stale
        chunk addresses (rows past the first chunk came back as copies of the first chunk;
        h5py 3.16 / HDF5 1.14, SWMR read)."""
        step_path, parts = self._sparse_parts(group)
        n = None
        for path in [step_path] + [p for p, _k, _s in parts]:
            ds = self._f[path]
            try:
                ds.refresh()
                k = min(ds.shape[0], backed_rows(ds))
            except READ_ERRORS:       # damaged chunk index: its rows read as damaged
                self._add(Damage(path, 0, max(1, ds.shape[0])))
                if path == step_path:
                    return 0
                continue
            n = k if n is None else min(n, k)
        return int(n or 0)

    def _validate_sparse(self) -> None:
        """Shapes and dtypes of every sparse record; a cleanly closed file has equal lengths
        and every declared row stored; step indices are in step order (a file not closed
        cleanly: each record is cut to the rows surely written, ``_written_prefix``)."""
        for group in self._sparse_groups():
            step_path, parts = self._sparse_parts(group)
            # No refresh here (the file was just opened) and no handle kept: refreshing one
            # handle while another handle of the same dataset is open leaves that other
            # handle reading stale chunk addresses (see _sparse_rows).
            lengths: dict[str, int] = {}
            for path, kind, tail in [(step_path, "i", ())] + parts:
                ds = self._dataset(path, kind)
                if tail is not None:
                    check_shape(ds, tail, self._fail)
                check_backed(ds, 0, f"/{path} length", self._fail, self._size)  # row size
                lengths[path] = ds.shape[0]
                del ds
            if self.complete:
                for path, n in lengths.items():
                    if n != lengths[step_path]:
                        raise self._fail(f"ragged lengths: /{path} has {n} rows, /{step_path} "
                                         f"has {lengths[step_path]} (a cleanly closed file has "
                                         "equal lengths)")
                    check_backed(self._f[path], n, f"/{path} length", self._fail, self._size)
            if group != L.G_EVENTS:      # (not cleanly closed: cut to what was written)
                check_increasing(self._sparse_steps(group), f"/{step_path}", self._fail,
                                 strict=False)
            elif not self.complete:
                self._sparse_steps(group)
        if self._payloads:
            self._validate_payloads()

    def _validate_payloads(self) -> None:
        """``/events/data`` is 1-D uint8 within the file's bytes; a cleanly closed file
        stores exactly the bytes ``/events/data_end`` ends at, offsets in order."""
        ds = self._dataset(L.D_EVENT_DATA, "u")
        check_shape(ds, (), self._fail)
        check_backed(ds, 0, f"/{L.D_EVENT_DATA} length", self._fail, self._size)
        stored = ds.shape[0]
        del ds
        if not self.complete:
            return
        check_backed(self._f[L.D_EVENT_DATA], stored, f"/{L.D_EVENT_DATA} length",
                     self._fail, self._size)
        n = self._sparse_rows(L.G_EVENTS)
        ends, bad = read_rows(self._f[L.D_EVENT_DATA_END], 0, n)
        if bad:
            return                    # damaged offsets: those events are left out on read
        check_ends(np.asarray(ends, np.int64), stored, L.D_EVENT_DATA_END, self._fail)
        last = int(ends[-1]) if n else 0
        if last != stored:
            raise self._fail(f"/{L.D_EVENT_DATA} has {stored} bytes but /{L.D_EVENT_DATA_END} "
                             f"ends at {last} (a cleanly closed file stores exactly its "
                             "payloads)")

    def _sparse_steps(self, group: str) -> np.ndarray:
        """The readable step index of a sparse record (stops at a damaged chunk)."""
        n = self._sparse_rows(group)
        step_path, _ = self._sparse_parts(group)
        steps, bad = read_rows(self._f[step_path], 0, n)
        if bad:
            self._note(step_path, bad, steps_known=False)
            steps = steps[:bad[0][0]]
        steps = np.asarray(steps, np.int64)
        return steps if self.complete else self._written_prefix(group, steps)

    def _written_prefix(self, group: str, steps: np.ndarray) -> np.ndarray:
        """The rows of a sparse record of a file not closed cleanly that were surely
        written: the longest prefix whose steps are in order (strictly increasing; events
        non-decreasing, with a kind) and not past the last committed row's step.

        The writer flushes every record before it publishes ``rows_committed``, but after
        a full disk or a kill -9 rows past that point may be allocated and never written
        (they read as step 0), or written for steps whose per-step rows never committed.
        Those are left out (``unwritten`` says how many), never refused: the committed
        part is intact. Events carry the step count when they happened, so one recorded
        after the last committed step (a pause at step N + 1) is kept."""
        stored = len(steps)
        last = int(self.steps[-1]) if self.n_rows else None
        events = group == L.G_EVENTS
        bad = np.zeros(stored, bool)
        if last is not None:
            bad |= steps > last + (1 if events else 0)
        elif not events:
            bad[:] = True
        if stored > 1:
            d = np.diff(steps)
            bad[1:] |= d < 0 if events else d <= 0
        k = int(np.argmax(bad)) if bad.any() else stored
        if events and k:
            kinds, damaged = read_rows(self._f[L.D_EVENT_KIND], 0, k)
            blank = np.asarray(kinds) == b""
            for a, b in damaged:
                blank[a:b] = False           # damaged, not unwritten: ``events`` skips them
            k = int(np.argmax(blank)) if blank.any() else k
        if k < stored:
            self.unwritten[group] = (stored, k)
        else:
            self.unwritten.pop(group, None)
        return steps[:k]

    def unwritten_note(self) -> str | None:
        """One phrase saying which sparse records were cut at the committed end, or None."""
        if not self.unwritten:
            return None
        last = f"step {int(self.steps[-1]):,}" if self.n_rows else "the start"
        parts = ", ".join(f"{g} {k} of {n}" for g, (n, k) in sorted(self.unwritten.items()))
        return f"records past {last} were not committed and are left out (kept: {parts})"

    def record_rows(self, group: str) -> int:
        """Records stored in a sparse group (``events``, ``probes``, ``snapshots``,
        ``states``), damaged ones included; for a file not closed cleanly, only those
        surely written (see ``_written_prefix``)."""
        if self.complete:
            return self._sparse_rows(group)
        return len(self._sparse_steps(group))

    def _note_sparse(self, group: str, path: str, bad: list[tuple[int, int]]) -> None:
        if not bad:
            return
        steps = self._sparse_steps(group)
        for a, b in bad:
            first = int(steps[a]) if a < len(steps) else None
            last = int(steps[b - 1]) if b - 1 < len(steps) else None
            self._add(Damage(path, a, b, first, last))

    # ---- sparse records ---------------------------------------------------------------------
    def _record_row(self, group: str, path: str, i: int, step: int) -> np.ndarray:
        """Row ``i`` of a sparse companion dataset; a damaged one is filled and noted."""
        row, bad = read_rows(self._f[path], i, i + 1)
        if bad:
            self._add(Damage(path, i, i + 1, step, step))
        return row[0]

    @property
    def events(self) -> list[EventRecord]:
        """Every recorded event (start, pause, stream switch, parameter change, seek...);
        events in a damaged chunk are left out (and noted in ``damaged``)."""
        steps = self._sparse_steps(L.G_EVENTS)    # refreshes every handle first
        n = len(steps)
        kinds, bad_k = read_rows(self._f[L.D_EVENT_KIND], 0, n)
        details, bad_d = read_rows(self._f[L.D_EVENT_DETAIL], 0, n)
        ok = np.ones(n, bool)
        for path, bad in ((L.D_EVENT_KIND, bad_k), (L.D_EVENT_DETAIL, bad_d)):
            self._note_sparse(L.G_EVENTS, path, bad)
            for a, b in bad:
                ok[a:b] = False
        data = self._payloads_of(steps, ok) if self._payloads else [None] * n
        return [EventRecord(int(s), k.decode("ascii", "replace"), d.decode("utf-8", "replace"),
                            p)
                for s, k, d, p, good in zip(steps, kinds, details, data, ok) if good]

    @property
    def event_payloads(self) -> bool:
        """True when the file stores event payloads (schema 1.2 and later): each event's
        ``data`` is then what happened; older files have only the display text."""
        return self._payloads

    def _payloads_of(self, steps: np.ndarray, ok: np.ndarray) -> list[dict[str, Any] | None]:
        """The JSON payload of each of the ``len(steps)`` first events (None: unreadable,
        not yet written, or ``null``); events whose offset is damaged are cleared in
        ``ok`` (left out, like a damaged kind), damaged payload bytes are noted."""
        n = len(steps)
        ends, bad = read_rows(self._f[L.D_EVENT_DATA_END], 0, n)
        self._note_sparse(L.G_EVENTS, L.D_EVENT_DATA_END, bad)
        readable = np.ones(n, bool)
        for a, b in bad:
            readable[a:b] = ok[a:b] = False
        ranges = spans(np.asarray(ends, np.int64), readable)
        ds = self._f[L.D_EVENT_DATA]
        ds.refresh()
        stored = min(ds.shape[0], backed_rows(ds))
        fits = ranges[:, 1] <= stored
        need = int(ranges[fits, 1].max()) if fits.any() else 0
        blob, bad_bytes = read_rows(ds, 0, need)
        del ds
        out, damaged = decode(blob, ranges, bad_bytes)
        for i in damaged:
            if ok[i]:
                self._add(Damage(L.D_EVENT_DATA, int(ranges[i, 0]), int(ranges[i, 1]),
                                 int(steps[i]), int(steps[i])))
        return out

    def probes(self) -> list[ProbeRecord]:
        """Every probe evaluation (ages (P,), errors (L, P)) in step order."""
        steps = self.probe_steps()
        return [self.probe_at_row(i, int(s)) for i, s in enumerate(steps)]

    def probe_at_row(self, i: int, step: int) -> ProbeRecord:
        """Probe evaluation ``i`` (damaged: ages -1, errors NaN, noted in ``damaged``)."""
        return ProbeRecord(int(step), self._record_row(L.G_PROBES, L.D_PROBE_AGES, i, step),
                           self._record_row(L.G_PROBES, L.D_PROBE_ERRORS, i, step))

    def probe_steps(self) -> np.ndarray:
        """(P,) int64 steps of the probe evaluations."""
        return self._sparse_steps(L.G_PROBES)

    def snapshot_steps(self) -> np.ndarray:
        """(S,) int64 steps of the weight snapshots."""
        return self._sparse_steps(L.G_SNAPSHOTS)

    def snapshot_at(self, step: int) -> SnapshotRecord | None:
        """The weight snapshot nearest to ``step`` (ties: the earlier one); None if none.

        The step index and every weights/updates handle are refreshed together and only
        rows all of them hold are used (a growing file's step index may be ahead of its
        weights). A damaged snapshot reads as NaN and is noted in ``damaged``."""
        steps = self.snapshot_steps()
        if len(steps) == 0:
            return None
        i = int(np.searchsorted(steps, step))
        if i == len(steps) or (i > 0 and step - steps[i - 1] <= steps[i] - step):
            i -= 1
        s = int(steps[i])
        w = tuple(self._record_row(L.G_SNAPSHOTS, f"{L.G_SNAP_WEIGHTS}/{lv}", i, s)
                  for lv in self.spec.level_names)
        u = tuple(self._record_row(L.G_SNAPSHOTS, f"{L.G_SNAP_UPDATES}/{lv}", i, s)
                  for lv in self.spec.level_names)
        return SnapshotRecord(s, w, u)

    def eval_steps(self) -> np.ndarray:
        """(V,) int64 steps of the stored evaluations (empty before schema 1.4)."""
        return self._sparse_steps(L.G_EVALS) if self._has_evals else np.zeros(0, np.int64)

    def evals(self, lo: int = 0, hi: int | None = None) -> list[EvalRecord]:
        """Stored evaluations ``lo .. hi-1`` (all by default) in step order: per-regime
        frozen losses and copy losses on held-out windows (``engine.evaluation``), regular
        (variant ``""``) and ablations. Damaged rows read as NaN losses and are noted in
        ``damaged``; a damaged variant reads as ``"?"``. Empty before schema 1.4."""
        steps = self.eval_steps()
        hi = len(steps) if hi is None else min(int(hi), len(steps))
        lo = max(0, int(lo))
        if hi <= lo:
            return []
        out = []
        for path in (L.D_EVAL_LOSSES, L.D_EVAL_COPY, L.D_EVAL_VARIANT):
            rows, bad = read_rows(self._f[path], lo, hi)          # damaged floats: NaN
            self._note_sparse(L.G_EVALS, path, bad)
            rows = np.array(rows)
            if path == L.D_EVAL_VARIANT:
                for a, b in bad:
                    rows[a - lo:b - lo] = b"?"
            out.append(rows)
        losses, copy, variant = out
        return [EvalRecord(int(steps[lo + i]), losses[i].astype(np.float32),
                           copy[i].astype(np.float32), bytes(variant[i]).decode("utf-8", "replace"))
                for i in range(hi - lo)]

    def state_steps(self) -> np.ndarray:
        """(K,) int64 steps at which full engine states were stored."""
        return self._sparse_steps(L.G_STATES)

    def state_at_or_before(self, step: int) -> StateRecord | None:
        """The latest engine state at or before ``step`` (for "continue live from here").

        Raises ``RecordingError`` when that state is damaged (a state is used whole)."""
        steps = self.state_steps()
        i = int(np.searchsorted(steps, step, "right")) - 1
        if i < 0:
            return None
        tensors: dict[str, np.ndarray] = {}
        for name in self._state_names():
            ds = self._f[L.state_path(name)]
            v, bad = read_rows(ds, i, i + 1)
            if bad:
                raise self._fail(f"/{L.state_path(name)} row {i} (the state at step "
                                 f"{int(steps[i])}) is damaged (checksum error)")
            v = v[0]
            if ds.attrs.get(L.A_TEXT, 0):
                v = np.array(np.asarray(v).item().decode("utf-8", "replace"))
            tensors[name] = np.asarray(v)
        return StateRecord(int(steps[i]), tensors)
